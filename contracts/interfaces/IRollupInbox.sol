// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Event fields other than the ones indexed are data a follower reads, never filters on.
// solhint-disable gas-indexed-events

/// @title IRollupInbox
/// @notice The rollup's data availability on L1: the sequencer appends batches (chunks of L2 transactions in
/// calldata plus a range of the L1→L2 queue), and anyone may append a queue-only batch once a queue item is overdue
/// (docs/PROTOCOL.md §7.2). Its EIP-712 domain ("bilayer", "1", chain id, this address) is the domain of every L2
/// signature (§3.1).
interface IRollupInbox {
    /// @notice What the inbox keeps of a batch. `keccak(abi.encode(chunksRoot, queueStart, queueEnd,
    /// feeRecipient, stepCount))` is the batch commitment.
    /// @param chunksRoot Root of the chunk tree (leaf i = keccak(chunk i)).
    /// @param queueStart First queue item consumed.
    /// @param queueEnd One past the last queue item consumed.
    /// @param chunkCount Number of chunks.
    /// @param stepCount ceil((queueEnd − queueStart) / 32) + chunkCount.
    /// @param feeRecipient The account credited with the chunks' fees.
    struct Batch {
        bytes32 chunksRoot;
        uint64 queueStart;
        uint64 queueEnd;
        uint32 chunkCount;
        uint32 stepCount;
        uint32 feeRecipient;
    }

    /// @notice A batch was appended. With the `chunks` argument of the call that emitted it (none for a forced
    /// batch) and the queue items of `[queueStart, queueEnd)`, this is all a follower needs to re-execute it.
    /// @param batchIndex The batch's index (0-based).
    /// @param commitment The batch commitment.
    /// @param chunksRoot Root of the chunk tree.
    /// @param queueStart First queue item consumed.
    /// @param queueEnd One past the last queue item consumed.
    /// @param chunkCount Number of chunks.
    /// @param stepCount Number of steps.
    /// @param feeRecipient The fee recipient account.
    /// @param forced Whether it was appended by `forceInclude` rather than by the sequencer.
    event BatchAppended(
        uint256 indexed batchIndex,
        bytes32 commitment,
        bytes32 chunksRoot,
        uint64 queueStart,
        uint64 queueEnd,
        uint32 chunkCount,
        uint32 stepCount,
        uint32 feeRecipient,
        bool forced
    );

    /// @notice A batch with no chunk and no queue item (it would have no step).
    error RollupInboxEmptyBatch();

    /// @notice `appendBatch` called by a contract, or by an account with delegated code (EIP-7702), or from inside
    /// another call: the chunks would not be in the calldata of the transaction, where followers read them.
    /// @param caller The caller.
    error RollupInboxCallerNotSender(address caller);

    /// @notice More chunks than a batch may hold.
    /// @param count Chunks given.
    /// @param max The limit.
    error RollupInboxTooManyChunks(uint256 count, uint256 max);

    /// @notice A chunk longer than 32 transactions of the largest type.
    /// @param chunkIndex The chunk.
    /// @param length Its length in bytes.
    /// @param max The limit.
    error RollupInboxChunkTooLarge(uint256 chunkIndex, uint256 length, uint256 max);

    /// @notice The chunks add up to more bytes than a batch may carry.
    /// @param totalBytes Their total length.
    /// @param max The limit.
    error RollupInboxBatchTooLarge(uint256 totalBytes, uint256 max);

    /// @notice More queue items than a batch may consume.
    /// @param queueCount Items asked for.
    /// @param max The limit.
    error RollupInboxTooManyQueueItems(uint256 queueCount, uint256 max);

    /// @notice The batch would consume queue items that do not exist yet.
    /// @param queueEnd One past the last item the batch would consume.
    /// @param queueLength The bridge's queue length.
    error RollupInboxQueueOverrun(uint256 queueEnd, uint256 queueLength);

    /// @notice The batch leaves an overdue queue item unconsumed while it could have consumed it.
    /// @param queueIndex The first item left unconsumed.
    /// @param queuedAt When it was queued.
    /// @param dueAt When it became overdue (`queuedAt + FORCED_INCLUSION_DELAY_SECONDS`).
    error RollupInboxOverdueItemSkipped(uint256 queueIndex, uint64 queuedAt, uint256 dueAt);

    /// @notice `forceInclude` while the oldest unconsumed queue item (if any) is not overdue.
    /// @param queueIndex The oldest unconsumed item.
    error RollupInboxNothingOverdue(uint256 queueIndex);

    /// @notice No batch with this index.
    /// @param batchIndex The index asked for.
    /// @param batchCount The number of batches.
    error RollupInboxUnknownBatch(uint256 batchIndex, uint256 batchCount);

    /// @notice Appends a batch. Sequencer only, called directly by the transaction's sender (an account without
    /// code), so the chunks are the transaction's own calldata. It must consume every overdue queue item (or the
    /// most a batch may).
    /// @param chunks The chunks, at most `MAX_CHUNKS_PER_BATCH`, each at most `MAX_CHUNK_BYTES` long, together at
    /// most `MAX_BATCH_BYTES`.
    /// @param queueCount How many queue items, from the first unconsumed one, the batch consumes.
    /// @param feeRecipient The account credited with the chunks' fees.
    /// @return batchIndex The new batch's index.
    function appendBatch(
        bytes[] calldata chunks,
        uint256 queueCount,
        uint32 feeRecipient
    ) external returns (uint256 batchIndex);

    /// @notice Appends a batch of queue items only, by anyone, once the oldest unconsumed queue item is overdue.
    /// @param queueCount How many queue items to consume (at least every overdue one, or the most a batch may).
    /// @return batchIndex The new batch's index.
    function forceInclude(uint256 queueCount) external returns (uint256 batchIndex);

    /// @notice The number of batches appended.
    function batchCount() external view returns (uint256);

    /// @notice A batch's record.
    function batch(uint256 batchIndex) external view returns (Batch memory);

    /// @notice A batch's step count.
    function stepCount(uint256 batchIndex) external view returns (uint256);

    /// @notice A batch's commitment, `keccak(abi.encode(chunksRoot, queueStart, queueEnd, feeRecipient,
    /// stepCount))`.
    function batchCommitment(uint256 batchIndex) external view returns (bytes32);

    /// @notice The number of queue items consumed by all batches so far (the next batch starts there).
    function queueConsumed() external view returns (uint256);

    /// @notice Whether queue item `queueIndex` exists and is overdue (queued at least
    /// `FORCED_INCLUSION_DELAY_SECONDS` ago).
    function isOverdue(uint256 queueIndex) external view returns (bool);

    /// @notice The EIP-712 domain separator of L2 signatures.
    function domainSeparator() external view returns (bytes32);

    /// @notice The bridge whose queue the batches consume.
    // solhint-disable-next-line func-name-mixedcase
    function BRIDGE() external view returns (address);

    /// @notice Seconds after which a queue item must be consumed.
    // solhint-disable-next-line func-name-mixedcase
    function FORCED_INCLUSION_DELAY_SECONDS() external view returns (uint256);
}

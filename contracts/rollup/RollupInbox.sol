// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Bounds and deadlines read naturally as `>=` / `<=`; the gas rule does not apply to them.
// solhint-disable gas-strict-inequalities

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IBridge} from "../interfaces/IBridge.sol";
import {IRollupInbox} from "../interfaces/IRollupInbox.sol";
import {MAX_CHUNK_BYTES, MAX_QUEUE_ITEMS_PER_STEP} from "../libraries/L2Types.sol";
import * as Limits from "./BatchLimits.sol";
import {ChunkTree} from "./ChunkTree.sol";

/// @title RollupInbox
/// @notice Batches of L2 data on L1 (docs/PROTOCOL.md §7.2): the chunks travel in calldata, the inbox keeps their
/// Merkle root, the queue range and the step count. The sequencer can delay queue items for at most
/// `FORCED_INCLUSION_DELAY_SECONDS`; after that every batch must consume them and anyone may.
contract RollupInbox is IRollupInbox, AccessControl, EIP712 {
    /// @notice The role allowed to append batches with chunks.
    bytes32 public constant SEQUENCER_ROLE = keccak256("SEQUENCER_ROLE");

    /// @notice Most chunks in one batch (113): with `MAX_BATCH_BYTES` of chunks, however padded, the signed
    /// `appendBatch` transaction stays within the 131,072 bytes a public mempool relays (BatchLimits.sol).
    uint256 public constant MAX_CHUNKS_PER_BATCH = Limits.MAX_CHUNKS_PER_BATCH;
    /// @notice Most chunk bytes in one batch (120,000). At 40 gas per calldata byte (EIP-7623) the largest batch
    /// costs under 5M gas, well under the 16,777,216 gas cap of a transaction (EIP-7825).
    uint256 public constant MAX_BATCH_BYTES = Limits.MAX_BATCH_BYTES;
    /// @notice Most queue items one batch consumes (32 queue steps).
    uint256 public constant MAX_QUEUE_ITEMS_PER_BATCH = Limits.MAX_QUEUE_ITEMS_PER_BATCH;

    /// @inheritdoc IRollupInbox
    address public immutable BRIDGE;
    /// @inheritdoc IRollupInbox
    uint256 public immutable FORCED_INCLUSION_DELAY_SECONDS;

    /// @dev Root of the chunk tree of a batch without chunks.
    bytes32 private immutable _EMPTY_CHUNKS_ROOT;

    Batch[] private _batches;
    /// @inheritdoc IRollupInbox
    uint256 public queueConsumed;

    /// @param bridge The bridge whose queue the batches consume.
    /// @param forcedInclusionDelaySeconds Seconds after which a queue item must be consumed.
    /// @param admin The holder of the admin role (grants and revokes the sequencer role).
    /// @param sequencer The first holder of the sequencer role.
    constructor(
        address bridge,
        uint256 forcedInclusionDelaySeconds,
        address admin,
        address sequencer
    ) EIP712("bilayer", "1") {
        BRIDGE = bridge;
        FORCED_INCLUSION_DELAY_SECONDS = forcedInclusionDelaySeconds;
        _EMPTY_CHUNKS_ROOT = ChunkTree.root(new bytes32[](0));
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(SEQUENCER_ROLE, sequencer);
    }

    /// @inheritdoc IRollupInbox
    function appendBatch(
        bytes[] calldata chunks,
        uint256 queueCount,
        uint32 feeRecipient
    ) external onlyRole(SEQUENCER_ROLE) returns (uint256 batchIndex) {
        // The chunks must be the calldata of the transaction itself, where every follower reads them: the caller is
        // the transaction's sender and has no code (neither a contract nor an EIP-7702 delegated account).
        // solhint-disable-next-line avoid-tx-origin
        if (msg.sender != tx.origin || msg.sender.code.length != 0) revert RollupInboxCallerNotSender(msg.sender);
        uint256 chunkCount = chunks.length;
        if (chunkCount > MAX_CHUNKS_PER_BATCH) revert RollupInboxTooManyChunks(chunkCount, MAX_CHUNKS_PER_BATCH);
        bytes32[] memory leaves = new bytes32[](chunkCount);
        uint256 totalBytes = 0;
        for (uint256 i = 0; i < chunkCount; ++i) {
            uint256 length = chunks[i].length;
            if (length > MAX_CHUNK_BYTES) revert RollupInboxChunkTooLarge(i, length, MAX_CHUNK_BYTES);
            totalBytes += length;
            leaves[i] = keccak256(chunks[i]);
        }
        if (totalBytes > MAX_BATCH_BYTES) revert RollupInboxBatchTooLarge(totalBytes, MAX_BATCH_BYTES);
        batchIndex = _append(ChunkTree.root(leaves), chunkCount, queueCount, feeRecipient, false);
    }

    /// @inheritdoc IRollupInbox
    function forceInclude(uint256 queueCount) external returns (uint256 batchIndex) {
        uint256 oldest = queueConsumed;
        if (!isOverdue(oldest)) revert RollupInboxNothingOverdue(oldest);
        batchIndex = _append(_EMPTY_CHUNKS_ROOT, 0, queueCount, 0, true);
    }

    /// @inheritdoc IRollupInbox
    function batchCount() external view returns (uint256) {
        return _batches.length;
    }

    /// @inheritdoc IRollupInbox
    function batch(uint256 batchIndex) external view returns (Batch memory) {
        return _batch(batchIndex);
    }

    /// @inheritdoc IRollupInbox
    function stepCount(uint256 batchIndex) external view returns (uint256) {
        return _batch(batchIndex).stepCount;
    }

    /// @inheritdoc IRollupInbox
    function batchCommitment(uint256 batchIndex) external view returns (bytes32) {
        return _commitment(_batch(batchIndex));
    }

    /// @inheritdoc IRollupInbox
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @inheritdoc IRollupInbox
    function isOverdue(uint256 queueIndex) public view returns (bool) {
        IBridge bridge = IBridge(BRIDGE);
        if (queueIndex >= bridge.queueLength()) return false;
        return block.timestamp >= uint256(bridge.queueTimestamp(queueIndex)) + FORCED_INCLUSION_DELAY_SECONDS;
    }

    /// @dev Checks the queue range, stores the batch and emits it.
    function _append(
        bytes32 chunksRoot,
        uint256 chunkCount,
        uint256 queueCount,
        uint32 feeRecipient,
        bool forced
    ) private returns (uint256 batchIndex) {
        if (queueCount > MAX_QUEUE_ITEMS_PER_BATCH) {
            revert RollupInboxTooManyQueueItems(queueCount, MAX_QUEUE_ITEMS_PER_BATCH);
        }
        uint256 queueStart = queueConsumed;
        uint256 queueEnd = queueStart + queueCount;
        uint256 queueLength = IBridge(BRIDGE).queueLength();
        if (queueEnd > queueLength) revert RollupInboxQueueOverrun(queueEnd, queueLength);
        // Queue timestamps never decrease, so the overdue items are a prefix of the unconsumed ones: the batch
        // consumed them all exactly when the first item it leaves is not overdue. A batch that consumes the most
        // it may is always allowed, so a backlog drains batch by batch.
        if (queueCount < MAX_QUEUE_ITEMS_PER_BATCH && isOverdue(queueEnd)) {
            uint64 queuedAt = IBridge(BRIDGE).queueTimestamp(queueEnd);
            revert RollupInboxOverdueItemSkipped(
                queueEnd,
                queuedAt,
                uint256(queuedAt) + FORCED_INCLUSION_DELAY_SECONDS
            );
        }
        uint256 steps = (queueCount + MAX_QUEUE_ITEMS_PER_STEP - 1) / MAX_QUEUE_ITEMS_PER_STEP + chunkCount;
        if (steps == 0) revert RollupInboxEmptyBatch();

        Batch memory b = Batch({
            chunksRoot: chunksRoot,
            queueStart: uint64(queueStart),
            queueEnd: uint64(queueEnd),
            chunkCount: uint32(chunkCount),
            stepCount: uint32(steps),
            feeRecipient: feeRecipient
        });
        batchIndex = _batches.length;
        _batches.push(b);
        queueConsumed = queueEnd;
        emit BatchAppended(
            batchIndex,
            _commitment(b),
            chunksRoot,
            b.queueStart,
            b.queueEnd,
            b.chunkCount,
            b.stepCount,
            feeRecipient,
            forced
        );
    }

    /// @dev A stored batch, or a revert for an unknown index.
    function _batch(uint256 batchIndex) private view returns (Batch storage) {
        uint256 count = _batches.length;
        if (batchIndex >= count) revert RollupInboxUnknownBatch(batchIndex, count);
        return _batches[batchIndex];
    }

    /// @dev `keccak(abi.encode(chunksRoot, queueStart, queueEnd, feeRecipient, stepCount))`.
    function _commitment(Batch memory b) private pure returns (bytes32) {
        return keccak256(abi.encode(b.chunksRoot, b.queueStart, b.queueEnd, b.feeRecipient, b.stepCount));
    }
}

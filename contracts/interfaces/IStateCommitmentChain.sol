// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Event fields other than the ones indexed are data a follower reads, never filters on.
// solhint-disable gas-indexed-events

/// @title IStateCommitmentChain
/// @notice Bonded proposals of the state roots after every step of each batch, in batch order (docs/PROTOCOL.md
/// §7.3). A proposal is final from `proposedAt + CHALLENGE_WINDOW_SECONDS` on (its parent is then final too); until
/// then the FraudVerifier may roll it back together with every later proposal.
interface IStateCommitmentChain {
    /// @notice A proposal's record.
    /// @param stateRoot The root after the batch's last step (the batch's state root).
    /// @param stepRootsHash `keccak(abi.encodePacked(stepRoots))`.
    /// @param proposer Who posted it and its bond.
    /// @param proposedAt The block timestamp of the proposal.
    /// @param bondReturned Whether the bond has been paid back.
    struct Proposal {
        bytes32 stateRoot;
        bytes32 stepRootsHash;
        address proposer;
        uint64 proposedAt;
        bool bondReturned;
    }

    /// @notice A batch's step roots were proposed.
    /// @param batchIndex The batch.
    /// @param proposer The proposer.
    /// @param stateRoot The last step root.
    /// @param deadline The timestamp from which the proposal is final.
    /// @param stepRoots The root after each step.
    event StateProposed(
        uint256 indexed batchIndex,
        address indexed proposer,
        bytes32 stateRoot,
        uint256 deadline,
        bytes32[] stepRoots
    );

    /// @notice A final proposal's bond was paid back.
    /// @param batchIndex The batch.
    /// @param proposer The proposer paid.
    /// @param bond The amount.
    event BondReturned(uint256 indexed batchIndex, address indexed proposer, uint256 bond);

    /// @notice Proposals `[fromBatch, toBatch)` were deleted after a fraud proof against `fromBatch`.
    /// @param fromBatch The batch proven wrong.
    /// @param toBatch One past the last proposal deleted (the proposal count before).
    /// @param challenger Who proved it and received the reward.
    /// @param reward Half of each deleted bond, paid to the challenger.
    /// @param burnt The rest, locked in this contract forever.
    event ProposalsRolledBack(
        uint256 indexed fromBatch,
        uint256 toBatch,
        address indexed challenger,
        uint256 reward,
        uint256 burnt
    );

    /// @notice A challenge window of zero seconds would make every proposal final at once.
    error StateCommitmentChainZeroChallengeWindow();

    /// @notice The proposal is not for the next unproposed batch.
    /// @param batchIndex The batch given.
    /// @param expected The next unproposed batch.
    error StateCommitmentChainNotNextBatch(uint256 batchIndex, uint256 expected);

    /// @notice The batch has not been appended to the inbox.
    /// @param batchIndex The batch.
    /// @param batchCount The inbox's batch count.
    error StateCommitmentChainBatchNotAppended(uint256 batchIndex, uint256 batchCount);

    /// @notice The number of step roots is not the batch's step count.
    /// @param batchIndex The batch.
    /// @param given Roots given.
    /// @param expected The batch's step count.
    error StateCommitmentChainStepCountMismatch(uint256 batchIndex, uint256 given, uint256 expected);

    /// @notice The value sent is not the bond.
    /// @param sent The value sent.
    /// @param bond The bond.
    error StateCommitmentChainWrongBond(uint256 sent, uint256 bond);

    /// @notice There is no proposal for the batch (never made, or rolled back).
    /// @param batchIndex The batch.
    /// @param proposalCount The number of proposals.
    error StateCommitmentChainNoProposal(uint256 batchIndex, uint256 proposalCount);

    /// @notice The proposal is not final yet.
    /// @param batchIndex The batch.
    /// @param deadline The timestamp from which it is final.
    error StateCommitmentChainNotFinal(uint256 batchIndex, uint256 deadline);

    /// @notice The proposal is final and can no longer be rolled back.
    /// @param batchIndex The batch.
    /// @param deadline The timestamp from which it was final.
    error StateCommitmentChainAlreadyFinal(uint256 batchIndex, uint256 deadline);

    /// @notice The proposal's bond has already been returned.
    /// @param batchIndex The batch.
    error StateCommitmentChainBondAlreadyReturned(uint256 batchIndex);

    /// @notice Only the FraudVerifier may roll back.
    /// @param caller The caller.
    error StateCommitmentChainCallerNotFraudVerifier(address caller);

    /// @notice An ETH payment failed.
    /// @param recipient The recipient.
    /// @param amount The amount.
    error StateCommitmentChainPaymentFailed(address recipient, uint256 amount);

    /// @notice Proposes the root after each step of batch `batchIndex`, with the bond as `msg.value`.
    /// @param batchIndex The next unproposed batch (`proposalCount()`), already appended to the inbox.
    /// @param stepRoots One root per step of the batch, in step order.
    function propose(uint256 batchIndex, bytes32[] calldata stepRoots) external payable;

    /// @notice Pays a final proposal's bond back to its proposer. Anyone may call it.
    /// @param batchIndex The batch.
    function returnBond(uint256 batchIndex) external;

    /// @notice Deletes proposal `batchIndex` and every later one and pays the challenger half of each bond.
    /// FraudVerifier only, and only while the proposal is not final.
    /// @param batchIndex The batch proven wrong.
    /// @param challenger Who proved it.
    function rollback(uint256 batchIndex, address challenger) external;

    /// @notice The number of live proposals; they are for batches `0 .. proposalCount() − 1`.
    function proposalCount() external view returns (uint256);

    /// @notice A live proposal's record (reverts for a batch without one).
    function proposal(uint256 batchIndex) external view returns (Proposal memory);

    /// @notice A live proposal's state root (reverts for a batch without one).
    function stateRoot(uint256 batchIndex) external view returns (bytes32);

    /// @notice The root that step 0 of batch `batchIndex` starts from: the state root of batch `batchIndex − 1`,
    /// or `GENESIS_STATE_ROOT` for batch 0. Reverts if batch `batchIndex − 1` has no proposal.
    function preStateRoot(uint256 batchIndex) external view returns (bytes32);

    /// @notice The timestamp from which a live proposal is final: `proposedAt + CHALLENGE_WINDOW_SECONDS`.
    function deadline(uint256 batchIndex) external view returns (uint256);

    /// @notice Whether a proposal exists for the batch and is final (`block.timestamp >= deadline`).
    function isFinal(uint256 batchIndex) external view returns (bool);

    /// @notice The total of slashed bonds burnt (locked here forever).
    function totalBurnt() external view returns (uint256);

    /// @notice The inbox whose batches are proposed.
    // solhint-disable-next-line func-name-mixedcase
    function INBOX() external view returns (address);

    /// @notice The only address allowed to roll back.
    // solhint-disable-next-line func-name-mixedcase
    function FRAUD_VERIFIER() external view returns (address);

    /// @notice Seconds during which a proposal can be challenged.
    // solhint-disable-next-line func-name-mixedcase
    function CHALLENGE_WINDOW_SECONDS() external view returns (uint256);

    /// @notice The bond of each proposal, in wei.
    // solhint-disable-next-line func-name-mixedcase
    function PROPOSER_BOND() external view returns (uint256);

    /// @notice The state root of the empty L2 state: `keccak(abi.encode(Z32, 0, Z32, 0))`.
    // solhint-disable-next-line func-name-mixedcase
    function GENESIS_STATE_ROOT() external view returns (bytes32);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Event fields other than the ones indexed are data a follower reads, never filters on.
// solhint-disable gas-indexed-events

/// @title IStateCommitmentChain
/// @notice Bonded proposals of the state roots after every step of each batch, in batch order (docs/PROTOCOL.md
/// §7.3). A proposal is final from `proposedAt + CHALLENGE_WINDOW_SECONDS` on (its parent is then final too); until
/// then the FraudVerifier may roll it back together with every later proposal. Only the proposal proven wrong
/// loses its bond; every later one removed with it gets its bond back.
interface IStateCommitmentChain {
    /// @notice Where a proposal's bond stands.
    /// @param None No such proposal.
    /// @param Held The chain holds the bond: the proposal is live, or was removed and not yet refunded.
    /// @param Returned The bond was paid back to the proposer.
    /// @param Forfeited The proposal was proven wrong: half of the bond went to the challenger, the rest is burnt.
    enum BondState {
        None,
        Held,
        Returned,
        Forfeited
    }

    /// @notice A live proposal's record.
    /// @param stateRoot The root after the batch's last step (the batch's state root).
    /// @param stepRootsHash `keccak(abi.encodePacked(stepRoots))`.
    /// @param proposer Who posted it and its bond.
    /// @param proposedAt The block timestamp of the proposal.
    /// @param id The proposal's id: proposals are numbered 0, 1, 2, … in the order they are made, so a batch
    /// proposed again after a rollback gets a new id.
    /// @param bond Where its bond stands.
    struct Proposal {
        bytes32 stateRoot;
        bytes32 stepRootsHash;
        address proposer;
        uint64 proposedAt;
        uint64 id;
        BondState bond;
    }

    /// @notice A proposal's bond, live or removed.
    /// @param proposer Who posted the bond.
    /// @param batchIndex The batch proposed.
    /// @param state Where it stands.
    struct Bond {
        address proposer;
        uint64 batchIndex;
        BondState state;
    }

    /// @notice A batch's step roots were proposed.
    /// @param batchIndex The batch.
    /// @param proposer The proposer.
    /// @param proposalId The proposal's id (what `returnBond` takes).
    /// @param stateRoot The last step root.
    /// @param deadline The timestamp from which the proposal is final.
    /// @param stepRoots The root after each step.
    event StateProposed(
        uint256 indexed batchIndex,
        address indexed proposer,
        uint256 indexed proposalId,
        bytes32 stateRoot,
        uint256 deadline,
        bytes32[] stepRoots
    );

    /// @notice A bond was paid back: the proposal is final, or it was removed by a rollback of an earlier one.
    /// @param proposalId The proposal.
    /// @param batchIndex Its batch.
    /// @param proposer The proposer paid.
    /// @param bond The amount.
    event BondReturned(uint256 indexed proposalId, uint256 indexed batchIndex, address indexed proposer, uint256 bond);

    /// @notice Proposals `[fromBatch, toBatch)` were deleted after a fraud proof against `fromBatch`. The bond of
    /// proposal `proposalId` (of `fromBatch`) is forfeited; the bonds of the others stay refundable.
    /// @param fromBatch The batch proven wrong.
    /// @param toBatch One past the last proposal deleted (the proposal count before).
    /// @param challenger Who proved it and received the reward.
    /// @param proposalId The proposal proven wrong.
    /// @param reward Half of its bond, paid to the challenger.
    /// @param burnt The rest of its bond, locked in this contract forever.
    event ProposalsRolledBack(
        uint256 indexed fromBatch,
        uint256 toBatch,
        address indexed challenger,
        uint256 indexed proposalId,
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

    /// @notice There is no live proposal for the batch (never made, or rolled back).
    /// @param batchIndex The batch.
    /// @param proposalCount The number of live proposals.
    error StateCommitmentChainNoProposal(uint256 batchIndex, uint256 proposalCount);

    /// @notice No proposal was ever made with this id.
    /// @param proposalId The id given.
    /// @param proposalsMade The number of proposals made so far (ids are `0 .. proposalsMade − 1`).
    error StateCommitmentChainUnknownProposal(uint256 proposalId, uint256 proposalsMade);

    /// @notice The proposal is live and not final yet.
    /// @param batchIndex The batch.
    /// @param deadline The timestamp from which it is final.
    error StateCommitmentChainNotFinal(uint256 batchIndex, uint256 deadline);

    /// @notice The proposal is final and can no longer be rolled back.
    /// @param batchIndex The batch.
    /// @param deadline The timestamp from which it was final.
    error StateCommitmentChainAlreadyFinal(uint256 batchIndex, uint256 deadline);

    /// @notice The proposal's bond has already been returned.
    /// @param proposalId The proposal.
    error StateCommitmentChainBondAlreadyReturned(uint256 proposalId);

    /// @notice The proposal was proven wrong: its bond is forfeited.
    /// @param proposalId The proposal.
    error StateCommitmentChainBondForfeited(uint256 proposalId);

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
    /// @return proposalId The new proposal's id.
    function propose(uint256 batchIndex, bytes32[] calldata stepRoots) external payable returns (uint256 proposalId);

    /// @notice Pays a proposal's bond back to its proposer, once: when the proposal is final, or at any time once
    /// it was removed by the rollback of an earlier proposal. Anyone may call it; a bond proven wrong is forfeited.
    /// @param proposalId The proposal.
    function returnBond(uint256 proposalId) external;

    /// @notice Deletes proposal `batchIndex` and every later one. The bond of proposal `batchIndex` is forfeited:
    /// half to the challenger, the rest burnt; the later proposals' bonds stay refundable through `returnBond`.
    /// FraudVerifier only, and only while the proposal is not final.
    /// @param batchIndex The batch proven wrong.
    /// @param challenger Who proved it.
    function rollback(uint256 batchIndex, address challenger) external;

    /// @notice The number of live proposals; they are for batches `0 .. proposalCount() − 1`.
    function proposalCount() external view returns (uint256);

    /// @notice The number of proposals ever made; the next one gets this id.
    function proposalsMade() external view returns (uint256);

    /// @notice A live proposal's record (reverts for a batch without one).
    function proposal(uint256 batchIndex) external view returns (Proposal memory);

    /// @notice The bond of any proposal ever made, live or removed (reverts for an unknown id).
    function bond(uint256 proposalId) external view returns (Bond memory);

    /// @notice Whether proposal `proposalId` is the live proposal of its batch.
    function isLive(uint256 proposalId) external view returns (bool);

    /// @notice A live proposal's state root (reverts for a batch without one).
    function stateRoot(uint256 batchIndex) external view returns (bytes32);

    /// @notice The root that step 0 of batch `batchIndex` starts from: the state root of batch `batchIndex − 1`,
    /// or `GENESIS_STATE_ROOT` for batch 0. Reverts if batch `batchIndex − 1` has no proposal.
    function preStateRoot(uint256 batchIndex) external view returns (bytes32);

    /// @notice The timestamp from which a live proposal is final: `proposedAt + CHALLENGE_WINDOW_SECONDS`.
    function deadline(uint256 batchIndex) external view returns (uint256);

    /// @notice Whether a proposal exists for the batch and is final (`block.timestamp >= deadline`).
    function isFinal(uint256 batchIndex) external view returns (bool);

    /// @notice The total of forfeited bonds burnt (locked here forever).
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

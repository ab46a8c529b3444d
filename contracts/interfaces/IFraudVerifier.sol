// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {QueueItem, StateHeader, StepWitness} from "../libraries/L2Types.sol";
import {CHUNK_TREE_DEPTH} from "../rollup/ChunkTree.sol";

/// @title IFraudVerifier
/// @notice Proves one step of a proposal wrong by re-executing it on chain (docs/PROTOCOL.md §7.4): the step's
/// pre-state is checked against the proposal, its input against what the inbox and the bridge stored, and the
/// result against the proposed root. A wrong root rolls the proposal back and rewards the caller.
interface IFraudVerifier {
    /// @notice A step was proven wrong and its proposal (and every later one) rolled back.
    /// @param batchIndex The batch.
    /// @param stepIndex The step.
    /// @param challenger The caller, who receives the reward.
    /// @param proposedRoot The root the proposal claimed.
    /// @param computedRoot The root the step actually yields.
    event FraudProven(
        uint256 indexed batchIndex,
        uint256 indexed stepIndex,
        address indexed challenger,
        bytes32 proposedRoot,
        bytes32 computedRoot
    );

    /// @notice There is no proposal for the batch.
    /// @param batchIndex The batch.
    /// @param proposalCount The number of live proposals.
    error FraudVerifierNoProposal(uint256 batchIndex, uint256 proposalCount);

    /// @notice The proposal is final: it can no longer be challenged.
    /// @param batchIndex The batch.
    /// @param deadline The timestamp from which it was final.
    error FraudVerifierProposalFinal(uint256 batchIndex, uint256 deadline);

    /// @notice The step roots given are not the proposal's.
    /// @param batchIndex The batch.
    /// @param stored The proposal's `stepRootsHash`.
    /// @param given The hash of the roots given.
    error FraudVerifierStepRootsMismatch(uint256 batchIndex, bytes32 stored, bytes32 given);

    /// @notice The step is not a step of this kind in the batch (queue steps come first, then chunk steps).
    /// @param stepIndex The step given.
    /// @param firstStep The first step of this kind.
    /// @param endStep One past the last step of this kind.
    error FraudVerifierWrongStep(uint256 stepIndex, uint256 firstStep, uint256 endStep);

    /// @notice The pre-state header does not hash to the step's pre-state root.
    /// @param expected The pre-state root (the previous step root, or the parent's state root for step 0).
    /// @param given The root of the header given.
    error FraudVerifierPreStateMismatch(bytes32 expected, bytes32 given);

    /// @notice The chunk and path do not prove against the batch's chunk root.
    /// @param chunkIndex The chunk's index in the batch.
    /// @param chunksRoot The batch's chunk root.
    /// @param computedRoot The root the chunk and path give.
    error FraudVerifierChunkMismatch(uint256 chunkIndex, bytes32 chunksRoot, bytes32 computedRoot);

    /// @notice The number of queue items is not the step's.
    /// @param given Items given.
    /// @param expected Items in the step.
    error FraudVerifierQueueItemCount(uint256 given, uint256 expected);

    /// @notice The queue items do not chain to the bridge's accumulator at the end of the step.
    /// @param expected The bridge's accumulator.
    /// @param computed The accumulator the items give.
    error FraudVerifierQueueMismatch(bytes32 expected, bytes32 computed);

    /// @notice The step is correct: the proposed root is the one it yields. Nothing happened.
    /// @param batchIndex The batch.
    /// @param stepIndex The step.
    /// @param root The root, proposed and computed.
    error FraudVerifierStepCorrect(uint256 batchIndex, uint256 stepIndex, bytes32 root);

    /// @notice Proves chunk step `stepIndex` of batch `batchIndex`'s proposal wrong.
    /// @param batchIndex The batch.
    /// @param stepIndex The step; a chunk step (`stepIndex >= queue steps`), chunk `stepIndex − queue steps`.
    /// @param stepRoots The proposal's step roots (checked against its hash).
    /// @param pre The four fields of the step's pre-state.
    /// @param chunk The chunk's bytes.
    /// @param chunkProof The chunk leaf's path in the batch's chunk tree.
    /// @param witness The step's witness (§6).
    function proveChunkStep(
        uint256 batchIndex,
        uint256 stepIndex,
        bytes32[] calldata stepRoots,
        StateHeader calldata pre,
        bytes calldata chunk,
        bytes32[CHUNK_TREE_DEPTH] calldata chunkProof,
        StepWitness calldata witness
    ) external;

    /// @notice Proves queue step `stepIndex` of batch `batchIndex`'s proposal wrong.
    /// @param batchIndex The batch.
    /// @param stepIndex The step; a queue step (`stepIndex < queue steps`).
    /// @param stepRoots The proposal's step roots (checked against its hash).
    /// @param pre The four fields of the step's pre-state.
    /// @param items The step's queue items: `queueStart + 32·stepIndex` up to 32 items, at most to `queueEnd`.
    /// @param witness The step's witness (§6).
    function proveQueueStep(
        uint256 batchIndex,
        uint256 stepIndex,
        bytes32[] calldata stepRoots,
        StateHeader calldata pre,
        QueueItem[] calldata items,
        StepWitness calldata witness
    ) external;

    /// @notice The StateCommitmentChain whose proposals are challenged.
    // solhint-disable-next-line func-name-mixedcase
    function STATE_COMMITMENT_CHAIN() external view returns (address);

    /// @notice The inbox holding the batches.
    // solhint-disable-next-line func-name-mixedcase
    function INBOX() external view returns (address);

    /// @notice The bridge holding the queue.
    // solhint-disable-next-line func-name-mixedcase
    function BRIDGE() external view returns (address);
}

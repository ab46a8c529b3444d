// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Bounds and deadlines read naturally as `>=` / `<=`; the gas rule does not apply to them.
// solhint-disable gas-strict-inequalities

import {IBridge} from "../interfaces/IBridge.sol";
import {IFraudVerifier} from "../interfaces/IFraudVerifier.sol";
import {IRollupInbox} from "../interfaces/IRollupInbox.sol";
import {IStateCommitmentChain} from "../interfaces/IStateCommitmentChain.sol";
import {MAX_QUEUE_ITEMS_PER_STEP, QueueItem, StateHeader, StepWitness} from "../libraries/L2Types.sol";
import {QueueLib} from "../libraries/QueueLib.sol";
import {StateHashing} from "../libraries/StateHashing.sol";
import {StepExecutor} from "../libraries/StepExecutor.sol";
import {CHUNK_TREE_DEPTH, ChunkTree} from "./ChunkTree.sol";

/// @title FraudVerifier
/// @notice Re-executes one step of a proposal and rolls the proposal back if the proposed root is wrong
/// (docs/PROTOCOL.md §7.4).
/// @dev Soundness rests on three bindings: the pre-state header hashes to the root the proposal (or its parent)
/// committed to before the step; the step input is exactly what L1 stored (a chunk proven against the inbox's
/// chunk root, queue items chained between two of the bridge's accumulators); and the step executor reverts on
/// any witness that does not prove against the running roots. So the computed root is the one true result of the
/// step, and an honest step root can never be rolled back.
contract FraudVerifier is IFraudVerifier {
    /// @inheritdoc IFraudVerifier
    address public immutable STATE_COMMITMENT_CHAIN;
    /// @inheritdoc IFraudVerifier
    address public immutable INBOX;
    /// @inheritdoc IFraudVerifier
    address public immutable BRIDGE;

    /// @param stateCommitmentChain The StateCommitmentChain whose proposals are challenged.
    /// @param inbox The inbox holding the batches.
    /// @param bridge The bridge holding the queue.
    constructor(address stateCommitmentChain, address inbox, address bridge) {
        STATE_COMMITMENT_CHAIN = stateCommitmentChain;
        INBOX = inbox;
        BRIDGE = bridge;
    }

    /// @inheritdoc IFraudVerifier
    function proveChunkStep(
        uint256 batchIndex,
        uint256 stepIndex,
        bytes32[] calldata stepRoots,
        StateHeader calldata pre,
        bytes calldata chunk,
        bytes32[CHUNK_TREE_DEPTH] calldata chunkProof,
        StepWitness calldata witness
    ) external {
        (uint32 feeRecipient, bytes32 proposedRoot) = _checkChunkStep(
            batchIndex,
            stepIndex,
            stepRoots,
            pre,
            chunk,
            chunkProof
        );
        bytes32 domain = IRollupInbox(INBOX).domainSeparator();
        (StateHeader memory post, ) = StepExecutor.executeChunk(pre, domain, feeRecipient, chunk, witness);
        _judge(batchIndex, stepIndex, proposedRoot, StateHashing.stateRoot(post));
    }

    /// @inheritdoc IFraudVerifier
    function proveQueueStep(
        uint256 batchIndex,
        uint256 stepIndex,
        bytes32[] calldata stepRoots,
        StateHeader calldata pre,
        QueueItem[] calldata items,
        StepWitness calldata witness
    ) external {
        (IRollupInbox.Batch memory b, bytes32 proposedRoot) = _checkStep(batchIndex, stepIndex, stepRoots, pre);
        uint256 queueSteps = _queueSteps(b);
        if (stepIndex >= queueSteps) revert FraudVerifierWrongStep(stepIndex, 0, queueSteps);
        _checkQueueItems(b, stepIndex, items);
        (StateHeader memory post, ) = StepExecutor.executeQueue(pre, items, witness);
        _judge(batchIndex, stepIndex, proposedRoot, StateHashing.stateRoot(post));
    }

    /// @dev Checks that the proposal can be challenged, that `stepRoots` are its roots and that `pre` is the
    /// step's pre-state; returns the batch and the root proposed for the step.
    function _checkStep(
        uint256 batchIndex,
        uint256 stepIndex,
        bytes32[] calldata stepRoots,
        StateHeader calldata pre
    ) private view returns (IRollupInbox.Batch memory b, bytes32 proposedRoot) {
        IStateCommitmentChain chain = IStateCommitmentChain(STATE_COMMITMENT_CHAIN);
        uint256 count = chain.proposalCount();
        if (batchIndex >= count) revert FraudVerifierNoProposal(batchIndex, count);
        IStateCommitmentChain.Proposal memory p = chain.proposal(batchIndex);
        uint256 finalAt = uint256(p.proposedAt) + chain.CHALLENGE_WINDOW_SECONDS();
        if (block.timestamp >= finalAt) revert FraudVerifierProposalFinal(batchIndex, finalAt);
        bytes32 givenHash = keccak256(abi.encodePacked(stepRoots));
        if (givenHash != p.stepRootsHash) revert FraudVerifierStepRootsMismatch(batchIndex, p.stepRootsHash, givenHash);
        // The hash binds the length too, and the chain checked it against the batch's step count.
        if (stepIndex >= stepRoots.length) revert FraudVerifierWrongStep(stepIndex, 0, stepRoots.length);
        bytes32 preRoot = stepIndex == 0 ? chain.preStateRoot(batchIndex) : stepRoots[stepIndex - 1];
        bytes32 headerRoot = StateHashing.stateRoot(pre);
        if (headerRoot != preRoot) revert FraudVerifierPreStateMismatch(preRoot, headerRoot);
        b = IRollupInbox(INBOX).batch(batchIndex);
        proposedRoot = stepRoots[stepIndex];
    }

    /// @dev `_checkStep` for a chunk step, and checks that `chunk` is the step's chunk; returns the batch's fee
    /// recipient and the root proposed for the step.
    function _checkChunkStep(
        uint256 batchIndex,
        uint256 stepIndex,
        bytes32[] calldata stepRoots,
        StateHeader calldata pre,
        bytes calldata chunk,
        bytes32[CHUNK_TREE_DEPTH] calldata chunkProof
    ) private view returns (uint32 feeRecipient, bytes32 proposedRoot) {
        IRollupInbox.Batch memory b;
        (b, proposedRoot) = _checkStep(batchIndex, stepIndex, stepRoots, pre);
        uint256 queueSteps = _queueSteps(b);
        if (stepIndex < queueSteps) revert FraudVerifierWrongStep(stepIndex, queueSteps, b.stepCount);
        uint256 chunkIndex = stepIndex - queueSteps;
        bytes32 computedChunksRoot = ChunkTree.computeRoot(keccak256(chunk), chunkIndex, chunkProof);
        if (computedChunksRoot != b.chunksRoot) {
            revert FraudVerifierChunkMismatch(chunkIndex, b.chunksRoot, computedChunksRoot);
        }
        feeRecipient = b.feeRecipient;
    }

    /// @dev Checks that `items` are exactly the queue items of queue step `stepIndex` of the batch.
    function _checkQueueItems(IRollupInbox.Batch memory b, uint256 stepIndex, QueueItem[] calldata items) private view {
        uint256 start = uint256(b.queueStart) + stepIndex * MAX_QUEUE_ITEMS_PER_STEP;
        uint256 end = start + MAX_QUEUE_ITEMS_PER_STEP;
        if (end > b.queueEnd) end = b.queueEnd;
        if (items.length != end - start) revert FraudVerifierQueueItemCount(items.length, end - start);
        IBridge bridge = IBridge(BRIDGE);
        bytes32 acc = bridge.queueAccumulator(start);
        for (uint256 i = 0; i < items.length; ++i) {
            acc = QueueLib.chain(acc, QueueLib.itemHashCalldata(items[i]));
        }
        bytes32 expected = bridge.queueAccumulator(end);
        if (acc != expected) revert FraudVerifierQueueMismatch(expected, acc);
    }

    /// @dev Rolls the proposal back if the step's true result differs from the proposed root.
    function _judge(uint256 batchIndex, uint256 stepIndex, bytes32 proposedRoot, bytes32 computedRoot) private {
        if (computedRoot == proposedRoot) revert FraudVerifierStepCorrect(batchIndex, stepIndex, computedRoot);
        emit FraudProven(batchIndex, stepIndex, msg.sender, proposedRoot, computedRoot);
        IStateCommitmentChain(STATE_COMMITMENT_CHAIN).rollback(batchIndex, msg.sender);
    }

    /// @dev The number of queue steps of a batch: ceil(queue items / 32).
    function _queueSteps(IRollupInbox.Batch memory b) private pure returns (uint256) {
        return (uint256(b.queueEnd - b.queueStart) + MAX_QUEUE_ITEMS_PER_STEP - 1) / MAX_QUEUE_ITEMS_PER_STEP;
    }
}

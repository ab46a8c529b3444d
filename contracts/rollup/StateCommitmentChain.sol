// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Bounds and deadlines read naturally as `>=` / `<=`; the gas rule does not apply to them.
// solhint-disable gas-strict-inequalities

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IRollupInbox} from "../interfaces/IRollupInbox.sol";
import {IStateCommitmentChain} from "../interfaces/IStateCommitmentChain.sol";
import {MerkleTree} from "../libraries/MerkleTree.sol";
import {StateHashing} from "../libraries/StateHashing.sol";

/// @title StateCommitmentChain
/// @notice Bonded proposals of every batch's step roots, in batch order, final after a challenge window
/// (docs/PROTOCOL.md §7.3).
/// @dev Proposals are made in batch order and only a suffix is ever removed, so a proposal is never older than its
/// parent and its deadline never earlier: once its own deadline has passed its parent's has too. Hence "final" =
/// "exists and deadline reached", and "parent final" follows by induction. Rollback is O(1): it lowers
/// `proposalCount`; the records above it are unreachable and overwritten by the next proposals. Because the bond
/// is a constant, the slashed total is `removed × PROPOSER_BOND` with no need to visit the removed records, so no
/// number of later proposals can make a rollback exceed the gas cap.
contract StateCommitmentChain is IStateCommitmentChain, ReentrancyGuard {
    /// @inheritdoc IStateCommitmentChain
    address public immutable INBOX;
    /// @inheritdoc IStateCommitmentChain
    address public immutable FRAUD_VERIFIER;
    /// @inheritdoc IStateCommitmentChain
    uint256 public immutable CHALLENGE_WINDOW_SECONDS;
    /// @inheritdoc IStateCommitmentChain
    uint256 public immutable PROPOSER_BOND;
    /// @inheritdoc IStateCommitmentChain
    bytes32 public immutable GENESIS_STATE_ROOT;

    /// @inheritdoc IStateCommitmentChain
    uint256 public proposalCount;
    /// @inheritdoc IStateCommitmentChain
    uint256 public totalBurnt;
    /// @dev Records at `proposalCount` and above are stale leftovers of rolled-back proposals.
    mapping(uint256 batchIndex => Proposal) private _proposals;

    /// @param inbox The inbox whose batches are proposed.
    /// @param fraudVerifier The only address allowed to roll back.
    /// @param challengeWindowSeconds Seconds during which a proposal can be challenged (at least 1).
    /// @param proposerBond The bond of each proposal, in wei.
    constructor(address inbox, address fraudVerifier, uint256 challengeWindowSeconds, uint256 proposerBond) {
        if (challengeWindowSeconds == 0) revert StateCommitmentChainZeroChallengeWindow();
        INBOX = inbox;
        FRAUD_VERIFIER = fraudVerifier;
        CHALLENGE_WINDOW_SECONDS = challengeWindowSeconds;
        PROPOSER_BOND = proposerBond;
        bytes32 emptyTree = MerkleTree.zero(MerkleTree.DEPTH);
        GENESIS_STATE_ROOT = StateHashing.stateRoot(emptyTree, 0, emptyTree, 0);
    }

    /// @inheritdoc IStateCommitmentChain
    function propose(uint256 batchIndex, bytes32[] calldata stepRoots) external payable {
        uint256 expected = proposalCount;
        if (batchIndex != expected) revert StateCommitmentChainNotNextBatch(batchIndex, expected);
        IRollupInbox inbox = IRollupInbox(INBOX);
        uint256 batchCount = inbox.batchCount();
        if (batchIndex >= batchCount) revert StateCommitmentChainBatchNotAppended(batchIndex, batchCount);
        uint256 steps = inbox.stepCount(batchIndex);
        if (stepRoots.length != steps)
            revert StateCommitmentChainStepCountMismatch(batchIndex, stepRoots.length, steps);
        if (msg.value != PROPOSER_BOND) revert StateCommitmentChainWrongBond(msg.value, PROPOSER_BOND);

        bytes32 root = stepRoots[steps - 1];
        _proposals[batchIndex] = Proposal({
            stateRoot: root,
            stepRootsHash: keccak256(abi.encodePacked(stepRoots)),
            proposer: msg.sender,
            proposedAt: uint64(block.timestamp),
            bondReturned: false
        });
        proposalCount = batchIndex + 1;
        emit StateProposed(batchIndex, msg.sender, root, block.timestamp + CHALLENGE_WINDOW_SECONDS, stepRoots);
    }

    /// @inheritdoc IStateCommitmentChain
    function returnBond(uint256 batchIndex) external nonReentrant {
        Proposal storage p = _live(batchIndex);
        uint256 finalAt = uint256(p.proposedAt) + CHALLENGE_WINDOW_SECONDS;
        if (block.timestamp < finalAt) revert StateCommitmentChainNotFinal(batchIndex, finalAt);
        if (p.bondReturned) revert StateCommitmentChainBondAlreadyReturned(batchIndex);
        p.bondReturned = true;
        address proposer = p.proposer;
        emit BondReturned(batchIndex, proposer, PROPOSER_BOND);
        _pay(proposer, PROPOSER_BOND);
    }

    /// @inheritdoc IStateCommitmentChain
    function rollback(uint256 batchIndex, address challenger) external nonReentrant {
        if (msg.sender != FRAUD_VERIFIER) revert StateCommitmentChainCallerNotFraudVerifier(msg.sender);
        Proposal storage p = _live(batchIndex);
        uint256 finalAt = uint256(p.proposedAt) + CHALLENGE_WINDOW_SECONDS;
        if (block.timestamp >= finalAt) revert StateCommitmentChainAlreadyFinal(batchIndex, finalAt);

        // Every later proposal is younger, hence not final either, and its bond is still here.
        uint256 previousCount = proposalCount;
        uint256 removed = previousCount - batchIndex;
        uint256 reward = removed * (PROPOSER_BOND / 2);
        uint256 burnt = removed * PROPOSER_BOND - reward;
        proposalCount = batchIndex;
        totalBurnt += burnt;
        emit ProposalsRolledBack(batchIndex, previousCount, challenger, reward, burnt);
        _pay(challenger, reward);
    }

    /// @inheritdoc IStateCommitmentChain
    function proposal(uint256 batchIndex) external view returns (Proposal memory) {
        return _live(batchIndex);
    }

    /// @inheritdoc IStateCommitmentChain
    function stateRoot(uint256 batchIndex) external view returns (bytes32) {
        return _live(batchIndex).stateRoot;
    }

    /// @inheritdoc IStateCommitmentChain
    function preStateRoot(uint256 batchIndex) external view returns (bytes32) {
        return batchIndex == 0 ? GENESIS_STATE_ROOT : _live(batchIndex - 1).stateRoot;
    }

    /// @inheritdoc IStateCommitmentChain
    function deadline(uint256 batchIndex) external view returns (uint256) {
        return uint256(_live(batchIndex).proposedAt) + CHALLENGE_WINDOW_SECONDS;
    }

    /// @inheritdoc IStateCommitmentChain
    function isFinal(uint256 batchIndex) external view returns (bool) {
        if (batchIndex >= proposalCount) return false;
        return block.timestamp >= uint256(_proposals[batchIndex].proposedAt) + CHALLENGE_WINDOW_SECONDS;
    }

    /// @dev A live proposal, or a revert.
    function _live(uint256 batchIndex) private view returns (Proposal storage) {
        uint256 count = proposalCount;
        if (batchIndex >= count) revert StateCommitmentChainNoProposal(batchIndex, count);
        return _proposals[batchIndex];
    }

    /// @dev Sends `amount` wei.
    function _pay(address recipient, uint256 amount) private {
        (bool ok, ) = recipient.call{value: amount}("");
        if (!ok) revert StateCommitmentChainPaymentFailed(recipient, amount);
    }
}

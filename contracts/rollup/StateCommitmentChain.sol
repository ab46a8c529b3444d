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
/// `proposalCount` and marks one bond forfeited. The removed later proposals are not visited: a proposal is live
/// exactly when it is still the record of its batch below `proposalCount`, so every other proposal whose bond is
/// held is a removed successor, refundable by its id. No number of later proposals can make a rollback exceed the
/// gas cap, and nobody but the proven liar loses a bond.
contract StateCommitmentChain is IStateCommitmentChain, ReentrancyGuard {
    /// @dev What the chain keeps of the live proposal of a batch.
    struct Record {
        bytes32 stateRoot;
        bytes32 stepRootsHash;
        uint64 proposedAt;
        uint64 id;
    }

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
    uint256 public proposalsMade;
    /// @inheritdoc IStateCommitmentChain
    uint256 public totalBurnt;
    /// @dev Records at `proposalCount` and above are stale leftovers of rolled-back proposals.
    mapping(uint256 batchIndex => Record) private _records;
    mapping(uint256 proposalId => Bond) private _bonds;

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
    function propose(uint256 batchIndex, bytes32[] calldata stepRoots) external payable returns (uint256 proposalId) {
        uint256 expected = proposalCount;
        if (batchIndex != expected) revert StateCommitmentChainNotNextBatch(batchIndex, expected);
        IRollupInbox inbox = IRollupInbox(INBOX);
        uint256 batchCount = inbox.batchCount();
        if (batchIndex >= batchCount) revert StateCommitmentChainBatchNotAppended(batchIndex, batchCount);
        uint256 steps = inbox.stepCount(batchIndex);
        if (stepRoots.length != steps)
            revert StateCommitmentChainStepCountMismatch(batchIndex, stepRoots.length, steps);
        if (msg.value != PROPOSER_BOND) revert StateCommitmentChainWrongBond(msg.value, PROPOSER_BOND);

        proposalId = proposalsMade;
        bytes32 root = stepRoots[steps - 1];
        // Both fit in 64 bits for far longer than any chain will run: a batch index or an id per transaction.
        _records[batchIndex] = Record({
            stateRoot: root,
            stepRootsHash: keccak256(abi.encodePacked(stepRoots)),
            proposedAt: uint64(block.timestamp),
            id: uint64(proposalId)
        });
        _bonds[proposalId] = Bond({proposer: msg.sender, batchIndex: uint64(batchIndex), state: BondState.Held});
        proposalsMade = proposalId + 1;
        proposalCount = batchIndex + 1;
        emit StateProposed(
            batchIndex,
            msg.sender,
            proposalId,
            root,
            block.timestamp + CHALLENGE_WINDOW_SECONDS,
            stepRoots
        );
    }

    /// @inheritdoc IStateCommitmentChain
    function returnBond(uint256 proposalId) external nonReentrant {
        Bond storage b = _bond(proposalId);
        if (b.state == BondState.Returned) revert StateCommitmentChainBondAlreadyReturned(proposalId);
        if (b.state == BondState.Forfeited) revert StateCommitmentChainBondForfeited(proposalId);
        uint256 batchIndex = b.batchIndex;
        // A live proposal waits for its window; a removed one (not proven wrong itself) is refunded at once.
        if (_isLive(proposalId, batchIndex)) {
            uint256 finalAt = uint256(_records[batchIndex].proposedAt) + CHALLENGE_WINDOW_SECONDS;
            if (block.timestamp < finalAt) revert StateCommitmentChainNotFinal(batchIndex, finalAt);
        }
        b.state = BondState.Returned;
        address proposer = b.proposer;
        emit BondReturned(proposalId, batchIndex, proposer, PROPOSER_BOND);
        _pay(proposer, PROPOSER_BOND);
    }

    /// @inheritdoc IStateCommitmentChain
    function rollback(uint256 batchIndex, address challenger) external nonReentrant {
        if (msg.sender != FRAUD_VERIFIER) revert StateCommitmentChainCallerNotFraudVerifier(msg.sender);
        Record storage p = _live(batchIndex);
        uint256 finalAt = uint256(p.proposedAt) + CHALLENGE_WINDOW_SECONDS;
        if (block.timestamp >= finalAt) revert StateCommitmentChainAlreadyFinal(batchIndex, finalAt);

        // A live proposal that is not final still holds its bond (a bond is returned only once final).
        uint256 proposalId = p.id;
        _bonds[proposalId].state = BondState.Forfeited;
        uint256 previousCount = proposalCount;
        proposalCount = batchIndex;
        uint256 reward = PROPOSER_BOND / 2;
        uint256 burnt = PROPOSER_BOND - reward;
        totalBurnt += burnt;
        emit ProposalsRolledBack(batchIndex, previousCount, challenger, proposalId, reward, burnt);
        _pay(challenger, reward);
    }

    /// @inheritdoc IStateCommitmentChain
    function proposal(uint256 batchIndex) external view returns (Proposal memory) {
        Record storage r = _live(batchIndex);
        Bond storage b = _bonds[r.id];
        return
            Proposal({
                stateRoot: r.stateRoot,
                stepRootsHash: r.stepRootsHash,
                proposer: b.proposer,
                proposedAt: r.proposedAt,
                id: r.id,
                bond: b.state
            });
    }

    /// @inheritdoc IStateCommitmentChain
    function bond(uint256 proposalId) external view returns (Bond memory) {
        return _bond(proposalId);
    }

    /// @inheritdoc IStateCommitmentChain
    function isLive(uint256 proposalId) external view returns (bool) {
        if (proposalId >= proposalsMade) return false;
        return _isLive(proposalId, _bonds[proposalId].batchIndex);
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
        return block.timestamp >= uint256(_records[batchIndex].proposedAt) + CHALLENGE_WINDOW_SECONDS;
    }

    /// @dev The live proposal of a batch, or a revert.
    function _live(uint256 batchIndex) private view returns (Record storage) {
        uint256 count = proposalCount;
        if (batchIndex >= count) revert StateCommitmentChainNoProposal(batchIndex, count);
        return _records[batchIndex];
    }

    /// @dev The bond of a proposal ever made, or a revert.
    function _bond(uint256 proposalId) private view returns (Bond storage) {
        uint256 made = proposalsMade;
        if (proposalId >= made) revert StateCommitmentChainUnknownProposal(proposalId, made);
        return _bonds[proposalId];
    }

    /// @dev Whether proposal `proposalId` (of batch `batchIndex`) is still its batch's live record.
    function _isLive(uint256 proposalId, uint256 batchIndex) private view returns (bool) {
        return batchIndex < proposalCount && _records[batchIndex].id == proposalId;
    }

    /// @dev Sends `amount` wei.
    function _pay(address recipient, uint256 amount) private {
        (bool ok, ) = recipient.call{value: amount}("");
        if (!ok) revert StateCommitmentChainPaymentFailed(recipient, amount);
    }
}

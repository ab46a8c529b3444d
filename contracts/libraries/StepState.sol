// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MerkleTree} from "./MerkleTree.sol";
import {StateHashing} from "./StateHashing.sol";
import {Account, StateHeader, StepWitness} from "./L2Types.sol";

/// @title StepState
/// @notice The running state of one step and its witness (docs/PROTOCOL.md §6): account reads proven against the
/// current root, writes along the paths they were read with, withdrawal appends, and the check that every entry was
/// used. Shared by the executors of the three kinds of step.
/// @dev Witness paths are read from calldata in place; only the account fields are copied.
// solhint-disable gas-strict-inequalities
library StepState {
    /// @notice An account entry does not prove against the account root it is read against, or an entry for an
    /// empty slot has non-zero fields.
    /// @param entry The entry's position in `witness.accounts`.
    /// @param index The account index the step read it for.
    error StepExecutorInvalidWitness(uint256 entry, uint256 index);

    /// @notice A withdrawal entry is not the path of the empty leaf `withdrawalCount` under the withdrawal root.
    /// @param entry The entry's position in `witness.withdrawals`.
    /// @param index The withdrawal index being appended.
    error StepExecutorInvalidWithdrawalWitness(uint256 entry, uint256 index);

    /// @notice The step needs one more account or withdrawal entry than the witness has.
    error StepExecutorWitnessExhausted();

    /// @notice The step ended with entries left over.
    /// @param accountsLeft Account entries not consumed.
    /// @param withdrawalsLeft Withdrawal entries not consumed.
    error StepExecutorWitnessUnused(uint256 accountsLeft, uint256 withdrawalsLeft);

    /// @notice The step ended with BLS witness bytes left over (any at all, for a step that is not a BLS chunk).
    /// @param keyBytesLeft Bytes of `witness.blsKeys` not consumed.
    /// @param signatureBytes Length of an unused `witness.blsSignature`.
    error StepExecutorBlsWitnessUnused(uint256 keyBytesLeft, uint256 signatureBytes);

    /// @dev The running state of a step and the positions of the next unread witness entries.
    struct Step {
        bytes32 accountsRoot;
        uint256 accountCount;
        bytes32 withdrawalsRoot;
        uint256 withdrawalCount;
        uint256 nextAccount;
        uint256 nextWithdrawal;
        /// @dev How much of `witness.blsKeys` a BLS chunk step consumed, and whether it used `blsSignature`.
        uint256 blsKeyBytesUsed;
        bool blsSignatureUsed;
    }

    /// @dev An account slot read from the witness: which entry holds its path, its index and its fields.
    struct Slot {
        uint256 entry;
        uint256 index;
        address owner;
        uint256 tokenId;
        uint256 balance;
        uint256 nonce;
        bytes32 blsKeyHash;
    }

    function begin(StateHeader memory pre) internal pure returns (Step memory s) {
        s.accountsRoot = pre.accountsRoot;
        s.accountCount = pre.accountCount;
        s.withdrawalsRoot = pre.withdrawalsRoot;
        s.withdrawalCount = pre.withdrawalCount;
    }

    function end(Step memory s, StepWitness calldata w) internal pure returns (StateHeader memory post) {
        uint256 accountsLeft = w.accounts.length - s.nextAccount;
        uint256 withdrawalsLeft = w.withdrawals.length - s.nextWithdrawal;
        if (accountsLeft != 0 || withdrawalsLeft != 0) {
            revert StepExecutorWitnessUnused(accountsLeft, withdrawalsLeft);
        }
        uint256 keyBytesLeft = w.blsKeys.length - s.blsKeyBytesUsed;
        uint256 signatureBytes = s.blsSignatureUsed ? 0 : w.blsSignature.length;
        if (keyBytesLeft != 0 || signatureBytes != 0) revert StepExecutorBlsWitnessUnused(keyBytesLeft, signatureBytes);
        // accountCount ≤ 2^32 − 1 and withdrawalCount ≤ 2^32 by the limits checked before each increment.
        post = StateHeader({
            accountsRoot: s.accountsRoot,
            accountCount: uint32(s.accountCount),
            withdrawalsRoot: s.withdrawalsRoot,
            withdrawalCount: uint64(s.withdrawalCount)
        });
    }

    /// @dev Consumes the next account entry as account `index`, proven against the current account root.
    function readAccount(
        Step memory s,
        StepWitness calldata w,
        uint256 index
    ) internal pure returns (Slot memory slot) {
        uint256 entry = nextAccountEntry(s, w);
        Account calldata account = w.accounts[entry].account;
        slot.entry = entry;
        slot.index = index;
        slot.owner = account.owner;
        slot.tokenId = account.tokenId;
        slot.balance = account.balance;
        slot.nonce = account.nonce;
        slot.blsKeyHash = account.blsKeyHash;
        bytes32 leaf = StateHashing.accountLeaf(slot.owner, slot.tokenId, slot.balance, slot.nonce, slot.blsKeyHash);
        if (!MerkleTree.verify(s.accountsRoot, leaf, index, w.accounts[entry].siblings)) {
            revert StepExecutorInvalidWitness(entry, index);
        }
    }

    /// @dev Consumes the next account entry as the empty slot `index`: zero fields, leaf `bytes32(0)`.
    function readEmpty(Step memory s, StepWitness calldata w, uint256 index) internal pure returns (Slot memory slot) {
        uint256 entry = nextAccountEntry(s, w);
        Account calldata account = w.accounts[entry].account;
        if (
            account.owner != address(0) ||
            account.tokenId != 0 ||
            account.balance != 0 ||
            account.nonce != 0 ||
            account.blsKeyHash != 0 ||
            !MerkleTree.verify(s.accountsRoot, bytes32(0), index, w.accounts[entry].siblings)
        ) {
            revert StepExecutorInvalidWitness(entry, index);
        }
        slot.entry = entry;
        slot.index = index;
    }

    function nextAccountEntry(Step memory s, StepWitness calldata w) internal pure returns (uint256 entry) {
        entry = s.nextAccount;
        if (entry >= w.accounts.length) revert StepExecutorWitnessExhausted();
        s.nextAccount = entry + 1;
    }

    /// @dev Writes one slot along the path it was read with.
    function write(Step memory s, StepWitness calldata w, Slot memory slot) internal pure {
        s.accountsRoot = MerkleTree.computeRoot(leafOf(slot), slot.index, w.accounts[slot.entry].siblings);
    }

    /// @dev Writes two distinct slots read against the same root: `first`, then `second` along its path with the
    /// sibling at the divergence height replaced by the node `first`'s write left there (§6).
    function writeTwo(Step memory s, StepWitness calldata w, Slot memory first, Slot memory second) internal pure {
        uint256 height = MerkleTree.divergenceHeight(first.index, second.index);
        bytes32 node = MerkleTree.computeNode(leafOf(first), first.index, w.accounts[first.entry].siblings, height);
        s.accountsRoot = MerkleTree.computeRootReplacing(
            leafOf(second),
            second.index,
            w.accounts[second.entry].siblings,
            height,
            node
        );
    }

    function leafOf(Slot memory slot) internal pure returns (bytes32) {
        return StateHashing.accountLeaf(slot.owner, slot.tokenId, slot.balance, slot.nonce, slot.blsKeyHash);
    }

    /// @dev Consumes the next withdrawal entry as the path of the empty leaf `withdrawalCount` and appends there.
    function appendWithdrawal(
        Step memory s,
        StepWitness calldata w,
        address recipient,
        uint256 tokenId,
        uint256 amount
    ) internal pure {
        uint256 entry = s.nextWithdrawal;
        if (entry >= w.withdrawals.length) revert StepExecutorWitnessExhausted();
        s.nextWithdrawal = entry + 1;
        uint256 index = s.withdrawalCount;
        bytes32[32] calldata siblings = w.withdrawals[entry];
        if (!MerkleTree.verify(s.withdrawalsRoot, bytes32(0), index, siblings)) {
            revert StepExecutorInvalidWithdrawalWitness(entry, index);
        }
        s.withdrawalsRoot = MerkleTree.computeRoot(
            StateHashing.withdrawalLeaf(recipient, tokenId, amount),
            index,
            siblings
        );
        s.withdrawalCount = index + 1;
    }

    /// @dev Credits a chunk's fees to its fee recipient, read against the root after the last transaction (so it
    /// sees the chunk's own changes to it).
    function creditFees(Step memory s, StepWitness calldata w, uint256 feeRecipient, uint256 totalFees) internal pure {
        if (totalFees == 0) return;
        Slot memory recipient = readAccount(s, w, feeRecipient);
        unchecked {
            recipient.balance += totalFees;
        }
        write(s, w, recipient);
    }
}

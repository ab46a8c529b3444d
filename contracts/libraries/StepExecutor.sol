// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MerkleTree} from "./MerkleTree.sol";
import {StateHashing} from "./StateHashing.sol";
import {TxCodec} from "./TxCodec.sol";
import {TxSignatures} from "./TxSignatures.sol";
import {
    Account,
    L2Tx,
    QueueItem,
    StateHeader,
    StepWitness,
    MAX_ACCOUNT_INDEX,
    MAX_WITHDRAWALS,
    MAX_NONCE,
    MAX_TXS_PER_CHUNK,
    MAX_QUEUE_ITEMS_PER_STEP,
    TX_TRANSFER,
    TX_TRANSFER_TO_NEW,
    TX_WITHDRAW,
    QUEUE_DEPOSIT,
    QUEUE_FORCED_EXIT,
    OUTCOME_APPLIED,
    OUTCOME_SENDER_MISSING,
    OUTCOME_RECIPIENT_MISSING,
    OUTCOME_INVALID_RECIPIENT,
    OUTCOME_ACCOUNT_LIMIT,
    OUTCOME_TOKEN_MISMATCH,
    OUTCOME_FEE_RECIPIENT_MISMATCH,
    OUTCOME_INSUFFICIENT_BALANCE,
    OUTCOME_NONCE_EXHAUSTED,
    OUTCOME_WITHDRAWAL_LIMIT,
    OUTCOME_BAD_SIGNATURE,
    OUTCOME_TRAILING,
    OUTCOME_CREDITED,
    OUTCOME_CREATED,
    OUTCOME_REFUNDED,
    OUTCOME_DROPPED,
    OUTCOME_EXITED,
    OUTCOME_ACCOUNT_MISSING,
    OUTCOME_NOT_OWNER,
    OUTCOME_EMPTY_BALANCE,
    OUTCOME_UNKNOWN_KIND
} from "./L2Types.sol";

/// @title StepExecutor
/// @notice Re-executes one step of the L2 state-transition function (docs/PROTOCOL.md §5) from the pre-state's four
/// fields, the step input and a witness (§6), and returns the post-state and one outcome code per transaction or item.
/// @dev The caller checks the pre-state against the proposed pre-root and compares `StateHashing.stateRoot(post)`
/// with the proposed post-root. A witness that does not fit the step reverts: that is a failed proof, never a
/// verdict on the step. Witness paths are read from calldata in place; only the account fields are copied.
// Limits read as the spec states them.
// solhint-disable gas-strict-inequalities
library StepExecutor {
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

    /// @notice A queue step with more items than a step may hold.
    /// @param count The number of items given.
    /// @param max MAX_QUEUE_ITEMS_PER_STEP.
    error StepExecutorTooManyItems(uint256 count, uint256 max);

    /// @notice A transaction of a type this executor has no rule for reached it (the parser should have ended the
    /// chunk with UnknownType first).
    /// @param txType The type byte.
    error StepExecutorUnknownTxType(uint8 txType);

    /// @dev The running state of a step and the positions of the next unread witness entries.
    struct Step {
        bytes32 accountsRoot;
        uint256 accountCount;
        bytes32 withdrawalsRoot;
        uint256 withdrawalCount;
        uint256 nextAccount;
        uint256 nextWithdrawal;
    }

    /// @dev What a chunk step knows besides the state: the signing domain and the fee account.
    struct ChunkContext {
        bytes32 domainSeparator;
        uint256 feeRecipient;
        bool feesEnabled;
        uint256 feeToken;
        uint256 totalFees;
    }

    /// @dev An account slot read from the witness: which entry holds its path, its index and its fields.
    struct Slot {
        uint256 entry;
        uint256 index;
        address owner;
        uint256 tokenId;
        uint256 balance;
        uint256 nonce;
    }

    /// @notice Re-executes a chunk step (§5.2).
    /// @param pre The state before the step.
    /// @param domainSeparator The EIP-712 domain separator of the inbox the chunk was appended to.
    /// @param feeRecipient The batch's fee account index.
    /// @param chunk The chunk bytes; at most 32 transactions are read, the rest is ignored.
    /// @param witness The account and withdrawal entries the step consumes, in order.
    /// @return post The state after the step.
    /// @return outcomes One code per transaction read, then one more (UnknownType, Truncated or Trailing) when
    /// parsing stopped before the end of the chunk.
    function executeChunk(
        StateHeader memory pre,
        bytes32 domainSeparator,
        uint32 feeRecipient,
        bytes calldata chunk,
        StepWitness calldata witness
    ) internal pure returns (StateHeader memory post, uint8[] memory outcomes) {
        Step memory s = _begin(pre);
        ChunkContext memory c;
        c.domainSeparator = domainSeparator;
        c.feeRecipient = feeRecipient;
        if (feeRecipient != 0 && feeRecipient <= s.accountCount) {
            // Fee token fixed at the start; an account's token never changes, so the final credit needs no check.
            c.feesEnabled = true;
            c.feeToken = _readAccount(s, witness, feeRecipient).tokenId;
        }

        outcomes = new uint8[](MAX_TXS_PER_CHUNK + 1);
        uint256 count;
        uint256 offset;
        while (offset < chunk.length) {
            if (count == MAX_TXS_PER_CHUNK) {
                outcomes[count] = OUTCOME_TRAILING;
                ++count;
                break;
            }
            (uint8 status, L2Tx memory t, uint256 next) = TxCodec.decode(chunk, offset);
            if (status != OUTCOME_APPLIED) {
                outcomes[count] = status;
                ++count;
                break;
            }
            outcomes[count] = _executeTx(s, c, t, witness);
            ++count;
            offset = next;
        }
        assembly ("memory-safe") {
            // Shrink to the codes written; the tail stays allocated and unused.
            mstore(outcomes, count)
        }

        if (c.totalFees != 0) {
            // Read against the root after the last transaction, so it sees the chunk's own changes.
            Slot memory recipient = _readAccount(s, witness, c.feeRecipient);
            unchecked {
                recipient.balance += c.totalFees;
            }
            _write(s, witness, recipient);
        }
        post = _end(s, witness);
    }

    /// @notice Re-executes a queue step (§5.1).
    /// @param pre The state before the step.
    /// @param items The step's queue items, in queue order; at most 32.
    /// @param witness The account and withdrawal entries the step consumes, in order.
    /// @return post The state after the step.
    /// @return outcomes One code per item.
    function executeQueue(
        StateHeader memory pre,
        QueueItem[] calldata items,
        StepWitness calldata witness
    ) internal pure returns (StateHeader memory post, uint8[] memory outcomes) {
        if (items.length > MAX_QUEUE_ITEMS_PER_STEP) {
            revert StepExecutorTooManyItems(items.length, MAX_QUEUE_ITEMS_PER_STEP);
        }
        Step memory s = _begin(pre);
        outcomes = new uint8[](items.length);
        for (uint256 i = 0; i < items.length; ++i) {
            QueueItem calldata item = items[i];
            if (item.kind == QUEUE_DEPOSIT) {
                outcomes[i] = _deposit(s, witness, item);
            } else if (item.kind == QUEUE_FORCED_EXIT) {
                outcomes[i] = _forcedExit(s, witness, item);
            } else {
                outcomes[i] = OUTCOME_UNKNOWN_KIND;
            }
        }
        post = _end(s, witness);
    }

    // ---------------------------------------------------------------- queue items

    function _deposit(Step memory s, StepWitness calldata w, QueueItem calldata item) private pure returns (uint8) {
        uint256 hint = item.account;
        if (hint != 0 && hint <= s.accountCount) {
            Slot memory account = _readAccount(s, w, hint);
            if (account.owner == item.addr && account.tokenId == item.tokenId) {
                unchecked {
                    account.balance += item.amount;
                }
                _write(s, w, account);
                return OUTCOME_CREDITED;
            }
        }
        if (s.accountCount < MAX_ACCOUNT_INDEX) {
            Slot memory created = _readEmpty(s, w, s.accountCount + 1);
            created.owner = item.addr;
            created.tokenId = item.tokenId;
            created.balance = item.amount;
            _write(s, w, created);
            ++s.accountCount;
            return OUTCOME_CREATED;
        }
        if (s.withdrawalCount < MAX_WITHDRAWALS) {
            _appendWithdrawal(s, w, item.addr, item.tokenId, item.amount);
            return OUTCOME_REFUNDED;
        }
        return OUTCOME_DROPPED;
    }

    function _forcedExit(Step memory s, StepWitness calldata w, QueueItem calldata item) private pure returns (uint8) {
        uint256 index = item.account;
        if (index == 0 || index > s.accountCount) return OUTCOME_ACCOUNT_MISSING;
        Slot memory account = _readAccount(s, w, index);
        if (account.owner != item.addr) return OUTCOME_NOT_OWNER;
        if (account.balance == 0) return OUTCOME_EMPTY_BALANCE;
        if (s.withdrawalCount >= MAX_WITHDRAWALS) return OUTCOME_WITHDRAWAL_LIMIT;
        uint256 amount = account.balance;
        account.balance = 0;
        _write(s, w, account);
        _appendWithdrawal(s, w, account.owner, account.tokenId, amount);
        return OUTCOME_EXITED;
    }

    // ---------------------------------------------------------------- transactions

    function _executeTx(
        Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w
    ) private pure returns (uint8) {
        if (t.from == 0 || t.from > s.accountCount) return OUTCOME_SENDER_MISSING;
        Slot memory sender = _readAccount(s, w, t.from);
        if (t.txType == TX_TRANSFER) return _transfer(s, c, t, w, sender);
        if (t.txType == TX_WITHDRAW) return _withdraw(s, c, t, w, sender);
        if (t.txType == TX_TRANSFER_TO_NEW) return _transferToNew(s, c, t, w, sender);
        // The parser stops at an unknown type byte (UnknownType), so no other type reaches here; a new type must be
        // added above, never run as one of these.
        revert StepExecutorUnknownTxType(t.txType);
    }

    function _transfer(
        Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        Slot memory sender
    ) private pure returns (uint8) {
        if (t.to == 0 || t.to > s.accountCount) return OUTCOME_RECIPIENT_MISSING;
        // A transfer to oneself reads one entry; the alias makes the two balance updates net to `−fee`.
        Slot memory recipient = t.to == t.from ? sender : _readAccount(s, w, t.to);
        if (recipient.tokenId != sender.tokenId) return OUTCOME_TOKEN_MISMATCH;
        uint8 check = _checkSender(c, t, sender);
        if (check != OUTCOME_APPLIED) return check;
        bytes32 structHash = TxSignatures.transferHash(
            t.from,
            t.to,
            uint32(sender.tokenId),
            t.amount,
            t.fee,
            uint32(sender.nonce)
        );
        if (!_signed(c, structHash, t, sender)) return OUTCOME_BAD_SIGNATURE;

        _debit(c, t, sender);
        unchecked {
            recipient.balance += t.amount;
        }
        if (recipient.index == sender.index) {
            _write(s, w, sender);
        } else {
            _writeTwo(s, w, sender, recipient);
        }
        return OUTCOME_APPLIED;
    }

    function _withdraw(
        Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        Slot memory sender
    ) private pure returns (uint8) {
        uint8 check = _checkSender(c, t, sender);
        if (check != OUTCOME_APPLIED) return check;
        if (s.withdrawalCount >= MAX_WITHDRAWALS) return OUTCOME_WITHDRAWAL_LIMIT;
        bytes32 structHash = TxSignatures.withdrawHash(
            t.from,
            uint32(sender.tokenId),
            t.amount,
            t.fee,
            uint32(sender.nonce)
        );
        if (!_signed(c, structHash, t, sender)) return OUTCOME_BAD_SIGNATURE;

        _debit(c, t, sender);
        _write(s, w, sender);
        _appendWithdrawal(s, w, sender.owner, sender.tokenId, t.amount);
        return OUTCOME_APPLIED;
    }

    function _transferToNew(
        Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        Slot memory sender
    ) private pure returns (uint8) {
        if (t.toAddress == address(0)) return OUTCOME_INVALID_RECIPIENT;
        if (s.accountCount == MAX_ACCOUNT_INDEX) return OUTCOME_ACCOUNT_LIMIT;
        uint8 check = _checkSender(c, t, sender);
        if (check != OUTCOME_APPLIED) return check;
        bytes32 structHash = TxSignatures.transferToNewHash(
            t.from,
            t.toAddress,
            uint32(sender.tokenId),
            t.amount,
            t.fee,
            uint32(sender.nonce)
        );
        if (!_signed(c, structHash, t, sender)) return OUTCOME_BAD_SIGNATURE;

        Slot memory created = _readEmpty(s, w, s.accountCount + 1);
        created.owner = t.toAddress;
        created.tokenId = sender.tokenId;
        created.balance = t.amount;
        _debit(c, t, sender);
        _writeTwo(s, w, sender, created);
        ++s.accountCount;
        return OUTCOME_APPLIED;
    }

    /// @dev The checks every transaction type makes of its sender, in the order of §5.2.
    function _checkSender(ChunkContext memory c, L2Tx memory t, Slot memory sender) private pure returns (uint8) {
        if (t.fee != 0 && (!c.feesEnabled || c.feeToken != sender.tokenId)) return OUTCOME_FEE_RECIPIENT_MISMATCH;
        // amount < 2^75 and fee < 2^115 (§2): the sum cannot overflow.
        if (t.amount + t.fee > sender.balance) return OUTCOME_INSUFFICIENT_BALANCE;
        if (sender.nonce == MAX_NONCE) return OUTCOME_NONCE_EXHAUSTED;
        return OUTCOME_APPLIED;
    }

    function _signed(
        ChunkContext memory c,
        bytes32 structHash,
        L2Tx memory t,
        Slot memory sender
    ) private pure returns (bool) {
        return TxSignatures.isValid(TxSignatures.digest(c.domainSeparator, structHash), t.r, t.vs, sender.owner);
    }

    function _debit(ChunkContext memory c, L2Tx memory t, Slot memory sender) private pure {
        unchecked {
            // Checked against the balance and the nonce limit by _checkSender.
            sender.balance -= t.amount + t.fee;
            ++sender.nonce;
            c.totalFees += t.fee;
        }
    }

    // ---------------------------------------------------------------- witness

    function _begin(StateHeader memory pre) private pure returns (Step memory s) {
        s.accountsRoot = pre.accountsRoot;
        s.accountCount = pre.accountCount;
        s.withdrawalsRoot = pre.withdrawalsRoot;
        s.withdrawalCount = pre.withdrawalCount;
    }

    function _end(Step memory s, StepWitness calldata w) private pure returns (StateHeader memory post) {
        uint256 accountsLeft = w.accounts.length - s.nextAccount;
        uint256 withdrawalsLeft = w.withdrawals.length - s.nextWithdrawal;
        if (accountsLeft != 0 || withdrawalsLeft != 0) {
            revert StepExecutorWitnessUnused(accountsLeft, withdrawalsLeft);
        }
        // accountCount ≤ 2^32 − 1 and withdrawalCount ≤ 2^32 by the limits checked before each increment.
        post = StateHeader({
            accountsRoot: s.accountsRoot,
            accountCount: uint32(s.accountCount),
            withdrawalsRoot: s.withdrawalsRoot,
            withdrawalCount: uint64(s.withdrawalCount)
        });
    }

    /// @dev Consumes the next account entry as account `index`, proven against the current account root.
    function _readAccount(
        Step memory s,
        StepWitness calldata w,
        uint256 index
    ) private pure returns (Slot memory slot) {
        uint256 entry = _nextAccountEntry(s, w);
        Account calldata account = w.accounts[entry].account;
        slot.entry = entry;
        slot.index = index;
        slot.owner = account.owner;
        slot.tokenId = account.tokenId;
        slot.balance = account.balance;
        slot.nonce = account.nonce;
        bytes32 leaf = StateHashing.accountLeaf(slot.owner, slot.tokenId, slot.balance, slot.nonce);
        if (!MerkleTree.verify(s.accountsRoot, leaf, index, w.accounts[entry].siblings)) {
            revert StepExecutorInvalidWitness(entry, index);
        }
    }

    /// @dev Consumes the next account entry as the empty slot `index`: zero fields, leaf `bytes32(0)`.
    function _readEmpty(Step memory s, StepWitness calldata w, uint256 index) private pure returns (Slot memory slot) {
        uint256 entry = _nextAccountEntry(s, w);
        Account calldata account = w.accounts[entry].account;
        if (
            account.owner != address(0) ||
            account.tokenId != 0 ||
            account.balance != 0 ||
            account.nonce != 0 ||
            !MerkleTree.verify(s.accountsRoot, bytes32(0), index, w.accounts[entry].siblings)
        ) {
            revert StepExecutorInvalidWitness(entry, index);
        }
        slot.entry = entry;
        slot.index = index;
    }

    function _nextAccountEntry(Step memory s, StepWitness calldata w) private pure returns (uint256 entry) {
        entry = s.nextAccount;
        if (entry >= w.accounts.length) revert StepExecutorWitnessExhausted();
        s.nextAccount = entry + 1;
    }

    /// @dev Writes one slot along the path it was read with.
    function _write(Step memory s, StepWitness calldata w, Slot memory slot) private pure {
        s.accountsRoot = MerkleTree.computeRoot(_leaf(slot), slot.index, w.accounts[slot.entry].siblings);
    }

    /// @dev Writes two distinct slots read against the same root: `first`, then `second` along its path with the
    /// sibling at the divergence height replaced by the node `first`'s write left there (§6).
    function _writeTwo(Step memory s, StepWitness calldata w, Slot memory first, Slot memory second) private pure {
        uint256 height = MerkleTree.divergenceHeight(first.index, second.index);
        bytes32 node = MerkleTree.computeNode(_leaf(first), first.index, w.accounts[first.entry].siblings, height);
        s.accountsRoot = MerkleTree.computeRootReplacing(
            _leaf(second),
            second.index,
            w.accounts[second.entry].siblings,
            height,
            node
        );
    }

    function _leaf(Slot memory slot) private pure returns (bytes32) {
        return StateHashing.accountLeaf(slot.owner, slot.tokenId, slot.balance, slot.nonce);
    }

    /// @dev Consumes the next withdrawal entry as the path of the empty leaf `withdrawalCount` and appends there.
    function _appendWithdrawal(
        Step memory s,
        StepWitness calldata w,
        address recipient,
        uint256 tokenId,
        uint256 amount
    ) private pure {
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
}

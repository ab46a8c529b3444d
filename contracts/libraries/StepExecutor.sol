// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BLS} from "./BLS.sol";
import {BlsChunkExecutor} from "./BlsChunkExecutor.sol";
import {StepState} from "./StepState.sol";
import {TxCodec} from "./TxCodec.sol";
import {TxSignatures} from "./TxSignatures.sol";
import {
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
    TX_REGISTER_KEY,
    TX_WITHDRAW,
    BLS_CHUNK_MARKER,
    BLS_KEY_BYTES,
    OUTCOME_BAD_KEY,
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
    /// @notice A queue step with more items than a step may hold.
    /// @param count The number of items given.
    /// @param max MAX_QUEUE_ITEMS_PER_STEP.
    error StepExecutorTooManyItems(uint256 count, uint256 max);

    /// @notice A transaction of a type this executor has no rule for reached it (the parser should have ended the
    /// chunk with UnknownType first).
    /// @param txType The type byte.
    error StepExecutorUnknownTxType(uint8 txType);

    /// @dev What a chunk step knows besides the state: the signing domain and the fee account.
    struct ChunkContext {
        bytes32 domainSeparator;
        uint256 feeRecipient;
        bool feesEnabled;
        uint256 feeToken;
        uint256 totalFees;
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
    ) internal view returns (StateHeader memory post, uint8[] memory outcomes) {
        if (chunk.length != 0 && uint8(chunk[0]) == BLS_CHUNK_MARKER) {
            return BlsChunkExecutor.execute(pre, domainSeparator, feeRecipient, chunk, witness);
        }
        StepState.Step memory s = StepState.begin(pre);
        ChunkContext memory c;
        c.domainSeparator = domainSeparator;
        c.feeRecipient = feeRecipient;
        if (feeRecipient != 0 && feeRecipient <= s.accountCount) {
            // Fee token fixed at the start; an account's token never changes, so the final credit needs no check.
            c.feesEnabled = true;
            c.feeToken = StepState.readAccount(s, witness, feeRecipient).tokenId;
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

        StepState.creditFees(s, witness, c.feeRecipient, c.totalFees);
        post = StepState.end(s, witness);
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
        StepState.Step memory s = StepState.begin(pre);
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
        post = StepState.end(s, witness);
    }

    // ---------------------------------------------------------------- queue items

    function _deposit(
        StepState.Step memory s,
        StepWitness calldata w,
        QueueItem calldata item
    ) private pure returns (uint8) {
        uint256 hint = item.account;
        if (hint != 0 && hint <= s.accountCount) {
            StepState.Slot memory account = StepState.readAccount(s, w, hint);
            if (account.owner == item.addr && account.tokenId == item.tokenId) {
                unchecked {
                    account.balance += item.amount;
                }
                StepState.write(s, w, account);
                return OUTCOME_CREDITED;
            }
        }
        if (s.accountCount < MAX_ACCOUNT_INDEX) {
            StepState.Slot memory created = StepState.readEmpty(s, w, s.accountCount + 1);
            created.owner = item.addr;
            created.tokenId = item.tokenId;
            created.balance = item.amount;
            StepState.write(s, w, created);
            ++s.accountCount;
            return OUTCOME_CREATED;
        }
        if (s.withdrawalCount < MAX_WITHDRAWALS) {
            StepState.appendWithdrawal(s, w, item.addr, item.tokenId, item.amount);
            return OUTCOME_REFUNDED;
        }
        return OUTCOME_DROPPED;
    }

    function _forcedExit(
        StepState.Step memory s,
        StepWitness calldata w,
        QueueItem calldata item
    ) private pure returns (uint8) {
        uint256 index = item.account;
        if (index == 0 || index > s.accountCount) return OUTCOME_ACCOUNT_MISSING;
        StepState.Slot memory account = StepState.readAccount(s, w, index);
        if (account.owner != item.addr) return OUTCOME_NOT_OWNER;
        if (account.balance == 0) return OUTCOME_EMPTY_BALANCE;
        if (s.withdrawalCount >= MAX_WITHDRAWALS) return OUTCOME_WITHDRAWAL_LIMIT;
        uint256 amount = account.balance;
        account.balance = 0;
        StepState.write(s, w, account);
        StepState.appendWithdrawal(s, w, account.owner, account.tokenId, amount);
        return OUTCOME_EXITED;
    }

    // ---------------------------------------------------------------- transactions

    function _executeTx(
        StepState.Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w
    ) private view returns (uint8) {
        if (t.from == 0 || t.from > s.accountCount) return OUTCOME_SENDER_MISSING;
        StepState.Slot memory sender = StepState.readAccount(s, w, t.from);
        if (t.txType == TX_TRANSFER) return _transfer(s, c, t, w, sender);
        if (t.txType == TX_WITHDRAW) return _withdraw(s, c, t, w, sender);
        if (t.txType == TX_TRANSFER_TO_NEW) return _transferToNew(s, c, t, w, sender);
        if (t.txType == TX_REGISTER_KEY) return _registerKey(s, c, t, w, sender);
        // The parser stops at an unknown type byte (UnknownType), so no other type reaches here; a new type must be
        // added above, never run as one of these.
        revert StepExecutorUnknownTxType(t.txType);
    }

    function _transfer(
        StepState.Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        StepState.Slot memory sender
    ) private pure returns (uint8) {
        if (t.to == 0 || t.to > s.accountCount) return OUTCOME_RECIPIENT_MISSING;
        // A transfer to oneself reads one entry; the alias makes the two balance updates net to `−fee`.
        StepState.Slot memory recipient = t.to == t.from ? sender : StepState.readAccount(s, w, t.to);
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
            StepState.write(s, w, sender);
        } else {
            StepState.writeTwo(s, w, sender, recipient);
        }
        return OUTCOME_APPLIED;
    }

    function _withdraw(
        StepState.Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        StepState.Slot memory sender
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
        StepState.write(s, w, sender);
        StepState.appendWithdrawal(s, w, sender.owner, sender.tokenId, t.amount);
        return OUTCOME_APPLIED;
    }

    function _transferToNew(
        StepState.Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        StepState.Slot memory sender
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

        StepState.Slot memory created = StepState.readEmpty(s, w, s.accountCount + 1);
        created.owner = t.toAddress;
        created.tokenId = sender.tokenId;
        created.balance = t.amount;
        _debit(c, t, sender);
        StepState.writeTwo(s, w, sender, created);
        ++s.accountCount;
        return OUTCOME_APPLIED;
    }

    function _registerKey(
        StepState.Step memory s,
        ChunkContext memory c,
        L2Tx memory t,
        StepWitness calldata w,
        StepState.Slot memory sender
    ) private view returns (uint8) {
        uint8 check = _checkSender(c, t, sender);
        if (check != OUTCOME_APPLIED) return check;
        if (!BLS.isValidKey(BLS.g1FromCalldata(t.keyAt))) return OUTCOME_BAD_KEY;
        bytes32 keyHash = keccak256(msg.data[t.keyAt:t.keyAt + BLS_KEY_BYTES]);
        bytes32 structHash = TxSignatures.registerKeyHash(
            t.from,
            uint32(sender.tokenId),
            keyHash,
            t.fee,
            uint32(sender.nonce)
        );
        if (!_signed(c, structHash, t, sender)) return OUTCOME_BAD_SIGNATURE;

        _debit(c, t, sender);
        sender.blsKeyHash = keyHash;
        StepState.write(s, w, sender);
        return OUTCOME_APPLIED;
    }

    /// @dev The checks every transaction type makes of its sender, in the order of §5.2.
    function _checkSender(
        ChunkContext memory c,
        L2Tx memory t,
        StepState.Slot memory sender
    ) private pure returns (uint8) {
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
        StepState.Slot memory sender
    ) private pure returns (bool) {
        return TxSignatures.isValid(TxSignatures.digest(c.domainSeparator, structHash), t.r, t.vs, sender.owner);
    }

    function _debit(ChunkContext memory c, L2Tx memory t, StepState.Slot memory sender) private pure {
        unchecked {
            // Checked against the balance and the nonce limit by _checkSender.
            sender.balance -= t.amount + t.fee;
            ++sender.nonce;
            c.totalFees += t.fee;
        }
    }
}

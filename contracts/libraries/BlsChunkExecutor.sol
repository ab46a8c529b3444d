// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BLS} from "./BLS.sol";
import {PackedAmount} from "./PackedAmount.sol";
import {StepState} from "./StepState.sol";
import {TxSignatures} from "./TxSignatures.sol";
import {
    StateHeader,
    StepWitness,
    MAX_NONCE,
    MAX_BLS_TRANSFERS_PER_CHUNK,
    BLS_KEY_BYTES,
    BLS_CHUNK_HEADER_BYTES,
    BLS_MIN_INDEX_WIDTH,
    BLS_MAX_INDEX_WIDTH,
    OUTCOME_APPLIED,
    OUTCOME_UNKNOWN_TYPE,
    OUTCOME_TRUNCATED,
    OUTCOME_SENDER_MISSING,
    OUTCOME_RECIPIENT_MISSING,
    OUTCOME_TOKEN_MISMATCH,
    OUTCOME_FEE_RECIPIENT_MISMATCH,
    OUTCOME_INSUFFICIENT_BALANCE,
    OUTCOME_NONCE_EXHAUSTED,
    OUTCOME_BAD_SIGNATURE,
    OUTCOME_TRAILING,
    OUTCOME_KEY_MISSING
} from "./L2Types.sol";

/// @title BlsChunkExecutor
/// @notice Re-executes a BLS chunk step (docs/PROTOCOL.md §5.4): compact transfers under one aggregate signature. Each
/// transfer is checked by the Transfer rules less the signature and applied in turn; then the aggregate is checked
/// over the applied transfers' messages, and if it fails the step is undone (outcome BadSignature for each).
/// @dev The witness (§6) adds, to the usual account entries, the key (x ‖ y) of each applied transfer's sender, checked
/// against the key hash in its leaf, and the aggregate signature decompressed — or, when its x names no point, a
/// certificate of that. A witness that does not fit reverts, as for every step.
// solhint-disable gas-strict-inequalities
library BlsChunkExecutor {
    /// @notice A key in `witness.blsKeys` is missing or is not the one the sender's leaf commits to.
    /// @param transfer The transfer's position in the chunk.
    error StepExecutorInvalidBlsKey(uint256 transfer);

    /// @notice `witness.blsSignature` is neither the chunk's signature decompressed (on the curve) nor a certificate
    /// that it names no point, or is given where the chunk's bytes decide alone.
    error StepExecutorInvalidBlsSignature();

    /// @dev What the step knows besides the state, and what it collects for the aggregate check.
    struct Run {
        bytes32 domainSeparator;
        bool feesEnabled;
        uint256 feeToken;
        uint256 fee;
        uint256 totalFees;
        uint256 width;
        uint256 applied;
        bytes keys;
        bytes32[] messages;
        uint256[] appliedAt;
    }

    /// @notice Re-executes a BLS chunk step; `chunk[0]` is the BLS marker (StepExecutor routes by it).
    function execute(
        StateHeader memory pre,
        bytes32 domainSeparator,
        uint32 feeRecipient,
        bytes calldata chunk,
        StepWitness calldata witness
    ) internal view returns (StateHeader memory post, uint8[] memory outcomes) {
        StepState.Step memory s = StepState.begin(pre);
        Run memory r;
        r.domainSeparator = domainSeparator;
        if (feeRecipient != 0 && feeRecipient <= s.accountCount) {
            r.feesEnabled = true;
            r.feeToken = StepState.readAccount(s, witness, feeRecipient).tokenId;
        }
        outcomes = new uint8[](MAX_BLS_TRANSFERS_PER_CHUNK + 1);
        uint256 count = _transfers(s, r, chunk, witness, outcomes);
        assembly ("memory-safe") {
            mstore(outcomes, count)
        }
        if (r.applied != 0 && !_aggregateHolds(s, r, chunk, witness)) {
            // Undo: a BLS chunk creates no account and appends no withdrawal, so the account root is all it changed.
            s.accountsRoot = pre.accountsRoot;
            for (uint256 i = 0; i < r.applied; ++i) outcomes[r.appliedAt[i]] = OUTCOME_BAD_SIGNATURE;
            r.totalFees = 0;
        }
        StepState.creditFees(s, witness, feeRecipient, r.totalFees);
        post = StepState.end(s, witness);
    }

    /// @dev Parses and applies the transfers; returns how many outcome codes it wrote.
    function _transfers(
        StepState.Step memory s,
        Run memory r,
        bytes calldata chunk,
        StepWitness calldata w,
        uint8[] memory outcomes
    ) private pure returns (uint256 count) {
        if (chunk.length < BLS_CHUNK_HEADER_BYTES) {
            outcomes[0] = OUTCOME_TRUNCATED;
            return 1;
        }
        r.width = uint8(chunk[1]);
        if (r.width < BLS_MIN_INDEX_WIDTH || r.width > BLS_MAX_INDEX_WIDTH) {
            outcomes[0] = OUTCOME_UNKNOWN_TYPE;
            return 1;
        }
        r.fee = PackedAmount.unpackFee(uint16(bytes2(chunk[2:4])));
        r.messages = new bytes32[](MAX_BLS_TRANSFERS_PER_CHUNK);
        r.appliedAt = new uint256[](MAX_BLS_TRANSFERS_PER_CHUNK);
        r.keys = new bytes(MAX_BLS_TRANSFERS_PER_CHUNK * BLS.G1_POINT_BYTES);
        uint256 size = 2 * r.width + 2;
        uint256 offset = BLS_CHUNK_HEADER_BYTES;
        while (offset < chunk.length) {
            if (count == MAX_BLS_TRANSFERS_PER_CHUNK) {
                outcomes[count] = OUTCOME_TRAILING;
                return count + 1;
            }
            if (chunk.length - offset < size) {
                outcomes[count] = OUTCOME_TRUNCATED;
                return count + 1;
            }
            uint256 from = _index(chunk, offset, r.width);
            uint256 to = _index(chunk, offset + r.width, r.width);
            uint256 amount = PackedAmount.unpackFee(uint16(bytes2(chunk[offset + 2 * r.width:offset + size])));
            uint8 code = _transfer(s, r, w, from, to, amount);
            if (code == OUTCOME_APPLIED) {
                r.appliedAt[r.applied] = count;
                ++r.applied;
            }
            outcomes[count] = code;
            ++count;
            offset += size;
        }
    }

    function _transfer(
        StepState.Step memory s,
        Run memory r,
        StepWitness calldata w,
        uint256 from,
        uint256 to,
        uint256 amount
    ) private pure returns (uint8) {
        if (from == 0 || from > s.accountCount) return OUTCOME_SENDER_MISSING;
        StepState.Slot memory sender = StepState.readAccount(s, w, from);
        if (to == 0 || to > s.accountCount) return OUTCOME_RECIPIENT_MISSING;
        StepState.Slot memory recipient = to == from ? sender : StepState.readAccount(s, w, to);
        if (recipient.tokenId != sender.tokenId) return OUTCOME_TOKEN_MISMATCH;
        uint256 fee = r.fee;
        if (fee != 0 && (!r.feesEnabled || r.feeToken != sender.tokenId)) return OUTCOME_FEE_RECIPIENT_MISMATCH;
        // amount and fee are both 16-bit packed (< 2^43): the sum cannot overflow.
        if (amount + fee > sender.balance) return OUTCOME_INSUFFICIENT_BALANCE;
        if (sender.nonce == MAX_NONCE) return OUTCOME_NONCE_EXHAUSTED;
        if (sender.blsKeyHash == 0) return OUTCOME_KEY_MISSING;

        _collect(r, w, to, amount, sender);
        unchecked {
            sender.balance -= amount + fee;
            ++sender.nonce;
            recipient.balance += amount;
            r.totalFees += fee;
        }
        if (recipient.index == sender.index) {
            StepState.write(s, w, sender);
        } else {
            StepState.writeTwo(s, w, sender, recipient);
        }
        return OUTCOME_APPLIED;
    }

    /// @dev Records the applied transfer's message and its sender's key (from the witness, checked against its leaf).
    function _collect(
        Run memory r,
        StepWitness calldata w,
        uint256 to,
        uint256 amount,
        StepState.Slot memory sender
    ) private pure {
        uint256 k = r.applied;
        _copyKey(r.keys, k, w.blsKeys, sender.blsKeyHash);
        bytes32 structHash = TxSignatures.blsTransferHash(
            uint32(sender.index),
            uint32(to),
            uint32(sender.tokenId),
            amount,
            r.fee,
            uint32(sender.nonce)
        );
        r.messages[k] = TxSignatures.digest(r.domainSeparator, structHash);
    }

    /// @dev Copies key `k` of the witness into `keys` in the precompiles' layout, once it hashes to `keyHash`.
    function _copyKey(bytes memory keys, uint256 k, bytes calldata witnessKeys, bytes32 keyHash) private pure {
        uint256 at = k * BLS_KEY_BYTES;
        if (witnessKeys.length < at + BLS_KEY_BYTES) revert StepExecutorInvalidBlsKey(k);
        bytes calldata key = witnessKeys[at:at + BLS_KEY_BYTES];
        if (keccak256(key) != keyHash) revert StepExecutorInvalidBlsKey(k);
        assembly ("memory-safe") {
            let p := add(add(keys, 32), mul(k, 128))
            calldatacopy(add(p, 16), key.offset, 48)
            calldatacopy(add(p, 80), add(key.offset, 48), 48)
        }
    }

    /// @dev Whether the chunk's aggregate signature holds over the applied transfers (§5.4).
    function _aggregateHolds(
        StepState.Step memory s,
        Run memory r,
        bytes calldata chunk,
        StepWitness calldata w
    ) private view returns (bool) {
        s.blsKeyBytesUsed = r.applied * BLS_KEY_BYTES;
        bytes calldata sig = chunk[4:BLS_CHUNK_HEADER_BYTES];
        uint8 flags = uint8(sig[0]) & 0xe0;
        uint256 x1Hi = uint128(bytes16(sig[0:16])) & ((1 << 125) - 1);
        uint256 x1Lo = uint256(bytes32(sig[16:48]));
        uint256 x0Hi = uint128(bytes16(sig[48:64]));
        uint256 x0Lo = uint256(bytes32(sig[64:96]));
        if (flags & 0x80 == 0 || flags & 0x40 != 0 || !BLS.belowP(x0Hi, x0Lo) || !BLS.belowP(x1Hi, x1Lo)) {
            // Malformed on its face: the witness brings nothing.
            return false;
        }
        s.blsSignatureUsed = true;
        bytes memory given = w.blsSignature;
        if (given.length == BLS.G2_POINT_BYTES) {
            if (keccak256(BLS.compressG2(given)) != keccak256(sig) || !BLS.isOnCurveG2(given)) {
                revert StepExecutorInvalidBlsSignature();
            }
            bytes memory keys = r.keys;
            bytes32[] memory messages = r.messages;
            uint256 n = r.applied;
            assembly ("memory-safe") {
                // Shrink both to the applied transfers; the tails stay allocated and unused.
                mstore(keys, mul(n, 128))
                mstore(messages, n)
            }
            // The keys were checked when registered and the hashes are the precompiles' own: only the signature can
            // make the pairing refuse its input, by being outside the subgroup — and then it is no signature.
            return BLS.verifyAggregate(keys, messages, given);
        }
        if (!BLS.provesNoPoint(x0Hi, x0Lo, x1Hi, x1Lo, given)) revert StepExecutorInvalidBlsSignature();
        return false;
    }

    function _index(bytes calldata chunk, uint256 offset, uint256 width) private pure returns (uint256 v) {
        for (uint256 i = 0; i < width; ++i) v = (v << 8) | uint8(chunk[offset + i]);
    }
}

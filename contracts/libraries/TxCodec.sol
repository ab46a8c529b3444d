// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {PackedAmount} from "./PackedAmount.sol";
import {
    L2Tx,
    OUTCOME_APPLIED,
    OUTCOME_UNKNOWN_TYPE,
    OUTCOME_TRUNCATED,
    TX_TRANSFER,
    TX_WITHDRAW,
    TX_TRANSFER_TO_NEW,
    TX_REGISTER_KEY,
    TX_TRANSFER_SIZE,
    TX_WITHDRAW_SIZE,
    TX_TRANSFER_TO_NEW_SIZE,
    TX_REGISTER_KEY_SIZE,
    BLS_KEY_BYTES
} from "./L2Types.sol";

/// @title TxCodec
/// @notice Decoding of the packed L2 transactions of docs/PROTOCOL.md §3 from a chunk in calldata.
///
///   Transfer      0x01 ‖ from u32 ‖ to u32      ‖ amount 5 ‖ fee 2 ‖ r 32 ‖ vs 32   (80 bytes)
///   Withdraw      0x02 ‖ from u32               ‖ amount 5 ‖ fee 2 ‖ r 32 ‖ vs 32   (76 bytes)
///   TransferToNew 0x03 ‖ from u32 ‖ to address ‖ amount 5 ‖ fee 2 ‖ r 32 ‖ vs 32   (96 bytes)
///   RegisterKey   0x04 ‖ from u32 ‖ fee 2 ‖ key 96                  ‖ r 32 ‖ vs 32   (167 bytes)
// In range means strictly below the length.
// solhint-disable gas-strict-inequalities
library TxCodec {
    /// @notice `decode` was asked to read at or past the end of the chunk.
    /// @param offset The requested offset.
    /// @param length The chunk's length.
    error TxCodecOffsetOutOfRange(uint256 offset, uint256 length);

    /// @notice The size in bytes of a transaction of the given type, 0 for an unknown type.
    function txSize(uint8 txType) internal pure returns (uint256) {
        if (txType == TX_TRANSFER) return TX_TRANSFER_SIZE;
        if (txType == TX_WITHDRAW) return TX_WITHDRAW_SIZE;
        if (txType == TX_TRANSFER_TO_NEW) return TX_TRANSFER_TO_NEW_SIZE;
        if (txType == TX_REGISTER_KEY) return TX_REGISTER_KEY_SIZE;
        return 0;
    }

    /// @notice Decodes the transaction starting at `offset` of `chunk`.
    /// @param chunk The chunk.
    /// @param offset Where the transaction starts; must be below `chunk.length`.
    /// @return status OUTCOME_APPLIED (0) when a transaction was decoded, else OUTCOME_UNKNOWN_TYPE or
    /// OUTCOME_TRUNCATED, which end parsing (§5.2).
    /// @return t The transaction (all zero unless `status` is 0).
    /// @return next The offset after the transaction (`offset` unless `status` is 0).
    function decode(
        bytes calldata chunk,
        uint256 offset
    ) internal pure returns (uint8 status, L2Tx memory t, uint256 next) {
        if (offset >= chunk.length) revert TxCodecOffsetOutOfRange(offset, chunk.length);
        uint256 start;
        uint8 txType;
        assembly ("memory-safe") {
            start := add(chunk.offset, offset)
            txType := byte(0, calldataload(start))
        }
        uint256 size = txSize(txType);
        if (size == 0) return (OUTCOME_UNKNOWN_TYPE, t, offset);
        if (chunk.length - offset < size) return (OUTCOME_TRUNCATED, t, offset);

        t.txType = txType;
        t.from = uint32(_read(start + 1, 32));
        if (txType == TX_REGISTER_KEY) {
            // No amount: the fee, the key, then r and vs.
            t.fee = PackedAmount.unpackFee(uint16(_read(start + 5, 16)));
            t.keyAt = start + 7;
            t.r = bytes32(_read(start + 7 + BLS_KEY_BYTES, 256));
            t.vs = bytes32(_read(start + 39 + BLS_KEY_BYTES, 256));
            return (OUTCOME_APPLIED, t, offset + size);
        }
        // Position of the amount field; the fee, r and vs follow it back to back.
        uint256 amountAt;
        if (txType == TX_TRANSFER) {
            t.to = uint32(_read(start + 5, 32));
            amountAt = start + 9;
        } else if (txType == TX_WITHDRAW) {
            amountAt = start + 5;
        } else {
            // TX_TRANSFER_TO_NEW, the one type left with a size.
            t.toAddress = address(uint160(_read(start + 5, 160)));
            amountAt = start + 25;
        }
        t.amount = PackedAmount.unpackAmount(uint40(_read(amountAt, 40)));
        t.fee = PackedAmount.unpackFee(uint16(_read(amountAt + 5, 16)));
        t.r = bytes32(_read(amountAt + 7, 256));
        t.vs = bytes32(_read(amountAt + 39, 256));
        return (OUTCOME_APPLIED, t, offset + size);
    }

    /// @dev The big-endian integer of `bits` bits starting at calldata position `at` (bounds checked by the caller).
    function _read(uint256 at, uint256 bits) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := shr(sub(256, bits), calldataload(at))
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";

/// @title ChannelSlot
/// @notice The packed storage words of a channel (docs/CHANNELS.md §6). Everything a channel needs while open fits
/// in one word, so opening it writes a single fresh slot.
///
/// Word 0 (`state`), from the least significant bit:
///
/// | bits    | field      | meaning                                                                   |
/// |---------|------------|---------------------------------------------------------------------------|
/// | 0–7     | status     | `IChannelAdjudicator.Status`                                              |
/// | 8–15    | flags      | bit 0: participant 0 funded; bit 1: participant 1 funded; bit 2: checkpointed |
/// | 16–127  | holdings   | u112                                                                      |
/// | 128–239 | aux        | `Open` and not checkpointed: participant 0's deposit (u112); otherwise    |
/// |         |            | version (u64, bits 128–191) and deadline (u48, bits 192–239)              |
///
/// Word 1 (`balances`): balance 0 in bits 0–111, balance 1 in bits 112–223 (`Disputed`: the registered balances;
/// `Concluded`: the credits not yet withdrawn).
library ChannelSlot {
    /// @notice The largest amount a channel can hold: 2^112 - 1.
    uint256 internal constant MAX_AMOUNT = type(uint112).max;

    /// @notice Flag: participant `i` made its unilateral deposit (bit `i`).
    uint256 internal constant FUNDED_0 = 1;
    /// @notice Flag: participant 1 made its unilateral deposit.
    uint256 internal constant FUNDED_1 = 2;
    /// @notice Flag: a top-up or partial withdrawal happened; `aux` holds the version floor.
    uint256 internal constant CHECKPOINTED = 4;

    uint256 private constant _U8 = 0xff;
    uint256 private constant _U48 = (1 << 48) - 1;
    uint256 private constant _U64 = (1 << 64) - 1;
    uint256 private constant _U112 = (1 << 112) - 1;

    /// @notice Packs word 0.
    function pack(
        IChannelAdjudicator.Status status_,
        uint256 flags_,
        uint256 holdings_,
        uint256 aux_
    ) internal pure returns (uint256) {
        return uint256(status_) | (flags_ << 8) | (holdings_ << 16) | (aux_ << 128);
    }

    /// @notice The `aux` field holding a version and a deadline.
    function versionAux(uint64 version_, uint256 deadline_) internal pure returns (uint256) {
        return uint256(version_) | (deadline_ << 64);
    }

    /// @notice The status of word 0.
    function status(uint256 word) internal pure returns (IChannelAdjudicator.Status) {
        return IChannelAdjudicator.Status(word & _U8);
    }

    /// @notice The flags of word 0.
    function flags(uint256 word) internal pure returns (uint256) {
        return (word >> 8) & _U8;
    }

    /// @notice The holdings of word 0.
    function holdings(uint256 word) internal pure returns (uint256) {
        return (word >> 16) & _U112;
    }

    /// @notice The raw `aux` field of word 0.
    function aux(uint256 word) internal pure returns (uint256) {
        return (word >> 128) & _U112;
    }

    /// @notice The version of word 0 (when `aux` holds a version).
    function version(uint256 word) internal pure returns (uint64) {
        return uint64((word >> 128) & _U64);
    }

    /// @notice The deadline of word 0 (when `aux` holds a deadline).
    function deadline(uint256 word) internal pure returns (uint256) {
        return (word >> 192) & _U48;
    }

    /// @notice Packs word 1.
    function packBalances(uint256 balance0, uint256 balance1) internal pure returns (uint256) {
        return balance0 | (balance1 << 112);
    }

    /// @notice Balance `i` of word 1.
    function balance(uint256 word, uint256 i) internal pure returns (uint256) {
        return (word >> (112 * i)) & _U112;
    }

    /// @notice The readable view of a channel's three storage words.
    function decode(
        uint256 word,
        uint256 balancesWord,
        bytes32 locksRoot
    ) internal pure returns (IChannelAdjudicator.ChannelInfo memory info) {
        uint256 flags_ = flags(word);
        info.status = status(word);
        info.holdings = holdings(word);
        info.checkpointed = flags_ & CHECKPOINTED != 0;
        info.funded = [flags_ & FUNDED_0 != 0, flags_ & FUNDED_1 != 0];
        if (info.status == IChannelAdjudicator.Status.Open && !info.checkpointed) {
            info.deposits = [aux(word), info.holdings - aux(word)];
        } else {
            info.version = version(word);
            info.deadline = uint48(deadline(word));
        }
        info.balances = [balance(balancesWord, 0), balance(balancesWord, 1)];
        info.locksRoot = locksRoot;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";
import {ChannelAssets} from "./ChannelAssets.sol";
import {ChannelBase} from "./ChannelBase.sol";
import {ChannelHashing} from "./ChannelHashing.sol";
import {ChannelSlot} from "./ChannelSlot.sol";

/// @title ChannelFunding
/// @notice How money enters and leaves an open channel (docs/CHANNELS.md §4, §6.3, §6.4): opening with the opener's
/// deposit or with both deposits, each participant's unilateral deposit, co-signed top-ups and partial withdrawals.
// Expiries are inclusive exactly as docs/CHANNELS.md says, not as gas prefers.
// solhint-disable gas-strict-inequalities
abstract contract ChannelFunding is ChannelBase {
    using ChannelSlot for uint256;

    /// @inheritdoc IChannelAdjudicator
    function open(
        ChannelParams calldata params,
        uint256 amount
    ) external payable nonReentrant returns (bytes32 channelId) {
        channelId = _requireUnused(params);
        uint8 who = _participantIndex(params, msg.sender);
        // Tokens are pulled before the write so that only what arrived is credited; nonReentrant covers the window.
        uint256 received = ChannelAssets.receiveFrom(params.asset, amount, 0);
        _channels[channelId].state = ChannelSlot.pack(
            Status.Open,
            received == 0 ? 0 : 1 << who,
            received,
            who == 0 ? received : 0
        );
        emit ChannelOpened(channelId, params, who, received);
    }

    /// @inheritdoc IChannelAdjudicator
    function openFunded(
        ChannelParams calldata params,
        uint256 amount,
        Funding calldata funding,
        Signature calldata sig
    ) external nonReentrant returns (bytes32 channelId) {
        channelId = _requireUnused(params);
        if (params.asset == address(0)) revert ChannelAdjudicatorNotToken();
        uint8 who = _participantIndex(params, msg.sender);
        uint8 peer = 1 - who;
        _requireChannel(channelId, funding.channelId);
        if (funding.participant != peer) revert ChannelAdjudicatorInvalidParticipant(funding.participant);
        if (block.timestamp > funding.expiry) revert ChannelAdjudicatorFundingExpired(funding.expiry, block.timestamp);
        if (funding.amount == 0) revert ChannelAdjudicatorZeroDeposit();
        _checkSignature(channelId, params, _hashTypedDataV4(ChannelHashing.fundingStructHash(funding)), sig, peer);
        // Each pull is measured on its own, so each participant is credited exactly what its transfer delivered.
        uint256 mine = ChannelAssets.receiveFrom(params.asset, amount, 0);
        uint256 theirs = ChannelAssets.pullToken(params.asset, params.participants[peer], funding.amount, mine);
        uint256 flags = (mine == 0 ? 0 : 1 << who) | (theirs == 0 ? 0 : 1 << peer);
        uint256 holdings = mine + theirs;
        _channels[channelId].state = ChannelSlot.pack(Status.Open, flags, holdings, who == 0 ? mine : theirs);
        emit ChannelOpened(channelId, params, who, mine);
        emit Deposited(channelId, peer, theirs, holdings);
    }

    /// @inheritdoc IChannelAdjudicator
    function fund(ChannelParams calldata params, uint256 amount) external payable nonReentrant {
        bytes32 channelId = _channelId(params);
        uint256 word = _channels[channelId].state;
        _requireStatus(channelId, word, Status.Open);
        uint8 who = _participantIndex(params, msg.sender);
        uint256 flags = word.flags();
        uint256 funded = 1 << who;
        // Once per participant and only before any checkpoint: a later unilateral deposit would make every
        // co-signed state unregistrable (their totals would no longer match the holdings).
        if (flags & (funded | ChannelSlot.CHECKPOINTED) != 0) revert ChannelAdjudicatorFundingClosed(channelId, who);
        if (amount == 0) revert ChannelAdjudicatorZeroDeposit();
        uint256 holdings = word.holdings();
        uint256 received = ChannelAssets.receiveFrom(params.asset, amount, holdings);
        holdings += received;
        uint256 deposit0 = who == 0 ? word.aux() + received : word.aux();
        _channels[channelId].state = ChannelSlot.pack(Status.Open, flags | funded, holdings, deposit0);
        emit Deposited(channelId, who, received, holdings);
    }

    /// @inheritdoc IChannelAdjudicator
    function topUp(
        ChannelParams calldata params,
        TopUp calldata top,
        Signature[2] calldata sigs,
        uint256 amount
    ) external payable nonReentrant {
        bytes32 channelId = _channelId(params);
        uint256 word = _channels[channelId].state;
        _requireStatus(channelId, word, Status.Open);
        ChannelState calldata state = top.state;
        _requireChannel(channelId, state.channelId);
        uint256 floor = _versionFloor(word);
        if (state.version <= floor) revert ChannelAdjudicatorStaleVersion(state.version, floor + 1);
        // An abandoned top-up must not void the states signed after it (they have the old total): it dies here.
        if (block.timestamp > top.expiry) revert ChannelAdjudicatorTopUpExpired(top.expiry, block.timestamp);
        _checkSignatures(channelId, params, _hashTypedDataV4(ChannelHashing.topUpStructHash(top)), sigs);
        uint256 holdings = word.holdings();
        holdings += ChannelAssets.receiveFrom(params.asset, amount, holdings);
        uint256 total = _total(state);
        if (total != holdings) revert ChannelAdjudicatorHoldingsMismatch(total, holdings);
        _channels[channelId].state = ChannelSlot.pack(
            Status.Open,
            word.flags() | ChannelSlot.CHECKPOINTED,
            holdings,
            ChannelSlot.versionAux(state.version, 0)
        );
        emit ToppedUp(channelId, state, holdings - word.holdings(), holdings);
    }

    /// @inheritdoc IChannelAdjudicator
    function partialWithdraw(
        ChannelParams calldata params,
        Withdrawal calldata withdrawal,
        Signature[2] calldata sigs
    ) external nonReentrant {
        bytes32 channelId = _channelId(params);
        uint256 word = _channels[channelId].state;
        _requireStatus(channelId, word, Status.Open);
        _requireChannel(channelId, withdrawal.channelId);
        uint256 floor = _versionFloor(word);
        if (withdrawal.version <= floor) revert ChannelAdjudicatorStaleVersion(withdrawal.version, floor + 1);
        if (block.timestamp > withdrawal.expiry) {
            revert ChannelAdjudicatorWithdrawalExpired(withdrawal.expiry, block.timestamp);
        }
        if (withdrawal.participant > 1) revert ChannelAdjudicatorInvalidParticipant(withdrawal.participant);
        uint256 holdings = word.holdings();
        if (withdrawal.amount > holdings) revert ChannelAdjudicatorInsufficientHoldings(withdrawal.amount, holdings);
        _checkSignatures(channelId, params, _hashTypedDataV4(ChannelHashing.withdrawalStructHash(withdrawal)), sigs);
        holdings -= withdrawal.amount;
        _channels[channelId].state = ChannelSlot.pack(
            Status.Open,
            word.flags() | ChannelSlot.CHECKPOINTED,
            holdings,
            ChannelSlot.versionAux(withdrawal.version, 0)
        );
        emit PartiallyWithdrawn(channelId, withdrawal, holdings);
        ChannelAssets.pay(params.asset, params.participants[withdrawal.participant], withdrawal.amount);
    }

    /// @dev The id of `params`, which must never have been used (even a closed id stays used), and valid parameters.
    function _requireUnused(ChannelParams calldata params) private view returns (bytes32 channelId) {
        channelId = _channelId(params);
        uint256 word = _channels[channelId].state;
        // Any written word has a non-zero status, so a used id (even a closed one) is never opened again.
        if (word != 0) revert ChannelAdjudicatorWrongStatus(channelId, word.status());
        _checkParams(params);
    }
}

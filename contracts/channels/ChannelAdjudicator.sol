// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";
import {ChannelAssets} from "./ChannelAssets.sol";
import {ChannelFunding} from "./ChannelFunding.sol";
import {ChannelHashing} from "./ChannelHashing.sol";
import {ChannelLocks} from "./ChannelLocks.sol";
import {ChannelSlot} from "./ChannelSlot.sol";

/// @title ChannelAdjudicator
/// @notice Two-party payment channels holding ETH or one ERC-20 each; the normative rules are docs/CHANNELS.md.
/// @dev Funding lives in `ChannelFunding`, the shared checks and storage in `ChannelBase`, the secret registry and
/// the record of resolved locks in `ChannelLocks`; this contract closes, disputes and pays out.
// Deadlines and expiries are inclusive or exclusive exactly as docs/CHANNELS.md says, not as gas prefers.
// solhint-disable gas-strict-inequalities
contract ChannelAdjudicator is ChannelFunding, ChannelLocks {
    using ChannelSlot for uint256;

    /// @notice Gas forwarded with each ETH payout of a cooperative close, so a receiver cannot burn the gas the other
    /// participant's payout needs. A receiver that needs more is credited and withdraws with `withdraw`.
    uint256 public constant CLOSE_PAYOUT_GAS_LIMIT = ChannelAssets.CLOSE_PAYOUT_GAS_LIMIT;

    // ------------------------------------------------------------------------------------------------------------
    // Closing
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelAdjudicator
    function close(
        ChannelParams calldata params,
        ChannelState calldata state,
        Signature[2] calldata sigs
    ) external nonReentrant {
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        Status status = word.status();
        uint256 minimum;
        if (status == Status.Open) {
            minimum = _versionFloor(word);
        } else if (status == Status.Disputed) {
            minimum = word.version();
        } else {
            revert ChannelAdjudicatorWrongStatus(channelId, status);
        }
        // Version 0 is the deposit state, which is never signed.
        if (minimum == 0) minimum = 1;
        _requireChannel(channelId, state.channelId);
        if (!state.isFinal) revert ChannelAdjudicatorNotFinal(channelId, state.version);
        if (state.lockedTotal != 0 || state.locksRoot != bytes32(0)) {
            revert ChannelAdjudicatorFinalStateHasLocks(state.lockedTotal, state.locksRoot);
        }
        if (state.version < minimum) revert ChannelAdjudicatorStaleVersion(state.version, minimum);
        _requireTotal(state, word.holdings());
        _checkSignatures(channelId, params, _hashTypedDataV4(ChannelHashing.stateStructHash(state)), sigs);

        record.state = ChannelSlot.pack(Status.Closed, 0, 0, 0);
        if (status == Status.Disputed) {
            delete record.balances;
            delete record.locksRoot;
        }
        emit ChannelClosed(channelId, state);
        _payOutFinal(channelId, record, params, state);
    }

    /// @inheritdoc IChannelAdjudicator
    function register(
        ChannelParams calldata params,
        ChannelState calldata state,
        Signature[2] calldata sigs,
        Lock[] calldata locks
    ) external nonReentrant {
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        _requireStatus(channelId, word, Status.Open);
        _requireChannel(channelId, state.channelId);
        uint256 minimum = _versionFloor(word);
        if (minimum == 0) minimum = 1;
        if (state.version < minimum) revert ChannelAdjudicatorStaleVersion(state.version, minimum);
        _requireTotal(state, word.holdings());
        _requireLocks(state, locks);
        _checkSignatures(channelId, params, _hashTypedDataV4(ChannelHashing.stateStructHash(state)), sigs);
        uint256 deadline = block.timestamp + params.challengeDuration;
        record.state = ChannelSlot.pack(
            Status.Disputed,
            word.flags(),
            word.holdings(),
            ChannelSlot.versionAux(state.version, deadline)
        );
        record.balances = ChannelSlot.packBalances(state.balances[0], state.balances[1]);
        if (state.locksRoot != bytes32(0)) record.locksRoot = state.locksRoot;
        emit ChallengeRegistered(channelId, state, deadline);
    }

    /// @inheritdoc IChannelAdjudicator
    function registerDeposits(ChannelParams calldata params) external nonReentrant {
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        _requireStatus(channelId, word, Status.Open);
        _participantIndex(params, msg.sender);
        uint256 floor = _versionFloor(word);
        if (floor != 0) revert ChannelAdjudicatorStaleVersion(0, floor);
        uint256 holdings = word.holdings();
        uint256 deposit0 = word.aux();
        uint256 deadline = block.timestamp + params.challengeDuration;
        record.state = ChannelSlot.pack(Status.Disputed, word.flags(), holdings, ChannelSlot.versionAux(0, deadline));
        record.balances = ChannelSlot.packBalances(deposit0, holdings - deposit0);
        emit ChallengeRegistered(
            channelId,
            ChannelState(channelId, 0, [deposit0, holdings - deposit0], bytes32(0), 0, false),
            deadline
        );
    }

    /// @inheritdoc IChannelAdjudicator
    function refute(
        ChannelParams calldata params,
        ChannelState calldata state,
        Signature[2] calldata sigs,
        Lock[] calldata locks
    ) external nonReentrant {
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        _requireStatus(channelId, word, Status.Disputed);
        uint256 deadline = word.deadline();
        if (block.timestamp >= deadline) revert ChannelAdjudicatorChallengePeriodOver(deadline, block.timestamp);
        _requireChannel(channelId, state.channelId);
        uint256 registered = word.version();
        if (state.version <= registered) revert ChannelAdjudicatorStaleVersion(state.version, registered + 1);
        _requireTotal(state, word.holdings());
        _requireLocks(state, locks);
        _checkSignatures(channelId, params, _hashTypedDataV4(ChannelHashing.stateStructHash(state)), sigs);
        // The deadline stays: refuting never prolongs the dispute.
        record.state = ChannelSlot.pack(
            Status.Disputed,
            word.flags(),
            word.holdings(),
            ChannelSlot.versionAux(state.version, deadline)
        );
        record.balances = ChannelSlot.packBalances(state.balances[0], state.balances[1]);
        record.locksRoot = state.locksRoot;
        emit ChallengeRefuted(channelId, state, deadline);
    }

    /// @inheritdoc IChannelAdjudicator
    function conclude(ChannelParams calldata params) external nonReentrant {
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        _requireStatus(channelId, word, Status.Disputed);
        uint256 deadline = word.deadline();
        if (block.timestamp < deadline) revert ChannelAdjudicatorChallengePeriodRunning(deadline, block.timestamp);
        uint256 balances = record.balances;
        uint256 holdings = word.holdings();
        uint256 balance0 = balances.balance(0);
        uint256 balance1 = balances.balance(1);
        if (holdings == 0) {
            _burn(record);
        } else {
            record.state = ChannelSlot.pack(Status.Concluded, word.flags(), holdings, word.aux());
        }
        emit ChannelConcluded(channelId, word.version(), [balance0, balance1], holdings - balance0 - balance1);
    }

    /// @inheritdoc IChannelAdjudicator
    function withdraw(ChannelParams calldata params, uint8 participant) external nonReentrant {
        if (participant > 1) revert ChannelAdjudicatorInvalidParticipant(participant);
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        _requireStatus(channelId, word, Status.Concluded);
        uint256 balances = record.balances;
        uint256 amount = balances.balance(participant);
        if (amount == 0) revert ChannelAdjudicatorNothingToWithdraw(channelId, participant);
        uint256 holdings = word.holdings() - amount;
        if (holdings == 0) {
            _burn(record);
        } else {
            record.state = ChannelSlot.pack(Status.Concluded, word.flags(), holdings, word.aux());
            record.balances = balances - (amount << (112 * uint256(participant)));
        }
        emit Withdrawn(channelId, participant, amount);
        ChannelAssets.pay(params.asset, params.participants[participant], amount);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Locks
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelAdjudicator
    function unlock(
        ChannelParams calldata params,
        Lock calldata lock,
        uint256 index,
        bytes32[] calldata proof
    ) external nonReentrant {
        bytes32 channelId = _channelId(params);
        Record storage record = _channels[channelId];
        uint256 word = record.state;
        _requireStatus(channelId, word, Status.Concluded);
        _requireLockProof(channelId, record.locksRoot, lock, index, proof);
        _markLockSettled(channelId, index);
        uint8 paidTo = _lockBeneficiary(lock);
        uint256 balances = record.balances;
        uint256 remaining = word.holdings() - balances.balance(0) - balances.balance(1);
        if (lock.amount > remaining) revert ChannelAdjudicatorLockExceedsLocked(lock.amount, remaining);
        // Cannot overflow the 112-bit field: credits plus what is still locked never exceed the holdings.
        record.balances = balances + (lock.amount << (112 * uint256(paidTo)));
        emit LockSettled(channelId, index, lock, paidTo);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelAdjudicator
    function channelIdOf(ChannelParams calldata params) external view returns (bytes32) {
        return _channelId(params);
    }

    /// @inheritdoc IChannelAdjudicator
    function getChannel(bytes32 channelId) external view returns (ChannelInfo memory) {
        Record storage record = _channels[channelId];
        return ChannelSlot.decode(record.state, record.balances, record.locksRoot);
    }

    /// @inheritdoc IChannelAdjudicator
    function stateDigest(ChannelState calldata state) external view returns (bytes32) {
        return _hashTypedDataV4(ChannelHashing.stateStructHash(state));
    }

    /// @inheritdoc IChannelAdjudicator
    function topUpDigest(TopUp calldata top) external view returns (bytes32) {
        return _hashTypedDataV4(ChannelHashing.topUpStructHash(top));
    }

    /// @inheritdoc IChannelAdjudicator
    function fundingDigest(Funding calldata funding) external view returns (bytes32) {
        return _hashTypedDataV4(ChannelHashing.fundingStructHash(funding));
    }

    /// @inheritdoc IChannelAdjudicator
    function withdrawalDigest(Withdrawal calldata withdrawal) external view returns (bytes32) {
        return _hashTypedDataV4(ChannelHashing.withdrawalStructHash(withdrawal));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Pushes both payouts of a cooperative close; one that fails is credited instead (the channel becomes
    /// `Concluded` with that credit), so neither participant can block the other. The credit is written after the
    /// calls, which is safe because every entry point that moves value is nonReentrant.
    function _payOutFinal(
        bytes32 channelId,
        Record storage record,
        ChannelParams calldata params,
        ChannelState calldata state
    ) private {
        uint256 owed0 =
            ChannelAssets.tryPay(params.asset, params.participants[0], state.balances[0]) ? 0 : state.balances[0];
        uint256 owed1 =
            ChannelAssets.tryPay(params.asset, params.participants[1], state.balances[1]) ? 0 : state.balances[1];
        if (owed0 == 0 && owed1 == 0) return;
        record.state = ChannelSlot.pack(Status.Concluded, 0, owed0 + owed1, ChannelSlot.versionAux(state.version, 0));
        record.balances = ChannelSlot.packBalances(owed0, owed1);
        if (owed0 != 0) emit PayoutCredited(channelId, 0, owed0);
        if (owed1 != 0) emit PayoutCredited(channelId, 1, owed1);
    }

    /// @dev Marks a channel closed and clears what it no longer needs (the status word stays as a tombstone).
    function _burn(Record storage record) private {
        record.state = ChannelSlot.pack(Status.Closed, 0, 0, 0);
        delete record.balances;
        delete record.locksRoot;
    }
}

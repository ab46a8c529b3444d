// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";
import {ChannelAssets} from "./ChannelAssets.sol";
import {ChannelHashing} from "./ChannelHashing.sol";
import {ChannelLocks} from "./ChannelLocks.sol";
import {ChannelSlot} from "./ChannelSlot.sol";

/// @title ChannelAdjudicator
/// @notice Two-party payment channels holding ETH or one ERC-20 each; the normative rules are docs/CHANNELS.md.
/// @dev Storage per channel is one packed word while open (see `ChannelSlot`); the fixed parameters are not stored:
/// they are passed in calldata and their hash is the channel id, the key of the storage.
// Deadlines and expiries are inclusive or exclusive exactly as docs/CHANNELS.md says, not as gas prefers.
// solhint-disable gas-strict-inequalities
contract ChannelAdjudicator is ChannelLocks, EIP712, ReentrancyGuardTransient {
    using ChannelSlot for uint256;

    /// @notice The longest challenge period a channel may have.
    uint256 public constant MAX_CHALLENGE_DURATION_SECONDS = 365 days;

    /// @notice Gas forwarded with each ETH payout of a cooperative close, so a receiver cannot burn the gas the other
    /// participant's payout needs. A receiver that needs more is credited and withdraws with `withdraw`.
    uint256 public constant CLOSE_PAYOUT_GAS_LIMIT = ChannelAssets.CLOSE_PAYOUT_GAS_LIMIT;

    /// @dev The storage of one channel: word 0 and word 1 of `ChannelSlot`, and the registered locks root.
    struct Record {
        uint256 state;
        uint256 balances;
        bytes32 locksRoot;
    }

    mapping(bytes32 channelId => Record record) private _channels;

    constructor() EIP712("bilayer-channels", "1") {}

    // ------------------------------------------------------------------------------------------------------------
    // Funding
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc IChannelAdjudicator
    function open(
        ChannelParams calldata params,
        uint256 amount
    ) external payable nonReentrant returns (bytes32 channelId) {
        channelId = _channelId(params);
        uint256 word = _channels[channelId].state;
        // Any written word has a non-zero status, so a used id (even a closed one) is never opened again.
        if (word != 0) revert ChannelAdjudicatorWrongStatus(channelId, word.status());
        _checkParams(params);
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
        ChannelState calldata state,
        Signature[2] calldata sigs,
        uint256 amount
    ) external payable nonReentrant {
        bytes32 channelId = _channelId(params);
        uint256 word = _channels[channelId].state;
        _requireStatus(channelId, word, Status.Open);
        _requireChannel(channelId, state.channelId);
        uint256 floor = _versionFloor(word);
        if (state.version <= floor) revert ChannelAdjudicatorStaleVersion(state.version, floor + 1);
        _checkSignatures(channelId, params, _hashTypedDataV4(ChannelHashing.stateStructHash(state)), sigs);
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
        Signature[2] calldata sigs
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
        Signature[2] calldata sigs
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
    function withdrawalDigest(Withdrawal calldata withdrawal) external view returns (bytes32) {
        return _hashTypedDataV4(ChannelHashing.withdrawalStructHash(withdrawal));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------------------

    function _channelId(ChannelParams calldata params) private view returns (bytes32) {
        return ChannelHashing.channelId(params, block.chainid, address(this));
    }

    function _checkParams(ChannelParams calldata params) private pure {
        address p0 = params.participants[0];
        address p1 = params.participants[1];
        uint64 duration = params.challengeDuration;
        if (p0 == address(0) || p1 == address(0) || p0 == p1 || duration == 0) {
            revert ChannelAdjudicatorInvalidParams(p0, p1, duration);
        }
        if (duration > MAX_CHALLENGE_DURATION_SECONDS) revert ChannelAdjudicatorInvalidParams(p0, p1, duration);
    }

    function _participantIndex(ChannelParams calldata params, address account) private pure returns (uint8) {
        if (account == params.participants[0]) return 0;
        if (account == params.participants[1]) return 1;
        revert ChannelAdjudicatorNotParticipant(account);
    }

    function _requireStatus(bytes32 channelId, uint256 word, Status expected) private pure {
        Status status = word.status();
        if (status != expected) revert ChannelAdjudicatorWrongStatus(channelId, status);
    }

    function _requireChannel(bytes32 channelId, bytes32 claimed) private pure {
        if (claimed != channelId) revert ChannelAdjudicatorWrongChannel(channelId, claimed);
    }

    /// @dev The version floor of an open channel: 0 until its first checkpoint, then the checkpoint's version.
    function _versionFloor(uint256 word) private pure returns (uint256) {
        return word.flags() & ChannelSlot.CHECKPOINTED == 0 ? 0 : word.version();
    }

    /// @dev `balances[0] + balances[1] + lockedTotal`, or `type(uint256).max` (never equal to any holdings) when a
    /// component exceeds 2^112 - 1, so a malformed state cannot overflow the sum or a packed field.
    function _total(ChannelState calldata state) private pure returns (uint256) {
        uint256 b0 = state.balances[0];
        uint256 b1 = state.balances[1];
        uint256 locked = state.lockedTotal;
        if (b0 > ChannelSlot.MAX_AMOUNT || b1 > ChannelSlot.MAX_AMOUNT || locked > ChannelSlot.MAX_AMOUNT) {
            return type(uint256).max;
        }
        return b0 + b1 + locked;
    }

    function _requireTotal(ChannelState calldata state, uint256 holdings) private pure {
        uint256 total = _total(state);
        if (total != holdings) revert ChannelAdjudicatorHoldingsMismatch(total, holdings);
    }

    function _checkSignatures(
        bytes32 channelId,
        ChannelParams calldata params,
        bytes32 digest,
        Signature[2] calldata sigs
    ) private pure {
        for (uint256 i = 0; i < 2; ++i) {
            (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, sigs[i].r, sigs[i].vs);
            if (err != ECDSA.RecoverError.NoError || signer != params.participants[i]) {
                revert ChannelAdjudicatorInvalidSignature(channelId, uint8(i), signer);
            }
        }
    }

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

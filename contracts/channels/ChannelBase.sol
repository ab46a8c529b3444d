// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";
import {ChannelHashing} from "./ChannelHashing.sol";
import {ChannelSlot} from "./ChannelSlot.sol";
import {LockTree} from "./LockTree.sol";

/// @title ChannelBase
/// @notice What every part of the adjudicator shares: the storage of the channels, the EIP-712 domain, the re-entrancy
/// guard, and the checks of docs/CHANNELS.md §6.2 (channel, version floor, total, signatures, locks).
/// @dev Storage per channel is one packed word while open (see `ChannelSlot`); the fixed parameters are not stored:
/// they are passed in calldata and their hash is the channel id, the key of the storage.
abstract contract ChannelBase is IChannelAdjudicator, EIP712, ReentrancyGuardTransient {
    using ChannelSlot for uint256;

    /// @notice The longest challenge period a channel may have.
    uint256 public constant MAX_CHALLENGE_DURATION_SECONDS = 365 days;

    /// @dev The storage of one channel: word 0 and word 1 of `ChannelSlot`, and the registered locks root.
    struct Record {
        uint256 state;
        uint256 balances;
        bytes32 locksRoot;
    }

    mapping(bytes32 channelId => Record record) internal _channels;

    constructor() EIP712("bilayer-channels", "1") {}

    function _channelId(ChannelParams calldata params) internal view returns (bytes32) {
        return ChannelHashing.channelId(params, block.chainid, address(this));
    }

    function _checkParams(ChannelParams calldata params) internal pure {
        address p0 = params.participants[0];
        address p1 = params.participants[1];
        uint64 duration = params.challengeDuration;
        if (p0 == address(0) || p1 == address(0) || p0 == p1 || duration == 0) {
            revert ChannelAdjudicatorInvalidParams(p0, p1, duration);
        }
        if (duration > MAX_CHALLENGE_DURATION_SECONDS) revert ChannelAdjudicatorInvalidParams(p0, p1, duration);
    }

    function _participantIndex(ChannelParams calldata params, address account) internal pure returns (uint8) {
        if (account == params.participants[0]) return 0;
        if (account == params.participants[1]) return 1;
        revert ChannelAdjudicatorNotParticipant(account);
    }

    function _requireStatus(bytes32 channelId, uint256 word, Status expected) internal pure {
        Status status = word.status();
        if (status != expected) revert ChannelAdjudicatorWrongStatus(channelId, status);
    }

    function _requireChannel(bytes32 channelId, bytes32 claimed) internal pure {
        if (claimed != channelId) revert ChannelAdjudicatorWrongChannel(channelId, claimed);
    }

    /// @dev The version floor of an open channel: 0 until its first checkpoint, then the checkpoint's version.
    function _versionFloor(uint256 word) internal pure returns (uint256) {
        return word.flags() & ChannelSlot.CHECKPOINTED == 0 ? 0 : word.version();
    }

    /// @dev `balances[0] + balances[1] + lockedTotal`, or `type(uint256).max` (never equal to any holdings) when a
    /// component exceeds 2^112 - 1, so a malformed state cannot overflow the sum or a packed field.
    function _total(ChannelState calldata state) internal pure returns (uint256) {
        uint256 b0 = state.balances[0];
        uint256 b1 = state.balances[1];
        uint256 locked = state.lockedTotal;
        if (b0 > ChannelSlot.MAX_AMOUNT || b1 > ChannelSlot.MAX_AMOUNT || locked > ChannelSlot.MAX_AMOUNT) {
            return type(uint256).max;
        }
        return b0 + b1 + locked;
    }

    function _requireTotal(ChannelState calldata state, uint256 holdings) internal pure {
        uint256 total = _total(state);
        if (total != holdings) revert ChannelAdjudicatorHoldingsMismatch(total, holdings);
    }

    /// @dev Reverts unless `locks` are exactly what `state` commits to: well formed, their tree root is `locksRoot`
    /// and their amounts add up to `lockedTotal`. Then every unit of `lockedTotal` belongs to one lock, and resolving
    /// all of them pays it all out: nothing can stay stuck in a concluded channel.
    function _requireLocks(ChannelState calldata state, Lock[] calldata locks) internal pure {
        uint256 n = locks.length;
        bytes32 root;
        uint256 sum;
        if (n != 0) {
            bytes32[] memory leaves = new bytes32[](n);
            for (uint256 i = 0; i < n; ++i) {
                Lock calldata lock = locks[i];
                if (lock.sender > 1 || lock.receiver != 1 - lock.sender) {
                    revert ChannelAdjudicatorInvalidLock(lock.sender, lock.receiver);
                }
                // Saturates instead of overflowing: a sum past 2^112 - 1 never equals a valid locked total.
                sum =
                    lock.amount > ChannelSlot.MAX_AMOUNT || sum + lock.amount > ChannelSlot.MAX_AMOUNT
                        ? type(uint256).max
                        : sum + lock.amount;
                leaves[i] = ChannelHashing.lockLeaf(lock);
            }
            root = LockTree.root(leaves);
        }
        if (root != state.locksRoot || sum != state.lockedTotal) {
            revert ChannelAdjudicatorLocksMismatch(state.locksRoot, root, state.lockedTotal, sum);
        }
    }

    /// @dev Reverts unless `sigs[i]` is participant `i`'s signature of `digest`, for both `i`.
    function _checkSignatures(
        bytes32 channelId,
        ChannelParams calldata params,
        bytes32 digest,
        Signature[2] calldata sigs
    ) internal pure {
        _checkSignature(channelId, params, digest, sigs[0], 0);
        _checkSignature(channelId, params, digest, sigs[1], 1);
    }

    /// @dev Reverts unless `sig` is participant `who`'s signature of `digest` (OpenZeppelin's `tryRecover`: low `s`,
    /// no malleable twins).
    function _checkSignature(
        bytes32 channelId,
        ChannelParams calldata params,
        bytes32 digest,
        Signature calldata sig,
        uint8 who
    ) internal pure {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest, sig.r, sig.vs);
        if (err != ECDSA.RecoverError.NoError || signer != params.participants[who]) {
            revert ChannelAdjudicatorInvalidSignature(channelId, who, signer);
        }
    }
}

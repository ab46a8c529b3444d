// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";
import {ChannelHashing} from "./ChannelHashing.sol";
import {LockTree} from "./LockTree.sol";

/// @title ChannelLocks
/// @notice The hash-lock half of the adjudicator (docs/CHANNELS.md §5): a global registry of revealed secrets keyed
/// by hashlock (as Raiden's `SecretRegistry`), and the record of which locks of a concluded channel are resolved.
// Expiries are inclusive exactly as docs/CHANNELS.md says, not as gas prefers.
// solhint-disable gas-strict-inequalities
abstract contract ChannelLocks is IChannelAdjudicator {
    mapping(bytes32 hashlock => uint256 timestamp) private _revealedAt;
    mapping(bytes32 channelId => mapping(uint256 bucket => uint256 bits)) private _settledLocks;

    /// @inheritdoc IChannelAdjudicator
    function revealSecret(bytes32 secret) external {
        bytes32 hashlock = ChannelHashing.hashlock(secret);
        uint256 revealedAt = _revealedAt[hashlock];
        if (revealedAt != 0) revert ChannelAdjudicatorSecretAlreadyRevealed(hashlock, revealedAt);
        _revealedAt[hashlock] = block.timestamp;
        emit SecretRevealed(hashlock, secret, block.timestamp);
    }

    /// @inheritdoc IChannelAdjudicator
    function secretRevealedAt(bytes32 hashlock) external view returns (uint256) {
        return _revealedAt[hashlock];
    }

    /// @inheritdoc IChannelAdjudicator
    function isLockSettled(bytes32 channelId, uint256 index) external view returns (bool) {
        return _settledLocks[channelId][index >> 8] & (1 << (index & 0xff)) != 0;
    }

    /// @dev Reverts unless `lock` is well formed and sits at `index` of the tree with root `root`.
    function _requireLockProof(
        bytes32 channelId,
        bytes32 root,
        Lock calldata lock,
        uint256 index,
        bytes32[] calldata proof
    ) internal pure {
        if (lock.sender > 1 || lock.receiver != 1 - lock.sender) {
            revert ChannelAdjudicatorInvalidLock(lock.sender, lock.receiver);
        }
        if (root == bytes32(0) || LockTree.rootFromProof(ChannelHashing.lockLeaf(lock), index, proof) != root) {
            revert ChannelAdjudicatorInvalidLockProof(channelId, index);
        }
    }

    /// @dev Records the lock at `index` as resolved; reverts if it already was.
    function _markLockSettled(bytes32 channelId, uint256 index) internal {
        uint256 bit = 1 << (index & 0xff);
        uint256 bits = _settledLocks[channelId][index >> 8];
        if (bits & bit != 0) revert ChannelAdjudicatorLockAlreadySettled(channelId, index);
        _settledLocks[channelId][index >> 8] = bits | bit;
    }

    /// @dev The receiver if the secret was revealed on chain at or before the expiry; the sender once the lock has
    /// expired without that; before the expiry an unrevealed secret may still be revealed in time, so nothing is
    /// decided yet.
    function _lockBeneficiary(Lock calldata lock) internal view returns (uint8) {
        uint256 revealedAt = _revealedAt[lock.hashlock];
        if (revealedAt != 0 && revealedAt <= lock.expiry) return lock.receiver;
        if (block.timestamp <= lock.expiry) revert ChannelAdjudicatorLockPending(lock.hashlock, lock.expiry);
        return lock.sender;
    }
}

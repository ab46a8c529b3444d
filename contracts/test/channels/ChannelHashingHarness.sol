// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IChannelAdjudicator} from "../../interfaces/IChannelAdjudicator.sol";
import {ChannelHashing} from "../../channels/ChannelHashing.sol";
import {LockTree} from "../../channels/LockTree.sol";

/// @title ChannelHashingHarness
/// @notice Exposes the channel hashing and lock-tree libraries so the TypeScript twin can be tested against them.
contract ChannelHashingHarness {
    /// @notice See `ChannelHashing.channelId`.
    function channelId(
        IChannelAdjudicator.ChannelParams calldata params,
        uint256 chainId,
        address adjudicator
    ) external pure returns (bytes32) {
        return ChannelHashing.channelId(params, chainId, adjudicator);
    }

    /// @notice See `ChannelHashing.stateStructHash`.
    function stateStructHash(IChannelAdjudicator.ChannelState calldata state) external pure returns (bytes32) {
        return ChannelHashing.stateStructHash(state);
    }

    /// @notice See `ChannelHashing.withdrawalStructHash`.
    function withdrawalStructHash(IChannelAdjudicator.Withdrawal calldata withdrawal) external pure returns (bytes32) {
        return ChannelHashing.withdrawalStructHash(withdrawal);
    }

    /// @notice See `ChannelHashing.topUpStructHash`.
    function topUpStructHash(IChannelAdjudicator.TopUp calldata top) external pure returns (bytes32) {
        return ChannelHashing.topUpStructHash(top);
    }

    /// @notice See `ChannelHashing.fundingStructHash`.
    function fundingStructHash(IChannelAdjudicator.Funding calldata funding) external pure returns (bytes32) {
        return ChannelHashing.fundingStructHash(funding);
    }

    /// @notice See `ChannelHashing.lockLeaf`.
    function lockLeaf(IChannelAdjudicator.Lock calldata lock) external pure returns (bytes32) {
        return ChannelHashing.lockLeaf(lock);
    }

    /// @notice See `ChannelHashing.hashlock`.
    function hashlock(bytes32 secret) external pure returns (bytes32) {
        return ChannelHashing.hashlock(secret);
    }

    /// @notice See `LockTree.rootFromProof`.
    function rootFromProof(bytes32 leaf, uint256 index, bytes32[] calldata proof) external pure returns (bytes32) {
        return LockTree.rootFromProof(leaf, index, proof);
    }

    /// @notice See `LockTree.root`.
    function root(bytes32[] calldata leaves) external pure returns (bytes32) {
        return LockTree.root(leaves);
    }
}

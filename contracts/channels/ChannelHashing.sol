// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";

/// @title ChannelHashing
/// @notice The hashes of docs/CHANNELS.md §2–§5, mirrored by `src/channels/state.ts`: the channel id, the EIP-712
/// struct hashes of a state, a top-up, a funding consent and a withdrawal, a lock's leaf and a secret's hashlock.
/// Every encoding is `abi.encode` (each value widened to a 32-byte word).
// EIP-712 type strings are what they are.
// solhint-disable gas-small-strings
library ChannelHashing {
    /// @notice `keccak256` of the EIP-712 type of a state.
    bytes32 internal constant STATE_TYPEHASH = keccak256(
        "ChannelState(bytes32 channelId,uint64 version,uint256[2] balances,bytes32 locksRoot,uint256 lockedTotal,bool isFinal)"
    );

    /// @notice `keccak256` of the EIP-712 type of a top-up (a struct with the state nested in it).
    bytes32 internal constant TOP_UP_TYPEHASH = keccak256(
        "TopUp(ChannelState state,uint64 expiry)ChannelState(bytes32 channelId,uint64 version,uint256[2] balances,bytes32 locksRoot,uint256 lockedTotal,bool isFinal)"
    );

    /// @notice `keccak256` of the EIP-712 type of a funding consent.
    bytes32 internal constant FUNDING_TYPEHASH = keccak256(
        "Funding(bytes32 channelId,uint8 participant,uint256 amount,uint64 expiry)"
    );

    /// @notice `keccak256` of the EIP-712 type of a withdrawal.
    bytes32 internal constant WITHDRAWAL_TYPEHASH = keccak256(
        "Withdrawal(bytes32 channelId,uint64 version,uint8 participant,uint256 amount,uint64 expiry)"
    );

    /// @notice `keccak256(abi.encode(chainId, adjudicator, participants, asset, challengeDuration, salt))`.
    function channelId(
        IChannelAdjudicator.ChannelParams calldata params,
        uint256 chainId,
        address adjudicator
    ) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    chainId,
                    adjudicator,
                    params.participants,
                    params.asset,
                    params.challengeDuration,
                    params.salt
                )
            );
    }

    /// @notice EIP-712 `hashStruct` of a state; the fixed array `balances` is hashed as `keccak256(abi.encode(b0, b1))`.
    function stateStructHash(IChannelAdjudicator.ChannelState calldata state) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    STATE_TYPEHASH,
                    state.channelId,
                    state.version,
                    keccak256(abi.encode(state.balances[0], state.balances[1])),
                    state.locksRoot,
                    state.lockedTotal,
                    state.isFinal
                )
            );
    }

    /// @notice EIP-712 `hashStruct` of a top-up: the nested state is encoded as its own `hashStruct`.
    function topUpStructHash(IChannelAdjudicator.TopUp calldata top) internal pure returns (bytes32) {
        return keccak256(abi.encode(TOP_UP_TYPEHASH, stateStructHash(top.state), top.expiry));
    }

    /// @notice EIP-712 `hashStruct` of a funding consent.
    function fundingStructHash(IChannelAdjudicator.Funding calldata funding) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(FUNDING_TYPEHASH, funding.channelId, funding.participant, funding.amount, funding.expiry)
            );
    }

    /// @notice EIP-712 `hashStruct` of a withdrawal.
    function withdrawalStructHash(IChannelAdjudicator.Withdrawal calldata withdrawal) internal pure returns (bytes32) {
        return
            keccak256(
                abi.encode(
                    WITHDRAWAL_TYPEHASH,
                    withdrawal.channelId,
                    withdrawal.version,
                    withdrawal.participant,
                    withdrawal.amount,
                    withdrawal.expiry
                )
            );
    }

    /// @notice A lock's leaf: `keccak256(abi.encode(sender, receiver, amount, hashlock, expiry))`.
    function lockLeaf(IChannelAdjudicator.Lock calldata lock) internal pure returns (bytes32) {
        return keccak256(abi.encode(lock.sender, lock.receiver, lock.amount, lock.hashlock, lock.expiry));
    }

    /// @notice A secret's hashlock: `keccak256` of its 32 bytes.
    function hashlock(bytes32 secret) internal pure returns (bytes32) {
        return keccak256(abi.encode(secret));
    }
}

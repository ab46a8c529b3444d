// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {QueueItem} from "./L2Types.sol";

/// @title QueueLib
/// @notice The hash-chained L1→L2 queue of docs/PROTOCOL.md §4: `acc[0] = 0`, `acc[i+1] = chain(acc[i], itemHash(i))`.
library QueueLib {
    /// @notice `keccak(abi.encode(kind, addr, tokenId, amount, account, timestamp))`.
    function itemHash(QueueItem memory item) internal pure returns (bytes32) {
        return keccak256(abi.encode(item.kind, item.addr, item.tokenId, item.amount, item.account, item.timestamp));
    }

    /// @notice `itemHash` of an item read from calldata (as a fraud proof or a batch supplies it).
    function itemHashCalldata(QueueItem calldata item) internal pure returns (bytes32) {
        return keccak256(abi.encode(item.kind, item.addr, item.tokenId, item.amount, item.account, item.timestamp));
    }

    /// @notice The next accumulator: `keccak(abi.encode(acc, itemHash))`.
    function chain(bytes32 acc, bytes32 itemHash_) internal pure returns (bytes32 next) {
        assembly ("memory-safe") {
            mstore(0x00, acc)
            mstore(0x20, itemHash_)
            next := keccak256(0x00, 0x40)
        }
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {QueueLib} from "../../libraries/QueueLib.sol";
import {QueueItem} from "../../libraries/L2Types.sol";

/// @title QueueLibHarness
/// @notice Test-only external entry points to QueueLib.
contract QueueLibHarness {
    // Exercises the memory variant.
    // solhint-disable-next-line gas-calldata-parameters
    function itemHash(QueueItem memory item) external pure returns (bytes32) {
        return QueueLib.itemHash(item);
    }

    function itemHashCalldata(QueueItem calldata item) external pure returns (bytes32) {
        return QueueLib.itemHashCalldata(item);
    }

    function chain(bytes32 acc, bytes32 itemHash_) external pure returns (bytes32) {
        return QueueLib.chain(acc, itemHash_);
    }

    /// @notice The accumulator after appending `items` to an empty queue.
    function accumulate(QueueItem[] calldata items) external pure returns (bytes32 acc) {
        for (uint256 i = 0; i < items.length; ++i) {
            acc = QueueLib.chain(acc, QueueLib.itemHashCalldata(items[i]));
        }
    }
}

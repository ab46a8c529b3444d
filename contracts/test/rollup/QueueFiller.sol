// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IBridge} from "../../interfaces/IBridge.sol";

/// @title QueueFiller
/// @notice Fills the bridge's queue with many deposits in one transaction, for tests of long queues.
contract QueueFiller {
    /// @notice Deposits `amountEach` wei `count` times to `recipient` with account hint `hint`; send
    /// `count * amountEach`.
    function depositEthMany(
        address bridge,
        address recipient,
        uint32 hint,
        uint256 count,
        uint256 amountEach
    ) external payable {
        for (uint256 i = 0; i < count; ++i) {
            IBridge(bridge).depositEth{value: amountEach}(recipient, hint);
        }
    }
}

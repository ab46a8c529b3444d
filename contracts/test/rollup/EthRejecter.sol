// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title EthRejecter
/// @notice A contract that refuses ETH and relays calls, to act as a user, proposer or challenger that cannot be
/// paid.
contract EthRejecter {
    /// @notice The relayed call reverted; carries its revert data.
    error EthRejecterCallFailed(bytes result);

    /// @notice Calls `target` with `data` and `msg.value`, bubbling up a revert.
    function execute(address target, bytes calldata data) external payable returns (bytes memory) {
        (bool ok, bytes memory result) = target.call{value: msg.value}(data);
        if (!ok) revert EthRejecterCallFailed(result);
        return result;
    }
}

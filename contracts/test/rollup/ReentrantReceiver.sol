// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title ReentrantReceiver
/// @notice Relays calls (to act as a proposer or challenger) and, when paid ETH while armed, calls `hookTarget`
/// with `hookData` once and records how that re-entry ended, without reverting the payment.
contract ReentrantReceiver {
    /// @notice The relayed call reverted; carries its revert data.
    error ReentrantReceiverCallFailed(bytes result);

    address public hookTarget;
    bytes public hookData;
    bool public armed;
    /// @notice How many re-entries were attempted.
    uint256 public reentries;
    bool public lastReentrySucceeded;
    bytes public lastReentryResult;

    /// @notice Calls `target` with `data` and `msg.value`, bubbling up a revert.
    function execute(address target, bytes calldata data) external payable returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory result) = target.call{value: msg.value}(data);
        if (!ok) revert ReentrantReceiverCallFailed(result);
        return result;
    }

    /// @notice Arms the hook for the next payment.
    function arm(address target, bytes calldata data) external {
        hookTarget = target;
        hookData = data;
        armed = true;
    }

    /// @dev The re-entry is the point of this contract.
    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        if (!armed) return;
        armed = false;
        ++reentries;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory result) = hookTarget.call(hookData);
        lastReentrySucceeded = ok;
        lastReentryResult = result;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantClaimToken
/// @notice An ERC-20 that, while `hookSource` sends tokens, calls `hookTarget` with `hookData` (once per transfer)
/// and records how that call ended. Used to attack the bridge from inside its own payment.
contract ReentrantClaimToken is ERC20 {
    address public hookSource;
    address public hookTarget;
    bytes public hookData;
    /// @notice How many re-entries were attempted.
    uint256 public reentries;
    /// @notice Whether the last re-entry succeeded, and what it returned or reverted with.
    bool public lastReentrySucceeded;
    bytes public lastReentryResult;
    bool private _inHook;

    constructor() ERC20("Reentrant", "RE") {}

    /// @notice Mints `amount` to `to`; anyone may call it.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook: transfers sent by `source` call `target` with `data` first.
    function setHook(address source, address target, bytes calldata data) external {
        hookSource = source;
        hookTarget = target;
        hookData = data;
    }

    /// @dev Runs the hook before moving the tokens.
    function _update(address from, address to, uint256 value) internal override {
        if (from == hookSource && from != address(0) && !_inHook) {
            _inHook = true;
            ++reentries;
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory result) = hookTarget.call(hookData);
            lastReentrySucceeded = ok;
            lastReentryResult = result;
            _inHook = false;
        }
        super._update(from, to, value);
    }
}

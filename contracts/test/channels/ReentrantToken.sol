// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice Test-only malicious ERC-20: once armed, every transfer first calls back into `target` with `data` (for
/// example the adjudicator's `withdraw` again) and bubbles up the callback's revert.
contract ReentrantToken is ERC20 {
    /// @notice The contract re-entered on transfer.
    address public reentryTarget;
    /// @notice The call made on re-entry.
    bytes public reentryData;
    /// @notice How many re-entries succeeded.
    uint256 public reentries;
    bool private _inCallback;

    constructor() ERC20("Reentrant", "RE") {}

    /// @notice Mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the callback: every later transfer calls `target_` with `data_`.
    function arm(address target_, bytes calldata data_) external {
        reentryTarget = target_;
        reentryData = data_;
    }

    /// @notice Disarms the callback.
    function disarm() external {
        reentryTarget = address(0);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (reentryTarget != address(0) && !_inCallback && from != address(0) && to != address(0)) {
            _inCallback = true;
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory reason) = reentryTarget.call(reentryData);
            _inCallback = false;
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(reason, 0x20), mload(reason))
                }
            }
            ++reentries;
        }
        super._update(from, to, value);
    }
}

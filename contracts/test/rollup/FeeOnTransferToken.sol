// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice An ERC-20 that burns `FEE_BPS` basis points of every transfer, so the receiver gets less than was sent.
contract FeeOnTransferToken is ERC20 {
    /// @notice The share of each transfer burnt, in basis points.
    uint256 public immutable FEE_BPS;

    constructor(uint256 feeBps) ERC20("Fee on transfer", "FOT") {
        FEE_BPS = feeBps;
    }

    /// @notice Mints `amount` to `to`; anyone may call it.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @dev Burns the fee out of every transfer between two accounts.
    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = (value * FEE_BPS) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}

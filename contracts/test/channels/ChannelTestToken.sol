// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ChannelTestToken
/// @notice Test-only ERC-20 with the misbehaviours channels must survive: an optional fee burnt on every transfer
/// (fee-on-transfer tokens) and a block list of recipients whose incoming transfers revert (USDC-style blacklists).
contract ChannelTestToken is ERC20 {
    /// @notice A transfer to a blocked recipient.
    /// @param recipient The blocked recipient.
    error ChannelTestTokenBlocked(address recipient);

    /// @notice The fee burnt on each transfer, in basis points.
    uint256 public feeBps;
    /// @notice Recipients whose incoming transfers revert.
    mapping(address account => bool isBlocked) public blocked;

    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    /// @notice Mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Sets the fee burnt on each transfer.
    function setFeeBps(uint256 feeBps_) external {
        feeBps = feeBps_;
    }

    /// @notice Blocks or unblocks incoming transfers to `account`.
    function setBlocked(address account, bool isBlocked) external {
        blocked[account] = isBlocked;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0) && blocked[to]) revert ChannelTestTokenBlocked(to);
        if (from == address(0) || to == address(0) || feeBps == 0) {
            super._update(from, to, value);
        } else {
            uint256 fee = (value * feeBps) / 10_000;
            super._update(from, address(0), fee);
            super._update(from, to, value - fee);
        }
    }
}

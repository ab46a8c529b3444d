// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ChannelPlainToken
/// @notice Test-only ERC-20 with nothing but OpenZeppelin's transfers and a mint: the token the gas figures are
/// measured with, since `ChannelTestToken`'s fee and block-list checks cost two extra storage reads per transfer.
contract ChannelPlainToken is ERC20 {
    constructor(string memory name_, string memory symbol_) ERC20(name_, symbol_) {}

    /// @notice Mints `amount` to `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

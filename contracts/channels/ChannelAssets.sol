// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IChannelAdjudicator} from "../interfaces/IChannelAdjudicator.sol";
import {ChannelSlot} from "./ChannelSlot.sol";

/// @title ChannelAssets
/// @notice Moving a channel's asset (ETH when `asset` is `address(0)`, otherwise an ERC-20) in and out of the
/// adjudicator. Callers are `nonReentrant`.
library ChannelAssets {
    using SafeERC20 for IERC20;

    /// @notice Gas forwarded with each ETH payout of a cooperative close.
    uint256 internal constant CLOSE_PAYOUT_GAS_LIMIT = 100_000;

    /// @notice Takes `amount` from the caller and returns what actually arrived (a fee-on-transfer token delivers
    /// less), checking that `holdings` plus it stays within 112 bits. For ETH `msg.value` must equal `amount`; for a
    /// token it must be 0.
    function receiveFrom(address asset, uint256 amount, uint256 holdings) internal returns (uint256 received) {
        if (asset == address(0)) {
            if (msg.value != amount) revert IChannelAdjudicator.ChannelAdjudicatorValueMismatch(amount, msg.value);
            received = amount;
            _checkHoldings(holdings, received);
        } else {
            if (msg.value != 0) revert IChannelAdjudicator.ChannelAdjudicatorValueMismatch(0, msg.value);
            received = pullToken(asset, msg.sender, amount, holdings);
        }
    }

    /// @notice Pulls `amount` of the token `asset` from `from` (who approved the adjudicator) and returns what
    /// actually arrived, measured as the growth of the adjudicator's balance, so a fee-on-transfer token is credited
    /// only what it delivered. Checks that `holdings` plus it stays within 112 bits.
    function pullToken(
        address asset,
        address from,
        uint256 amount,
        uint256 holdings
    ) internal returns (uint256 received) {
        if (amount != 0) {
            IERC20 token = IERC20(asset);
            uint256 before = token.balanceOf(address(this));
            token.safeTransferFrom(from, address(this), amount);
            received = token.balanceOf(address(this)) - before;
        }
        _checkHoldings(holdings, received);
    }

    /// @notice Pays `amount` to `to` with all the gas left, or reverts.
    function pay(address asset, address to, uint256 amount) internal {
        if (asset == address(0)) {
            if (!_sendEth(to, amount, gasleft()))
                revert IChannelAdjudicator.ChannelAdjudicatorTransferFailed(to, amount);
        } else {
            IERC20(asset).safeTransfer(to, amount);
        }
    }

    /// @notice Pays `amount` to `to` and reports whether it worked; never reverts. ETH payouts get
    /// `CLOSE_PAYOUT_GAS_LIMIT` gas.
    function tryPay(address asset, address to, uint256 amount) internal returns (bool) {
        if (amount == 0) return true;
        if (asset == address(0)) return _sendEth(to, amount, CLOSE_PAYOUT_GAS_LIMIT);
        return IERC20(asset).trySafeTransfer(to, amount);
    }

    function _checkHoldings(uint256 holdings, uint256 received) private pure {
        if (holdings + received > ChannelSlot.MAX_AMOUNT) {
            revert IChannelAdjudicator.ChannelAdjudicatorHoldingsOverflow(holdings + received);
        }
    }

    /// @dev A value call that copies no return data, so a receiver cannot make the caller pay for a huge one.
    function _sendEth(address to, uint256 amount, uint256 gasLimit) private returns (bool ok) {
        assembly ("memory-safe") {
            ok := call(gasLimit, to, amount, 0, 0, 0, 0)
        }
    }
}

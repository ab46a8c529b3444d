// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {PackedAmount} from "../../libraries/PackedAmount.sol";

/// @title PackedAmountHarness
/// @notice Test-only external entry points to PackedAmount.
contract PackedAmountHarness {
    function unpackAmount(uint40 packed) external pure returns (uint256) {
        return PackedAmount.unpackAmount(packed);
    }

    function unpackFee(uint16 packed) external pure returns (uint256) {
        return PackedAmount.unpackFee(packed);
    }
}

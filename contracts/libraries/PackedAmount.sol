// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title PackedAmount
/// @notice Decoding of the packed decimal floats of docs/PROTOCOL.md §2: `value = mantissa × 10^exponent`, the low
/// 5 bits being the exponent and the high bits the mantissa. Every bit pattern decodes; nothing overflows.
library PackedAmount {
    /// @dev Width of the exponent field in both formats.
    uint256 internal constant EXPONENT_BITS = 5;
    /// @dev Mask of the exponent field.
    uint256 internal constant EXPONENT_MASK = 0x1f;

    /// @notice The value of a 40-bit packed amount (35-bit mantissa): at most `(2^35 − 1)·10^31`.
    function unpackAmount(uint40 packed) internal pure returns (uint256) {
        return _unpack(packed);
    }

    /// @notice The value of a 16-bit packed fee (11-bit mantissa): at most `(2^11 − 1)·10^31`.
    function unpackFee(uint16 packed) internal pure returns (uint256) {
        return _unpack(packed);
    }

    function _unpack(uint256 packed) private pure returns (uint256 value) {
        // mantissa < 2^35 and 10^31 < 2^104, so the product stays far below 2^256.
        unchecked {
            value = (packed >> EXPONENT_BITS) * 10 ** (packed & EXPONENT_MASK);
        }
    }
}

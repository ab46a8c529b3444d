// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {TxCodec} from "../../libraries/TxCodec.sol";
import {L2Tx} from "../../libraries/L2Types.sol";

/// @title TxCodecHarness
/// @notice Test-only external entry points to TxCodec.
contract TxCodecHarness {
    function decode(
        bytes calldata chunk,
        uint256 offset
    ) external pure returns (uint8 status, L2Tx memory t, uint256 next) {
        return TxCodec.decode(chunk, offset);
    }

    function txSize(uint8 txType) external pure returns (uint256) {
        return TxCodec.txSize(txType);
    }
}

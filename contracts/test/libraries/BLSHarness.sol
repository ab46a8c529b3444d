// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {BLS} from "../../libraries/BLS.sol";

/// @title BLSHarness
/// @notice Test-only external entry points to BLS, and gas probes.
contract BLSHarness {
    function expandMessage(bytes32 message) external pure returns (bytes memory) {
        return BLS.expandMessage(message);
    }

    function hashToG2(bytes32 message) external view returns (bytes memory) {
        return BLS.hashToG2(message);
    }

    function verifyAggregate(
        bytes calldata keys,
        bytes32[] calldata messages,
        bytes calldata signature
    ) external view returns (bool) {
        return BLS.verifyAggregate(keys, messages, signature);
    }

    function compressG1(bytes calldata point) external pure returns (bytes memory) {
        return BLS.compressG1(point);
    }

    function compressG2(bytes calldata point) external pure returns (bytes memory) {
        return BLS.compressG2(point);
    }

    function isOnCurveG1(bytes calldata point) external view returns (bool) {
        return BLS.isOnCurveG1(point);
    }

    function isOnCurveG2(bytes calldata point) external view returns (bool) {
        return BLS.isOnCurveG2(point);
    }

    function isInSubgroupG1(bytes calldata point) external view returns (bool) {
        return BLS.isInSubgroupG1(point);
    }

    /// @notice The gas `verifyAggregate` takes, for the benchmark and the gas test.
    function verifyAggregateGas(
        bytes calldata keys,
        bytes32[] calldata messages,
        bytes calldata signature
    ) external view returns (bool ok, uint256 gasUsed) {
        uint256 before = gasleft();
        ok = BLS.verifyAggregate(keys, messages, signature);
        gasUsed = before - gasleft();
    }
}

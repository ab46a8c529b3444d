// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {CHUNK_TREE_DEPTH, ChunkTree} from "../../rollup/ChunkTree.sol";

/// @title ChunkTreeHarness
/// @notice Exposes the ChunkTree library to tests of its TypeScript twin.
contract ChunkTreeHarness {
    /// @notice `ChunkTree.root`.
    // The library overwrites the leaves as it climbs, so they must be in memory.
    // solhint-disable-next-line gas-calldata-parameters
    function root(bytes32[] memory leaves) external pure returns (bytes32) {
        return ChunkTree.root(leaves);
    }

    /// @notice `ChunkTree.computeRoot`.
    function computeRoot(
        bytes32 leaf,
        uint256 index,
        bytes32[CHUNK_TREE_DEPTH] calldata proof
    ) external pure returns (bytes32) {
        return ChunkTree.computeRoot(leaf, index, proof);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MerkleTree} from "../../libraries/MerkleTree.sol";

/// @title MerkleTreeHarness
/// @notice Test-only external entry points to MerkleTree.
contract MerkleTreeHarness {
    function emptyRoot() external pure returns (bytes32) {
        return MerkleTree.EMPTY_ROOT;
    }

    function zero(uint256 height) external pure returns (bytes32) {
        return MerkleTree.zero(height);
    }

    function computeRoot(bytes32 leaf, uint256 index, bytes32[32] calldata siblings) external pure returns (bytes32) {
        return MerkleTree.computeRoot(leaf, index, siblings);
    }

    // Exercises the memory variant.
    // solhint-disable-next-line gas-calldata-parameters
    function computeRootMemory(
        bytes32 leaf,
        uint256 index,
        bytes32[32] memory siblings
    ) external pure returns (bytes32) {
        return MerkleTree.computeRootMemory(leaf, index, siblings);
    }

    function verify(
        bytes32 root,
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings
    ) external pure returns (bool) {
        return MerkleTree.verify(root, leaf, index, siblings);
    }

    // Exercises the memory variant.
    // solhint-disable-next-line gas-calldata-parameters
    function verifyMemory(
        bytes32 root,
        bytes32 leaf,
        uint256 index,
        bytes32[32] memory siblings
    ) external pure returns (bool) {
        return MerkleTree.verifyMemory(root, leaf, index, siblings);
    }

    function computeRootAndNode(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings,
        uint256 height
    ) external pure returns (bytes32 root, bytes32 node) {
        return MerkleTree.computeRootAndNode(leaf, index, siblings, height);
    }

    function computeNode(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings,
        uint256 height
    ) external pure returns (bytes32) {
        return MerkleTree.computeNode(leaf, index, siblings, height);
    }

    function computeRootReplacing(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings,
        uint256 height,
        bytes32 replacement
    ) external pure returns (bytes32) {
        return MerkleTree.computeRootReplacing(leaf, index, siblings, height, replacement);
    }

    function divergenceHeight(uint256 a, uint256 b) external pure returns (uint256) {
        return MerkleTree.divergenceHeight(a, b);
    }
}

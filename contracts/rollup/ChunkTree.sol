// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @dev Depth of a batch's chunk tree; a batch holds at most 2^CHUNK_TREE_DEPTH chunks.
uint256 constant CHUNK_TREE_DEPTH = 7;
/// @dev Number of leaves of a chunk tree, the most chunks one batch can hold.
uint256 constant CHUNK_TREE_LEAVES = 2 ** CHUNK_TREE_DEPTH;

/// @title ChunkTree
/// @notice The positional binary Merkle tree over a batch's chunks (docs/PROTOCOL.md §7.2): depth
/// `CHUNK_TREE_DEPTH`, leaf `i` is `keccak(chunk_i)` for `i < chunkCount` and `bytes32(0)` after, a node is
/// `keccak(left ‖ right)` — the same rules as the state trees (§1.1), with a smaller depth.
library ChunkTree {
    /// @notice More leaves than the tree holds.
    /// @param count The number of leaves given.
    /// @param max The number of leaves the tree holds.
    error ChunkTreeTooManyLeaves(uint256 count, uint256 max);

    /// @notice The root of the tree whose first leaves are `leaves` (the rest empty).
    /// @dev Overwrites `leaves` with the nodes of each level as it climbs.
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 width = leaves.length;
        if (width > CHUNK_TREE_LEAVES) revert ChunkTreeTooManyLeaves(width, CHUNK_TREE_LEAVES);
        bytes32 emptySubtree = bytes32(0);
        for (uint256 h = 0; h < CHUNK_TREE_DEPTH; ++h) {
            uint256 parents = (width + 1) / 2;
            for (uint256 i = 0; i < parents; ++i) {
                uint256 right = 2 * i + 1;
                leaves[i] = _hashPair(leaves[2 * i], right < width ? leaves[right] : emptySubtree);
            }
            width = parents;
            emptySubtree = _hashPair(emptySubtree, emptySubtree);
        }
        // An empty list climbs as the empty subtree; otherwise the single node left is the root.
        return width == 0 ? emptySubtree : leaves[0];
    }

    /// @notice The root of the tree in which leaf `index` is `leaf` and `proof[h]` is the sibling at height `h`.
    function computeRoot(
        bytes32 leaf,
        uint256 index,
        bytes32[CHUNK_TREE_DEPTH] calldata proof
    ) internal pure returns (bytes32 node) {
        node = leaf;
        for (uint256 h = 0; h < CHUNK_TREE_DEPTH; ++h) {
            node = (index >> h) & 1 == 0 ? _hashPair(node, proof[h]) : _hashPair(proof[h], node);
        }
    }

    /// @dev `keccak(left ‖ right)` in the scratch space.
    function _hashPair(bytes32 left, bytes32 right) private pure returns (bytes32 node) {
        assembly ("memory-safe") {
            mstore(0x00, left)
            mstore(0x20, right)
            node := keccak256(0x00, 0x40)
        }
    }
}

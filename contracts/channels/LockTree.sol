// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title LockTree
/// @notice The positional Merkle tree of a state's locks (docs/CHANNELS.md §5.2), mirrored by
/// `src/channels/state.ts`. `n` leaves are padded with `bytes32(0)` to `2^d` (the least `d` with `2^d ≥ n`); a node is
/// `keccak256(left ‖ right)`; the root of no leaves is `bytes32(0)` and of one leaf the leaf itself. A proof is the
/// `d` siblings from the bottom up; at height `h` the running node is the left child when bit `h` of the index is 0.
library LockTree {
    /// @notice The root reached from `leaf` at `index` along `proof`, or `bytes32(0)` if `index` does not fit in
    /// `proof.length` bits (so one leaf has exactly one index in a tree of a given depth).
    function rootFromProof(bytes32 leaf, uint256 index, bytes32[] calldata proof) internal pure returns (bytes32) {
        uint256 depth = proof.length;
        if (index >> depth != 0) {
            return bytes32(0);
        }
        bytes32 node = leaf;
        for (uint256 h = 0; h < depth; ++h) {
            node = (index >> h) & 1 == 0 ? _hashPair(node, proof[h]) : _hashPair(proof[h], node);
        }
        return node;
    }

    /// @notice The root of `leaves`: `register` and `refute` check a state's locks against it (and the TypeScript twin
    /// is tested against it).
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        if (n == 0) {
            return bytes32(0);
        }
        uint256 width = 1;
        while (width < n) {
            width <<= 1;
        }
        bytes32[] memory level = new bytes32[](width);
        for (uint256 i = 0; i < n; ++i) {
            level[i] = leaves[i];
        }
        while (width > 1) {
            width >>= 1;
            for (uint256 i = 0; i < width; ++i) {
                level[i] = _hashPair(level[2 * i], level[2 * i + 1]);
            }
        }
        return level[0];
    }

    function _hashPair(bytes32 left, bytes32 right) private pure returns (bytes32 node) {
        // keccak256(abi.encodePacked(left, right)) without the memory expansion of abi.encodePacked.
        assembly ("memory-safe") {
            mstore(0x00, left)
            mstore(0x20, right)
            node := keccak256(0x00, 0x40)
        }
    }
}

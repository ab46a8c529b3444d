// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title MerkleTree
/// @notice Paths in the positional binary Merkle trees of depth 32 of docs/PROTOCOL.md §1.1: the empty leaf is
/// `bytes32(0)`, a node is `keccak(left ‖ right)`, and `siblings[h]` is `node(h, (index >> h) ^ 1)`.
/// @dev Hashing runs in the scratch space (0x00–0x3f) and reads siblings straight from calldata, because the
/// fraud-proof step hashes a few thousand nodes and its witness is tens of kilobytes.
// Bounds read as the spec states them.
// solhint-disable gas-strict-inequalities
library MerkleTree {
    /// @notice The index does not fit in a tree of depth 32.
    /// @param index The offending index.
    error MerkleTreeIndexOutOfRange(uint256 index);

    /// @notice The height is above the root (32).
    /// @param height The offending height.
    error MerkleTreeHeightOutOfRange(uint256 height);

    /// @dev Depth of every tree; a path has this many siblings.
    uint256 internal constant DEPTH = 32;
    /// @dev The largest leaf index, 2^32 − 1.
    uint256 internal constant MAX_INDEX = 2 ** 32 - 1;
    /// @dev Root of the empty tree, `Z[32]`.
    bytes32 internal constant EMPTY_ROOT = 0x27ae5ba08d7291c96c8cbddcc148bf48a6d68c7974b94356f53754ef6171d757;

    /// @notice The root of an empty subtree of the given height: `Z[0] = 0`, `Z[h+1] = keccak(Z[h] ‖ Z[h])`.
    /// @param height 0 (a leaf) to 32 (the root of the empty tree).
    // One case per height.
    // solhint-disable-next-line function-max-lines
    function zero(uint256 height) internal pure returns (bytes32 z) {
        if (height > DEPTH) revert MerkleTreeHeightOutOfRange(height);
        // Precomputed: cheaper than up to 32 hashes and than copying a table into memory.
        assembly ("memory-safe") {
            switch height
            case 0 {
                z := 0
            }
            case 1 {
                z := 0xad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5
            }
            case 2 {
                z := 0xb4c11951957c6f8f642c4af61cd6b24640fec6dc7fc607ee8206a99e92410d30
            }
            case 3 {
                z := 0x21ddb9a356815c3fac1026b6dec5df3124afbadb485c9ba5a3e3398a04b7ba85
            }
            case 4 {
                z := 0xe58769b32a1beaf1ea27375a44095a0d1fb664ce2dd358e7fcbfb78c26a19344
            }
            case 5 {
                z := 0x0eb01ebfc9ed27500cd4dfc979272d1f0913cc9f66540d7e8005811109e1cf2d
            }
            case 6 {
                z := 0x887c22bd8750d34016ac3c66b5ff102dacdd73f6b014e710b51e8022af9a1968
            }
            case 7 {
                z := 0xffd70157e48063fc33c97a050f7f640233bf646cc98d9524c6b92bcf3ab56f83
            }
            case 8 {
                z := 0x9867cc5f7f196b93bae1e27e6320742445d290f2263827498b54fec539f756af
            }
            case 9 {
                z := 0xcefad4e508c098b9a7e1d8feb19955fb02ba9675585078710969d3440f5054e0
            }
            case 10 {
                z := 0xf9dc3e7fe016e050eff260334f18a5d4fe391d82092319f5964f2e2eb7c1c3a5
            }
            case 11 {
                z := 0xf8b13a49e282f609c317a833fb8d976d11517c571d1221a265d25af778ecf892
            }
            case 12 {
                z := 0x3490c6ceeb450aecdc82e28293031d10c7d73bf85e57bf041a97360aa2c5d99c
            }
            case 13 {
                z := 0xc1df82d9c4b87413eae2ef048f94b4d3554cea73d92b0f7af96e0271c691e2bb
            }
            case 14 {
                z := 0x5c67add7c6caf302256adedf7ab114da0acfe870d449a3a489f781d659e8becc
            }
            case 15 {
                z := 0xda7bce9f4e8618b6bd2f4132ce798cdc7a60e7e1460a7299e3c6342a579626d2
            }
            case 16 {
                z := 0x2733e50f526ec2fa19a22b31e8ed50f23cd1fdf94c9154ed3a7609a2f1ff981f
            }
            case 17 {
                z := 0xe1d3b5c807b281e4683cc6d6315cf95b9ade8641defcb32372f1c126e398ef7a
            }
            case 18 {
                z := 0x5a2dce0a8a7f68bb74560f8f71837c2c2ebbcbf7fffb42ae1896f13f7c7479a0
            }
            case 19 {
                z := 0xb46a28b6f55540f89444f63de0378e3d121be09e06cc9ded1c20e65876d36aa0
            }
            case 20 {
                z := 0xc65e9645644786b620e2dd2ad648ddfcbf4a7e5b1a3a4ecfe7f64667a3f0b7e2
            }
            case 21 {
                z := 0xf4418588ed35a2458cffeb39b93d26f18d2ab13bdce6aee58e7b99359ec2dfd9
            }
            case 22 {
                z := 0x5a9c16dc00d6ef18b7933a6f8dc65ccb55667138776f7dea101070dc8796e377
            }
            case 23 {
                z := 0x4df84f40ae0c8229d0d6069e5c8f39a7c299677a09d367fc7b05e3bc380ee652
            }
            case 24 {
                z := 0xcdc72595f74c7b1043d0e1ffbab734648c838dfb0527d971b602bc216c9619ef
            }
            case 25 {
                z := 0x0abf5ac974a1ed57f4050aa510dd9c74f508277b39d7973bb2dfccc5eeb0618d
            }
            case 26 {
                z := 0xb8cd74046ff337f0a7bf2c8e03e10f642c1886798d71806ab1e888d9e5ee87d0
            }
            case 27 {
                z := 0x838c5655cb21c6cb83313b5a631175dff4963772cce9108188b34ac87c81c41e
            }
            case 28 {
                z := 0x662ee4dd2dd7b2bc707961b1e646c4047669dcb6584f0d8d770daf5d7e7deb2e
            }
            case 29 {
                z := 0x388ab20e2573d171a88108e79d820e98f26c0b84aa8b2f4aa4968dbb818ea322
            }
            case 30 {
                z := 0x93237c50ba75ee485f4c22adf2f741400bdf8d6a9cc7df7ecae576221665d735
            }
            case 31 {
                z := 0x8448818bb4ae4562849e949e17ac16e0be16688e156b5cf15e098c627c0056a9
            }
            default {
                z := EMPTY_ROOT
            }
        }
    }

    /// @notice The root of the tree in which leaf `index` is `leaf` and its path is `siblings`.
    /// @dev Reverts with MerkleTreeIndexOutOfRange for an index of 2^32 or more.
    function computeRoot(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings
    ) internal pure returns (bytes32 root) {
        if (index > MAX_INDEX) revert MerkleTreeIndexOutOfRange(index);
        root = _climb(leaf, index, _offset(siblings), 0, DEPTH);
    }

    /// @notice `computeRoot` for a path held in memory.
    function computeRootMemory(
        bytes32 leaf,
        uint256 index,
        bytes32[32] memory siblings
    ) internal pure returns (bytes32 root) {
        if (index > MAX_INDEX) revert MerkleTreeIndexOutOfRange(index);
        assembly ("memory-safe") {
            root := leaf
            for {
                let h := 0
            } lt(h, 32) {
                h := add(h, 1)
            } {
                // The running node goes left (offset 0) when bit h of the index is 0, right otherwise.
                let side := shl(5, and(shr(h, index), 1))
                mstore(side, root)
                mstore(xor(side, 0x20), mload(add(siblings, shl(5, h))))
                root := keccak256(0x00, 0x40)
            }
        }
    }

    /// @notice Whether `siblings` proves `leaf` at `index` under `root`. False for an index of 2^32 or more.
    function verify(
        bytes32 root,
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings
    ) internal pure returns (bool) {
        if (index > MAX_INDEX) return false;
        return _climb(leaf, index, _offset(siblings), 0, DEPTH) == root;
    }

    /// @notice `verify` for a path held in memory.
    function verifyMemory(
        bytes32 root,
        bytes32 leaf,
        uint256 index,
        bytes32[32] memory siblings
    ) internal pure returns (bool) {
        if (index > MAX_INDEX) return false;
        return computeRootMemory(leaf, index, siblings) == root;
    }

    /// @notice The root after writing `leaf` at `index`, and the new `node(height, index >> height)` on its path.
    /// @dev The node is what a second write in the same tree puts in place of its `siblings[height]` when
    /// `height` is the highest bit in which the two indices differ (PROTOCOL §6).
    function computeRootAndNode(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings,
        uint256 height
    ) internal pure returns (bytes32 root, bytes32 node) {
        if (index > MAX_INDEX) revert MerkleTreeIndexOutOfRange(index);
        if (height >= DEPTH) revert MerkleTreeHeightOutOfRange(height);
        uint256 offset = _offset(siblings);
        node = _climb(leaf, index, offset, 0, height);
        root = _climb(node, index, offset, height, DEPTH);
    }

    /// @notice `node(height, index >> height)` of the tree in which leaf `index` is `leaf` and its path `siblings`.
    /// @dev The first of two writes made against one root needs only this node, not its root (PROTOCOL §6).
    function computeNode(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings,
        uint256 height
    ) internal pure returns (bytes32 node) {
        if (index > MAX_INDEX) revert MerkleTreeIndexOutOfRange(index);
        if (height > DEPTH) revert MerkleTreeHeightOutOfRange(height);
        node = _climb(leaf, index, _offset(siblings), 0, height);
    }

    /// @notice The root computed from `leaf` at `index` along `siblings` with `siblings[height]` replaced.
    /// @dev With `replacement` from `computeRootAndNode` this is the second of two writes made against one root.
    function computeRootReplacing(
        bytes32 leaf,
        uint256 index,
        bytes32[32] calldata siblings,
        uint256 height,
        bytes32 replacement
    ) internal pure returns (bytes32 root) {
        if (index > MAX_INDEX) revert MerkleTreeIndexOutOfRange(index);
        if (height >= DEPTH) revert MerkleTreeHeightOutOfRange(height);
        uint256 offset = _offset(siblings);
        bytes32 node = _climb(leaf, index, offset, 0, height);
        assembly ("memory-safe") {
            let side := shl(5, and(shr(height, index), 1))
            mstore(side, node)
            mstore(xor(side, 0x20), replacement)
            node := keccak256(0x00, 0x40)
        }
        root = _climb(node, index, offset, height + 1, DEPTH);
    }

    /// @notice The highest bit in which two distinct indices differ: the one height at which the path of each has
    /// a node of the other's path as its sibling. Meaningless (0) for equal indices.
    function divergenceHeight(uint256 a, uint256 b) internal pure returns (uint256) {
        return Math.log2(a ^ b);
    }

    /// @dev Hashes `node` up from height `from` to height `to` along the calldata path at `siblingsOffset`.
    function _climb(
        bytes32 node,
        uint256 index,
        uint256 siblingsOffset,
        uint256 from,
        uint256 to
    ) private pure returns (bytes32 result) {
        assembly ("memory-safe") {
            result := node
            let bits := shr(from, index)
            let end := add(siblingsOffset, shl(5, to))
            for {
                let p := add(siblingsOffset, shl(5, from))
            } lt(p, end) {
                p := add(p, 0x20)
            } {
                // The running node goes left (offset 0) when the index bit is 0, right otherwise.
                let side := shl(5, and(bits, 1))
                mstore(side, result)
                mstore(xor(side, 0x20), calldataload(p))
                result := keccak256(0x00, 0x40)
                bits := shr(1, bits)
            }
        }
    }

    /// @dev The calldata offset of a path.
    function _offset(bytes32[32] calldata siblings) private pure returns (uint256 offset) {
        assembly ("memory-safe") {
            offset := siblings
        }
    }
}

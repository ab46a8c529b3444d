// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {Account, StateHeader} from "./L2Types.sol";

/// @title StateHashing
/// @notice The leaves of the two L2 trees and the state root (docs/PROTOCOL.md §1). Each is `keccak(abi.encode(...))`
/// of the listed fields, every field widened to its 32-byte ABI word.
/// @dev Hashed in assembly above the free memory pointer (never advanced) so the step executor allocates nothing.
/// Addresses are masked because inline assembly may see dirty upper bits of narrow types.
library StateHashing {
    /// @notice `keccak(abi.encode(owner, uint256 tokenId, balance, uint256 nonce))`, with `blsKeyHash` as a fifth
    /// word when it is not zero (§1.1).
    function accountLeaf(Account memory account) internal pure returns (bytes32) {
        return accountLeaf(account.owner, account.tokenId, account.balance, account.nonce, account.blsKeyHash);
    }

    /// @notice `accountLeaf` from the five fields.
    function accountLeaf(
        address owner,
        uint256 tokenId,
        uint256 balance_,
        uint256 nonce,
        bytes32 blsKeyHash
    ) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, and(owner, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x20), tokenId)
            mstore(add(ptr, 0x40), balance_)
            mstore(add(ptr, 0x60), nonce)
            switch blsKeyHash
            case 0 {
                leaf := keccak256(ptr, 0x80)
            }
            default {
                mstore(add(ptr, 0x80), blsKeyHash)
                leaf := keccak256(ptr, 0xa0)
            }
        }
    }

    /// @notice `keccak(abi.encode(recipient, tokenId, amount))`.
    function withdrawalLeaf(address recipient, uint256 tokenId, uint256 amount) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, and(recipient, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(ptr, 0x20), tokenId)
            mstore(add(ptr, 0x40), amount)
            leaf := keccak256(ptr, 0x60)
        }
    }

    /// @notice `keccak(abi.encode(accountsRoot, uint256(accountCount), withdrawalsRoot, uint256(withdrawalCount)))`.
    function stateRoot(StateHeader memory header) internal pure returns (bytes32) {
        return stateRoot(header.accountsRoot, header.accountCount, header.withdrawalsRoot, header.withdrawalCount);
    }

    /// @notice `stateRoot` from the four fields.
    function stateRoot(
        bytes32 accountsRoot,
        uint256 accountCount,
        bytes32 withdrawalsRoot,
        uint256 withdrawalCount
    ) internal pure returns (bytes32 root) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, accountsRoot)
            mstore(add(ptr, 0x20), accountCount)
            mstore(add(ptr, 0x40), withdrawalsRoot)
            mstore(add(ptr, 0x60), withdrawalCount)
            root := keccak256(ptr, 0x80)
        }
    }
}

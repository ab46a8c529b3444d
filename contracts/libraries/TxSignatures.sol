// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title TxSignatures
/// @notice EIP-712 messages of the L2 transactions (docs/PROTOCOL.md §3.1). The domain is
/// `("bilayer", "1", chainId, RollupInbox)`; `tokenId` and `nonce` are the sender account's, `amount` and `fee` the
/// decoded values.
// EIP-712 type strings are what they are.
// solhint-disable gas-small-strings
library TxSignatures {
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "Transfer(uint32 from,uint32 to,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)"
    );
    bytes32 internal constant WITHDRAW_TYPEHASH = keccak256(
        "Withdraw(uint32 from,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)"
    );
    bytes32 internal constant TRANSFER_TO_NEW_TYPEHASH = keccak256(
        "TransferToNew(uint32 from,address to,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)"
    );
    bytes32 internal constant REGISTER_KEY_TYPEHASH = keccak256(
        "RegisterKey(uint32 from,uint32 tokenId,bytes blsKey,uint256 fee,uint32 nonce)"
    );
    /// @dev Signed with a BLS key, not by a wallet (§3.2).
    bytes32 internal constant BLS_TRANSFER_TYPEHASH = keccak256(
        "BlsTransfer(uint32 from,uint32 to,uint32 tokenId,uint256 amount,uint256 fee,uint32 nonce)"
    );

    /// @notice `hashStruct` of a RegisterKey; `blsKeyHash` is keccak of the key's 96 bytes (EIP-712 `bytes`).
    function registerKeyHash(
        uint32 from,
        uint32 tokenId,
        bytes32 blsKeyHash,
        uint256 fee,
        uint32 nonce
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(REGISTER_KEY_TYPEHASH, from, tokenId, blsKeyHash, fee, nonce));
    }

    /// @notice `hashStruct` of a BLS transfer.
    function blsTransferHash(
        uint32 from,
        uint32 to,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(BLS_TRANSFER_TYPEHASH, from, to, tokenId, amount, fee, nonce));
    }

    /// @notice `hashStruct` of a Transfer.
    function transferHash(
        uint32 from,
        uint32 to,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(TRANSFER_TYPEHASH, from, to, tokenId, amount, fee, nonce));
    }

    /// @notice `hashStruct` of a Withdraw.
    function withdrawHash(
        uint32 from,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(WITHDRAW_TYPEHASH, from, tokenId, amount, fee, nonce));
    }

    /// @notice `hashStruct` of a TransferToNew.
    function transferToNewHash(
        uint32 from,
        address to,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(TRANSFER_TO_NEW_TYPEHASH, from, to, tokenId, amount, fee, nonce));
    }

    /// @notice The EIP-712 digest `keccak(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash)`.
    function digest(bytes32 domainSeparator, bytes32 structHash) internal pure returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
    }

    /// @notice The signer of `digest` under the compact signature `r ‖ vs`, or address(0) when the signature is
    /// invalid: OpenZeppelin's `ECDSA.tryRecover(digest, r, vs)`, which refuses high s and whatever ecrecover
    /// refuses (r or s zero, r ≥ n, no point).
    function recover(bytes32 digest_, bytes32 r, bytes32 vs) internal pure returns (address) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecover(digest_, r, vs);
        if (err != ECDSA.RecoverError.NoError) return address(0);
        return signer;
    }

    /// @notice Whether `r ‖ vs` is a valid signature of `digest` by `owner` (§3.1). Never true for owner 0.
    function isValid(bytes32 digest_, bytes32 r, bytes32 vs, address owner) internal pure returns (bool) {
        address signer = recover(digest_, r, vs);
        return signer != address(0) && signer == owner;
    }
}

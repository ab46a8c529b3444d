// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {StepExecutor} from "../libraries/StepExecutor.sol";
import {StateHashing} from "../libraries/StateHashing.sol";
import {TxSignatures} from "../libraries/TxSignatures.sol";
import {QueueItem, StateHeader, StepWitness} from "../libraries/L2Types.sol";

/// @title StepExecutorHarness
/// @notice Test-only entry points to StepExecutor and TxSignatures. It has its own EIP-712 domain
/// ("bilayer", "1", chain id, this address) so signature tests can sign for it.
contract StepExecutorHarness is EIP712("bilayer", "1") {
    /// @notice Emitted by the measuring twins so a test can read the gas of a real transaction.
    /// @param postRoot The state root after the step.
    /// @param outcomes The step's outcome codes.
    /// @param executionGas Gas spent in the executor and the post-root hash (calldata and dispatch excluded).
    event StepMeasured(bytes32 indexed postRoot, uint8[] outcomes, uint256 executionGas);

    /// @notice This contract's EIP-712 domain separator.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice StepExecutor.executeChunk, with the post root.
    function executeChunk(
        StateHeader calldata pre,
        bytes32 domainSeparator_,
        uint32 feeRecipient,
        bytes calldata chunk,
        StepWitness calldata witness
    ) external view returns (StateHeader memory post, bytes32 postRoot, uint8[] memory outcomes) {
        (post, outcomes) = StepExecutor.executeChunk(pre, domainSeparator_, feeRecipient, chunk, witness);
        postRoot = StateHashing.stateRoot(post);
    }

    /// @notice StepExecutor.executeQueue, with the post root.
    function executeQueue(
        StateHeader calldata pre,
        QueueItem[] calldata items,
        StepWitness calldata witness
    ) external pure returns (StateHeader memory post, bytes32 postRoot, uint8[] memory outcomes) {
        (post, outcomes) = StepExecutor.executeQueue(pre, items, witness);
        postRoot = StateHashing.stateRoot(post);
    }

    /// @notice executeChunk as a transaction, for measuring its gas.
    function measureChunk(
        StateHeader calldata pre,
        bytes32 domainSeparator_,
        uint32 feeRecipient,
        bytes calldata chunk,
        StepWitness calldata witness
    ) external returns (bytes32 postRoot) {
        uint256 gasAtStart = gasleft();
        (StateHeader memory post, uint8[] memory outcomes) = StepExecutor.executeChunk(
            pre,
            domainSeparator_,
            feeRecipient,
            chunk,
            witness
        );
        postRoot = StateHashing.stateRoot(post);
        emit StepMeasured(postRoot, outcomes, gasAtStart - gasleft());
    }

    /// @notice executeQueue as a transaction, for measuring its gas.
    function measureQueue(
        StateHeader calldata pre,
        QueueItem[] calldata items,
        StepWitness calldata witness
    ) external returns (bytes32 postRoot) {
        uint256 gasAtStart = gasleft();
        (StateHeader memory post, uint8[] memory outcomes) = StepExecutor.executeQueue(pre, items, witness);
        postRoot = StateHashing.stateRoot(post);
        emit StepMeasured(postRoot, outcomes, gasAtStart - gasleft());
    }

    /// @notice TxSignatures.recover: the signer, or address(0) for an invalid signature.
    function recoverSigner(bytes32 digest, bytes32 r, bytes32 vs) external pure returns (address) {
        return TxSignatures.recover(digest, r, vs);
    }

    /// @notice TxSignatures.isValid.
    function isValidSignature(bytes32 digest, bytes32 r, bytes32 vs, address owner) external pure returns (bool) {
        return TxSignatures.isValid(digest, r, vs, owner);
    }

    /// @notice The digest of a Transfer under this contract's domain.
    function transferDigest(
        uint32 from,
        uint32 to,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) external view returns (bytes32) {
        return _hashTypedDataV4(TxSignatures.transferHash(from, to, tokenId, amount, fee, nonce));
    }

    /// @notice The digest of a Withdraw under this contract's domain.
    function withdrawDigest(
        uint32 from,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) external view returns (bytes32) {
        return _hashTypedDataV4(TxSignatures.withdrawHash(from, tokenId, amount, fee, nonce));
    }

    /// @notice The digest of a TransferToNew under this contract's domain.
    function transferToNewDigest(
        uint32 from,
        address to,
        uint32 tokenId,
        uint256 amount,
        uint256 fee,
        uint32 nonce
    ) external view returns (bytes32) {
        return _hashTypedDataV4(TxSignatures.transferToNewHash(from, to, tokenId, amount, fee, nonce));
    }

    /// @notice TxSignatures.digest with an explicit domain separator.
    function typedDataDigest(bytes32 domainSeparator_, bytes32 structHash) external pure returns (bytes32) {
        return TxSignatures.digest(domainSeparator_, structHash);
    }
}

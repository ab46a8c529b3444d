// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Bounds and deadlines read naturally as `>=` / `<=`; the gas rule does not apply to them.
// solhint-disable gas-strict-inequalities

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IBridge} from "../interfaces/IBridge.sol";
import {IStateCommitmentChain} from "../interfaces/IStateCommitmentChain.sol";
import {QUEUE_DEPOSIT, QUEUE_FORCED_EXIT, QueueItem, StateHeader} from "../libraries/L2Types.sol";
import {MerkleTree} from "../libraries/MerkleTree.sol";
import {QueueLib} from "../libraries/QueueLib.sol";
import {StateHashing} from "../libraries/StateHashing.sol";

/// @title Bridge
/// @notice The rollup's escrow and its L1→L2 queue (docs/PROTOCOL.md §4, §7.1).
/// @dev Holds exactly the L2 balances plus the unclaimed withdrawals of the latest final state (plus deposits
/// not yet applied); `outstanding(tokenId)` counts it per token. It has no receive function: ETH only enters through `depositEth`.
contract Bridge is IBridge, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @dev §1.2: what the bridge holds of a token (deposits minus claims) never exceeds this, so no L2 balance or sum
    /// of balances overflows.
    uint256 internal constant MAX_OUTSTANDING = 2 ** 128 - 1;

    /// @inheritdoc IBridge
    address public immutable STATE_COMMITMENT_CHAIN;

    /// @dev `_accumulators[i]` is `acc[i + 1]`, the accumulator after item `i`.
    bytes32[] private _accumulators;
    /// @dev `_timestamps[i]` is the block timestamp at which item `i` was queued.
    uint64[] private _timestamps;

    /// @inheritdoc IBridge
    uint32 public tokenCount;
    mapping(address token => uint32 tokenId) private _tokenIds;
    mapping(uint32 tokenId => address token) private _tokens;
    mapping(uint32 tokenId => uint256 amount) private _outstanding;
    /// @dev Bit `i % 256` of word `i / 256` is set once withdrawal `i` has been paid.
    mapping(uint256 word => uint256 bits) private _claimed;

    /// @param stateCommitmentChain The StateCommitmentChain whose final roots back withdrawals.
    constructor(address stateCommitmentChain) {
        STATE_COMMITMENT_CHAIN = stateCommitmentChain;
    }

    /// @inheritdoc IBridge
    function registerToken(address token) external returns (uint32 tokenId) {
        uint32 existing = _tokenIds[token];
        if (existing != 0) revert BridgeTokenAlreadyRegistered(token, existing);
        if (token.code.length == 0) revert BridgeTokenNotContract(token);
        // Checked arithmetic: registration stops (panics) at 2^32 − 1 tokens.
        tokenId = ++tokenCount;
        _tokenIds[token] = tokenId;
        _tokens[tokenId] = token;
        emit TokenRegistered(token, tokenId);
    }

    /// @inheritdoc IBridge
    function depositEth(address recipient, uint32 accountHint) external payable {
        _deposit(recipient, 0, msg.value, accountHint);
    }

    /// @inheritdoc IBridge
    function depositToken(address token, uint256 amount, address recipient, uint32 accountHint) external nonReentrant {
        uint32 tokenId = _tokenIds[token];
        if (tokenId == 0) revert BridgeTokenNotRegistered(token);
        // Credit what arrived, not what was asked: a fee-on-transfer or rebasing token cannot inflate L2.
        uint256 balanceBefore = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - balanceBefore;
        _deposit(recipient, tokenId, received, accountHint);
    }

    /// @inheritdoc IBridge
    function requestForcedExit(uint32 account) external {
        if (account == 0) revert BridgeInvalidAccount();
        _enqueue(QUEUE_FORCED_EXIT, msg.sender, 0, 0, account);
    }

    /// @inheritdoc IBridge
    function claimWithdrawal(
        uint256 batchIndex,
        StateHeader calldata header,
        uint256 withdrawalIndex,
        address recipient,
        uint32 tokenId,
        uint256 amount,
        bytes32[32] calldata siblings
    ) external nonReentrant {
        _verifyWithdrawal(batchIndex, header, withdrawalIndex, recipient, tokenId, amount, siblings);
        _markClaimed(withdrawalIndex);
        address token = _tokens[tokenId];
        if (tokenId != 0 && token == address(0)) revert BridgeUnknownTokenId(tokenId);
        uint256 held = _outstanding[tokenId];
        if (amount > held) revert BridgeClaimExceedsOutstanding(tokenId, amount, held);
        _outstanding[tokenId] = held - amount;
        emit WithdrawalClaimed(withdrawalIndex, recipient, tokenId, amount, batchIndex);

        if (tokenId == 0) {
            (bool ok, ) = recipient.call{value: amount}("");
            if (!ok) revert BridgeEthTransferFailed(recipient, amount);
        } else {
            IERC20(token).safeTransfer(recipient, amount);
        }
    }

    /// @inheritdoc IBridge
    function queueLength() external view returns (uint256) {
        return _accumulators.length;
    }

    /// @inheritdoc IBridge
    function queueAccumulator(uint256 index) external view returns (bytes32) {
        uint256 length = _accumulators.length;
        if (index > length) revert BridgeQueueIndexOutOfRange(index, length);
        return index == 0 ? bytes32(0) : _accumulators[index - 1];
    }

    /// @inheritdoc IBridge
    function queueTimestamp(uint256 index) external view returns (uint64) {
        uint256 length = _timestamps.length;
        if (index >= length) revert BridgeQueueIndexOutOfRange(index, length);
        return _timestamps[index];
    }

    /// @inheritdoc IBridge
    function tokenIdOf(address token) external view returns (uint32) {
        return _tokenIds[token];
    }

    /// @inheritdoc IBridge
    function tokenOf(uint32 tokenId) external view returns (address) {
        return _tokens[tokenId];
    }

    /// @inheritdoc IBridge
    function outstanding(uint32 tokenId) external view returns (uint256) {
        return _outstanding[tokenId];
    }

    /// @inheritdoc IBridge
    function isClaimed(uint256 withdrawalIndex) external view returns (bool) {
        return _claimed[withdrawalIndex >> 8] & (1 << (withdrawalIndex & 0xff)) != 0;
    }

    /// @dev Checks that the withdrawal is leaf `withdrawalIndex` of the withdrawal tree of a final state.
    function _verifyWithdrawal(
        uint256 batchIndex,
        StateHeader calldata header,
        uint256 withdrawalIndex,
        address recipient,
        uint32 tokenId,
        uint256 amount,
        bytes32[32] calldata siblings
    ) private view {
        IStateCommitmentChain chain = IStateCommitmentChain(STATE_COMMITMENT_CHAIN);
        if (!chain.isFinal(batchIndex)) revert BridgeBatchNotFinal(batchIndex);
        bytes32 finalRoot = chain.stateRoot(batchIndex);
        bytes32 headerRoot = StateHashing.stateRoot(header);
        if (headerRoot != finalRoot) revert BridgeStateRootMismatch(batchIndex, finalRoot, headerRoot);
        if (withdrawalIndex >= header.withdrawalCount) {
            revert BridgeWithdrawalIndexOutOfRange(withdrawalIndex, header.withdrawalCount);
        }
        bytes32 leaf = StateHashing.withdrawalLeaf(recipient, tokenId, amount);
        if (!MerkleTree.verify(header.withdrawalsRoot, leaf, withdrawalIndex, siblings)) {
            revert BridgeInvalidWithdrawalProof(withdrawalIndex, leaf);
        }
    }

    /// @dev Marks withdrawal `withdrawalIndex` paid, or reverts if it was.
    function _markClaimed(uint256 withdrawalIndex) private {
        uint256 word = withdrawalIndex >> 8;
        uint256 bit = 1 << (withdrawalIndex & 0xff);
        uint256 bits = _claimed[word];
        if (bits & bit != 0) revert BridgeWithdrawalAlreadyClaimed(withdrawalIndex);
        _claimed[word] = bits | bit;
    }

    /// @dev Checks and records a deposit of `amount` (already received) and queues it.
    function _deposit(address recipient, uint32 tokenId, uint256 amount, uint32 accountHint) private {
        if (recipient == address(0)) revert BridgeInvalidRecipient();
        if (amount == 0) revert BridgeZeroDeposit();
        uint256 held = _outstanding[tokenId];
        if (amount > MAX_OUTSTANDING - held) revert BridgeDepositCapExceeded(tokenId, held, amount);
        _outstanding[tokenId] = held + amount;
        _enqueue(QUEUE_DEPOSIT, recipient, tokenId, amount, accountHint);
    }

    /// @dev Appends an item stamped with the current block's timestamp and records the new accumulator.
    function _enqueue(uint8 kind, address addr, uint32 tokenId, uint256 amount, uint32 account) private {
        uint256 index = _accumulators.length;
        uint64 timestamp = uint64(block.timestamp);
        QueueItem memory item = QueueItem(kind, addr, tokenId, amount, account, timestamp);
        bytes32 previous = index == 0 ? bytes32(0) : _accumulators[index - 1];
        bytes32 accumulator = QueueLib.chain(previous, QueueLib.itemHash(item));
        _accumulators.push(accumulator);
        _timestamps.push(timestamp);
        emit QueueItemAppended(index, kind, addr, tokenId, amount, account, timestamp, accumulator);
    }
}

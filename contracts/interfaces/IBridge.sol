// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {StateHeader} from "../libraries/L2Types.sol";

/// @title IBridge
/// @notice The rollup's L1 escrow: deposits of ETH and registered ERC-20 tokens and forced exits, each appended to
/// the hash-chained, timestamped L1→L2 queue (docs/PROTOCOL.md §4, §7.1); withdrawal claims against final state
/// roots of the StateCommitmentChain.
interface IBridge {
    /// @notice A token was registered and given an L2 token id.
    /// @param token The ERC-20 contract.
    /// @param tokenId Its L2 token id (1, 2, ... in registration order; 0 is ETH).
    event TokenRegistered(address indexed token, uint32 indexed tokenId);

    /// @notice An item was appended to the L1→L2 queue. Together these events are the whole queue.
    /// @param index The item's position in the queue (0-based).
    /// @param kind 0 = deposit, 1 = forced exit.
    /// @param addr Deposit: the L2 recipient; forced exit: the L1 sender.
    /// @param tokenId Deposit: the token id; forced exit: 0.
    /// @param amount Deposit: the amount credited (what the bridge received); forced exit: 0.
    /// @param account Deposit: the account hint; forced exit: the account to exit.
    /// @param timestamp The block timestamp at which the item was queued.
    /// @param accumulator The queue accumulator after this item, `acc[index + 1]`.
    event QueueItemAppended(
        uint256 indexed index,
        uint8 indexed kind,
        address indexed addr,
        uint32 tokenId,
        uint256 amount,
        uint32 account,
        uint64 timestamp,
        bytes32 accumulator
    );

    /// @notice A withdrawal was paid.
    /// @param withdrawalIndex Its index in the L2 withdrawal tree.
    /// @param recipient Who was paid.
    /// @param tokenId The token id paid (0 = ETH).
    /// @param amount The amount paid.
    /// @param batchIndex The final batch whose state root proved the withdrawal.
    event WithdrawalClaimed(
        uint256 indexed withdrawalIndex,
        address indexed recipient,
        uint32 indexed tokenId,
        uint256 amount,
        uint256 batchIndex
    );

    /// @notice The token is already registered.
    /// @param token The token.
    /// @param tokenId Its existing token id.
    error BridgeTokenAlreadyRegistered(address token, uint32 tokenId);

    /// @notice The address has no code, so it cannot be an ERC-20 token.
    /// @param token The address.
    error BridgeTokenNotContract(address token);

    /// @notice The token has not been registered.
    /// @param token The token.
    error BridgeTokenNotRegistered(address token);

    /// @notice A deposit of nothing (for a token: the bridge's balance did not grow).
    error BridgeZeroDeposit();

    /// @notice A deposit to the zero address, which no key controls on L2.
    error BridgeInvalidRecipient();

    /// @notice The deposit would raise what the bridge holds of the token (deposits minus claims) above 2^128 − 1
    /// (§1.2).
    /// @param tokenId The token id.
    /// @param outstanding What the bridge holds of the token before this deposit.
    /// @param amount The amount of this deposit.
    error BridgeDepositCapExceeded(uint32 tokenId, uint256 outstanding, uint256 amount);

    /// @notice A claim of more than the bridge holds of the token: more than was ever deposited and not yet claimed,
    /// which only a wrong state that became final can ask for.
    /// @param tokenId The token id.
    /// @param amount The amount claimed.
    /// @param outstanding What the bridge holds of the token.
    error BridgeClaimExceedsOutstanding(uint32 tokenId, uint256 amount, uint256 outstanding);

    /// @notice A forced exit of account 0, which never exists.
    error BridgeInvalidAccount();

    /// @notice The queue position is past the end of the queue.
    /// @param index The position asked for.
    /// @param length The queue's length.
    error BridgeQueueIndexOutOfRange(uint256 index, uint256 length);

    /// @notice The batch's proposal is not final (missing, in its challenge window, or rolled back).
    /// @param batchIndex The batch.
    error BridgeBatchNotFinal(uint256 batchIndex);

    /// @notice The state header does not hash to the batch's final state root.
    /// @param batchIndex The batch.
    /// @param finalRoot The batch's final state root.
    /// @param headerRoot The root of the header given.
    error BridgeStateRootMismatch(uint256 batchIndex, bytes32 finalRoot, bytes32 headerRoot);

    /// @notice The withdrawal index is not below the header's withdrawal count.
    /// @param withdrawalIndex The index given.
    /// @param withdrawalCount The header's withdrawal count.
    error BridgeWithdrawalIndexOutOfRange(uint256 withdrawalIndex, uint256 withdrawalCount);

    /// @notice The path does not prove the withdrawal leaf under the header's withdrawals root.
    /// @param withdrawalIndex The index given.
    /// @param leaf The withdrawal leaf of (recipient, tokenId, amount).
    error BridgeInvalidWithdrawalProof(uint256 withdrawalIndex, bytes32 leaf);

    /// @notice The withdrawal has already been paid.
    /// @param withdrawalIndex The index.
    error BridgeWithdrawalAlreadyClaimed(uint256 withdrawalIndex);

    /// @notice The withdrawal's token id was never registered (only a wrong state can hold one).
    /// @param tokenId The token id.
    error BridgeUnknownTokenId(uint32 tokenId);

    /// @notice The ETH payment to the recipient failed.
    /// @param recipient The recipient.
    /// @param amount The amount.
    error BridgeEthTransferFailed(address recipient, uint256 amount);

    /// @notice Registers an ERC-20 token, permissionlessly, and gives it the next token id.
    /// @param token The token contract.
    /// @return tokenId The new token id.
    function registerToken(address token) external returns (uint32 tokenId);

    /// @notice Deposits `msg.value` wei to `recipient` on L2 (queue item kind 0, token id 0).
    /// @param recipient The L2 owner to credit.
    /// @param accountHint An account of `recipient` holding ETH to credit, or 0 to create a new account.
    function depositEth(address recipient, uint32 accountHint) external payable;

    /// @notice Deposits `amount` of a registered token, pulled from the caller; the L2 credit is what the bridge's
    /// balance actually grew by (so fee-on-transfer tokens are credited net).
    /// @param token The registered token.
    /// @param amount The amount to pull from the caller (needs an allowance).
    /// @param recipient The L2 owner to credit.
    /// @param accountHint An account of `recipient` holding this token, or 0 to create a new account.
    function depositToken(address token, uint256 amount, address recipient, uint32 accountHint) external;

    /// @notice Queues a forced exit of `account` (queue item kind 1): if `msg.sender` owns it on L2, its whole
    /// balance becomes a withdrawal when the item is applied.
    /// @param account The L2 account index.
    function requestForcedExit(uint32 account) external;

    /// @notice Pays withdrawal `withdrawalIndex` of the state of a final batch to its recipient, once. Anyone may
    /// call it; the funds always go to `recipient`.
    /// @param batchIndex A batch whose proposal is final.
    /// @param header The four fields of that batch's final state (they must hash to its state root).
    /// @param withdrawalIndex The withdrawal's index in the withdrawal tree.
    /// @param recipient The withdrawal's recipient.
    /// @param tokenId The withdrawal's token id.
    /// @param amount The withdrawal's amount.
    /// @param siblings The withdrawal leaf's path in `header.withdrawalsRoot`.
    function claimWithdrawal(
        uint256 batchIndex,
        StateHeader calldata header,
        uint256 withdrawalIndex,
        address recipient,
        uint32 tokenId,
        uint256 amount,
        bytes32[32] calldata siblings
    ) external;

    /// @notice The number of items ever queued.
    function queueLength() external view returns (uint256);

    /// @notice The accumulator `acc[index]` after the first `index` items; `acc[0] = 0`.
    /// @param index 0 to `queueLength()`.
    function queueAccumulator(uint256 index) external view returns (bytes32);

    /// @notice The block timestamp at which item `index` was queued.
    /// @param index 0 to `queueLength() - 1`.
    function queueTimestamp(uint256 index) external view returns (uint64);

    /// @notice The token id of a registered token, 0 if it is not registered.
    function tokenIdOf(address token) external view returns (uint32);

    /// @notice The token of a token id, address(0) for ETH (id 0) and for ids not assigned.
    function tokenOf(uint32 tokenId) external view returns (address);

    /// @notice The number of registered ERC-20 tokens (the highest token id).
    function tokenCount() external view returns (uint32);

    /// @notice What the bridge holds of a token id for L2: every deposit credited minus every claim paid (at most
    /// 2^128 − 1, §1.2).
    function outstanding(uint32 tokenId) external view returns (uint256);

    /// @notice Whether withdrawal `withdrawalIndex` has been paid.
    function isClaimed(uint256 withdrawalIndex) external view returns (bool);

    /// @notice The StateCommitmentChain whose final roots back withdrawals.
    // solhint-disable-next-line func-name-mixedcase
    function STATE_COMMITMENT_CHAIN() external view returns (address);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

// Types and constants of the L2 protocol (docs/PROTOCOL.md §1–§6). The TypeScript twin is `src/protocol/`.

/// @notice The four fields whose hash is the L2 state root (§1).
// Field order is the ABI of the spec, hashed and passed, never stored.
// solhint-disable-next-line gas-struct-packing
struct StateHeader {
    bytes32 accountsRoot;
    uint32 accountCount;
    bytes32 withdrawalsRoot;
    uint64 withdrawalCount;
}

/// @notice An L1→L2 queue item (§4). `kind` is QUEUE_DEPOSIT or QUEUE_FORCED_EXIT.
struct QueueItem {
    uint8 kind;
    address addr;
    uint32 tokenId;
    uint256 amount;
    uint32 account;
    uint64 timestamp;
}

/// @notice The fields of an account leaf (§1.1). All zero in a witness entry for an empty slot.
// Field order is the ABI of the spec, hashed and passed, never stored.
// solhint-disable-next-line gas-struct-packing
struct Account {
    address owner;
    uint32 tokenId;
    uint256 balance;
    uint32 nonce;
    /// @dev keccak of the account's BLS key (x ‖ y, 96 bytes), or zero for an account without one (§1.1).
    bytes32 blsKeyHash;
}

/// @notice One account read of a step: the account's fields and the path of its index (§6).
struct AccountWitness {
    Account account;
    bytes32[32] siblings;
}

/// @notice Everything a step reads from the two trees, in the order it reads it (§6), and for a BLS chunk step the
/// keys of its applied transfers' senders and its aggregate signature decompressed (or proven to name no point).
struct StepWitness {
    AccountWitness[] accounts;
    bytes32[32][] withdrawals;
    bytes blsKeys;
    bytes blsSignature;
}

/// @dev Depth of the account tree and of the withdrawal tree.
uint256 constant TREE_DEPTH = 32;
/// @dev Highest account index; the account tree is full when `accountCount` equals it.
uint256 constant MAX_ACCOUNT_INDEX = 2 ** 32 - 1;
/// @dev Number of withdrawal slots; the withdrawal tree is full when `withdrawalCount` equals it.
uint256 constant MAX_WITHDRAWALS = 2 ** 32;
/// @dev A sender whose nonce equals this can no longer send.
uint256 constant MAX_NONCE = 2 ** 32 - 1;

/// @dev At most this many transactions of a chunk are read (§5.2).
uint256 constant MAX_TXS_PER_CHUNK = 32;
/// @dev A queue step holds at most this many items (§5).
uint256 constant MAX_QUEUE_ITEMS_PER_STEP = 32;
/// @dev 32 transactions of the largest type (a BLS chunk is shorter); the inbox refuses longer chunks.
uint256 constant MAX_CHUNK_BYTES = 5344;

// Transaction type bytes and sizes (§3).
uint8 constant TX_TRANSFER = 0x01;
uint8 constant TX_WITHDRAW = 0x02;
uint8 constant TX_TRANSFER_TO_NEW = 0x03;
uint8 constant TX_REGISTER_KEY = 0x04;
uint256 constant TX_TRANSFER_SIZE = 80;
uint256 constant TX_WITHDRAW_SIZE = 76;
uint256 constant TX_TRANSFER_TO_NEW_SIZE = 96;
uint256 constant TX_REGISTER_KEY_SIZE = 167;
/// @dev A RegisterKey's key: x ‖ y of a G1 point, 48 bytes each.
uint256 constant BLS_KEY_BYTES = 96;

// BLS chunks (§5.4): marker ‖ index width u8 ‖ fee 2 ‖ aggregate signature 96, then transfers of 2·width + 2 bytes.
uint8 constant BLS_CHUNK_MARKER = 0x10;
uint256 constant BLS_CHUNK_HEADER_BYTES = 100;
/// @dev A BLS chunk step reads at most this many transfers (§5.4).
uint256 constant MAX_BLS_TRANSFERS_PER_CHUNK = 40;
uint256 constant BLS_MIN_INDEX_WIDTH = 1;
uint256 constant BLS_MAX_INDEX_WIDTH = 4;

// Queue item kinds (§4).
uint8 constant QUEUE_DEPOSIT = 0;
uint8 constant QUEUE_FORCED_EXIT = 1;

// Outcome codes (§5.3).
uint8 constant OUTCOME_APPLIED = 0;
uint8 constant OUTCOME_UNKNOWN_TYPE = 1;
uint8 constant OUTCOME_TRUNCATED = 2;
uint8 constant OUTCOME_SENDER_MISSING = 3;
uint8 constant OUTCOME_RECIPIENT_MISSING = 4;
uint8 constant OUTCOME_INVALID_RECIPIENT = 5;
uint8 constant OUTCOME_ACCOUNT_LIMIT = 6;
uint8 constant OUTCOME_TOKEN_MISMATCH = 7;
uint8 constant OUTCOME_FEE_RECIPIENT_MISMATCH = 8;
uint8 constant OUTCOME_INSUFFICIENT_BALANCE = 9;
uint8 constant OUTCOME_NONCE_EXHAUSTED = 10;
uint8 constant OUTCOME_WITHDRAWAL_LIMIT = 11;
uint8 constant OUTCOME_BAD_SIGNATURE = 12;
uint8 constant OUTCOME_TRAILING = 13;
uint8 constant OUTCOME_BAD_KEY = 14;
uint8 constant OUTCOME_KEY_MISSING = 15;
uint8 constant OUTCOME_CREDITED = 20;
uint8 constant OUTCOME_CREATED = 21;
uint8 constant OUTCOME_REFUNDED = 22;
uint8 constant OUTCOME_DROPPED = 23;
uint8 constant OUTCOME_EXITED = 24;
uint8 constant OUTCOME_ACCOUNT_MISSING = 25;
uint8 constant OUTCOME_NOT_OWNER = 26;
uint8 constant OUTCOME_EMPTY_BALANCE = 27;
uint8 constant OUTCOME_UNKNOWN_KIND = 28;

/// @notice A decoded L2 transaction (§3). `to` is set for a Transfer, `toAddress` for a TransferToNew, `keyAt` (the
/// calldata position of its 96-byte key) for a RegisterKey; `amount` and `fee` are the unpacked values; `r ‖ vs` is
/// the EIP-2098 compact signature.
struct L2Tx {
    uint8 txType;
    uint32 from;
    uint32 to;
    address toAddress;
    uint256 amount;
    uint256 fee;
    bytes32 r;
    bytes32 vs;
    uint256 keyAt;
}

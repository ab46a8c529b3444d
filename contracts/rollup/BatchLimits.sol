// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {MAX_QUEUE_ITEMS_PER_STEP} from "../libraries/L2Types.sol";

// The limits of a batch (docs/PROTOCOL.md §7.2), sized so that every `appendBatch` the inbox accepts is a
// transaction a public mempool relays. The TypeScript twin is `src/l1/batch.ts`.

/// @dev geth, reth and Nethermind drop a non-blob transaction larger than this, serialized.
uint256 constant MAX_L1_TX_BYTES = 131_072;
/// @dev The most a signed EIP-1559 transaction adds to its calldata: type byte, list header (4), chain id and nonce
/// (9 each), both fee caps at full width (33 each), gas limit (5), `to` (21), value 0 (1), data header (4), empty
/// access list (1), y parity (1), r and s (33 each).
uint256 constant L1_TX_ENVELOPE_BYTES = 188;
/// @dev `appendBatch(bytes[],uint256,uint32)` calldata around its chunks: selector, three head words, array length.
uint256 constant APPEND_BATCH_HEAD_BYTES = 4 + 4 * 32;
/// @dev What each chunk adds to that calldata besides its bytes: its offset, its length, at most 31 bytes of padding.
uint256 constant APPEND_BATCH_BYTES_PER_CHUNK = 2 * 32 + 31;

/// @dev Most chunk bytes in one batch (OP's batcher caps calldata batches at 120,000 bytes too).
uint256 constant MAX_BATCH_BYTES = 120_000;
/// @dev Most chunks in one batch: as many as still fit the mempool limit with `MAX_BATCH_BYTES` of chunk data, each
/// chunk padded as badly as it can be (113).
uint256 constant MAX_CHUNKS_PER_BATCH =
    (MAX_L1_TX_BYTES - L1_TX_ENVELOPE_BYTES - APPEND_BATCH_HEAD_BYTES - MAX_BATCH_BYTES) / APPEND_BATCH_BYTES_PER_CHUNK;
/// @dev Most queue items one batch consumes (32 queue steps).
uint256 constant MAX_QUEUE_ITEMS_PER_BATCH = 32 * MAX_QUEUE_ITEMS_PER_STEP;

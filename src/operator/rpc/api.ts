import { getAddress } from "ethers";
import { MAX_TX_SIZE, TxType, unreachableTxType } from "../../protocol/constants";
import { encodeTx, type L2Tx } from "../../protocol/codec";
import { BilayerError } from "../../protocol/errors";
import { SECP256K1_HALF_N, toCompactSignature } from "../../protocol/signature";
import { toHex } from "../../protocol/hash";
import { invalidParams, RpcCode, RpcError, type RpcCodeValue } from "../errors";
import { RefusedError, type Refusal } from "../refusals";
import type { ProvenLie } from "../driver";
import type { HealthReport } from "../health";
import type { BatchRecord } from "../records";
import type { Prechecked } from "../presign";
import { encodeBlsEnvelope } from "../../protocol/bls-chunk";
import { floorToPackableFee, isPackableFee } from "../../protocol/packing";
import type { Sequencer } from "../sequencer";
import {
  parseAddress,
  parseAmount,
  parseHash,
  parseHexBytes,
  parseOptionalUint,
  parseUint,
  readParams,
  requireNoParams,
} from "./params";
import type { CallContext, RpcHandler, RpcParams } from "../../common/json-rpc-server";
import { accountView, withdrawalProofView, withdrawalStatus, withdrawalView, type AccountJsonView } from "./views";

/** What the L1 side reports for `l2_getStatus`. */
export interface L1Status {
  chainId: string;
  contracts: { bridge: string; rollupInbox: string; stateCommitmentChain: string };
  sequencer: string;
  l1Block: number;
  /** Batches appended to the inbox, with a live proposal, final. */
  heads: { appended: number; proposed: number; final: number };
  /** Each proposal not yet final, with the timestamp from which it is. */
  openProposals: { batchIndex: number; deadline: number }[];
  /** The proposer's side: bonds of this operator the chain holds, and the lies it found in live proposals and proved. */
  proposer: { bondsHeld: number; liesProven: ProvenLie[] };
  /** Unconfirmed L1 transactions of the operator. */
  inFlight: { nonce: number; purpose: string; hash: string }[];
  /** What `/health` says, with everything it is judged from. */
  health?: HealthReport;
}

/** The source of everything the API serves. */
export interface ApiBackend {
  sequencer: Sequencer;
  l1Status(): L1Status;
  /** Whether the bridge has paid withdrawal `index` (for `l2_getWithdrawals`' statuses; false when L1 cannot say). */
  isClaimed?(index: number): Promise<boolean>;
}

/** `l2_getAccount` of an account that exists. */
function accountJson(seq: Sequencer, index: number): AccountJsonView {
  const a = seq.getAccount(index) as NonNullable<ReturnType<Sequencer["getAccount"]>>;
  return accountView(index, a, a.waitingNonces);
}

/** The largest packed transaction, with a little slack for a future type. */
const MAX_TX_BYTES = MAX_TX_SIZE;

const TYPE_NAMES: Readonly<Record<string, TxType>> = {
  transfer: TxType.Transfer,
  withdraw: TxType.Withdraw,
  transfertonew: TxType.TransferToNew,
  registerkey: TxType.RegisterKey,
  "1": TxType.Transfer,
  "2": TxType.Withdraw,
  "3": TxType.TransferToNew,
  "4": TxType.RegisterKey,
};

/** A typed transaction (`{ type, from, to, amount, fee, signature, nonce? }`) as packed bytes. */
function encodeTyped(value: Record<string, unknown>): { bytes: Uint8Array; nonce: number | undefined } {
  for (const key of Object.keys(value)) {
    if (!["type", "from", "to", "amount", "fee", "blsKey", "signature", "nonce"].includes(key)) {
      throw invalidParams(`invalid params: unknown transaction field "${key}"`);
    }
  }
  if (String(value.type).toLowerCase() === "blstransfer") return encodeBlsTyped(value);
  const type = TYPE_NAMES[String(value.type).toLowerCase()];
  if (type === undefined) {
    throw invalidParams(
      'invalid params: tx.type must be "transfer", "withdraw", "transferToNew", "registerKey" or "blsTransfer"',
    );
  }
  const from = parseUint(value.from, "tx.from");
  const amount = type === TxType.RegisterKey ? 0n : parseAmount(value.amount, "tx.amount");
  const fee = value.fee === undefined ? 0n : parseAmount(value.fee, "tx.fee");
  const nonce = parseOptionalUint(value.nonce, "tx.nonce");
  if (typeof value.signature !== "string")
    throw invalidParams("invalid params: tx.signature must be a hex string", { param: "tx.signature" });
  const sigBytes = parseHexBytes(value.signature, "tx.signature", 65, 64);
  let signature = value.signature.toLowerCase();
  if (sigBytes.length === 65) {
    // A high-s signature is valid for ecrecover but not for the protocol (§3.1: s ≤ n/2, as EIP-2 asks).
    if (BigInt(toHex(sigBytes.subarray(32, 64))) > SECP256K1_HALF_N) {
      throw new RpcError(
        RpcCode.BadSignature,
        "bad signature: s > n/2 (a high-s signature); the protocol takes only low-s signatures, as wallets make them",
        { param: "tx.signature" },
      );
    }
    try {
      signature = toCompactSignature(value.signature);
    } catch (err) {
      throw invalidParams(`invalid params: tx.signature: ${(err as Error).message}`, { param: "tx.signature" });
    }
  }
  let tx: L2Tx;
  switch (type) {
    case TxType.Transfer:
      tx = { type, from, to: parseUint(value.to, "tx.to"), amount, fee, signature };
      break;
    case TxType.Withdraw:
      if (value.to !== undefined)
        throw invalidParams("invalid params: a withdrawal has no tx.to (it pays the owner's L1 address)");
      tx = { type, from, amount, fee, signature };
      break;
    case TxType.TransferToNew:
      tx = { type, from, to: parseAddress(value.to, "tx.to"), amount, fee, signature };
      break;
    case TxType.RegisterKey:
      if (value.to !== undefined || value.amount !== undefined)
        throw invalidParams("invalid params: a key registration has no tx.to and no tx.amount");
      tx = { type, from, fee, blsKey: toHex(parseHexBytes(value.blsKey, "tx.blsKey", 96, 96)), signature };
      break;
    default:
      return unreachableTxType(type);
  }
  return { bytes: encodeTx(tx), nonce };
}

/**
 * A typed BLS transfer (`{ type: "blsTransfer", from, to, amount, fee, signature, nonce? }`, the signature 96
 * bytes compressed) as its envelope (`../../protocol/bls-chunk.ts`). Its amount and fee must each pack exactly
 * into 16 bits (PROTOCOL.md §5.4).
 */
function encodeBlsTyped(value: Record<string, unknown>): { bytes: Uint8Array; nonce: number | undefined } {
  if (value.blsKey !== undefined) throw invalidParams("invalid params: a BLS transfer has no tx.blsKey");
  const from = parseUint(value.from, "tx.from");
  const to = parseUint(value.to, "tx.to");
  const amount = parseAmount(value.amount, "tx.amount");
  const fee = value.fee === undefined ? 0n : parseAmount(value.fee, "tx.fee");
  const nonce = parseOptionalUint(value.nonce, "tx.nonce");
  const signature = parseHexBytes(value.signature, "tx.signature", 96, 96);
  for (const [name, v] of [
    ["tx.amount", amount],
    ["tx.fee", fee],
  ] as const) {
    if (!isPackableFee(v)) {
      throw invalidParams(
        `invalid params: ${name} ${v} does not pack into a BLS transfer's 16 bits (11-bit mantissa, power of ten); the nearest below is ${floorToPackableFee(v)}`,
        { param: name },
      );
    }
  }
  return { bytes: encodeBlsEnvelope({ from, to, amount, fee, signature }), nonce };
}

/**
 * The packed transaction and the optional nonce of `l2_sendTransaction`'s
 * params (`[tx, nonce?]` or `{ tx, nonce? }`, `tx` packed hex or typed
 * fields). Throws the API's error for anything malformed.
 */
export function parseSendTransaction(params: RpcParams): { bytes: Uint8Array; nonce: number | undefined } {
  const p = readParams(params, ["tx", "nonce"]);
  let nonce = parseOptionalUint(p.nonce, "nonce");
  if (typeof p.tx === "string") return { bytes: parseHexBytes(p.tx, "tx", MAX_TX_BYTES, 1), nonce };
  if (typeof p.tx === "object" && p.tx !== null && !Array.isArray(p.tx)) {
    const typed = encodeTyped(p.tx as Record<string, unknown>);
    if (typed.nonce !== undefined && nonce !== undefined && typed.nonce !== nonce) {
      throw invalidParams("invalid params: tx.nonce and nonce differ");
    }
    nonce ??= typed.nonce;
    return { bytes: typed.bytes, nonce };
  }
  throw invalidParams("invalid params: tx must be the packed transaction (0x hex) or an object with its fields", {
    param: "tx",
  });
}

function batchJson(b: BatchRecord, seq: Sequencer): Record<string, unknown> {
  const heads = seq.l1Heads;
  const status =
    b.index < heads.final
      ? "final"
      : b.index < heads.proposed
        ? "proposed"
        : b.index < heads.appended
          ? "appended"
          : "closed";
  return {
    index: b.index,
    status,
    queueStart: String(b.queueStart),
    queueEnd: String(b.queueEnd),
    firstSeq: b.firstSeq,
    transactionCount: b.endSeq - b.firstSeq,
    chunkCount: b.chunkEnds.length,
    stepCount: b.stepRoots.length,
    stepRoots: b.stepRoots,
    stateRoot: b.stepRoots[b.stepRoots.length - 1],
    header: b.header,
    feeRecipient: b.feeRecipient,
    bytes: b.bytes,
    chunksRoot: b.chunksRoot,
    commitment: b.commitment,
    openedAt: b.openedAt,
    closedAt: b.closedAt,
  };
}

/** The JSON-RPC error of each refusal of the sequencer (docs/OPERATOR.md, "Why a transaction is refused"). */
export const REFUSAL_RPC_CODES: Readonly<Record<Refusal, RpcCodeValue>> = {
  NOT_ACCEPTING: RpcCode.Unavailable,
  NOT_A_TRANSACTION: RpcCode.InvalidParams,
  UNKNOWN_ACCOUNT: RpcCode.UnknownAccount,
  WRONG_NONCE: RpcCode.WrongNonce,
  BAD_SIGNATURE: RpcCode.BadSignature,
  INSUFFICIENT_BALANCE: RpcCode.InsufficientBalance,
  WOULD_BE_SKIPPED: RpcCode.TxRejected,
  MEMPOOL_FULL: RpcCode.MempoolFull,
  STORE_FAILED: RpcCode.StoreFailure,
  NO_SUCH_WITHDRAWAL: RpcCode.WithdrawalNotFound,
};

/** Maps errors from below the API (the sequencer's refusals, protocol, store, mempool) to JSON-RPC errors. */
export function mapApiError(err: unknown): RpcError | undefined {
  if (err instanceof RpcError) return err;
  if (err instanceof RefusedError) {
    const code = REFUSAL_RPC_CODES[err.code];
    const message = code === RpcCode.InvalidParams ? `invalid params: ${err.message}` : err.message;
    return new RpcError(code, message, err.data, { cause: err });
  }
  if (!(err instanceof BilayerError)) return undefined;
  switch (err.code) {
    case "AMOUNT_NOT_PACKABLE":
      return new RpcError(RpcCode.AmountNotPackable, err.message, err.context);
    case "INVALID_HEX":
    case "INVALID_TX":
    case "INVALID_ADDRESS":
    case "INVALID_SIGNATURE":
    case "NEGATIVE_AMOUNT":
      return new RpcError(RpcCode.InvalidParams, `invalid params: ${err.message}`, err.context);
    case "STORE_WRITE_FAILED":
      return new RpcError(RpcCode.StoreFailure, "the store could not write; nothing was accepted", undefined);
    case "MEMPOOL_FULL":
      return new RpcError(RpcCode.MempoolFull, err.message, err.context);
    default:
      return undefined;
  }
}

/**
 * `l2_getAccount(account)` against any source of accounts (the operator's pending state, the verifier's replica):
 * an index answers that account, an owner address the accounts it owns; -32004 for none.
 */
export function answerGetAccount(
  params: RpcParams,
  source: { accountsOf(owner: string): number[]; account(index: number): AccountJsonView | undefined },
): AccountJsonView | { owner: string; accounts: AccountJsonView[] } {
  const p = readParams(params, ["account"]);
  if (typeof p.account === "string" && p.account.startsWith("0x")) {
    const owner = getAddress(parseAddress(p.account, "account"));
    const indices = source.accountsOf(owner);
    if (indices.length === 0)
      throw new RpcError(RpcCode.UnknownAccount, `no L2 account is owned by ${owner}`, { owner });
    return { owner, accounts: indices.map((i) => source.account(i) as AccountJsonView) };
  }
  const index = parseUint(p.account, "account");
  const account = source.account(index);
  if (!account) throw new RpcError(RpcCode.UnknownAccount, `account ${index} does not exist`, { account: index });
  return account;
}

/**
 * The `l2_` methods. Params may be positional or named:
 *
 * - `l2_sendTransaction(tx, nonce?)`: `tx` is the packed transaction (0x hex)
 *   or `{ type, from, to, amount, fee, signature, nonce? }`; answers
 *   `{ hash, status, from, nonce }` once the transaction is on disk.
 * - `l2_getAccount(account)`: an index (number) or an owner address.
 * - `l2_getTransactionReceipt(hash)`: the receipt, or null.
 * - `l2_getBatch(index)`: a closed batch, or null.
 * - `l2_getWithdrawalProof(index, batchIndex?)`: a withdrawal and its proof.
 * - `l2_getWithdrawals(recipient)`: the withdrawals paying an L1 address.
 * - `l2_getStatus()`: heads, queue backlog, open proposals.
 */
export function createApi(backend: ApiBackend): Record<string, RpcHandler> {
  const seq = backend.sequencer;
  return {
    l2_sendTransaction: async (params: RpcParams, context?: CallContext) => {
      const { bytes, nonce } = parseSendTransaction(params);
      return seq.submit(bytes, nonce, context?.presigned as Prechecked | undefined);
    },

    l2_getAccount: (params: RpcParams) =>
      answerGetAccount(params, {
        accountsOf: (owner) => seq.accountsOf(owner),
        account: (i) => (seq.getAccount(i) ? accountJson(seq, i) : undefined),
      }),

    l2_getTransactionReceipt: async (params: RpcParams) => {
      const p = readParams(params, ["hash"]);
      const receipt = await seq.receipt(parseHash(p.hash, "hash"));
      return receipt ?? null;
    },

    l2_getBatch: async (params: RpcParams) => {
      const p = readParams(params, ["index"]);
      const b = await seq.closedBatch(parseUint(p.index, "index"));
      return b ? batchJson(b, seq) : null;
    },

    l2_getWithdrawalProof: async (params: RpcParams) => {
      const p = readParams(params, ["index", "batchIndex"]);
      const proof = await seq.withdrawalProof(
        parseUint(p.index, "index"),
        parseOptionalUint(p.batchIndex, "batchIndex"),
      );
      const { withdrawalIndex, recipient, tokenId, amount, ...rest } = proof;
      return withdrawalProofView(withdrawalIndex, { recipient, tokenId, amount }, rest);
    },

    l2_getWithdrawals: async (params: RpcParams) => {
      const p = readParams(params, ["recipient"]);
      const heads = seq.l1Heads;
      return Promise.all(
        seq.withdrawalsTo(parseAddress(p.recipient, "recipient")).map(async (w) => {
          const final = w.batchIndex !== undefined && w.batchIndex < heads.final;
          const claimed = final && (await (backend.isClaimed?.(w.withdrawalIndex) ?? false));
          return withdrawalView(w.withdrawalIndex, w, w.batchIndex, withdrawalStatus(w.batchIndex, heads, claimed));
        }),
      );
    },

    l2_getStatus: (params: RpcParams) => {
      requireNoParams(params);
      const s = seq.status();
      const l1 = backend.l1Status();
      const consumedOnL1 = seq.queueConsumedOnL1();
      return {
        ...l1,
        l2: {
          available: s.available,
          stateRoot: s.stateRoot,
          accountCount: s.accountCount,
          withdrawalCount: String(s.withdrawalCount),
          transactions: s.nextSeq,
        },
        mempool: s.mempool,
        batches: s.batches,
        queue: {
          known: String(s.queue.known),
          sequenced: String(s.queue.sequenced),
          backlog: String(s.queue.known - consumedOnL1),
        },
      };
    },
  };
}

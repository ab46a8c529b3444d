import { fromHex } from "../../protocol/hash";
import { Outcome, outcomeName } from "../../protocol/constants";
import type { Account, Withdrawal } from "../../protocol/state";
import type { SenderHints } from "../presign";
import { decodeTx, txKey, type BatchRecord, type DroppedTx } from "../records";
import { decodeReceipt, receiptKey, type StoredReceipt } from "../snapshot";
import { WithdrawalHistory } from "../withdrawals";
import { placeOf } from "./history";
import type { SequencerParts } from "./parts";
import { reject } from "../refusals";

/** Where a transaction stands. */
export type TxStatus = "queued" | "pending" | "batched" | "appended" | "proposed" | "final" | "skipped";

export interface TxReceipt {
  hash: string;
  status: TxStatus;
  from: number;
  nonce: number;
  /** Outcome name (`Applied`, or the skip reason's outcome). */
  outcome: string;
  reason?: string;
  acceptedAt: number;
  seq?: number;
  batchIndex?: number;
  /** Step index within the batch (queue steps come first). */
  stepIndex?: number;
  /** Position of the transaction in its chunk. */
  position?: number;
  /** For a withdrawal: its index in the withdrawal tree (what `l2_getWithdrawalProof` takes). */
  withdrawalIndex?: number;
  /** For a transfer to a new address: the account it created. */
  createdAccount?: number;
}

/** L1 progress, as the driver last saw it. */
export interface L1Heads {
  /** Batches appended to the inbox (and matching ours). */
  appended: number;
  /** Batches with a live proposal. */
  proposed: number;
  /** Batches whose proposal is final. */
  final: number;
}

/** A withdrawal with its proof against a closed batch's header. */
export interface WithdrawalProof {
  withdrawalIndex: number;
  recipient: string;
  tokenId: number;
  amount: bigint;
  batchIndex: number;
  header: BatchRecord["header"];
  stateRoot: string;
  siblings: string[];
  final: boolean;
}

/** What a receipt is built from: a stored receipt, or a transaction record with its place once it has one. */
type ReceiptSource = Omit<StoredReceipt, "batch" | "step" | "position"> & Partial<StoredReceipt>;

/**
 * The read model behind the API: accounts by owner, withdrawals by recipient (with their Merkle history),
 * transactions by hash, receipts with their stage on L1, and the sender hints of the HTTP thread. Kept up to date
 * by {@link indexNew} after every change to the pending state; rebuilt with it.
 */
export class L2Index {
  private owners = new Map<string, number[]>();
  private withdrawals = new WithdrawalHistory();
  /** Withdrawal indices by recipient. */
  private withdrawalsOf = new Map<string, number[]>();
  private knownAccounts = 0;
  /** Sequence number of every accepted transaction by hash (rebuilt from the store on load). */
  private txIndex = new Map<string, number>();
  /** Waiting transactions that were skipped when their turn came, by hash. */
  private dropped = new Map<string, DroppedTx>();
  private l1: L1Heads = { appended: 0, proposed: 0, final: 0 };
  /** Accounts whose nonce may have changed, or that are new, since {@link senderHints} last ran; undefined until it does. */
  private hintsDirty: Set<number> | undefined;
  private hintsReset = false;
  /** The BLS key last told the HTTP thread for each account (told again only when it changes). */
  private readonly hintedKeys = new Map<number, string>();

  constructor(private readonly p: SequencerParts) {}

  /** Forgets everything (the state is being rebuilt). */
  reset(): void {
    this.owners = new Map();
    this.withdrawals = new WithdrawalHistory();
    this.withdrawalsOf = new Map();
    this.knownAccounts = 0;
    this.txIndex = new Map();
    this.dropped = new Map();
  }

  /** After a rebuild: every account's token and nonce are told afresh by the next {@link senderHints}. */
  rebuilt(): void {
    if (!this.hintsDirty) return;
    this.hintsDirty.clear();
    this.hintsReset = true;
  }

  /** Records accounts and withdrawals created since the last call. */
  indexNew(): void {
    const state = this.p.state;
    const count = state.accountCount;
    for (let i = this.knownAccounts + 1; i <= count; i++) {
      const a = state.getAccount(i);
      if (!a) continue;
      this.hintsDirty?.add(i);
      const list = this.owners.get(a.owner);
      if (list) list.push(i);
      else this.owners.set(a.owner, [i]);
    }
    this.knownAccounts = count;
    const wc = Number(state.withdrawalCount);
    for (let i = this.withdrawals.count; i < wc; i++) {
      const w = state.withdrawal(i);
      if (!w) throw this.p.corrupt(`withdrawal ${i} has no record`);
      this.withdrawals.append(w);
      const list = this.withdrawalsOf.get(w.recipient);
      if (list) list.push(i);
      else this.withdrawalsOf.set(w.recipient, [i]);
    }
  }

  /** Account `sender` sent a transaction: its nonce changed. */
  senderMoved(sender: number): void {
    this.hintsDirty?.add(sender);
  }

  /** Transaction `hash` has sequence number `seq`. */
  noteTx(hash: string, seq: number): void {
    this.txIndex.set(hash, seq);
  }

  noteDropped(d: DroppedTx): void {
    this.dropped.set(d.hash, d);
  }

  /** Forgets the hashes of transactions now in the snapshot (answered from their receipt records). */
  forget(hashes: string[]): void {
    for (const hash of hashes) this.txIndex.delete(hash);
  }

  /** A transaction by hash: its sequence number, or its drop record. */
  lookup(hash: string): { seq: number } | { dropped: DroppedTx } | undefined {
    const seq = this.txIndex.get(hash);
    if (seq !== undefined) return { seq };
    const dropped = this.dropped.get(hash);
    return dropped ? { dropped } : undefined;
  }

  // ---------------------------------------------------------------------------
  // accounts

  /** Account `index` of the pending state, if it exists. */
  account(index: number): Readonly<Account> | undefined {
    const state = this.p.state;
    if (!Number.isInteger(index) || index < 1 || index > state.accountCount) return undefined;
    return state.getAccount(index);
  }

  /** Account `index` in the pending state, with the nonces of its transactions waiting for a gap to fill. */
  getAccount(index: number): (Account & { index: number; waitingNonces: number[] }) | undefined {
    const a = this.account(index);
    if (!a) return undefined;
    const waitingNonces = this.p.admission.mempool.forAccount(index).map((w) => w.nonce);
    return { ...a, index, waitingNonces };
  }

  /** The indices of the accounts owned by `owner` (lower-case address). */
  accountsOf(owner: string): number[] {
    return [...(this.owners.get(owner.toLowerCase()) ?? [])];
  }

  /**
   * What changed for senders since the last call, for the HTTP thread's
   * signature pre-recovery (../presign.ts): each new account and each account
   * that sent a transaction, with its token and current nonce. The first call
   * (and the first after a rebuild) lists every account; until the first
   * call nothing is tracked.
   */
  senderHints(): SenderHints | undefined {
    let reset = false;
    let indices: Iterable<number>;
    let size: number;
    if (this.hintsDirty === undefined || this.hintsReset) {
      this.hintsDirty ??= new Set();
      this.hintsDirty.clear();
      this.hintsReset = false;
      reset = true;
      size = this.p.state.accountCount;
      indices = (function* (n: number) {
        for (let i = 1; i <= n; i++) yield i;
      })(size);
    } else {
      if (this.hintsDirty.size === 0) return undefined;
      indices = this.hintsDirty;
      size = this.hintsDirty.size;
    }
    const entries = new Uint32Array(size * 3);
    if (reset) this.hintedKeys.clear();
    const keys: [number, Uint8Array][] = [];
    let k = 0;
    for (const i of indices) {
      const a = this.account(i);
      if (!a) continue;
      entries[k++] = i;
      entries[k++] = a.tokenId;
      entries[k++] = a.nonce;
      if (a.blsKey !== undefined && this.hintedKeys.get(i) !== a.blsKey) {
        this.hintedKeys.set(i, a.blsKey);
        keys.push([i, fromHex(a.blsKey, 96)]);
      }
    }
    this.hintsDirty.clear();
    return {
      reset,
      entries: k === entries.length ? entries : entries.slice(0, k),
      ...(keys.length > 0 ? { keys } : {}),
    };
  }

  // ---------------------------------------------------------------------------
  // receipts and L1 stages

  get l1Heads(): L1Heads {
    return { ...this.l1 };
  }

  set l1Heads(heads: L1Heads) {
    this.l1 = { ...heads };
  }

  /** The receipt of a transaction, or `undefined` if the operator never accepted it. */
  async receipt(hash: string): Promise<TxReceipt | undefined> {
    const w = this.p.admission.mempool.byId(hash);
    if (w)
      return { hash, status: "queued", from: w.from, nonce: w.nonce, outcome: "Waiting", acceptedAt: w.receivedAt };
    const found = this.lookup(hash);
    if (!found) return this.storedReceipt(hash);
    if ("dropped" in found) {
      const d = found.dropped;
      return {
        hash,
        status: "skipped",
        from: d.from,
        nonce: d.nonce,
        outcome: outcomeName(d.code),
        reason: d.reason,
        acceptedAt: d.receivedAt,
      };
    }
    const text = await this.p.opts.store.get(txKey(found.seq));
    if (text === undefined) return undefined;
    const t = decodeTx(text);
    const b = this.p.history.batchOfSeq(found.seq);
    return this.receiptOf(hash, {
      seq: found.seq,
      from: t.from,
      nonce: t.nonce,
      acceptedAt: t.acceptedAt,
      withdrawalIndex: t.withdrawalIndex,
      createdAccount: t.createdAccount,
      outcome: t.outcome,
      ...(b ? placeOf(found.seq, b) : {}),
    });
  }

  /** The receipt of a transaction of a batch in the snapshot, from its receipt record; or undefined. */
  async storedReceipt(hash: string): Promise<TxReceipt | undefined> {
    const text = await this.p.opts.store.get(receiptKey(hash));
    return text === undefined ? undefined : this.receiptOf(hash, decodeReceipt(text));
  }

  /** A receipt from what is known of an accepted transaction (its place, once it is in a closed batch). */
  private receiptOf(hash: string, r: ReceiptSource): TxReceipt {
    const receipt: TxReceipt = {
      hash,
      status: "pending",
      from: r.from,
      nonce: r.nonce,
      outcome: outcomeName(r.outcome ?? Outcome.Applied),
      acceptedAt: r.acceptedAt,
      seq: r.seq,
    };
    if (r.withdrawalIndex !== undefined) receipt.withdrawalIndex = r.withdrawalIndex;
    if (r.createdAccount !== undefined) receipt.createdAccount = r.createdAccount;
    if (r.batch !== undefined) {
      receipt.batchIndex = r.batch;
      receipt.stepIndex = r.step;
      receipt.position = r.position;
      receipt.status =
        r.batch < this.l1.final
          ? "final"
          : r.batch < this.l1.proposed
            ? "proposed"
            : r.batch < this.l1.appended
              ? "appended"
              : "batched";
      if (r.outcome !== undefined && r.outcome !== Outcome.Applied) {
        receipt.status = "skipped";
        receipt.reason = `skipped in batch ${r.batch}, which L1 holds as it is`;
      }
    }
    return receipt;
  }

  // ---------------------------------------------------------------------------
  // withdrawals

  /** Withdrawal `index` (it must exist). */
  withdrawal(index: number): Withdrawal {
    return this.withdrawals.get(index) as Withdrawal;
  }

  /**
   * A withdrawal with its proof against the header of batch `batchIndex`
   * (default: the latest final batch that holds it, else the latest closed
   * one that does).
   */
  async withdrawalProof(index: number, batchIndex?: number): Promise<WithdrawalProof> {
    const history = this.p.history;
    const w = this.withdrawals.get(index);
    const first = history.withdrawalBatchOf(index) ?? -1;
    if (!w || first < 0) {
      reject(
        "NO_SUCH_WITHDRAWAL",
        w
          ? `withdrawal ${index} is not in a closed batch yet`
          : `no withdrawal ${index} (there are ${this.withdrawals.count})`,
        { withdrawalIndex: index },
      );
    }
    let k: number;
    if (batchIndex !== undefined) {
      if (batchIndex >= history.batchCount || batchIndex < first) {
        reject(
          "NO_SUCH_WITHDRAWAL",
          `batch ${batchIndex} does not hold withdrawal ${index} (first in batch ${first})`,
          {
            withdrawalIndex: index,
            firstBatch: first,
          },
        );
      }
      k = batchIndex;
    } else {
      k = this.l1.final - 1 >= first ? this.l1.final - 1 : history.batchCount - 1;
    }
    const b = (await history.closedBatch(k)) as BatchRecord;
    const count = Number(b.header.withdrawalCount);
    return {
      withdrawalIndex: index,
      recipient: w.recipient,
      tokenId: w.tokenId,
      amount: w.amount,
      batchIndex: k,
      header: b.header,
      stateRoot: b.stepRoots[b.stepRoots.length - 1],
      siblings: this.withdrawals.proof(index, count),
      final: k < this.l1.final,
    };
  }

  /**
   * The withdrawals paying `recipient` (lower-case address), each with the
   * first closed batch that holds it (undefined while it is in the open one).
   */
  withdrawalsTo(
    recipient: string,
  ): { withdrawalIndex: number; tokenId: number; amount: bigint; batchIndex: number | undefined }[] {
    return (this.withdrawalsOf.get(recipient.toLowerCase()) ?? []).map((i) => {
      const w = this.withdrawals.get(i) as Withdrawal;
      return {
        withdrawalIndex: i,
        tokenId: w.tokenId,
        amount: w.amount,
        batchIndex: this.p.history.withdrawalBatchOf(i),
      };
    });
  }
}

/**
 * The explorer's read model of the rollup, built from L1 alone: fed each
 * event as the verifier's replay applies it (`ReplayObserver`), it keeps
 * every batch with its chunks and transactions (each with the outcome the
 * STF gave it on the replica), every proposal with its fate, every fraud
 * proof with the rollback it caused, and the queue. In memory: the explorer
 * rebuilds it from L1 at each start.
 */
import { BLS_CHUNK_MARKER, Outcome, outcomeName, TX_SIZE, TxType } from "../protocol/constants";
import { decodeChunk, txHash } from "../protocol/codec";
import { decodeBlsChunk } from "../protocol/bls-chunk";
import { concatBytes, keccak256, toHex } from "../protocol/hash";
import { QueueKind } from "../protocol/queue";
import type { BatchEvent, FraudProvenEvent, ProposalEvent, RollbackEvent, RollupEvent } from "../l1/events";
import type { ReplayedBatch } from "../verifier/replica";
import type { ReplayObserver } from "../verifier/replay";

export type TxKind = "signed" | "bls";

/** One L2 transaction as L1 holds it. */
export interface IndexedTx {
  /** The operator's id for a signed transaction (keccak of its bytes); for a BLS transfer, the id of its place. */
  hash: string;
  kind: TxKind;
  type: string;
  batch: number;
  chunk: number;
  position: number;
  from: number;
  /** The recipient account, or for a TransferToNew the new account's owner. */
  to?: number | string;
  amount?: bigint;
  fee: bigint;
  /** The nonce it used (applied) or would have (skipped), counted from the transactions before it. */
  nonce: number;
  outcome: string;
  reason?: string;
}

export interface IndexedChunk {
  kind: TxKind;
  bytes: number;
  /** Indices into the index's transaction list. */
  txs: number[];
  applied: number;
  /** Why parsing stopped early, if it did. */
  ended?: string;
}

export interface IndexedBatch {
  index: number;
  blockNumber: number;
  transactionHash: string;
  forced: boolean;
  queueStart: number;
  queueEnd: number;
  feeRecipient: number;
  stepCount: number;
  chunks: IndexedChunk[];
  /** The step roots the replica computed. */
  computedRoots: string[];
  calldataBytes: number;
  /** From its L1 receipt and block, once fetched. */
  gasUsed?: bigint;
  timestamp?: number;
}

export type ProposalFate = "live" | "rolled back" | "proven wrong";

export interface IndexedProposal {
  proposalId: bigint;
  batchIndex: number;
  proposer: string;
  stateRoot: string;
  stepRoots: string[];
  deadline: number;
  blockNumber: number;
  transactionHash: string;
  fate: ProposalFate;
  bondReturned: boolean;
  /** The first step whose root differs from the replica's, or -1 (right). */
  wrongStep: number;
  gasUsed?: bigint;
}

export interface IndexedDispute {
  batchIndex: number;
  stepIndex: number;
  challenger: string;
  proposedRoot: string;
  computedRoot: string;
  blockNumber: number;
  transactionHash: string;
  /** The rollback the proof caused: the proposals it removed, the reward paid and the rest of the bond burnt. */
  rollback?: { fromBatch: number; toBatch: number; proposalId: bigint; reward: bigint; burnt: bigint };
}

export interface IndexedQueueItem {
  index: number;
  kind: "deposit" | "forced exit";
  addr: string;
  tokenId: number;
  amount: bigint;
  account: number;
  timestamp: number;
  /** The batch that applied it, once one did. */
  batch?: number;
}

/** The id of a BLS transfer's place on L1 (it carries no signature of its own to hash). */
export function blsTransferId(batch: number, chunk: number, position: number): string {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, batch);
  v.setUint32(4, chunk);
  v.setUint32(8, position);
  return toHex(keccak256(concatBytes(new TextEncoder().encode("bilayer-bls-transfer"), b)));
}

const TYPE_NAMES: Record<number, string> = {
  [TxType.Transfer]: "Transfer",
  [TxType.Withdraw]: "Withdraw",
  [TxType.TransferToNew]: "TransferToNew",
  [TxType.RegisterKey]: "RegisterKey",
};

export class ChainIndex implements ReplayObserver {
  readonly batches: IndexedBatch[] = [];
  readonly txs: IndexedTx[] = [];
  readonly proposals: IndexedProposal[] = [];
  readonly disputes: IndexedDispute[] = [];
  readonly queue: IndexedQueueItem[] = [];
  /** The last block read, and its timestamp. */
  block = 0;
  blockTime = 0;
  private readonly byHash = new Map<string, number>();
  private readonly byAccount = new Map<number, number[]>();
  private readonly bySenderNonce = new Map<string, number>();
  private readonly nonces: number[] = [];
  /** Each batch's proposals, oldest first (indices into `proposals`). */
  private readonly proposalsByBatch: number[][] = [];
  /** Batches with a live proposal. */
  liveCount = 0;
  /** Batches and proposals whose receipts are still to fetch. */
  readonly receiptsDue: { kind: "batch" | "proposal"; index: number; transactionHash: string }[] = [];

  onEvent(event: RollupEvent, replayed?: ReplayedBatch): void {
    switch (event.kind) {
      case "queue":
        this.queue[event.index] = {
          index: event.index,
          kind: event.item.kind === QueueKind.ForcedExit ? "forced exit" : "deposit",
          addr: event.item.addr.toLowerCase(),
          tokenId: event.item.tokenId,
          amount: event.item.amount,
          account: event.item.account,
          timestamp: Number(event.item.timestamp),
        };
        return;
      case "batch":
        if (replayed) this.addBatch(event, replayed);
        return;
      case "proposal":
        return this.addProposal(event);
      case "rollback":
        return this.rollback(event);
      case "bondReturned": {
        const p = this.proposals.find((x) => x.proposalId === event.proposalId);
        if (p) p.bondReturned = true;
        return;
      }
      case "fraudProven":
        return this.addDispute(event);
    }
  }

  onRange(toBlock: number, timestamp: number): void {
    this.block = toBlock;
    this.blockTime = timestamp;
  }

  private addBatch(event: BatchEvent, replayed: ReplayedBatch): void {
    const b: IndexedBatch = {
      index: event.index,
      blockNumber: event.blockNumber,
      transactionHash: event.transactionHash,
      forced: event.forced,
      queueStart: event.queueStart,
      queueEnd: event.queueEnd,
      feeRecipient: event.feeRecipient,
      stepCount: event.stepCount,
      chunks: [],
      computedRoots: replayed.stepRoots,
      calldataBytes: event.chunks.reduce((n, c) => n + c.length, 0),
    };
    for (let q = event.queueStart; q < event.queueEnd; q++) if (this.queue[q]) this.queue[q].batch = event.index;
    event.chunks.forEach((chunk, c) => {
      const outcomes = replayed.chunkOutcomes[c] ?? [];
      b.chunks.push(
        chunk[0] === BLS_CHUNK_MARKER
          ? this.addBlsChunk(b, c, chunk, outcomes)
          : this.addSignedChunk(b, c, chunk, outcomes),
      );
    });
    this.batches[event.index] = b;
    if (!event.forced)
      this.receiptsDue.push({ kind: "batch", index: event.index, transactionHash: event.transactionHash });
  }

  private addSignedChunk(
    b: IndexedBatch,
    c: number,
    chunk: Uint8Array,
    outcomes: readonly { code: Outcome; reason: string }[],
  ): IndexedChunk {
    const decoded = decodeChunk(chunk);
    const out: IndexedChunk = { kind: "signed", bytes: chunk.length, txs: [], applied: 0 };
    if (decoded.end) out.ended = outcomeName(decoded.end.reason);
    let offset = 0;
    decoded.txs.forEach((tx, k) => {
      const size = TX_SIZE[tx.type];
      const bytes = chunk.subarray(offset, offset + size);
      offset += size;
      const o = outcomes[k];
      const to = tx.type === TxType.Transfer || tx.type === TxType.TransferToNew ? tx.to : undefined;
      const amount = tx.type === TxType.RegisterKey ? undefined : tx.amount;
      out.txs.push(
        this.addTx(
          {
            hash: txHash(bytes),
            kind: "signed",
            type: TYPE_NAMES[tx.type],
            batch: b.index,
            chunk: c,
            position: k,
            from: tx.from,
            to,
            amount,
            fee: tx.fee,
          },
          o,
        ),
      );
      if (o?.code === Outcome.Applied) out.applied++;
    });
    return out;
  }

  private addBlsChunk(
    b: IndexedBatch,
    c: number,
    chunk: Uint8Array,
    outcomes: readonly { code: Outcome; reason: string }[],
  ): IndexedChunk {
    const decoded = decodeBlsChunk(chunk);
    const out: IndexedChunk = { kind: "bls", bytes: chunk.length, txs: [], applied: 0 };
    if (decoded.end) out.ended = outcomeName(decoded.end.reason);
    const fee = decoded.header?.fee ?? 0n;
    decoded.transfers.forEach((t, k) => {
      const o = outcomes[k];
      const id = blsTransferId(b.index, c, k);
      out.txs.push(
        this.addTx(
          {
            hash: id,
            kind: "bls",
            type: "BlsTransfer",
            batch: b.index,
            chunk: c,
            position: k,
            from: t.from,
            to: t.to,
            amount: t.amount,
            fee,
          },
          o,
        ),
      );
      if (o?.code === Outcome.Applied) out.applied++;
    });
    return out;
  }

  private addTx(
    t: Omit<IndexedTx, "nonce" | "outcome" | "reason">,
    o: { code: Outcome; reason: string } | undefined,
  ): number {
    const nonce = this.nonces[t.from] ?? 0;
    const applied = o?.code === Outcome.Applied;
    const rec: IndexedTx = { ...t, nonce, outcome: o ? outcomeName(o.code) : "Unknown" };
    if (!applied && o?.reason) rec.reason = o.reason;
    const i = this.txs.length;
    this.txs.push(rec);
    // Bytes carry no nonce: the same transaction may be skipped once and applied later. The applied one stands.
    if (applied || !this.byHash.has(rec.hash)) this.byHash.set(rec.hash, i);
    if (applied) {
      this.nonces[t.from] = nonce + 1;
      this.bySenderNonce.set(`${t.from}:${nonce}`, i);
    }
    this.noteAccount(t.from, i);
    if (typeof t.to === "number" && t.to !== t.from) this.noteAccount(t.to, i);
    return i;
  }

  private noteAccount(account: number, i: number): void {
    const list = this.byAccount.get(account);
    if (list) list.push(i);
    else this.byAccount.set(account, [i]);
  }

  private addProposal(e: ProposalEvent): void {
    const computed = this.batches[e.batchIndex]?.computedRoots ?? [];
    const wrongStep = e.stepRoots.findIndex((r, i) => r !== computed[i]);
    const at = this.proposals.length;
    (this.proposalsByBatch[e.batchIndex] ??= []).push(at);
    this.liveCount++;
    this.proposals.push({
      proposalId: e.proposalId,
      batchIndex: e.batchIndex,
      proposer: e.proposer,
      stateRoot: e.stateRoot,
      stepRoots: e.stepRoots,
      deadline: e.deadline,
      blockNumber: e.blockNumber,
      transactionHash: e.transactionHash,
      fate: "live",
      bondReturned: false,
      wrongStep,
    });
    this.receiptsDue.push({ kind: "proposal", index: at, transactionHash: e.transactionHash });
  }

  private rollback(e: RollbackEvent): void {
    for (let k = e.fromBatch; k < e.toBatch; k++) {
      const p = this.liveProposal(k);
      if (!p) continue;
      p.fate = p.proposalId === e.proposalId ? "proven wrong" : "rolled back";
      this.liveCount--;
    }
    const d = [...this.disputes].reverse().find((x) => x.transactionHash === e.transactionHash);
    const rollback = {
      fromBatch: e.fromBatch,
      toBatch: e.toBatch,
      proposalId: e.proposalId,
      reward: e.reward,
      burnt: e.burnt,
    };
    if (d) d.rollback = rollback;
    else this.pendingRollback.set(e.transactionHash, rollback);
  }

  /** A rollback seen before its FraudProven event (they share a transaction), by transaction. */
  private readonly pendingRollback = new Map<string, NonNullable<IndexedDispute["rollback"]>>();

  private addDispute(e: FraudProvenEvent): void {
    const d: IndexedDispute = {
      batchIndex: e.batchIndex,
      stepIndex: e.stepIndex,
      challenger: e.challenger,
      proposedRoot: e.proposedRoot,
      computedRoot: e.computedRoot,
      blockNumber: e.blockNumber,
      transactionHash: e.transactionHash,
    };
    const r = this.pendingRollback.get(e.transactionHash);
    if (r) {
      d.rollback = r;
      this.pendingRollback.delete(e.transactionHash);
    }
    this.disputes.push(d);
  }

  /** The transaction with operator id (or BLS place id) `hash`. */
  tx(hash: string): IndexedTx | undefined {
    const i = this.byHash.get(hash.toLowerCase());
    return i === undefined ? undefined : this.txs[i];
  }

  /** The transaction account `from` applied at `nonce`. */
  txAt(from: number, nonce: number): IndexedTx | undefined {
    const i = this.bySenderNonce.get(`${from}:${nonce}`);
    return i === undefined ? undefined : this.txs[i];
  }

  /** The transactions from or to `account`, newest first, at most `limit`. */
  txsOf(account: number, limit = 50): IndexedTx[] {
    const list = this.byAccount.get(account) ?? [];
    const out: IndexedTx[] = [];
    for (let k = list.length - 1; k >= 0 && out.length < limit; k--) out.push(this.txs[list[k]]);
    return out;
  }

  /** How many transactions involve `account`. */
  txCountOf(account: number): number {
    return this.byAccount.get(account)?.length ?? 0;
  }

  /** The live proposal of batch `k`, if any (the chain keeps at most one: its last, unless rolled back). */
  liveProposal(k: number): IndexedProposal | undefined {
    const list = this.proposalsByBatch[k];
    const p = list && list.length > 0 ? this.proposals[list[list.length - 1]] : undefined;
    return p?.fate === "live" ? p : undefined;
  }

  /** The proposals of batch `k`, oldest first. */
  proposalsOf(k: number): IndexedProposal[] {
    return (this.proposalsByBatch[k] ?? []).map((i) => this.proposals[i]);
  }
}

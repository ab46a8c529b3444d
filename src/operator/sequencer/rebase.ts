import type { StoreOp } from "../../common/store";
import {
  BLS_CHUNK_HEADER_BYTES,
  BLS_CHUNK_MARKER,
  blsTransferSize,
  Outcome,
  outcomeName,
  TX_SIZE,
} from "../../protocol/constants";
import { decodeChunk, txHash } from "../../protocol/codec";
import {
  decodeBlsChunk,
  decodeBlsEnvelope,
  encodeBlsEnvelope,
  isBlsEnvelope,
  type BlsTransferFields,
} from "../../protocol/bls-chunk";
import { blsMessageOf } from "../presign";
import { applyBlsChunk } from "../../protocol/stf";
import { BilayerError } from "../../protocol/errors";
import { fromHex } from "../../protocol/hash";
import type { WaitingTx } from "../mempool";
import { batchKey, decodeTx, KEY_OPEN, PREFIX_TX, txKey, type StoredQueueItem, type StoredTx } from "../records";
import type { SequencerParts } from "./parts";

/** A batch as L1 holds it, for {@link rebase}. */
export interface AdoptedBatch {
  index: number;
  queueStart: number;
  queueEnd: number;
  chunks: Uint8Array[];
  feeRecipient: number;
  commitment: string;
}

/** Rebuilds the pending state from the store (the sequencer's locked load). */
export type Reload = (queue: StoredQueueItem[], opts: { stayUnavailable?: boolean }) => Promise<void>;

/**
 * Makes L1's batches from `fromBatch` on the operator's own, and sequences
 * again, after them, every transaction it had sequenced from that batch on.
 *
 * This is how the operator follows L1 when L1 holds batches it did not
 * append (a forced inclusion while it was down, or a stale append of its
 * own that landed after one), and how it re-forms a batch the inbox
 * refused (one that left an overdue queue item out: the new batch opens
 * with every queue item known). The re-sequenced transactions keep their
 * order; any the STF now skips is reported skipped with the reason. All of
 * it is one durable write, then the state is rebuilt from the store.
 */
export async function rebase(
  p: SequencerParts,
  reload: Reload,
  fromBatch: number,
  adopted: AdoptedBatch[],
): Promise<{ resequenced: number; dropped: number }> {
  const { history, builder, journal, admission, gate } = p;
  const store = p.opts.store;
  if (fromBatch > history.batchCount)
    throw new BilayerError("REBASE_RANGE", `cannot rebase from batch ${fromBatch}: only ${history.batchCount} closed`);
  if (fromBatch < history.base.batches) {
    throw new BilayerError(
      "REBASE_BELOW_SNAPSHOT",
      `L1 parted from this operator at batch ${fromBatch}, inside its snapshot (batches 0..${history.base.batches - 1} were confirmed on L1): a reorg deeper than the confirmation depth`,
    );
  }
  const needed = Math.max(0, ...adopted.map((b) => b.queueEnd));
  if (needed > history.queueLength) {
    throw new BilayerError(
      "REBASE_QUEUE",
      `L1's batches consume queue items up to ${needed}; only ${history.queueLength} are known yet`,
    );
  }
  gate.available = false;
  try {
    if (journal.pending) await journal.commit();
    const first = history.batch(fromBatch)?.firstSeq ?? builder.open?.firstSeq ?? builder.nextSeq;
    const redo: StoredTx[] = [];
    for await (const [, v] of store.entries(PREFIX_TX, txKey(first))) redo.push(decodeTx(v));
    const ops: StoreOp[] = redo.map((t) => ({ type: "del", key: txKey(t.seq ?? -1) }));
    for (let k = fromBatch; k < history.batchCount; k++) ops.push({ type: "del", key: batchKey(k) });
    ops.push({ type: "del", key: KEY_OPEN });
    await store.write(ops);
    // Deleted on purpose: each is sequenced again below (or reported skipped), not lost.
    journal.acknowledgedSeq = Math.min(journal.acknowledgedSeq, first);
    await reload(history.knownQueue, { stayUnavailable: true });

    const appliedOnL1 = new Set<string>();
    const ours = ownBlsTransfers(redo);
    for (const b of adopted) for (const h of adopt(p, b, ours)) appliedOnL1.add(h);
    let resequenced = 0;
    let dropped = 0;
    for (const t of redo) {
      if (t.outcome !== undefined && t.outcome !== Outcome.Applied) continue; // part of an L1 batch, adopted again
      if (appliedOnL1.has(t.hash)) continue; // applied by an adopted batch (a stale append of ours): it stands there
      const bytes = fromHex(t.bytes);
      const w: WaitingTx = { hash: t.hash, from: t.from, nonce: t.nonce, bytes, receivedAt: t.acceptedAt };
      const sender = p.index.account(t.from);
      if (!sender) {
        admission.drop(w, Outcome.SenderMissing, `re-sequenced after L1 batch ${fromBatch}: its sender is gone`);
        dropped++;
        continue;
      }
      const rejection = admission.checkBytes(bytes, sender);
      if (rejection) {
        admission.drop(w, rejection.outcome, `re-sequenced after L1 batch ${fromBatch}: ${rejection.message}`);
        dropped++;
        continue;
      }
      const code = builder.sequenceOne(bytes, { hash: t.hash, from: t.from, nonce: sender.nonce, at: t.acceptedAt });
      if (code !== Outcome.Applied) {
        admission.drop(w, code, `re-sequenced after L1 batch ${fromBatch}: ${outcomeName(code)}`);
        dropped++;
        continue;
      }
      resequenced++;
    }
    if (journal.pending) await journal.commit();
    p.opts.logger.warn(
      { fromBatch, adopted: adopted.length, resequenced, dropped },
      "sequence rebased on L1's batches",
    );
    return { resequenced, dropped };
  } finally {
    gate.available = !store.failed;
    p.updateGauges();
  }
}

/**
 * Closes batch `b.index` exactly as L1 holds it (its queue range, chunks
 * and fee recipient); returns the hashes of the transactions it applied.
 */
function adopt(p: SequencerParts, b: AdoptedBatch, ours: Map<string, StoredTx>): string[] {
  const { builder, history } = p;
  const applied: string[] = [];
  if (builder.open) builder.closeBatch();
  if (builder.open || b.index !== history.batchCount || b.queueStart !== builder.queueSequenced()) {
    throw new BilayerError(
      "ADOPT_MISMATCH",
      `L1 batch ${b.index} (queue ${b.queueStart}..${b.queueEnd}) does not follow the local sequence`,
      { context: { index: b.index, closed: history.batchCount, queueSequenced: builder.queueSequenced() } },
    );
  }
  const now = Date.now();
  const open = builder.startBatch(b.index, b.queueStart, b.queueEnd, builder.nextSeq, now, b.feeRecipient);
  b.chunks.forEach((chunk, i) => {
    if (chunk[0] === BLS_CHUNK_MARKER) {
      for (const a of adoptBlsChunk(p, b, i, chunk, now, ours)) applied.push(a);
      return;
    }
    const decoded = decodeChunk(chunk);
    if (decoded.end) {
      throw new BilayerError(
        "UNADOPTABLE_BATCH",
        `chunk ${i} of L1 batch ${b.index} does not parse whole (${outcomeName(decoded.end.reason)})`,
      );
    }
    let offset = 0;
    for (const tx of decoded.txs) {
      const size = TX_SIZE[tx.type];
      const bytes = chunk.slice(offset, offset + size);
      offset += size;
      const nonce = p.index.account(tx.from)?.nonce ?? 0;
      const code = builder.execute(bytes);
      const hash = txHash(bytes);
      builder.accept(builder.nextSeq++, hash, bytes, tx.from, nonce, now, code);
      if (code === Outcome.Applied) applied.push(hash);
      open.current.push(bytes);
      open.txCount++;
      open.bytes += size;
      p.index.indexNew();
    }
    builder.closeChunk(true);
  });
  const rec = builder.closeBatch();
  if (!rec || rec.commitment !== b.commitment) {
    throw new BilayerError(
      "ADOPT_MISMATCH",
      `L1 batch ${b.index} re-executes to commitment ${rec?.commitment}, L1 has ${b.commitment}`,
    );
  }
  return applied;
}

/**
 * Adopts BLS chunk `i` of L1 batch `b` into the open batch: applies it by the STF (its aggregate checked), and
 * records each transfer with its outcome. A transfer found in `ours` (one of our own envelopes, as a stale append
 * of ours carries them) is recorded as that envelope, under its id, so it stands as applied where it was. Any
 * other has no signature of its own: its record's signature field holds its message, then the batch, chunk and
 * position it is at, which makes its id unique. Returns the ids of the transfers applied.
 */
function adoptBlsChunk(
  p: SequencerParts,
  b: AdoptedBatch,
  i: number,
  chunk: Uint8Array,
  now: number,
  ours: Map<string, StoredTx>,
): string[] {
  const { builder } = p;
  const decoded = decodeBlsChunk(chunk);
  if (decoded.end || !decoded.header) {
    const why = decoded.end ? outcomeName(decoded.end.reason) : "no header";
    throw new BilayerError("UNADOPTABLE_BATCH", `BLS chunk ${i} of L1 batch ${b.index} does not parse whole (${why})`);
  }
  builder.closeChunk();
  const open = builder.open as NonNullable<typeof builder.open>;
  const ctx = { domainSeparator: p.ctx.domainSeparator, feeRecipient: b.feeRecipient };
  // Each transfer's message is over its sender's nonce at its turn: the nonce before the chunk, plus the sender's
  // transfers applied before it in the chunk.
  const before = decoded.transfers.map((t) => {
    const a = p.state.getAccount(t.from);
    return { tokenId: a?.tokenId ?? 0, nonce: a?.nonce ?? 0 };
  });
  const result = applyBlsChunk(p.state, chunk, ctx);
  const width = decoded.header.width;
  const amountAt = (k: number): number => BLS_CHUNK_HEADER_BYTES + k * blsTransferSize(width) + 2 * width;
  const moved = new Map<number, number>();
  const applied: string[] = [];
  decoded.transfers.forEach((t, k) => {
    const code = result.outcomes[k].code;
    const nonce = before[k].nonce + (moved.get(t.from) ?? 0);
    const e = { ...t, fee: decoded.header?.fee ?? 0n, signature: new Uint8Array(96) };
    // Only an applied one is surely ours: its message, over this nonce, is in the aggregate that held.
    const key = ownKey(e, nonce);
    const mine = code === Outcome.Applied ? ours.get(key) : undefined;
    let bytes: Uint8Array;
    let hash: string;
    if (mine) {
      ours.delete(key);
      bytes = fromHex(mine.bytes);
      hash = mine.hash;
    } else {
      e.signature.set(blsMessageOf(p.ctx.domainSeparator, e, before[k].tokenId, nonce));
      const where = new DataView(e.signature.buffer, 32);
      where.setUint32(0, b.index);
      where.setUint16(4, i);
      where.setUint16(6, k);
      bytes = encodeBlsEnvelope(e);
      bytes.set(chunk.subarray(amountAt(k), amountAt(k) + 2), 9); // the amount's bytes as the chunk has them
      hash = txHash(bytes);
    }
    builder.accept(builder.nextSeq++, hash, bytes, t.from, nonce, now, code);
    if (code === Outcome.Applied) {
      applied.push(hash);
      moved.set(t.from, (moved.get(t.from) ?? 0) + 1);
    }
    open.txCount++;
  });
  p.index.indexNew();
  builder.recordChunk(open, chunk, result, 0);
  return applied;
}

function ownKey(e: BlsTransferFields & { fee: bigint }, nonce: number): string {
  return `${e.from}:${nonce}:${e.to}:${e.amount}:${e.fee}`;
}

/**
 * Our applied BLS transfers among `redo`, by what an adopted chunk tells of each of its transfers (sender, nonce,
 * recipient, amount, fee: the message it signs, less what is the same for all) — it carries no signature of one.
 */
function ownBlsTransfers(redo: readonly StoredTx[]): Map<string, StoredTx> {
  const ours = new Map<string, StoredTx>();
  for (const t of redo) {
    if (t.outcome !== undefined && t.outcome !== Outcome.Applied) continue;
    const bytes = fromHex(t.bytes);
    if (!isBlsEnvelope(bytes)) continue;
    const d = decodeBlsEnvelope(bytes);
    if (d.ok) ours.set(ownKey(d.envelope, t.nonce), t);
  }
  return ours;
}

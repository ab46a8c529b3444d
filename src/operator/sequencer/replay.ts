import { Outcome, outcomeName } from "../../protocol/constants";
import { fromHex } from "../../protocol/hash";
import { applyChunk, type StepContext } from "../../protocol/stf";
import { JournaledState } from "../../verifier/replica";
import {
  batchKey,
  decodeDropped,
  decodeTx,
  KEY_OPEN,
  PREFIX_BATCH,
  PREFIX_HASH,
  PREFIX_TX,
  PREFIX_WAITING,
  txKey,
  type BatchRecord,
  type OpenBatchRecord,
  type StoredQueueItem,
  type StoredTx,
} from "../records";
import { readSnapshot } from "../snapshot";
import { chunkOfRecords } from "./chunks";
import type { SequencerParts } from "./parts";

/**
 * Rebuilds the pending state from the store: the snapshot, the closed batches
 * after it (every chunk re-executed and checked against its stored step
 * roots), the open batch, and the waiting transactions. `queue` is every queue
 * item the follower has stored, in order. Fails with `STORE_CORRUPT` if what
 * is stored does not replay, or holds fewer transactions than this process
 * acknowledged. Call it under the history's lock.
 */
export async function replayStore(
  p: SequencerParts,
  queue: StoredQueueItem[],
  opts: { stayUnavailable?: boolean },
): Promise<void> {
  const { history, builder, index, admission, journal, gate } = p;
  const store = p.opts.store;
  gate.available = false;
  const started = performance.now();
  const snapshot = await readSnapshot(store);
  p.state = snapshot?.state ?? new JournaledState();
  history.reset(snapshot, queue);
  builder.reset(history.base.endSeq);
  admission.reset();
  index.reset();
  journal.reset();
  // The snapshot's accounts and withdrawals, indexed once.
  index.indexNew();

  const batches: BatchRecord[] = [];
  for await (const [, v] of store.entries(PREFIX_BATCH, batchKey(history.base.batches)))
    batches.push(JSON.parse(v) as BatchRecord);
  const txs = store.entries(PREFIX_TX, txKey(history.base.endSeq))[Symbol.asyncIterator]();
  let pendingTx: StoredTx | undefined;
  const nextTx = async (): Promise<StoredTx | undefined> => {
    if (pendingTx) {
      const t = pendingTx;
      pendingTx = undefined;
      return t;
    }
    const r = await txs.next();
    if (r.done) return undefined;
    const t = decodeTx(r.value[1]);
    index.noteTx(t.hash, t.seq ?? -1);
    return t;
  };

  for (const b of batches) {
    if (b.index !== history.batchCount) throw p.corrupt(`batch ${b.index} follows ${history.batchCount - 1}`);
    const counts = history.beginDelta();
    const roots = builder.applyQueueRange(b.queueStart, b.queueEnd);
    const chunks: Uint8Array[] = [];
    let seq = b.firstSeq;
    const ctx: StepContext = { domainSeparator: p.ctx.domainSeparator, feeRecipient: b.feeRecipient };
    for (const [i, end] of b.chunkEnds.entries()) {
      const parts: Uint8Array[] = [];
      const expected: number[] = [];
      for (; seq < end; seq++) {
        const t = await nextTx();
        if (!t || t.seq !== seq) throw p.corrupt(`transaction ${seq} of batch ${b.index} is missing`);
        parts.push(fromHex(t.bytes));
        expected.push(t.outcome ?? Outcome.Applied);
      }
      const chunk = chunkOfRecords(b, i, parts);
      const result = applyChunk(p.state, chunk, ctx);
      const bad = result.outcomes.find((x, i) => x.code !== expected[i]);
      if (bad) throw p.corrupt(`batch ${b.index} replays with another outcome: ${bad.reason}`);
      roots.push(result.postRoot);
      chunks.push(chunk);
    }
    index.indexNew();
    if (roots.length !== b.stepRoots.length || roots.some((r, i) => r !== b.stepRoots[i])) {
      throw p.corrupt(`batch ${b.index} replays to other step roots than it was closed with`);
    }
    history.add(b, chunks, counts);
    builder.nextSeq = b.endSeq;
  }
  journal.durableBatches = history.batchCount;

  const openText = await store.get(KEY_OPEN);
  if (openText !== undefined) {
    const rec = JSON.parse(openText) as OpenBatchRecord;
    if (rec.index === history.batchCount) {
      builder.startBatch(rec.index, rec.queueStart, rec.queueEnd, rec.firstSeq, rec.openedAt);
      for (let t = await nextTx(); t; t = await nextTx()) {
        const seq = t.seq ?? -1;
        if (seq !== builder.nextSeq) throw p.corrupt(`transaction ${seq} follows ${builder.nextSeq - 1}`);
        const bytes = fromHex(t.bytes);
        const code = builder.execute(bytes);
        if (code !== Outcome.Applied) throw p.corrupt(`transaction ${seq} (${t.hash}) replays as ${outcomeName(code)}`);
        builder.nextSeq++;
        builder.afterApplied(bytes);
      }
    }
  }
  if (await nextTx()) throw p.corrupt("transactions after the last batch without an open batch");

  for await (const [, v] of store.entries(PREFIX_HASH)) index.noteDropped(decodeDropped(v));
  for await (const [, v] of store.entries(PREFIX_WAITING)) {
    const t = decodeTx(v);
    admission.mempool.add({
      hash: t.hash,
      from: t.from,
      nonce: t.nonce,
      bytes: fromHex(t.bytes),
      receivedAt: t.acceptedAt,
    });
  }
  // Waiting transactions whose turn came (their predecessor was the last thing stored before a crash),
  // and a batch that was full but whose record did not reach the disk.
  for (const from of new Set(admission.mempool.all().map((w) => w.from))) admission.promote(from);
  builder.closeIfFull();
  if (journal.pending) await journal.commit();

  // Everything read back is durable: this is what a later open reads too.
  if (builder.nextSeq < journal.acknowledgedSeq) {
    p.opts.logger.fatal(
      { stored: builder.nextSeq, acknowledged: journal.acknowledgedSeq },
      "ACKNOWLEDGED TRANSACTIONS MISSING: the store holds fewer transactions than this process acknowledged",
    );
    throw p.corrupt(`it holds ${builder.nextSeq} transactions, ${journal.acknowledgedSeq} were acknowledged`);
  }
  journal.acknowledgedSeq = builder.nextSeq;
  p.updateGauges();
  index.rebuilt();
  gate.available = opts.stayUnavailable !== true;
  p.opts.logger.info(
    {
      snapshotBatches: history.base.batches,
      batches: history.batchCount,
      replayedBatches: batches.length,
      transactions: builder.nextSeq,
      replayedTransactions: builder.nextSeq - history.base.endSeq,
      queueItems: history.queueLength,
      waiting: admission.mempool.size,
      ms: Math.round(performance.now() - started),
    },
    "sequencer state rebuilt from the store",
  );
}

import type { CheckBudgetLimits } from "../../src/operator/sequencer/check-budget";
/** Shared set-up of the operator unit tests: a sequencer on a store, funded accounts, signed transactions. */
import { expect } from "chai";
import { Outcome, TxType } from "../../src/protocol/constants";
import { encodeTx, type UnsignedTx } from "../../src/protocol/codec";
import { domainSeparator, signTxWithKey } from "../../src/protocol/eip712";
import { initHashing, keccak256, toHex, ZERO_BYTES32 } from "../../src/protocol/hash";
import { nextQueueAcc, queueItemHash } from "../../src/protocol/queue";
import { privateKeyToAddress } from "../../src/protocol/signature";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { silentLogger } from "../../src/operator/log";
import { OperatorMetrics } from "../../src/operator/metrics";
import { queueItemOf, type StoredQueueItem } from "../../src/operator/records";
import { Sequencer, type BatchLimits } from "../../src/operator/sequencer";
import { MemoryStore, type KeyValueStore } from "../../src/common/store";
import type { MempoolLimits } from "../../src/operator/mempool";

export const CHAIN_ID = 31337n;
export const INBOX = "0x" + "ab".repeat(20);
export const DOMAIN = domainSeparator(CHAIN_ID, INBOX);

export interface User {
  key: Uint8Array;
  address: string;
}

/** `n` users with deterministic keys. */
export function users(n: number, seed = "operator-test"): User[] {
  return Array.from({ length: n }, (_, i) => {
    const key = keccak256(new TextEncoder().encode(`${seed}-${i}`));
    return { key, address: privateKeyToAddress(toHex(key)) };
  });
}

/** Queue items depositing `amount` of `tokenId` for each address, chained like the bridge's. */
export function deposits(
  addresses: string[],
  amount: bigint,
  first = 0,
  previousAcc = ZERO_BYTES32,
  tokenId = 0,
): StoredQueueItem[] {
  let acc = previousAcc;
  return addresses.map((addr, i) => {
    const item: StoredQueueItem = {
      index: first + i,
      kind: 0,
      addr: addr.toLowerCase(),
      tokenId,
      amount: amount.toString(),
      account: 0,
      timestamp: "1000",
      accumulator: "",
      blockNumber: 1,
    };
    acc = nextQueueAcc(acc, queueItemHash(queueItemOf(item)));
    item.accumulator = acc;
    return item;
  });
}

export interface Harness {
  seq: Sequencer;
  store: KeyValueStore;
  metrics: OperatorMetrics;
}

/** A loaded sequencer on `store` (a fresh memory store by default). */
export async function sequencer(
  opts: {
    store?: KeyValueStore;
    feeRecipient?: number;
    limits?: Partial<BatchLimits>;
    mempool?: Partial<MempoolLimits>;
    checkBudget?: CheckBudgetLimits;
    queue?: StoredQueueItem[];
  } = {},
): Promise<Harness> {
  await initHashing();
  const store = opts.store ?? new MemoryStore();
  const metrics = new OperatorMetrics({ defaultMetrics: false });
  const seq = new Sequencer({
    store,
    domainSeparator: DOMAIN,
    feeRecipient: opts.feeRecipient ?? 0,
    limits: { maxAgeMs: 60_000, ...opts.limits },
    mempool: opts.mempool,
    checkBudget: opts.checkBudget,
    logger: silentLogger(),
    metrics,
  });
  await seq.load(opts.queue ?? []);
  return { seq, store, metrics };
}

/** Adds deposits for `who` and applies them in a batch of their own (accounts 1..n for a fresh sequencer). */
export async function fund(h: Harness, who: User[], amount: bigint, tokenId = 0): Promise<void> {
  const known = h.seq.queueLength;
  const previous = known === 0 ? ZERO_BYTES32 : h.seq.queueItems(known - 1, known)[0].accumulator;
  h.seq.addQueueItems(
    deposits(
      who.map((u) => u.address),
      amount,
      known,
      previous,
      tokenId,
    ),
  );
  // A batch with transactions is closed first; the deposits then open one of their own.
  h.seq.tick();
  await h.seq.flush();
  h.seq.tick();
  await h.seq.flush();
}

/** Packed bytes (0x hex) of a transaction signed by `user` over `nonce` (token 0 unless given). */
export function signed(user: User, tx: UnsignedTx, nonce: number, tokenId = 0): Uint8Array {
  return encodeTx({ ...tx, signature: signTxWithKey(user.key, DOMAIN, tx, tokenId, nonce) });
}

export function transfer(from: number, to: number, amount: bigint, fee = 0n): UnsignedTx {
  return { type: TxType.Transfer, from, to, amount, fee };
}

export function withdraw(from: number, amount: bigint, fee = 0n): UnsignedTx {
  return { type: TxType.Withdraw, from, amount, fee };
}

export function transferToNew(from: number, to: string, amount: bigint, fee = 0n): UnsignedTx {
  return { type: TxType.TransferToNew, from, to: to.toLowerCase(), amount, fee };
}

/**
 * Re-executes every closed batch with `applyBatch` from genesis (every BLS aggregate checked natively), checks its
 * step roots and that every transaction in it applied (but in the `adopted` batches, taken from L1 as they are);
 * returns the state after them.
 */
export async function checkAgainstStf(seq: Sequencer, adopted: readonly number[] = []): Promise<L2State> {
  const state = new L2State();
  for (let k = 0; k < seq.batchCount; k++) {
    const b = seq.batch(k);
    if (!b) throw new Error(`no batch ${k}`);
    const { stepRoots, steps } = applyBatch(state, {
      queueItems: seq.queueItems(b.queueStart, b.queueEnd).map(queueItemOf),
      chunks: await seq.chunksOf(k),
      feeRecipient: b.feeRecipient,
      domainSeparator: DOMAIN,
    });
    expect(stepRoots, `step roots of batch ${k}`).to.deep.equal(b.stepRoots);
    if (adopted.includes(k)) continue; // from L1: what it skipped is in it
    for (const step of steps.slice(stepRoots.length - b.chunkEnds.length)) {
      for (const o of step.outcomes) expect(o.code, o.reason).to.equal(Outcome.Applied);
    }
  }
  return state;
}

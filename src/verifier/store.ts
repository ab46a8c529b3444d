/**
 * The verifier's store on disk (`classic-level`). Every block range it
 * processes is written in one atomic, synced batch together with the cursor,
 * so after a crash or a restart it resumes exactly where the last range ended:
 * nothing read from L1 is read again, no batch is replayed twice.
 *
 *   meta            VerifierMeta: the deployment this directory belongs to
 *   cursor          Cursor: last L1 block processed, counts, the tip's root
 *   q/<index>       QueueItemJson: queue items still needed (by unsettled or future batches)
 *   b/<index>       BatchJson: an unsettled batch, its chunks and the roots computed for it
 *   p/<index>       ProposalJson: the live proposal of an unsettled batch
 *   u/<index>       UndoJson: what an unsettled batch changed (to rebuild its pre-state)
 *   a/<index>       AccountJson: account `index` of the tip state
 *   w/<index>       WithdrawalJson: withdrawal `index` of the tip state, with the batch that appended it
 *   r/<index>       "1": a batch rolled back and not yet proposed again (to re-propose)
 *   x/<seq>         ActionJson: a fraud proof, proposal or bond return this verifier sent
 *   n/<proposalId>  OwnBondJson: a bond of this verifier's that the chain still holds
 */
import { decimalKey, LevelStore, type StoreOp } from "../common/store";
import { queueItemFromJson, queueItemToJson, type QueueItemJson } from "../l1/queue";
import type { Account, Withdrawal } from "../protocol/state";
import type { BatchUndo } from "./replica";

export { queueItemFromJson, queueItemToJson, type QueueItemJson };

export type { StoreOp };

/** Zero-padded decimal, so that keys sort numerically. */
export const keyNum = (n: number, width = 12): string => decimalKey(n, width);

export const KEY_META = "meta";
export const KEY_CURSOR = "cursor";
export const queueKey = (i: number): string => `q/${keyNum(i)}`;
export const batchKey = (i: number): string => `b/${keyNum(i)}`;
export const proposalKey = (i: number): string => `p/${keyNum(i)}`;
export const undoKey = (i: number): string => `u/${keyNum(i)}`;
export const accountKey = (i: number): string => `a/${keyNum(i)}`;
export const withdrawalKey = (i: number): string => `w/${keyNum(i)}`;
export const reproposeKey = (i: number): string => `r/${keyNum(i)}`;
export const actionKey = (i: number): string => `x/${keyNum(i)}`;
export const ownBondKey = (proposalId: bigint): string => `n/${proposalId.toString().padStart(20, "0")}`;

export interface VerifierMeta {
  version: 1;
  chainId: string;
  bridge: string;
  inbox: string;
  stateCommitmentChain: string;
  fraudVerifier: string;
  startBlock: number;
}

export interface Cursor {
  /** Last L1 block whose events are applied (startBlock − 1 before the first range). */
  block: number;
  /** Next queue index expected. */
  queueLength: number;
  /** Batches appended and replayed. */
  batches: number;
  /** Batches settled: proposed with the computed roots and final. */
  settled: number;
  /** State root of the tip (checked on restore). */
  stateRoot: string;
  /** State root after the last settled batch (genesis when none). */
  settledRoot: string;
  /** Totals, for metrics across restarts. */
  transactions: number;
}

export interface BatchJson {
  index: number;
  queueStart: number;
  queueEnd: number;
  feeRecipient: number;
  forced: boolean;
  stepCount: number;
  blockNumber: number;
  transactionHash: string;
  /** Chunks as `0x` hex. */
  chunks: string[];
  /** The step roots this verifier computed. */
  stepRoots: string[];
  transactions: number;
}

export interface ProposalJson {
  batchIndex: number;
  proposer: string;
  deadline: number;
  stepRoots: string[];
  blockNumber: number;
  transactionHash: string;
  /** First step whose proposed root differs from the computed one; -1 when the proposal is right. */
  wrongStep: number;
  /** The proposal's id (decimal). */
  proposalId: string;
}

/** A bond this verifier posted, until the chain pays it back or forfeits it. */
export interface OwnBondJson {
  proposalId: string;
  batchIndex: number;
  deadline: number;
  /** Removed by the rollback of an earlier proposal: refundable at once. */
  removed: boolean;
}

export interface AccountJson {
  o: string;
  t: number;
  b: string;
  n: number;
  /** The BLS key (96 bytes hex), for an account that registered one. */
  k?: string;
}

export interface WithdrawalJson {
  r: string;
  t: number;
  a: string;
  /** The batch that appended it (the verifier's records). */
  b?: number;
}

export interface UndoJson {
  batch: number;
  accountCount: number;
  withdrawalCount: string;
  accounts: [number, AccountJson | null][];
}

/** Something the verifier did on L1. */
export interface ActionJson {
  kind: "fraudProof" | "propose" | "returnBond" | "forceInclude";
  batchIndex: number;
  stepIndex?: number;
  transactionHash?: string;
  result: "succeeded" | "reverted" | "refused";
  detail?: string;
  at: number;
}

export const accountToJson = (a: Account): AccountJson => {
  const j: AccountJson = { o: a.owner, t: a.tokenId, b: a.balance.toString(), n: a.nonce };
  if (a.blsKey !== undefined) j.k = a.blsKey;
  return j;
};
export const accountFromJson = (j: AccountJson): Account => {
  const a: Account = { owner: j.o, tokenId: j.t, balance: BigInt(j.b), nonce: j.n };
  if (j.k !== undefined) a.blsKey = j.k;
  return a;
};
export const withdrawalToJson = (w: Withdrawal): WithdrawalJson => ({
  r: w.recipient,
  t: w.tokenId,
  a: w.amount.toString(),
});
export const withdrawalFromJson = (j: WithdrawalJson): Withdrawal => ({
  recipient: j.r,
  tokenId: j.t,
  amount: BigInt(j.a),
});
export const undoToJson = (u: BatchUndo): UndoJson => ({
  batch: u.batch,
  accountCount: u.accountCount,
  withdrawalCount: u.withdrawalCount.toString(),
  accounts: u.accounts.map(([i, a]) => [i, a === null ? null : accountToJson(a)]),
});
export const undoFromJson = (j: UndoJson): BatchUndo => ({
  batch: j.batch,
  accountCount: j.accountCount,
  withdrawalCount: BigInt(j.withdrawalCount),
  accounts: j.accounts.map(([i, a]) => [i, a === null ? null : accountFromJson(a)]),
});

/** The services' store ({@link LevelStore}) holding JSON values; every write is one atomic, synced batch. */
export class VerifierStore {
  private constructor(private readonly db: LevelStore) {}

  static async open(location: string): Promise<VerifierStore> {
    return new VerifierStore(await LevelStore.open(location));
  }

  get location(): string {
    return this.db.location;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const value = await this.db.get(key);
    return value === undefined ? undefined : (JSON.parse(value) as T);
  }

  /** Every value whose key starts with `prefix`, in key order. */
  async values<T>(prefix: string): Promise<T[]> {
    const out: T[] = [];
    for await (const [, value] of this.db.entries(prefix)) out.push(JSON.parse(value) as T);
    return out;
  }

  /** Every key starting with `prefix`, in order. */
  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const [key] of this.db.entries(prefix)) out.push(key);
    return out;
  }

  /**
   * Writes `ops` atomically and durably. After a failed write the next one first reopens the store (LevelDB's log
   * is left torn by a failure; a fresh open recovers it), so a checkpoint that failed is simply written again.
   */
  async write(ops: StoreOp[]): Promise<void> {
    if (ops.length === 0) return;
    if (this.db.failed) await this.db.reopen();
    await this.db.write(ops);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Collects the operations of one checkpoint; later puts of a key replace earlier ones. */
export class WriteBatch {
  private readonly ops = new Map<string, StoreOp>();

  put(key: string, value: unknown): void {
    this.ops.set(key, { type: "put", key, value: JSON.stringify(value) });
  }

  del(key: string): void {
    this.ops.set(key, { type: "del", key });
  }

  get size(): number {
    return this.ops.size;
  }

  toOps(): StoreOp[] {
    return [...this.ops.values()];
  }
}

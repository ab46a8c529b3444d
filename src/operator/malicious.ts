/**
 * MALICIOUS MODE — for tests and demos of the fraud-proof path only.
 *
 * A lying proposer: {@link forgeStepRoots} turns the true step roots of a
 * batch into the roots a dishonest proposer would post, for each way of lying
 * that the rollup must catch (issue "The rollup on L1"): a wrong root, a
 * skipped transaction applied, an applied one skipped, a wrong queue
 * application, a forged withdrawal to the liar itself, a wrong fee credit, a
 * wrong account created. Every lie except the plain wrong root is made the way
 * a liar would make it — by mutating a clone of the true L2 state and
 * recomputing the roots with `src/protocol` — so the lie is a real, consistent
 * state that only re-execution of the step exposes.
 *
 * The operator turns it on with `BILAYER_MALICIOUS=<lie>:<batch>:<step>` (off
 * by default); {@link maliciousProposalRoots} is the proposer hook it uses. It
 * lies once, for that batch, then proposes honestly again.
 */
import { MAX_QUEUE_ITEMS_PER_STEP, Outcome, TxType } from "../protocol/constants";
import { decodeTx, type L2Tx } from "../protocol/codec";
import { BilayerError, type BilayerErrorCode } from "../protocol/errors";
import { concatBytes, keccakUtf8, normalizeAddress, toHex } from "../protocol/hash";
import { QueueKind, type QueueItem } from "../protocol/queue";
import { L2State } from "../protocol/state";
import { applyBatch, applyChunk, applyQueueStep, ChunkExecutor, type BatchInput } from "../protocol/stf";

/** The ways a proposer can lie about a step. */
export const LIE_KINDS = [
  "wrong-root",
  "apply-skipped",
  "skip-applied",
  "wrong-queue",
  "forged-withdrawal",
  "wrong-fee",
  "wrong-account",
] as const;

export type LieKind = (typeof LIE_KINDS)[number];

/** Which lie to tell, about which step of which batch. */
export interface LieSpec {
  kind: LieKind;
  batch: number;
  step: number;
}

/** What the liar needs to know about itself. */
export interface LiarContext {
  /** The liar's L1 address: the recipient of a forged withdrawal, the owner of a wrong account. */
  beneficiary: string;
  /** Amount of a forged withdrawal (ETH, token 0); default: every ETH balance on L2 after the step. */
  amount?: bigint;
}

/** The forged proposal of a batch. */
export interface ForgedRoots {
  stepRoots: string[];
  honestRoots: string[];
  /** One line saying what the lie is. */
  description: string;
}

/** The environment variable that turns malicious mode on: `<lie>:<batch>:<step>`. */
export const MALICIOUS_ENV = "BILAYER_MALICIOUS";

function malicious(code: BilayerErrorCode, message: string, context: Record<string, unknown> = {}): BilayerError {
  return new BilayerError(code, message, { context });
}

/** Parses `<lie>:<batch>:<step>`, e.g. `forged-withdrawal:2:0`. */
export function parseLieSpec(text: string): LieSpec {
  const m = /^([a-z-]+):([0-9]+):([0-9]+)$/.exec(text.trim());
  const kind = m?.[1] as LieKind | undefined;
  if (m === null || kind === undefined || !LIE_KINDS.includes(kind)) {
    throw malicious(
      "INVALID_LIE_SPEC",
      `${MALICIOUS_ENV} must be <lie>:<batch>:<step> with <lie> one of ${LIE_KINDS.join(", ")}; got "${text}"`,
      { value: text },
    );
  }
  return { kind, batch: Number(m[2]), step: Number(m[3]) };
}

type Step = { kind: "queue"; items: QueueItem[] } | { kind: "chunk"; chunk: Uint8Array };

function stepsOf(batch: BatchInput): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < batch.queueItems.length; i += MAX_QUEUE_ITEMS_PER_STEP) {
    steps.push({ kind: "queue", items: batch.queueItems.slice(i, i + MAX_QUEUE_ITEMS_PER_STEP) });
  }
  for (const chunk of batch.chunks) steps.push({ kind: "chunk", chunk });
  return steps;
}

function applyHonest(state: L2State, step: Step, batch: BatchInput): void {
  if (step.kind === "queue") applyQueueStep(state, step.items);
  else applyChunk(state, step.chunk, { domainSeparator: batch.domainSeparator, feeRecipient: batch.feeRecipient });
}

/** The transactions of a chunk with their offsets and sizes, as the STF parses them. */
function parseChunk(chunk: Uint8Array): { tx: L2Tx; offset: number; size: number }[] {
  const out: { tx: L2Tx; offset: number; size: number }[] = [];
  let offset = 0;
  while (offset < chunk.length && out.length < 32) {
    const d = decodeTx(chunk, offset);
    if (!d.ok) break;
    out.push({ tx: d.tx, offset, size: d.size });
    offset += d.size;
  }
  return out;
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** Applies `tx` while ignoring every check (a liar's "it was valid"); false when it cannot change anything. */
function forceApply(state: L2State, tx: L2Tx): boolean {
  const sender = tx.from >= 1 && tx.from <= state.accountCount ? state.getAccount(tx.from) : undefined;
  if (sender === undefined || tx.type === TxType.RegisterKey) return false;
  const moved = min(tx.amount, sender.balance);
  const debited = { ...sender, balance: sender.balance - moved, nonce: (sender.nonce + 1) >>> 0 };
  if (tx.type === TxType.Transfer) {
    const recipient = tx.to >= 1 && tx.to <= state.accountCount ? state.getAccount(tx.to) : undefined;
    if (recipient === undefined || tx.to === tx.from) return false;
    state.putAccount(tx.from, debited);
    state.putAccount(tx.to, { ...recipient, balance: recipient.balance + moved });
    return true;
  }
  if (tx.type === TxType.Withdraw) {
    state.putAccount(tx.from, debited);
    state.appendWithdrawal({ recipient: sender.owner, tokenId: sender.tokenId, amount: moved });
    return true;
  }
  if (/^0x0{40}$/.test(tx.to)) return false;
  state.putAccount(tx.from, debited);
  state.createAccount({ owner: tx.to, tokenId: sender.tokenId, balance: moved, nonce: 0 });
  return true;
}

/** The liar's version of one step, applied to `state` (the step's true pre-state). Returns what it did. */
function lieAbout(state: L2State, step: Step, batch: BatchInput, spec: LieSpec, ctx: LiarContext): string {
  const where = `batch ${spec.batch} step ${spec.step}`;
  const chunkCtx = { domainSeparator: batch.domainSeparator, feeRecipient: batch.feeRecipient };
  const needChunk = (): Uint8Array => {
    if (step.kind !== "chunk")
      throw malicious("LIE_NOT_APPLICABLE", `${spec.kind} needs a chunk step; ${where} is a queue step`);
    return step.chunk;
  };
  switch (spec.kind) {
    case "wrong-root":
      applyHonest(state, step, batch);
      return `a wrong root at ${where}`;

    case "forged-withdrawal": {
      applyHonest(state, step, batch);
      let amount = ctx.amount;
      if (amount === undefined) {
        amount = 0n;
        for (let i = 1; i <= state.accountCount; i++) {
          const a = state.getAccount(i);
          if (a !== undefined && a.tokenId === 0) amount += a.balance;
        }
      }
      if (amount === 0n) amount = 1n;
      const beneficiary = normalizeAddress(ctx.beneficiary);
      const index = state.appendWithdrawal({ recipient: beneficiary, tokenId: 0, amount });
      return `a forged withdrawal ${index} of ${amount} wei to ${beneficiary} at ${where}`;
    }

    case "wrong-account": {
      const before = state.accountCount;
      applyHonest(state, step, batch);
      if (state.accountCount === before) {
        throw malicious(
          "LIE_NOT_APPLICABLE",
          `wrong-account needs a step that creates an account; ${where} creates none`,
        );
      }
      const created = state.getAccount(before + 1);
      if (created === undefined) throw malicious("LIE_NOT_APPLICABLE", `account ${before + 1} is missing`);
      const owner = normalizeAddress(ctx.beneficiary);
      state.putAccount(before + 1, { ...created, owner });
      return `account ${before + 1} created for ${owner} instead of ${created.owner} at ${where}`;
    }

    case "wrong-fee": {
      const chunk = needChunk();
      const recipient = batch.feeRecipient;
      const feeAccount = recipient >= 1 && recipient <= state.accountCount ? state.getAccount(recipient) : undefined;
      if (feeAccount === undefined) {
        throw malicious("LIE_NOT_APPLICABLE", `wrong-fee needs a fee recipient; batch ${spec.batch} has none`);
      }
      // The fees to the liar's own account, if it holds one in the fee token other than the recipient.
      const owner = normalizeAddress(ctx.beneficiary);
      for (let i = 1; i <= state.accountCount; i++) {
        const a = state.getAccount(i);
        if (i !== recipient && a?.owner === owner && a.tokenId === feeAccount.tokenId) {
          applyChunk(state, chunk, { ...chunkCtx, feeRecipient: i });
          return `the fees of ${where} credited to account ${i} of ${owner}, not to the fee recipient ${recipient}`;
        }
      }
      // Else the recipient is credited twice what the step collected (fees minted from nothing).
      const beforeFee = state.getAccount(recipient)?.balance ?? 0n;
      const result = applyChunk(state, chunk, chunkCtx);
      const collected = (state.getAccount(recipient)?.balance ?? 0n) - beforeFee;
      const fees = parseChunk(chunk)
        .filter((_t, i) => result.outcomes[i]?.code === Outcome.Applied)
        .reduce((sum, t) => sum + t.tx.fee, 0n);
      if (fees === 0n)
        throw malicious("LIE_NOT_APPLICABLE", `wrong-fee needs a step that collects fees; ${where} collects none`);
      const after = state.getAccount(recipient);
      if (after === undefined) throw malicious("LIE_NOT_APPLICABLE", `fee recipient ${recipient} vanished`);
      state.putAccount(recipient, { ...after, balance: after.balance + fees });
      return `fee recipient ${recipient} credited ${collected + fees} for ${fees} of fees at ${where}`;
    }

    case "skip-applied": {
      const chunk = needChunk();
      const probe = state.clone();
      const outcomes = applyChunk(probe, chunk, chunkCtx).outcomes;
      const txs = parseChunk(chunk);
      const applied = txs.filter((_t, i) => outcomes[i]?.code === Outcome.Applied);
      const victim = applied.find((t) => t.tx.type === TxType.Withdraw) ?? applied[0];
      if (victim === undefined) {
        throw malicious("LIE_NOT_APPLICABLE", `skip-applied needs an applied transaction; ${where} has none`);
      }
      const censored = concatBytes(chunk.subarray(0, victim.offset), chunk.subarray(victim.offset + victim.size));
      applyChunk(state, censored, chunkCtx);
      return `the applied ${TxType[victim.tx.type]} from account ${victim.tx.from} (transaction ${txs.indexOf(victim)}) skipped at ${where}`;
    }

    case "apply-skipped": {
      const chunk = needChunk();
      const executor = new ChunkExecutor(state, chunkCtx);
      let forced: string | undefined;
      let offset = 0;
      while (offset < chunk.length && !executor.isEnded) {
        const index = executor.transactionCount;
        const { code, size } = executor.next(chunk, offset);
        if (size === 0) break;
        if (forced === undefined && code !== Outcome.Applied) {
          const d = decodeTx(chunk, offset);
          if (d.ok && forceApply(state, d.tx)) {
            forced = `the skipped ${TxType[d.tx.type]} from account ${d.tx.from} (transaction ${index}, outcome ${Outcome[code]}) applied at ${where}`;
          }
        }
        offset += size;
      }
      executor.finish();
      if (forced === undefined) {
        throw malicious("LIE_NOT_APPLICABLE", `apply-skipped needs a skipped transaction; ${where} has none`);
      }
      return forced;
    }

    case "wrong-queue": {
      if (step.kind !== "queue") {
        throw malicious("LIE_NOT_APPLICABLE", `wrong-queue needs a queue step; ${where} is a chunk step`);
      }
      const probe = state.clone();
      const outcomes = applyQueueStep(probe, step.items).outcomes;
      const exit = step.items.findIndex(
        (it, i) => it.kind === QueueKind.ForcedExit && outcomes[i]?.code === Outcome.Exited,
      );
      if (exit >= 0) {
        applyQueueStep(
          state,
          step.items.filter((_it, i) => i !== exit),
        );
        return `the forced exit of account ${step.items[exit].account} (queue item ${exit} of the step) ignored at ${where}`;
      }
      const deposit = step.items.findIndex((it) => it.kind === QueueKind.Deposit && it.amount > 0n);
      if (deposit < 0)
        throw malicious("LIE_NOT_APPLICABLE", `wrong-queue needs a deposit or an exit; ${where} has none`);
      applyQueueStep(
        state,
        step.items.map((it, i) => (i === deposit ? { ...it, amount: it.amount * 2n } : it)),
      );
      return `the deposit of ${step.items[deposit].amount} to ${step.items[deposit].addr} credited twice at ${where}`;
    }
  }
}

/**
 * The step roots a liar proposes for `batch` (whose pre-state is `pre`, not
 * mutated): honest up to `spec.step`, the lie at that step, then honest again
 * from the liar's state. Throws `BilayerError` (`LIE_NOT_APPLICABLE`) when the
 * step offers nothing to lie about in that way (e.g. no account created).
 */
export function forgeStepRoots(pre: L2State, batch: BatchInput, spec: LieSpec, ctx: LiarContext): ForgedRoots {
  const honestRoots = applyBatch(pre.clone(), batch).stepRoots;
  const steps = stepsOf(batch);
  if (!Number.isInteger(spec.step) || spec.step < 0 || spec.step >= steps.length) {
    throw malicious("LIE_NOT_APPLICABLE", `batch ${spec.batch} has ${steps.length} steps, no step ${spec.step}`, {
      step: spec.step,
      steps: steps.length,
    });
  }
  const state = pre.clone();
  const stepRoots: string[] = [];
  let description = "";
  steps.forEach((step, i) => {
    if (i === spec.step) description = lieAbout(state, step, batch, spec, ctx);
    else applyHonest(state, step, batch);
    stepRoots.push(
      i === spec.step && spec.kind === "wrong-root"
        ? toHex(keccakUtf8(`bilayer/malicious/wrong-root/${spec.batch}/${spec.step}`))
        : state.stateRoot(),
    );
  });
  if (stepRoots[spec.step] === honestRoots[spec.step]) {
    throw malicious(
      "LIE_NOT_APPLICABLE",
      `${spec.kind} at batch ${spec.batch} step ${spec.step} yields the honest root`,
    );
  }
  return { stepRoots, honestRoots, description };
}

// -----------------------------------------------------------------------------
// The operator's hook

/** What the hook reads from the operator (its `Sequencer` is one): its closed batches, their inputs, pre-states. */
export interface BatchSource {
  /** Closed batch `index`: its honest step roots. */
  closedBatch(index: number): Promise<{ stepRoots: string[] } | undefined>;
  /** Its inputs: queue items, chunks, fee recipient. */
  batchData(
    index: number,
  ): Promise<{ queueItems: readonly QueueItem[]; chunks: readonly Uint8Array[]; feeRecipient: number }>;
  /** The state before it. */
  preStateOf(index: number): Promise<L2State>;
}

/** The logger calls the hook makes (pino-compatible). */
export interface HookLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * The proposer hook of malicious mode: returns the roots to propose for batch
 * `index` — forged ones for `spec.batch` (the first time only), honest ones
 * otherwise. It rebuilds the forged batch's pre-state by replaying the earlier
 * batches from the operator's own records.
 */
export function maliciousProposalRoots(
  spec: LieSpec,
  source: BatchSource,
  opts: { domainSeparator: string; beneficiary: string; amount?: bigint; logger: HookLogger },
): (index: number) => Promise<string[]> {
  let lied = false;
  return async (index: number): Promise<string[]> => {
    const record = await source.closedBatch(index);
    if (record === undefined) throw malicious("UNKNOWN_BATCH", `no closed batch ${index}`);
    if (index !== spec.batch || lied) return record.stepRoots;
    const state = await source.preStateOf(index);
    const data = await source.batchData(index);
    const input: BatchInput = { ...data, domainSeparator: opts.domainSeparator };
    const forged = forgeStepRoots(state, input, spec, {
      beneficiary: opts.beneficiary,
      amount: opts.amount,
    });
    if (forged.honestRoots.some((r, i) => r !== record.stepRoots[i])) {
      opts.logger.error(
        { batch: index },
        "MALICIOUS MODE: the replay disagrees with the batch's roots; proposing honestly",
      );
      return record.stepRoots;
    }
    lied = true;
    opts.logger.warn(
      { batch: index, step: spec.step, lie: spec.kind, description: forged.description },
      "MALICIOUS MODE: proposing forged step roots",
    );
    return forged.stepRoots;
  };
}

/**
 * The hook when `BILAYER_MALICIOUS` is set (else `undefined`), announced
 * loudly: this operator will lie once and lose its bond to any verifier.
 */
export function maliciousHookFromEnv(
  env: Record<string, string | undefined>,
  source: BatchSource,
  opts: { domainSeparator: string; beneficiary: string; logger: HookLogger },
): ((index: number) => Promise<string[]>) | undefined {
  const text = env[MALICIOUS_ENV];
  if (text === undefined || text === "") return undefined;
  const spec = parseLieSpec(text);
  const amountText = env.BILAYER_MALICIOUS_AMOUNT;
  const amount = amountText === undefined || amountText === "" ? undefined : BigInt(amountText);
  opts.logger.warn(
    { lie: spec.kind, batch: spec.batch, step: spec.step, beneficiary: opts.beneficiary },
    "!!! MALICIOUS MODE ON (tests and demos only): this operator will propose forged step roots !!!",
  );
  return maliciousProposalRoots(spec, source, { ...opts, amount });
}

// -----------------------------------------------------------------------------
// A censoring sequencer

/** The environment variable that makes the operator censor forced exits: `forced-exits`. */
export const CENSOR_ENV = "BILAYER_CENSOR";

/** A queue item as the follower hands it on (its place in the queue and its kind are all the censor reads). */
export interface CensorableItem {
  index: number;
  kind: number;
}

/**
 * A sequencer that censors forced exits: from the first `ForcedExit` on, it
 * holds back every queue item (the queue is ordered, so nothing after a held
 * item can be included either) and keeps building batches as if the queue
 * ended there. It lets an item through only once L1 shows it consumed — by
 * someone's `forceInclude` — since a sequencer that did not know L1's queue
 * could not follow L1 at all. This is the operator an escape hatch is for.
 */
export class QueueCensor<T extends CensorableItem> {
  private readonly held: T[] = [];

  constructor(
    /** How many queue items L1's batches have consumed (the inbox's `queueConsumed`). */
    private readonly consumedOnL1: () => Promise<number>,
    private readonly logger: HookLogger,
  ) {}

  /** Items held back, for logs and tests. */
  get holding(): number {
    return this.held.length;
  }

  /** What to hand on of `items` (in queue order), with every held item L1 has consumed since. */
  async pass(items: T[]): Promise<T[]> {
    const out: T[] = [];
    for (const it of items) {
      if (this.held.length > 0 || it.kind === QueueKind.ForcedExit) {
        if (this.held.length === 0)
          this.logger.warn({ queueIndex: it.index }, "CENSOR MODE: holding back a forced exit and the queue after it");
        this.held.push(it);
      } else out.push(it);
    }
    if (this.held.length > 0) {
      // L1 not answering: what is held stays held until the next poll (nothing handed over is lost).
      const consumed = await this.consumedOnL1().catch(() => 0);
      let n = 0;
      while (n < this.held.length && this.held[n].index < consumed) n++;
      if (n > 0) {
        this.logger.warn({ released: n, consumed }, "CENSOR MODE: L1 included held items by force; following L1");
        out.push(...this.held.splice(0, n));
      }
    }
    return out;
  }
}

/** The censor when `BILAYER_CENSOR=forced-exits` is set (else `undefined`), announced loudly. */
export function censorFromEnv<T extends CensorableItem>(
  env: Record<string, string | undefined>,
  consumedOnL1: () => Promise<number>,
  logger: HookLogger,
): QueueCensor<T> | undefined {
  const text = env[CENSOR_ENV];
  if (text === undefined || text === "") return undefined;
  if (text !== "forced-exits")
    throw malicious("INVALID_CENSOR_SPEC", `${CENSOR_ENV} must be "forced-exits"; got "${text}"`, { value: text });
  logger.warn({}, "!!! CENSOR MODE ON (tests and demos only): this operator will not include forced exits !!!");
  return new QueueCensor<T>(consumedOnL1, logger);
}

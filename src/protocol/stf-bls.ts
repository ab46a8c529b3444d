import { MAX_NONCE, Outcome, outcomeName } from "./constants";
import { blsVerifyAggregateRaw, decodeBlsSignature } from "./bls";
import { blsTransferDigestFields } from "./eip712";
import { fromHex, toHex } from "./hash";
import { decodeBlsChunk, type BlsTransferFields } from "./bls-chunk";
import { EMPTY_ACCOUNT, withFunds, type Account, type L2State } from "./state";
import {
  addU256,
  checkContext,
  finishStep,
  inRange,
  WitnessRecorder,
  type StepContext,
  type StepOptions,
  type StepOutcome,
  type StepResult,
} from "./stf-step";

/*
 * The BLS chunk step (PROTOCOL.md §5.4): compact transfers under one
 * aggregate signature. Each transfer is checked by the Transfer rules (less
 * the signature) and applied in turn; at the end the aggregate is checked
 * over the applied transfers' messages, and if it fails the step undoes
 * them all.
 */

/**
 * Applies one BLS chunk step to `state` (mutated in place). Never throws on
 * any chunk bytes. `chunk[0]` must be the BLS marker (`applyChunk` routes by
 * it).
 */
export function applyBlsChunk(state: L2State, chunk: Uint8Array, ctx: StepContext, opts: StepOptions = {}): StepResult {
  const decoded = decodeBlsChunk(chunk);
  const exec = new BlsChunkExecutor(state, ctx, decoded.header?.fee ?? 0n, opts);
  for (const t of decoded.transfers) exec.next(t);
  if (decoded.end !== undefined) exec.end(decoded.end.index, decoded.end.reason, decoded.end.message);
  return exec.finish(decoded.header?.signature);
}

/**
 * A BLS chunk step, one transfer at a time (what {@link applyBlsChunk} runs,
 * and what a sequencer fills a chunk with): `next` checks a transfer by the
 * Transfer rules less the signature and applies it; `finish` checks the
 * aggregate over the applied transfers, undoes them all if it fails, and
 * credits the fees.
 */
export class BlsChunkExecutor {
  private readonly witness: WitnessRecorder | undefined;
  private readonly domainSep: Uint8Array;
  /** Token of the fee recipient read at the start of the step, or -1 when fees are disabled. */
  private readonly feeToken: number;
  private readonly outcomes: StepOutcome[] = [];
  /** Every write, with what it replaced, so a failed aggregate can undo them. */
  private readonly undo: [number, Account | undefined][] = [];
  private readonly messages: Uint8Array[] = [];
  private readonly keys: Uint8Array[] = [];
  private readonly applied: number[] = [];
  private totalFees = 0n;
  private count = 0;

  constructor(
    private readonly state: L2State,
    private readonly ctx: StepContext,
    /** The fee every transfer of the chunk pays. */
    readonly fee: bigint,
    private readonly opts: StepOptions = {},
  ) {
    this.domainSep = checkContext(ctx);
    this.witness = opts.witness === true ? new WitnessRecorder(state) : undefined;
    this.feeToken = -1;
    if (inRange(ctx.feeRecipient, state.accountCount)) {
      this.witness?.account(ctx.feeRecipient);
      this.feeToken = this.read(ctx.feeRecipient).tokenId;
    }
  }

  /** Transfers read so far (each with an outcome). */
  get transactionCount(): number {
    return this.count;
  }

  /** Transfers applied so far (their messages are what the aggregate must sign). */
  get appliedCount(): number {
    return this.applied.length;
  }

  private read(index: number): Readonly<Account> {
    return this.state.getAccount(index) ?? EMPTY_ACCOUNT;
  }

  private write(index: number, account: Account): void {
    this.undo.push([index, this.state.getAccount(index)]);
    this.state.writeAccount(index, account);
  }

  private fail(index: number, code: Outcome, detail: string): StepOutcome {
    const o = { index, code, reason: `${outcomeName(code)}: ${detail}` };
    this.outcomes.push(o);
    return o;
  }

  /** Checks and applies the next transfer; its outcome. */
  next({ from, to, amount }: BlsTransferFields): StepOutcome {
    const { state, witness, fee } = this;
    const index = this.count++;
    const count = state.accountCount;
    if (!inRange(from, count)) return this.fail(index, Outcome.SenderMissing, `sender ${from} is not in 1..${count}`);
    witness?.account(from);
    const sender = this.read(from);
    if (!inRange(to, count)) return this.fail(index, Outcome.RecipientMissing, `recipient ${to} is not in 1..${count}`);
    let recipient = sender;
    if (to !== from) {
      witness?.account(to);
      recipient = this.read(to);
    }
    if (recipient.tokenId !== sender.tokenId) {
      return this.fail(
        index,
        Outcome.TokenMismatch,
        `sender token ${sender.tokenId}, recipient token ${recipient.tokenId}`,
      );
    }
    if (fee > 0n && this.feeToken !== sender.tokenId) {
      return this.fail(
        index,
        Outcome.FeeRecipientMismatch,
        `fee ${fee} in token ${sender.tokenId}, fee token ${this.feeToken}`,
      );
    }
    if (amount + fee > sender.balance) {
      return this.fail(index, Outcome.InsufficientBalance, `amount ${amount} + fee ${fee} > balance ${sender.balance}`);
    }
    if (sender.nonce === MAX_NONCE) return this.fail(index, Outcome.NonceExhausted, "sender nonce is 2^32 - 1");
    if (sender.blsKey === undefined) return this.fail(index, Outcome.KeyMissing, `account ${from} has no BLS key`);
    this.messages.push(blsTransferDigestFields(this.domainSep, from, to, sender.tokenId, amount, fee, sender.nonce));
    this.keys.push(fromHex(sender.blsKey, 96));
    this.applied.push(this.outcomes.length);
    const o = { index, code: Outcome.Applied, reason: "Applied" };
    this.outcomes.push(o);
    if (to === from) {
      this.write(from, withFunds(sender, sender.balance - fee, sender.nonce + 1));
    } else {
      this.write(from, withFunds(sender, sender.balance - amount - fee, sender.nonce + 1));
      this.write(to, withFunds(recipient, addU256(recipient.balance, amount), recipient.nonce));
    }
    this.totalFees += fee;
    return o;
  }

  /** Parsing stopped at transfer `index` (the rest of the chunk is ignored). */
  end(index: number, reason: Outcome, message: string): void {
    this.outcomes.push({ index, code: reason, reason: `${outcomeName(reason)}: ${message}` });
  }

  /**
   * Ends the step: checks `signature` (the chunk's aggregate; absent when the
   * chunk has no header) over the applied transfers, undoing them all if it
   * fails, and credits the fees.
   */
  finish(signature: Uint8Array | undefined): StepResult {
    const { state, witness, outcomes, ctx } = this;
    if (signature !== undefined && this.applied.length > 0) {
      const verdict = checkAggregate(signature, this.messages, this.keys, witness, this.opts);
      if (verdict !== undefined) {
        for (let i = this.undo.length - 1; i >= 0; i--) state.restoreAccount(this.undo[i][0], this.undo[i][1]);
        for (const k of this.applied)
          outcomes[k] = { index: outcomes[k].index, code: Outcome.BadSignature, reason: verdict };
        this.totalFees = 0n;
      }
    }
    if (this.totalFees > 0n) {
      witness?.account(ctx.feeRecipient);
      const recipient = this.read(ctx.feeRecipient);
      state.writeAccount(
        ctx.feeRecipient,
        withFunds(recipient, addU256(recipient.balance, this.totalFees), recipient.nonce),
      );
    }
    return finishStep(state, outcomes, witness);
  }
}

/**
 * Checks the aggregate over the applied transfers and records what the chain
 * needs to check it; undefined if it holds, else why not.
 */
function checkAggregate(
  signature: Uint8Array,
  messages: Uint8Array[],
  keys: Uint8Array[],
  witness: WitnessRecorder | undefined,
  opts: StepOptions,
): string | undefined {
  if (witness !== undefined) {
    witness.blsKeys = toHex(concat(keys));
    const decoded = decodeBlsSignature(signature);
    if (decoded.kind === "point") witness.blsSignature = toHex(decoded.point);
    if (decoded.kind === "noPoint") witness.blsSignature = toHex(decoded.certificate);
  }
  const verify = opts.verifyAggregate ?? blsVerifyAggregateRaw;
  if (verify(messages, keys, signature)) return undefined;
  return `${outcomeName(Outcome.BadSignature)}: the aggregate signature does not hold for the ${messages.length} applied transfers`;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

import { applyBlsChunk } from "./stf-bls";
import {
  BLS_CHUNK_MARKER,
  MAX_ACCOUNT_COUNT,
  MAX_NONCE,
  MAX_TXS_PER_CHUNK,
  MAX_WITHDRAWAL_COUNT,
  Outcome,
  outcomeName,
  TxType,
  unreachableTxType,
} from "./constants";
import { readU32, REGISTER_KEY_KEY_BYTES, txSizeOf } from "./codec";
import { digestFields } from "./eip712";
import { BilayerError } from "./errors";
import { bytesEqualHex, keccak256, toHex } from "./hash";
import { readPackedAmount, readPackedFee } from "./packing";
import { recoverCompactBytes } from "./signature";
import { EMPTY_ACCOUNT, withFunds, type Account, type L2State } from "./state";
import { isBlsKeyValid } from "./bls";
import {
  addU256,
  checkContext,
  finishStep,
  inRange,
  WitnessRecorder,
  type SignerRecovery,
  type StepContext,
  type StepOptions,
  type StepOutcome,
  type StepResult,
} from "./stf-step";

/*
 * The chunk step (PROTOCOL.md §5.2): the per-transaction rules, applied one
 * transaction at a time. The hot path of the sequencer and the verifier.
 */

/**
 * Applies a chunk one transaction at a time (PROTOCOL.md §5.2). `applyChunk`
 * is the usual entry; a sequencer can use this directly to learn each
 * transaction's outcome as it goes. The state is mutated in place.
 */
export class ChunkExecutor {
  private readonly witness: WitnessRecorder | undefined;
  private readonly domainSep: Uint8Array;
  private readonly feeRecipient: number;
  private readonly recoverSigner: SignerRecovery;
  /** Token of the fee recipient read at the start of the step, or -1 when fees are disabled. */
  private readonly feeToken: number;
  private totalFees = 0n;
  private readonly outcomes: StepOutcome[] = [];
  private count = 0;
  private ended = false;
  private finished = false;
  private failure = "";

  constructor(
    private readonly state: L2State,
    ctx: StepContext,
    opts: StepOptions = {},
  ) {
    this.domainSep = checkContext(ctx);
    this.witness = opts.witness === true ? new WitnessRecorder(state) : undefined;
    this.feeRecipient = ctx.feeRecipient;
    this.recoverSigner = opts.recoverSigner ?? recoverCompactBytes;
    if (inRange(ctx.feeRecipient, state.accountCount)) {
      this.witness?.account(ctx.feeRecipient);
      this.feeToken = this.read(ctx.feeRecipient).tokenId;
    } else {
      this.feeToken = -1;
    }
  }

  /** Number of transactions read so far (each with an outcome). */
  get transactionCount(): number {
    return this.count;
  }

  /** Whether parsing has ended (`UnknownType`, `Truncated` or `Trailing`): no more transactions are read. */
  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Reads and applies the transaction at `bytes[offset..]`. Returns its
   * outcome and size; a size of 0 means parsing ended here (the outcome
   * says why) and the rest of the chunk is ignored.
   */
  next(bytes: Uint8Array, offset = 0): { code: Outcome; size: number } {
    if (this.finished || this.ended) {
      throw new BilayerError("CHUNK_ENDED", "this chunk step has ended: no more transactions are read", {
        context: { transactions: this.count },
      });
    }
    if (!Number.isInteger(offset) || offset < 0 || offset >= bytes.length) {
      throw new BilayerError("INVALID_OFFSET", `offset ${offset} is not inside the ${bytes.length} bytes`, {
        context: { offset, length: bytes.length },
      });
    }
    const index = this.count;
    if (index === MAX_TXS_PER_CHUNK) {
      return this.end(Outcome.Trailing, `${bytes.length - offset} bytes after transaction ${MAX_TXS_PER_CHUNK}`);
    }
    const type = bytes[offset];
    const size = txSizeOf(type);
    if (size === 0) return this.end(Outcome.UnknownType, `unknown type byte 0x${type.toString(16).padStart(2, "0")}`);
    if (bytes.length - offset < size) {
      return this.end(Outcome.Truncated, `type ${type} needs ${size} bytes, ${bytes.length - offset} left`);
    }
    this.failure = "";
    let code: Outcome;
    const known = type as TxType; // txSizeOf returned a size: a type of the table
    switch (known) {
      case TxType.Transfer:
        code = this.transfer(bytes, offset);
        break;
      case TxType.Withdraw:
        code = this.withdraw(bytes, offset);
        break;
      case TxType.TransferToNew:
        code = this.transferToNew(bytes, offset);
        break;
      case TxType.RegisterKey:
        code = this.registerKey(bytes, offset);
        break;
      default:
        // A type with a size but no rule: tsc names this line when a type is added to TxType.
        return unreachableTxType(known);
    }
    this.outcomes.push({ index, code, reason: code === Outcome.Applied ? "Applied" : this.failure });
    this.count = index + 1;
    return { code, size };
  }

  /** Credits the collected fees and returns the step's result. */
  finish(): StepResult {
    if (this.finished) {
      throw new BilayerError("CHUNK_FINISHED", "this chunk step has already finished", { context: {} });
    }
    this.finished = true;
    if (this.totalFees > 0n) {
      // Fees are only collected when the recipient existed at the start, so it exists now.
      this.witness?.account(this.feeRecipient);
      const recipient = this.read(this.feeRecipient);
      this.state.writeAccount(
        this.feeRecipient,
        withFunds(recipient, addU256(recipient.balance, this.totalFees), recipient.nonce),
      );
    }
    return finishStep(this.state, this.outcomes, this.witness);
  }

  private end(code: Outcome, reason: string): { code: Outcome; size: number } {
    this.outcomes.push({ index: this.count, code, reason: `${outcomeName(code)}: ${reason}` });
    this.ended = true;
    return { code, size: 0 };
  }

  private fail(code: Outcome, detail: string): Outcome {
    this.failure = `${outcomeName(code)}: ${detail}`;
    return code;
  }

  private read(index: number): Readonly<Account> {
    return this.state.getAccount(index) ?? EMPTY_ACCOUNT;
  }

  /** Checks 4–6 of every type: fee token, balance, nonce. */
  private checkFunds(sender: Readonly<Account>, amount: bigint, fee: bigint): Outcome | undefined {
    if (fee > 0n && this.feeToken !== sender.tokenId) {
      return this.fail(
        Outcome.FeeRecipientMismatch,
        this.feeToken < 0
          ? `fee ${fee} but the fee recipient ${this.feeRecipient} does not exist`
          : `fee in token ${sender.tokenId}, fee recipient holds token ${this.feeToken}`,
      );
    }
    if (amount + fee > sender.balance) {
      return this.fail(Outcome.InsufficientBalance, `amount ${amount} + fee ${fee} > balance ${sender.balance}`);
    }
    if (sender.nonce === MAX_NONCE) return this.fail(Outcome.NonceExhausted, "sender nonce is 2^32 - 1");
    return undefined;
  }

  private signedBy(owner: string, digest: Uint8Array, bytes: Uint8Array, sigOffset: number): boolean {
    const signer = this.recoverSigner(digest, bytes, sigOffset);
    return signer !== null && bytesEqualHex(signer, owner);
  }

  private senderMissing(from: number, count: number): Outcome {
    return this.fail(Outcome.SenderMissing, `sender ${from} is not in 1..${count}`);
  }

  private transfer(bytes: Uint8Array, offset: number): Outcome {
    const count = this.state.accountCount;
    const from = readU32(bytes, offset + 1);
    if (!inRange(from, count)) return this.senderMissing(from, count);
    this.witness?.account(from);
    const sender = this.read(from);
    const to = readU32(bytes, offset + 5);
    if (!inRange(to, count)) return this.fail(Outcome.RecipientMissing, `recipient ${to} is not in 1..${count}`);
    let recipient = sender;
    if (to !== from) {
      this.witness?.account(to);
      recipient = this.read(to);
    }
    if (recipient.tokenId !== sender.tokenId) {
      return this.fail(Outcome.TokenMismatch, `sender token ${sender.tokenId}, recipient token ${recipient.tokenId}`);
    }
    const amount = readPackedAmount(bytes, offset + 9);
    const fee = readPackedFee(bytes, offset + 14);
    const funds = this.checkFunds(sender, amount, fee);
    if (funds !== undefined) return funds;
    const digest = digestFields(
      this.domainSep,
      TxType.Transfer,
      from,
      to,
      null,
      sender.tokenId,
      amount,
      fee,
      sender.nonce,
    );
    if (!this.signedBy(sender.owner, digest, bytes, offset + 16)) {
      return this.fail(Outcome.BadSignature, `not signed by ${sender.owner} over nonce ${sender.nonce}`);
    }
    const nonce = sender.nonce + 1;
    if (to === from) {
      this.state.writeAccount(from, withFunds(sender, sender.balance - fee, nonce));
    } else {
      this.state.writeAccount(from, withFunds(sender, sender.balance - amount - fee, nonce));
      this.state.writeAccount(to, withFunds(recipient, addU256(recipient.balance, amount), recipient.nonce));
    }
    this.totalFees += fee;
    return Outcome.Applied;
  }

  private withdraw(bytes: Uint8Array, offset: number): Outcome {
    const count = this.state.accountCount;
    const from = readU32(bytes, offset + 1);
    if (!inRange(from, count)) return this.senderMissing(from, count);
    this.witness?.account(from);
    const sender = this.read(from);
    const amount = readPackedAmount(bytes, offset + 5);
    const fee = readPackedFee(bytes, offset + 10);
    const funds = this.checkFunds(sender, amount, fee);
    if (funds !== undefined) return funds;
    if (this.state.withdrawalCount === MAX_WITHDRAWAL_COUNT) {
      return this.fail(Outcome.WithdrawalLimit, "the withdrawal tree is full");
    }
    const digest = digestFields(
      this.domainSep,
      TxType.Withdraw,
      from,
      0,
      null,
      sender.tokenId,
      amount,
      fee,
      sender.nonce,
    );
    if (!this.signedBy(sender.owner, digest, bytes, offset + 12)) {
      return this.fail(Outcome.BadSignature, `not signed by ${sender.owner} over nonce ${sender.nonce}`);
    }
    this.witness?.withdrawal();
    this.state.writeAccount(from, withFunds(sender, sender.balance - amount - fee, sender.nonce + 1));
    this.state.pushWithdrawal({ recipient: sender.owner, tokenId: sender.tokenId, amount });
    this.totalFees += fee;
    return Outcome.Applied;
  }

  private transferToNew(bytes: Uint8Array, offset: number): Outcome {
    const count = this.state.accountCount;
    const from = readU32(bytes, offset + 1);
    if (!inRange(from, count)) return this.senderMissing(from, count);
    this.witness?.account(from);
    const sender = this.read(from);
    const toAddress = bytes.subarray(offset + 5, offset + 25);
    if (toAddress.every((b) => b === 0)) return this.fail(Outcome.InvalidRecipient, "recipient is address(0)");
    if (count === MAX_ACCOUNT_COUNT) return this.fail(Outcome.AccountLimit, "the account tree is full");
    const amount = readPackedAmount(bytes, offset + 25);
    const fee = readPackedFee(bytes, offset + 30);
    const funds = this.checkFunds(sender, amount, fee);
    if (funds !== undefined) return funds;
    const digest = digestFields(
      this.domainSep,
      TxType.TransferToNew,
      from,
      0,
      toAddress,
      sender.tokenId,
      amount,
      fee,
      sender.nonce,
    );
    if (!this.signedBy(sender.owner, digest, bytes, offset + 32)) {
      return this.fail(Outcome.BadSignature, `not signed by ${sender.owner} over nonce ${sender.nonce}`);
    }
    // Both entries prove against the tree at the start of the transaction: read the new slot before writing.
    this.witness?.account(count + 1);
    this.state.writeAccount(from, withFunds(sender, sender.balance - amount - fee, sender.nonce + 1));
    this.state.pushAccount({ owner: toHex(toAddress), tokenId: sender.tokenId, balance: amount, nonce: 0 });
    this.totalFees += fee;
    return Outcome.Applied;
  }

  private registerKey(bytes: Uint8Array, offset: number): Outcome {
    const count = this.state.accountCount;
    const from = readU32(bytes, offset + 1);
    if (!inRange(from, count)) return this.senderMissing(from, count);
    this.witness?.account(from);
    const sender = this.read(from);
    const fee = readPackedFee(bytes, offset + 5);
    const funds = this.checkFunds(sender, 0n, fee);
    if (funds !== undefined) return funds;
    const key = bytes.subarray(offset + 7, offset + 7 + REGISTER_KEY_KEY_BYTES);
    if (!isBlsKeyValid(key)) {
      return this.fail(Outcome.BadKey, "not a G1 point in the subgroup (or infinity, or a coordinate not below p)");
    }
    const digest = digestFields(
      this.domainSep,
      TxType.RegisterKey,
      from,
      0,
      keccak256(key),
      sender.tokenId,
      0n,
      fee,
      sender.nonce,
    );
    if (!this.signedBy(sender.owner, digest, bytes, offset + 7 + REGISTER_KEY_KEY_BYTES)) {
      return this.fail(Outcome.BadSignature, `not signed by ${sender.owner} over nonce ${sender.nonce}`);
    }
    const next = withFunds(sender, sender.balance - fee, sender.nonce + 1);
    next.blsKey = toHex(key);
    this.state.writeAccount(from, next);
    this.totalFees += fee;
    return Outcome.Applied;
  }
}

/**
 * Applies one chunk step to `state` (mutated in place: `clone()` it first to
 * keep the pre-state). Never throws on any chunk bytes.
 */
export function applyChunk(state: L2State, chunk: Uint8Array, ctx: StepContext, opts: StepOptions = {}): StepResult {
  if (chunk.length > 0 && chunk[0] === BLS_CHUNK_MARKER) return applyBlsChunk(state, chunk, ctx, opts);
  const executor = new ChunkExecutor(state, ctx, opts);
  let offset = 0;
  while (offset < chunk.length) {
    const { size } = executor.next(chunk, offset);
    if (size === 0) break;
    offset += size;
  }
  return executor.finish();
}

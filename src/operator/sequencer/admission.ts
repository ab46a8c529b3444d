import { MAX_NONCE, Outcome, outcomeName, TxType, unreachableTxType } from "../../protocol/constants";
import { decodeTx, txHash, type L2Tx } from "../../protocol/codec";
import { txDigest } from "../../protocol/eip712";
import { isBilayerError } from "../../protocol/errors";
import { isBlsKeyValid } from "../../protocol/bls";
import { decodeBlsEnvelope, isBlsEnvelope, type BlsTransferEnvelope } from "../../protocol/bls-chunk";
import { fromHex, toHex } from "../../protocol/hash";
import type { Account, L2State } from "../../protocol/state";
import { Mempool, MempoolFullError, type WaitingTx } from "../mempool";
import { blsNeedsRecheck, blsSignatureHolds, copyPresigned, recoverPresigned, type Prechecked } from "../presign";
import { isRefusal, reject, type Refusal } from "../refusals";
import { CheckBudget } from "./check-budget";
import type { TxStatus } from "./l2-index";
import type { SequencerParts } from "./parts";

/**
 * What `l2_sendTransaction` answers: for a new transaction `pending` (applied to the pending state) or `queued`
 * (waiting for an earlier nonce); for one sent before, wherever it stands now.
 */
export interface SubmitResult {
  hash: string;
  status: TxStatus;
  from: number;
  nonce: number;
  /** Why it was skipped (status `skipped`). */
  reason?: string;
  /** The batch that holds it, once it is in a closed one. */
  batchIndex?: number;
}

/** A transaction the STF would skip: the refusal, its outcome, and what to tell the sender. */
export interface Rejection {
  refusal: Refusal;
  outcome: Outcome;
  message: string;
  data: Record<string, unknown>;
}

const U32 = 2 ** 32;
/** How many nonces on each side of the account's a refused signature is tried against, to tell a wrong nonce. */
const NONCE_PROBES = 3;

/**
 * The STF's checks other than the signature (PROTOCOL.md §5.2), against `state` with fee recipient `feeRecipient`:
 * a transaction failing one never reaches the chunk. (test/operator/admission.test.ts holds them against the STF.)
 */
export function admissionCheck(
  state: L2State,
  feeRecipient: number,
  tx: L2Tx,
  sender: Readonly<Account>,
): Rejection | undefined {
  const count = state.accountCount;
  const no = (refusal: Refusal, outcome: Outcome, message: string, data: Record<string, unknown> = {}) => ({
    refusal,
    outcome,
    message,
    data: { reason: outcomeName(outcome), ...data },
  });
  // The type's own rules first, as the STF checks them (PROTOCOL.md §5.2); tsc names this switch for a new type.
  switch (tx.type) {
    case TxType.Transfer: {
      const recipient = tx.to >= 1 && tx.to <= count ? state.getAccount(tx.to) : undefined;
      if (!recipient) {
        return no(
          "UNKNOWN_ACCOUNT",
          Outcome.RecipientMissing,
          `recipient account ${tx.to} does not exist (accounts are 1..${count})`,
          { account: tx.to },
        );
      }
      if (recipient.tokenId !== sender.tokenId) {
        return no(
          "WOULD_BE_SKIPPED",
          Outcome.TokenMismatch,
          `token mismatch: sender holds token ${sender.tokenId}, recipient ${tx.to} holds token ${recipient.tokenId}`,
        );
      }
      break;
    }
    case TxType.TransferToNew:
      if (/^0x0{40}$/.test(tx.to))
        return no("WOULD_BE_SKIPPED", Outcome.InvalidRecipient, "invalid recipient: address(0)");
      if (count >= U32 - 1) return no("WOULD_BE_SKIPPED", Outcome.AccountLimit, "the account tree is full");
      break;
    case TxType.Withdraw:
      break; // its own rule (the tree's room) comes after the common ones
    case TxType.RegisterKey:
      break; // its own rule (a valid key) comes after the common ones
    default:
      return unreachableTxType(tx);
  }
  const amount = tx.type === TxType.RegisterKey ? 0n : tx.amount;
  if (tx.fee > 0n) {
    const feeAccount = feeRecipient >= 1 && feeRecipient <= count ? state.getAccount(feeRecipient) : undefined;
    if (!feeAccount || feeAccount.tokenId !== sender.tokenId) {
      return no(
        "WOULD_BE_SKIPPED",
        Outcome.FeeRecipientMismatch,
        feeAccount
          ? `fee in token ${sender.tokenId}, but the fee recipient holds token ${feeAccount.tokenId}`
          : "this operator takes no fees: send the transaction with fee 0",
      );
    }
  }
  if (amount + tx.fee > sender.balance) {
    return no(
      "INSUFFICIENT_BALANCE",
      Outcome.InsufficientBalance,
      `insufficient balance: amount ${amount} + fee ${tx.fee} > balance ${sender.balance} of account ${tx.from}`,
      { balance: sender.balance.toString(), amount: amount.toString(), fee: tx.fee.toString() },
    );
  }
  if (sender.nonce === MAX_NONCE)
    return no("WOULD_BE_SKIPPED", Outcome.NonceExhausted, "the sender's nonce is exhausted");
  if (tx.type === TxType.Withdraw && state.withdrawalCount >= BigInt(U32)) {
    return no("WOULD_BE_SKIPPED", Outcome.WithdrawalLimit, "the withdrawal tree is full");
  }
  if (tx.type === TxType.RegisterKey && !isBlsKeyValid(fromHex(tx.blsKey, 96))) {
    return no(
      "WOULD_BE_SKIPPED",
      Outcome.BadKey,
      "not a BLS public key: x ‖ y must be a G1 point in the subgroup, each coordinate below p, not infinity",
    );
  }
  return undefined;
}

/**
 * {@link admissionCheck} for a BLS transfer: the Transfer rules less the signature, and a key to check it by
 * (PROTOCOL.md §5.4). The fee is the transfer's own: a chunk holds transfers of one fee.
 */
export function blsAdmissionCheck(
  state: L2State,
  feeRecipient: number,
  e: BlsTransferEnvelope,
  sender: Readonly<Account>,
): Rejection | undefined {
  const asTransfer: L2Tx = {
    type: TxType.Transfer,
    from: e.from,
    to: e.to,
    amount: e.amount,
    fee: e.fee,
    signature: "0x",
  };
  const r = admissionCheck(state, feeRecipient, asTransfer, sender);
  if (r || sender.blsKey !== undefined) return r;
  return {
    refusal: "WOULD_BE_SKIPPED",
    outcome: Outcome.KeyMissing,
    message: `account ${e.from} has no BLS key: register one (RegisterKey) before sending BLS transfers`,
    data: { reason: outcomeName(Outcome.KeyMissing) },
  };
}

/**
 * A transaction or BLS transfer handed in, as admission sees either: its sender, its rules, and whether it is
 * signed by the sender over a given nonce.
 */
interface Candidate {
  from: number;
  bytes: Uint8Array;
  hash: string;
  /** The STF's rules other than the signature, against the pending state. */
  rules(sender: Readonly<Account>): Rejection | undefined;
  /** Whether it is signed by `sender` (its owner, or its BLS key) over `nonce`. */
  signedOver(sender: Readonly<Account>, nonce: number, presigned: Prechecked | undefined): boolean;
  /** Who must have signed, for a refusal. */
  signerName(sender: Readonly<Account>): string;
  /**
   * How many nonces on each side of the account's a refused signature is tried against, to tell a wrong nonce:
   * {@link NONCE_PROBES} for a signed transaction (~0.1 ms a try); none for a BLS transfer, whose tries would cost
   * ~0.7 ms each on the sequencer's thread for anyone sending bad signatures (sign one ahead with `nonce`).
   */
  probes: number;
  /** Whether checking it now would redo, natively, a check made ahead over another nonce (a BLS transfer's). */
  recheck?(sender: Readonly<Account>, presigned: Prechecked | undefined): boolean;
}

/**
 * Admission: decides what happens to a transaction handed in — refused with the protocol outcome behind the
 * refusal (nothing the STF would skip reaches a chunk), sequenced now, or kept in the mempool until its nonce
 * comes — and releases waiting transactions when it does. Answers in protocol terms ({@link RefusedError}); the
 * API alone maps them to JSON-RPC.
 */
export class Admission {
  mempool: Mempool;
  /** Signature work on refusal paths and stale guesses, a second (./check-budget.ts). */
  private readonly checks: CheckBudget;

  constructor(private readonly p: SequencerParts) {
    this.mempool = new Mempool(p.opts.mempool);
    this.checks = new CheckBudget(p.opts.checkBudget);
  }

  /** Empties the mempool (the state is being rebuilt; the waiting transactions are read back from the store). */
  reset(): void {
    this.mempool = new Mempool(this.p.opts.mempool);
  }

  /** See `Sequencer.submit`. */
  async submit(bytes: Uint8Array, nonce?: number, presigned?: Prechecked): Promise<SubmitResult> {
    const why = this.p.gate.notAccepting;
    if (why !== undefined) {
      reject("NOT_ACCEPTING", `the sequencer is not accepting transactions right now: ${why}`, { reason: why });
    }
    const c = this.candidate(bytes);
    const hash = c.hash;
    if (this.mempool.byId(hash) || this.p.index.lookup(hash)) return this.resent(hash);
    try {
      return await this.admit(c, nonce, presigned);
    } catch (err) {
      // Sent again long after it was accepted (its batch is in the snapshot, so not indexed in memory): its nonce is
      // used now and it fails the checks. The store knows it; answer where it stands.
      if (isRefusal(err) && err.code !== "STORE_FAILED" && (await this.p.index.storedReceipt(hash)))
        return this.resent(hash);
      throw err;
    }
  }

  /**
   * The candidate in `bytes`: a packed transaction (PROTOCOL.md §3) or a BLS transfer's envelope
   * (`../../protocol/bls-chunk.ts`). Refuses bytes that are neither, whole.
   */
  private candidate(bytes: Uint8Array): Candidate {
    const hash = txHash(bytes);
    const { state, ctx } = this.p;
    if (isBlsEnvelope(bytes)) {
      const d = decodeBlsEnvelope(bytes);
      if (!d.ok) reject("NOT_A_TRANSACTION", `not a BLS transfer: ${d.message}`);
      const e = d.envelope;
      return {
        from: e.from,
        bytes,
        hash,
        rules: (sender) => blsAdmissionCheck(state, ctx.feeRecipient, e, sender),
        signedOver: (sender, nonce, presigned) =>
          blsSignatureHolds(presigned, ctx.domainSeparator, e, sender, this.p.builder.countRecovery, nonce),
        probes: 0,
        recheck: (sender, presigned) => blsNeedsRecheck(presigned, ctx.domainSeparator, e, sender),
        signerName: (sender) =>
          `the BLS key of account ${e.from}${sender.blsKey === undefined ? " (none registered)" : ""}`,
      };
    }
    const decoded = decodeTx(bytes, 0);
    if (!decoded.ok) reject("NOT_A_TRANSACTION", `not a transaction: ${decoded.message}`, undefined, decoded.reason);
    if (decoded.size !== bytes.length) {
      reject("NOT_A_TRANSACTION", `a type-${bytes[0]} transaction is ${decoded.size} bytes, got ${bytes.length}`);
    }
    const tx = decoded.tx;
    return {
      from: tx.from,
      bytes,
      hash,
      rules: (sender) => this.check(tx, sender),
      signedOver: (sender, nonce, presigned) =>
        this.signerOf(tx, bytes, sender.tokenId, nonce, presigned) === sender.owner,
      probes: NONCE_PROBES,
      signerName: (sender) => `${sender.owner}, the owner of account ${tx.from},`,
    };
  }

  /** The STF's rules other than the signature for the transaction or BLS transfer in `bytes` (see `candidate`). */
  checkBytes(bytes: Uint8Array, sender: Readonly<Account>): Rejection | undefined {
    try {
      return this.candidate(bytes).rules(sender);
    } catch (err) {
      if (!isRefusal(err)) throw err;
      return { refusal: err.code, outcome: err.outcome ?? Outcome.UnknownType, message: err.message, data: {} };
    }
  }

  /** {@link submit} of a transaction not seen before. */
  private async admit(
    c: Candidate,
    nonce: number | undefined,
    presigned: Prechecked | undefined,
  ): Promise<SubmitResult> {
    const { from, hash, bytes } = c;
    const sender = this.p.index.account(from);
    if (!sender) {
      reject(
        "UNKNOWN_ACCOUNT",
        `sender account ${from} does not exist (accounts are 1..${this.p.state.accountCount})`,
        { reason: outcomeName(Outcome.SenderMissing), account: from },
        Outcome.SenderMissing,
      );
    }
    if (nonce !== undefined && nonce !== sender.nonce) {
      if (nonce < sender.nonce) {
        reject("WRONG_NONCE", `nonce ${nonce} is already used: account ${from} is at nonce ${sender.nonce}`, {
          nonce,
          accountNonce: sender.nonce,
        });
      }
      return this.enqueueWaiting(c, sender, nonce, presigned);
    }
    const r = c.rules(sender);
    if (r) reject(r.refusal, r.message, r.data, r.outcome);
    if (c.recheck?.(sender, presigned) && !this.checks.take()) {
      reject(
        "NOT_ACCEPTING",
        `the signature was checked ahead over another nonce than account ${from}'s (${sender.nonce}), where it does not hold, and the sequencer is at its limit of checks made again: send it again, or name its nonce`,
        { reason: "CHECK_LIMIT", nonce: sender.nonce },
      );
    }

    const usedNonce = sender.nonce;
    const code = this.p.builder.sequenceOne(bytes, { hash, from, nonce: usedNonce, at: Date.now() }, presigned);
    if (code !== Outcome.Applied) return this.explainSkip(c, sender, code);
    this.promote(from);
    await this.p.journal.commitOrFail();
    this.p.opts.metrics.accepted();
    return { hash, status: "pending", from, nonce: usedNonce };
  }

  /**
   * The answer to a transaction sent again (a wallet retrying after a lost response): its hash and where it stands
   * now, never a second copy. The first copy may still be on its way to the disk, so it answers only once every
   * write issued so far is durable; if that write failed, the transaction was never acknowledged and the sender
   * hears so, as the first copy's sender did.
   */
  private async resent(hash: string): Promise<SubmitResult> {
    await this.p.journal.written();
    const why = this.p.gate.unavailable;
    if (why !== undefined) {
      reject("NOT_ACCEPTING", `the sequencer is not accepting transactions right now: ${why}`, { reason: why });
    }
    const r = await this.p.index.receipt(hash);
    if (r === undefined) {
      reject("NOT_ACCEPTING", "the transaction's first copy was not stored; send it again", { hash });
    }
    return {
      hash,
      status: r.status,
      from: r.from,
      nonce: r.nonce,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
      ...(r.batchIndex === undefined ? {} : { batchIndex: r.batchIndex }),
    };
  }

  /** {@link admissionCheck} against the pending state. */
  check(tx: L2Tx, sender: Readonly<Account>): Rejection | undefined {
    return admissionCheck(this.p.state, this.p.ctx.feeRecipient, tx, sender);
  }

  /** Why the executor skipped a transaction that passed the pre-checks (a signature problem, in practice). */
  private async explainSkip(c: Candidate, sender: Readonly<Account>, code: Outcome): Promise<SubmitResult> {
    if (code !== Outcome.BadSignature) {
      reject(
        "WOULD_BE_SKIPPED",
        `the transaction would be skipped: ${outcomeName(code)}`,
        { reason: outcomeName(code) },
        code,
      );
    }
    // Signed over a nearby nonce? A few checks, on this error path only (each costs ~0.1 ms, a BLS one ~0.6 ms).
    // Checked here: a check made ahead was for another message than the one checked (or it would have applied).
    const signed = (n: number): boolean => c.signedOver(sender, n, undefined);
    const probes = c.probes > 0 && this.checks.take() ? c.probes : 0;
    for (let d = 1; d <= probes; d++) {
      const ahead = sender.nonce + d;
      if (d <= this.mempool.limits.maxNonceGap && ahead <= MAX_NONCE && signed(ahead)) {
        return this.enqueueWaiting(c, sender, ahead, undefined);
      }
      const behind = sender.nonce - d;
      if (behind >= 0 && signed(behind)) {
        reject(
          "WRONG_NONCE",
          `signed over nonce ${behind}, which is already used: account ${c.from} is at nonce ${sender.nonce}`,
          { nonce: behind, accountNonce: sender.nonce },
        );
      }
    }
    const untried = probes < c.probes ? " (other nonces not tried: the sequencer is at its limit of such checks)" : "";
    reject(
      "BAD_SIGNATURE",
      `bad signature: not signed by ${c.signerName(sender)} over nonce ${sender.nonce}${untried}`,
      {
        owner: sender.owner,
        nonce: sender.nonce,
      },
    );
  }

  /** Stores a transaction signed over a future nonce until its turn. */
  private async enqueueWaiting(
    c: Candidate,
    sender: Readonly<Account>,
    nonce: number,
    presigned: Prechecked | undefined,
  ): Promise<SubmitResult> {
    const { from, hash, bytes } = c;
    if (!c.signedOver(sender, nonce, presigned)) {
      reject("BAD_SIGNATURE", `bad signature: not signed by ${c.signerName(sender)} over nonce ${nonce}`, {
        owner: sender.owner,
        nonce,
      });
    }
    // The recovery rides along (in memory only) for when the transaction's turn comes.
    const w: WaitingTx = { hash, from, nonce, bytes, receivedAt: Date.now() };
    if (presigned) w.presigned = copyPresigned(presigned);
    try {
      if (!this.mempool.check(w, sender.nonce)) return { hash, status: "queued", from, nonce };
    } catch (err) {
      if (err instanceof MempoolFullError) reject("MEMPOOL_FULL", err.message);
      if (isBilayerError(err, "NONCE_TOO_HIGH")) {
        reject("WRONG_NONCE", err.message, { nonce, accountNonce: sender.nonce });
      }
      throw err;
    }
    const replaced = this.mempool.add(w);
    this.p.journal.putWaiting({ hash, bytes: toHex(bytes), from, nonce, acceptedAt: w.receivedAt });
    await this.p.journal.commitOrFail();
    if (replaced)
      this.p.opts.logger.info({ from, nonce, replaced: replaced.hash, by: hash }, "waiting transaction replaced");
    this.p.updateGauges();
    return { hash, status: "queued", from, nonce };
  }

  /** Applies the waiting transactions of `from` whose nonce has come, in order (or drops them). */
  promote(from: number): void {
    const journal = this.p.journal;
    for (;;) {
      const sender = this.p.index.account(from);
      if (!sender) return;
      for (const stale of this.mempool.dropBelow(from, sender.nonce)) {
        journal.delWaiting(from, stale.nonce);
        this.drop(stale, Outcome.BadSignature, "its nonce was used by another transaction");
      }
      const next = this.mempool.take(from, sender.nonce);
      if (!next) return;
      journal.delWaiting(from, next.nonce);
      const rejection = this.checkBytes(next.bytes, sender);
      if (rejection) {
        this.drop(next, rejection.outcome, rejection.message);
        continue;
      }
      const entry = { hash: next.hash, from, nonce: next.nonce, at: next.receivedAt };
      const code = this.p.builder.sequenceOne(next.bytes, entry, next.presigned);
      if (code !== Outcome.Applied) {
        this.drop(next, code, outcomeName(code));
        continue;
      }
      this.p.opts.metrics.accepted();
    }
  }

  /** Records that waiting transaction `w` was skipped when its turn came, and why. */
  drop(w: WaitingTx, code: Outcome, reason: string): void {
    const d = { hash: w.hash, from: w.from, nonce: w.nonce, receivedAt: w.receivedAt, code, reason };
    this.p.opts.logger.info({ hash: w.hash, from: w.from, nonce: w.nonce, reason }, "waiting transaction skipped");
    this.p.index.noteDropped(d);
    this.p.journal.putDropped(d);
  }

  /** The lowercase address that signed `tx` (packed: `bytes`) over `tokenId` and `nonce`, or null. */
  private signerOf(
    tx: L2Tx,
    bytes: Uint8Array,
    tokenId: number,
    nonce: number,
    presigned: Prechecked | undefined,
  ): string | null {
    const digest = txDigest(this.p.ctx.domainSeparator, tx, tokenId, nonce);
    const signer = recoverPresigned(presigned, digest, bytes, bytes.length - 64, this.p.builder.countRecovery);
    return signer === null ? null : toHex(signer);
  }
}

import { MAX_UINT256, MAX_UINT32, type Outcome } from "./constants";
import { BilayerError } from "./errors";
import { fromHex, toHex } from "./hash";
import { blsKeyHashOf, EMPTY_ACCOUNT, stateRootOf, type L2State, type StateHeader } from "./state";

const ZERO_HASH = "0x" + "00".repeat(32);

/*
 * What every step of the state-transition function shares (PROTOCOL.md §5,
 * §6): its context, options, outcomes and result, the witness it records,
 * and the arithmetic both kinds of step use. Internal to the STF: the public
 * names are re-exported from `./stf`.
 */

/** Context of a chunk step. */
export interface StepContext {
  /** Domain separator of the inbox (`domainSeparator(chainId, inbox)`), `0x` hex. */
  domainSeparator: string;
  /** The batch's fee recipient account index. */
  feeRecipient: number;
}

/**
 * Recovers the signer of `digest` from the 64-byte compact signature at
 * `bytes[sigOffset..sigOffset + 64]`: its 20-byte address, or `null` where
 * OpenZeppelin's `tryRecover` reports an error. {@link recoverCompactBytes}
 * is the reference.
 */
export type SignerRecovery = (digest: Uint8Array, bytes: Uint8Array, sigOffset: number) => Uint8Array | null;

export interface StepOptions {
  /** Record the witness the on-chain executor needs for this step. */
  witness?: boolean;
  /**
   * How a chunk step recovers each transaction's signer; the default is
   * `recoverCompactBytes` (native libsecp256k1). A replacement must return
   * exactly what `recoverCompactBytes(digest, bytes, sigOffset)` returns for
   * the same arguments: it is there so that a caller can hand in a recovery
   * already done elsewhere (on another thread, say) for the very same
   * digest and signature bytes — checking both before trusting it — and
   * leaves the STF's rules and outcomes unchanged. The executor calls it
   * only for a transaction that passed every other check, with the digest it
   * computed from the pre-state (the sender's token and nonce), and does not
   * keep its arguments or result.
   */
  recoverSigner?: SignerRecovery;
  /**
   * How a BLS chunk step checks its aggregate signature; the default is
   * `blsVerifyAggregateRaw` (native blst). A replacement must answer exactly
   * what the default answers for the same arguments (a sequencer that has
   * checked each signature already can say so, for the chunk it built).
   */
  verifyAggregate?: AggregateCheck;
}

/** Whether `signature` (compressed) aggregates a signature by `keys[i]` (uncompressed) of `messages[i]` for each i. */
export type AggregateCheck = (
  messages: readonly Uint8Array[],
  keys: readonly Uint8Array[],
  signature: Uint8Array,
) => boolean;

/** The outcome of the transaction or queue item at `index` of the step. */
export interface StepOutcome {
  index: number;
  code: Outcome;
  reason: string;
}

/** ABI shape of the Solidity `Account` struct. */
export interface WitnessAccount {
  owner: string;
  tokenId: number;
  balance: bigint;
  nonce: number;
  /** keccak of the account's BLS key (§1.1), or 32 zero bytes for an account without one (`0x` hex). */
  blsKeyHash: string;
}

/** ABI shape of the Solidity `AccountWitness` struct: an account and its 32 siblings (`0x` hex). */
export interface AccountWitness {
  account: WitnessAccount;
  siblings: string[];
}

/** ABI shape of the Solidity `StepWitness` struct (PROTOCOL.md §6): pass it to a contract call unchanged. */
export interface StepWitness {
  accounts: AccountWitness[];
  withdrawals: string[][];
  /** A BLS chunk step's keys: the uncompressed key (96 bytes) of each applied transfer's sender, in order. */
  blsKeys: string;
  /** A BLS chunk step's aggregate signature, decompressed, or the proof that it decompresses to nothing (§6). */
  blsSignature: string;
}

export interface StepResult {
  postRoot: string;
  header: StateHeader;
  outcomes: StepOutcome[];
  /** Present when the step ran with `{ witness: true }`. */
  witness?: StepWitness;
}

const TWO_256 = 1n << 256n;

/** `a + b` modulo 2^256, as Solidity's unchecked arithmetic (PROTOCOL.md §1.2: never wraps in a valid state). */
export function addU256(a: bigint, b: bigint): bigint {
  const sum = a + b;
  return sum > MAX_UINT256 ? sum - TWO_256 : sum;
}

/** Whether `index` names an account of a tree holding `count` (indices start at 1). */
export function inRange(index: number, count: number): boolean {
  return index >= 1 && index <= count;
}

/** Records witness entries in consumption order, each proven against the tree as it is when recorded. */
export class WitnessRecorder {
  readonly accounts: AccountWitness[] = [];
  readonly withdrawals: string[][] = [];
  blsKeys = "0x";
  blsSignature = "0x";

  constructor(private readonly state: L2State) {}

  account(index: number): void {
    const a = this.state.getAccount(index) ?? EMPTY_ACCOUNT;
    const keyHash = blsKeyHashOf(a);
    this.accounts.push({
      account: {
        owner: a.owner,
        tokenId: a.tokenId,
        balance: a.balance,
        nonce: a.nonce,
        blsKeyHash: keyHash === undefined ? ZERO_HASH : toHex(keyHash),
      },
      siblings: this.state.accountProof(index).map(toHex),
    });
  }

  withdrawal(): void {
    this.withdrawals.push(this.state.withdrawalProof(this.state.withdrawalCount).map(toHex));
  }

  result(): StepWitness {
    return {
      accounts: this.accounts,
      withdrawals: this.withdrawals,
      blsKeys: this.blsKeys,
      blsSignature: this.blsSignature,
    };
  }
}

/** The step's result: the state's header and root after it, its outcomes, its witness if recorded. */
export function finishStep(state: L2State, outcomes: StepOutcome[], witness: WitnessRecorder | undefined): StepResult {
  const header = state.header();
  const result: StepResult = { postRoot: stateRootOf(header), header, outcomes };
  if (witness !== undefined) result.witness = witness.result();
  return result;
}

/** Checks a chunk step's context (API misuse throws) and returns its domain separator's bytes. */
export function checkContext(ctx: StepContext): Uint8Array {
  if (!Number.isInteger(ctx.feeRecipient) || ctx.feeRecipient < 0 || ctx.feeRecipient > MAX_UINT32) {
    throw new BilayerError("INVALID_STEP_CONTEXT", `feeRecipient ${ctx.feeRecipient} is not a u32`, {
      context: { feeRecipient: ctx.feeRecipient },
    });
  }
  return fromHex(ctx.domainSeparator, 32);
}

/**
 * An L1 transaction of the operator as the L1 sender keeps it: what it is
 * for, the signed attempts that share its nonce, and the errors that tell the
 * driver how it went.
 */
import type { TransactionReceipt } from "ethers";
import { MAX_L1_TX_BYTES } from "../l1/batch";
import { BilayerError } from "../protocol/errors";

/**
 * What an L1 transaction is for, e.g. `{ kind: "append", batch: 4 }`: append a batch, propose its roots, prove a
 * proposal of it wrong, or take back the bond of proposal `proposal` (of batch `batch`).
 */
export interface TxPurpose {
  kind: "append" | "propose" | "prove" | "returnBond";
  batch: number;
  proposal?: string;
}

/** A short label of a purpose, for logs and status (`append:4`, `returnBond:4#7`). */
export function purposeLabel(p: TxPurpose): string {
  return `${p.kind}:${p.batch}${p.proposal === undefined ? "" : `#${p.proposal}`}`;
}

/** One signed version of an L1 transaction (replacements share the nonce). */
export interface TxAttempt {
  hash: string;
  raw: string;
  maxFeePerGas: string;
  maxPriorityFeePerGas: string;
  sentAt: number;
}

/**
 * An L1 transaction of the operator, stored before it is first broadcast and
 * kept until it is `confirmations` deep, so a crash, a stuck fee or a reorg
 * can always be recovered from by re-sending one of its signed attempts.
 */
export interface L1TxRecord {
  nonce: number;
  purpose: TxPurpose;
  to: string;
  data: string;
  value: string;
  gasLimit: string;
  attempts: TxAttempt[];
  /** Set by `cancel()`: later attempts are empty transfers to self, so that none of its purpose lands. */
  cancelled?: boolean;
  /** Set once a receipt for one of the attempts was seen. */
  mined?: { hash: string; blockNumber: number; blockHash: string; status: number; gasUsed: string };
}

/** A signed transaction larger than a public mempool relays: it would never be mined. */
export class L1TxTooLargeError extends BilayerError {
  constructor(purpose: TxPurpose, size: number) {
    super(
      "L1_TX_TOO_LARGE",
      `${purposeLabel(purpose)} would be a ${size}-byte transaction; public mempools refuse non-blob transactions over ${MAX_L1_TX_BYTES} bytes`,
      { context: { size, max: MAX_L1_TX_BYTES } },
    );
  }
}

/** The L1 reverted one of the operator's transactions. */
export class L1TxRevertedError extends BilayerError {
  constructor(
    readonly record: L1TxRecord,
    readonly receipt: TransactionReceipt,
  ) {
    super("L1_TX_REVERTED", `L1 transaction ${receipt.hash} (${purposeLabel(record.purpose)}) reverted`, {
      context: { hash: receipt.hash, nonce: record.nonce, purpose: record.purpose },
    });
  }
}

/** Why the node does not take the operator's transactions right now: the lowest one it refused, and its answer. */
export interface SenderBlocked {
  nonce: number;
  purpose: TxPurpose;
  reason: string;
  since: number;
}

/**
 * The node refused a transaction (say the key cannot pay for it): it is kept and sent again, same nonce, until the
 * node takes it; no later nonce goes out before. What the operator reports as "cannot pay L1".
 */
export class L1SendBlockedError extends BilayerError {
  constructor(readonly blocked: SenderBlocked) {
    super(
      "L1_SEND_BLOCKED",
      `the L1 node refuses transaction nonce ${blocked.nonce} (${purposeLabel(blocked.purpose)}): ${blocked.reason}`,
      { context: { nonce: blocked.nonce, purpose: purposeLabel(blocked.purpose), reason: blocked.reason } },
    );
  }
}

/** None of a transaction's attempts was mined, yet its nonce is spent: another transaction of the key took it. */
export class L1TxLostError extends BilayerError {
  constructor(readonly record: L1TxRecord) {
    super(
      "L1_TX_LOST",
      `L1 transaction nonce ${record.nonce} (${purposeLabel(record.purpose)}) was spent by another transaction`,
      {
        context: { nonce: record.nonce, purpose: record.purpose },
      },
    );
  }
}

/**
 * The verifier's L1 transactions: a fraud proof of one step, a proposal of the
 * roots it computed, the return of its bond. Each is estimated first (so a
 * proof that would revert costs nothing and its custom error is reported),
 * then sent and waited for.
 */
import type { ContractTransactionResponse, Interface, TransactionReceipt } from "ethers";
import {
  Bridge__factory,
  FraudVerifier__factory,
  RollupInbox__factory,
  StateCommitmentChain__factory,
} from "../../typechain-types";
import type { FraudVerifier, StateCommitmentChain } from "../../typechain-types";
import type { FraudProof } from "./replica";

const INTERFACES: Interface[] = [
  FraudVerifier__factory.createInterface(),
  StateCommitmentChain__factory.createInterface(),
  RollupInbox__factory.createInterface(),
  Bridge__factory.createInterface(),
];

/** The outcome of one L1 transaction. */
export interface TxOutcome {
  ok: boolean;
  /** Hash of the transaction, when one was sent. */
  hash?: string;
  gasUsed?: bigint;
  blockNumber?: number;
  /** Why it failed: the decoded custom error, or the node's message. */
  error?: string;
  receipt?: TransactionReceipt;
}

/** Finds revert data in an error thrown by ethers or a node, however deeply it is wrapped. */
function revertData(err: unknown, depth = 0): string | undefined {
  if (depth > 5 || typeof err !== "object" || err === null) return undefined;
  const e = err as { data?: unknown; info?: unknown; error?: unknown; cause?: unknown };
  if (typeof e.data === "string" && e.data.startsWith("0x") && e.data.length >= 10) return e.data;
  if (typeof e.data === "object" && e.data !== null) {
    const nested = revertData(e.data, depth + 1);
    if (nested !== undefined) return nested;
  }
  return revertData(e.info, depth + 1) ?? revertData(e.error, depth + 1) ?? revertData(e.cause, depth + 1);
}

/** A readable reason for a failed call: `Name(arg, ...)` for a rollup custom error, else the message. */
export function describeRevert(err: unknown): string {
  const data = revertData(err);
  if (data !== undefined) {
    for (const iface of INTERFACES) {
      try {
        const parsed = iface.parseError(data);
        if (parsed !== null) return `${parsed.name}(${parsed.args.map(String).join(", ")})`;
      } catch {
        // not this contract's error
      }
    }
    return `revert data ${data.slice(0, 74)}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0].slice(0, 300);
}

async function send(
  build: () => Promise<bigint>,
  submit: (gasLimit: bigint) => Promise<ContractTransactionResponse>,
): Promise<TxOutcome> {
  let gas: bigint;
  try {
    gas = await build();
  } catch (err) {
    return { ok: false, error: describeRevert(err) };
  }
  let response: ContractTransactionResponse;
  try {
    // 20% headroom over the estimate: the state may move a little between estimate and inclusion.
    response = await submit((gas * 12n) / 10n);
  } catch (err) {
    return { ok: false, error: describeRevert(err) };
  }
  try {
    const receipt = await response.wait();
    if (receipt === null) return { ok: false, hash: response.hash, error: "no receipt" };
    return { ok: true, hash: receipt.hash, gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber, receipt };
  } catch (err) {
    return { ok: false, hash: response.hash, error: describeRevert(err) };
  }
}

/** Sends the fraud proof `proof` against a proposal of `stepRoots`, from the fraud verifier's runner. */
export function sendFraudProof(
  fraudVerifier: FraudVerifier,
  proof: FraudProof,
  stepRoots: string[],
): Promise<TxOutcome> {
  const pre = {
    accountsRoot: proof.pre.accountsRoot,
    accountCount: proof.pre.accountCount,
    withdrawalsRoot: proof.pre.withdrawalsRoot,
    withdrawalCount: proof.pre.withdrawalCount,
  };
  if (proof.kind === "queue") {
    const args = [proof.batchIndex, proof.stepIndex, stepRoots, pre, proof.items, proof.witness] as const;
    return send(
      () => fraudVerifier.proveQueueStep.estimateGas(...args),
      (gasLimit) => fraudVerifier.proveQueueStep(...args, { gasLimit }),
    );
  }
  const args = [
    proof.batchIndex,
    proof.stepIndex,
    stepRoots,
    pre,
    proof.chunk,
    proof.chunkProof,
    proof.witness,
  ] as const;
  return send(
    () => fraudVerifier.proveChunkStep.estimateGas(...args),
    (gasLimit) => fraudVerifier.proveChunkStep(...args, { gasLimit }),
  );
}

/** Proposes `stepRoots` for `batchIndex` with the bond, from the chain's runner. */
export function sendProposal(
  chain: StateCommitmentChain,
  batchIndex: number,
  stepRoots: string[],
  bond: bigint,
): Promise<TxOutcome> {
  return send(
    () => chain.propose.estimateGas(batchIndex, stepRoots, { value: bond }),
    (gasLimit) => chain.propose(batchIndex, stepRoots, { value: bond, gasLimit }),
  );
}

/** Takes back the bond of a final proposal. */
export function sendReturnBond(chain: StateCommitmentChain, batchIndex: number): Promise<TxOutcome> {
  return send(
    () => chain.returnBond.estimateGas(batchIndex),
    (gasLimit) => chain.returnBond(batchIndex, { gasLimit }),
  );
}

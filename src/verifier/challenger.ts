/**
 * The verifier's L1 transactions: a fraud proof of one step, a proposal of the
 * roots it computed, the return of its bond. Each is estimated first (so a
 * proof that would revert costs nothing and its custom error is reported),
 * then sent and waited for.
 */
import type { ContractRunner, Interface, Signer, TransactionReceipt, TransactionResponse } from "ethers";
import {
  Bridge__factory,
  FraudVerifier__factory,
  RollupInbox__factory,
  StateCommitmentChain__factory,
} from "../../typechain-types";
import type { FraudVerifier, RollupInbox, StateCommitmentChain } from "../../typechain-types";
import { BilayerError } from "../protocol/errors";
import type { FraudProof } from "./replica";

const FRAUD_VERIFIER = FraudVerifier__factory.createInterface();
const INTERFACES: Interface[] = [
  FRAUD_VERIFIER,
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

/** Estimates (so a call that would revert costs nothing and says why), sends with 20% headroom and waits. */
async function sendCall(signer: Signer, to: string, data: string, value = 0n): Promise<TxOutcome> {
  let gas: bigint;
  try {
    gas = await signer.estimateGas({ to, data, value });
  } catch (err) {
    return { ok: false, error: describeRevert(err) };
  }
  let response: TransactionResponse;
  try {
    // 20% headroom over the estimate: the state may move a little between estimate and inclusion.
    response = await signer.sendTransaction({ to, data, value, gasLimit: (gas * 12n) / 10n });
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

/** The signer a contract handle was connected to. */
function signerOf(contract: { runner: ContractRunner | null }): Signer {
  const runner = contract.runner;
  if (runner === null || typeof (runner as Signer).sendTransaction !== "function") {
    throw new BilayerError("NO_SIGNER", "the contract handle is not connected to a signer");
  }
  return runner as Signer;
}

/**
 * The calldata of the FraudVerifier call that proves `proof` against a proposal of `stepRoots`
 * (`proveQueueStep` or `proveChunkStep`). The verifier sends it from its key, the operator through its L1 sender.
 */
export function fraudProofCalldata(proof: FraudProof, stepRoots: readonly string[]): string {
  const pre = {
    accountsRoot: proof.pre.accountsRoot,
    accountCount: proof.pre.accountCount,
    withdrawalsRoot: proof.pre.withdrawalsRoot,
    withdrawalCount: proof.pre.withdrawalCount,
  };
  if (proof.kind === "queue") {
    return FRAUD_VERIFIER.encodeFunctionData("proveQueueStep", [
      proof.batchIndex,
      proof.stepIndex,
      [...stepRoots],
      pre,
      proof.items,
      proof.witness,
    ]);
  }
  return FRAUD_VERIFIER.encodeFunctionData("proveChunkStep", [
    proof.batchIndex,
    proof.stepIndex,
    [...stepRoots],
    pre,
    proof.chunk,
    proof.chunkProof,
    proof.witness,
  ]);
}

/** Sends the fraud proof `proof` against a proposal of `stepRoots`, from the fraud verifier's runner. */
export async function sendFraudProof(
  fraudVerifier: FraudVerifier,
  proof: FraudProof,
  stepRoots: readonly string[],
): Promise<TxOutcome> {
  return sendCall(signerOf(fraudVerifier), await fraudVerifier.getAddress(), fraudProofCalldata(proof, stepRoots));
}

/** Proposes `stepRoots` for `batchIndex` with the bond, from the chain's runner. */
export async function sendProposal(
  chain: StateCommitmentChain,
  batchIndex: number,
  stepRoots: string[],
  bond: bigint,
): Promise<TxOutcome> {
  const data = chain.interface.encodeFunctionData("propose", [batchIndex, stepRoots]);
  return sendCall(signerOf(chain), await chain.getAddress(), data, bond);
}

/** Appends a batch of the oldest `queueCount` unconsumed queue items (open to anyone once one is overdue). */
export async function sendForceInclude(inbox: RollupInbox, queueCount: number): Promise<TxOutcome> {
  const data = inbox.interface.encodeFunctionData("forceInclude", [queueCount]);
  return sendCall(signerOf(inbox), await inbox.getAddress(), data);
}

/** Takes back the bond of proposal `proposalId`: final, or removed by the rollback of an earlier one. */
export async function sendReturnBond(chain: StateCommitmentChain, proposalId: bigint | number): Promise<TxOutcome> {
  const data = chain.interface.encodeFunctionData("returnBond", [proposalId]);
  return sendCall(signerOf(chain), await chain.getAddress(), data);
}

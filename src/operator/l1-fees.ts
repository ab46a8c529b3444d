/**
 * What an L1 transaction of the operator pays, and how each of its attempts is
 * signed: the gas limit from the estimate, the fees of a first attempt from the
 * market, the bumped fees of a replacement (same nonce), all under the
 * operator's cap, and the size check every signed attempt passes.
 */
import { Transaction, type Provider, type Wallet } from "ethers";
import { MAX_L1_TX_BYTES } from "../l1/batch";
import { BilayerError } from "../protocol/errors";
import { L1TxTooLargeError, purposeLabel, type L1TxRecord, type TxAttempt, type TxPurpose } from "./l1-tx";

/** The gas limit of one transaction on osaka (EIP-7825). */
export const TX_GAS_CAP = 16_777_216n;

/** The fee caps of one attempt (wei per gas). */
export interface AttemptFees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/** The gas limit for a call estimated at `estimate`: 20% and 20,000 over it, at most {@link TX_GAS_CAP}. */
export function gasLimitFor(purpose: TxPurpose, estimate: bigint): bigint {
  let gasLimit = (estimate * 120n) / 100n + 20_000n;
  if (estimate > TX_GAS_CAP) {
    throw new BilayerError("L1_GAS_CAP", `${purposeLabel(purpose)} needs ${estimate} gas, above the cap`, {
      context: { estimate: estimate.toString(), cap: TX_GAS_CAP.toString() },
    });
  }
  if (gasLimit > TX_GAS_CAP) gasLimit = TX_GAS_CAP;
  return gasLimit;
}

/** The fees of a first attempt: twice the base fee plus the node's tip, at most `maxFeePerGasCap`. */
export async function initialFees(provider: Provider, maxFeePerGasCap: bigint): Promise<AttemptFees> {
  const block = await provider.getBlock("latest");
  const base = block?.baseFeePerGas ?? 1_000_000_000n;
  const fee = await provider.getFeeData();
  const prio = fee.maxPriorityFeePerGas ?? 1_000_000_000n;
  let maxFee = base * 2n + prio;
  if (maxFee > maxFeePerGasCap) maxFee = maxFeePerGasCap;
  return { maxFeePerGas: maxFee, maxPriorityFeePerGas: prio > maxFee ? maxFee : prio };
}

/**
 * The fees of a replacement of `last`: both caps `feeBumpPercent` higher (rounded up), and at least what a first
 * attempt would pay now; undefined when that is above `maxFeePerGasCap` (the transaction stays as it is).
 */
export async function replacementFees(
  provider: Provider,
  last: TxAttempt,
  feeBumpPercent: number,
  maxFeePerGasCap: bigint,
): Promise<AttemptFees | undefined> {
  const bump = (v: string): bigint => (BigInt(v) * BigInt(100 + feeBumpPercent) + 99n) / 100n;
  const { maxFeePerGas: marketFee } = await initialFees(provider, maxFeePerGasCap);
  let maxFee = bump(last.maxFeePerGas);
  if (marketFee > maxFee) maxFee = marketFee;
  const prio = bump(last.maxPriorityFeePerGas);
  if (maxFee > maxFeePerGasCap) return undefined;
  return { maxFeePerGas: maxFee, maxPriorityFeePerGas: prio > maxFee ? maxFee : prio };
}

/**
 * Signs an attempt of `rec` with `fees` (a cancelled record: an empty transfer to `self`), refused with
 * {@link L1TxTooLargeError} when larger than a public mempool relays.
 */
export async function signAttempt(
  wallet: Wallet,
  chainId: bigint,
  rec: L1TxRecord,
  { maxFeePerGas, maxPriorityFeePerGas }: AttemptFees,
): Promise<TxAttempt> {
  const self = wallet.address;
  const raw = await wallet.signTransaction({
    type: 2,
    chainId,
    nonce: rec.nonce,
    to: rec.cancelled ? self : rec.to,
    data: rec.cancelled ? "0x" : rec.data,
    value: rec.cancelled ? 0n : BigInt(rec.value),
    gasLimit: rec.cancelled ? 21_000n : BigInt(rec.gasLimit),
    maxFeePerGas,
    maxPriorityFeePerGas,
  });
  // Every replacement is signed again, so every attempt is checked: wider fees add bytes.
  const size = (raw.length - 2) / 2;
  if (size > MAX_L1_TX_BYTES) throw new L1TxTooLargeError(rec.purpose, size);
  const hash = Transaction.from(raw).hash;
  if (!hash) throw new BilayerError("L1_SIGN", "signed transaction has no hash");
  return {
    hash,
    raw,
    maxFeePerGas: maxFeePerGas.toString(),
    maxPriorityFeePerGas: maxPriorityFeePerGas.toString(),
    sentAt: Date.now(),
  };
}

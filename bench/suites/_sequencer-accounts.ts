/** Deterministic accounts shared by the `sequencer` bench's client and server processes. */
import { blsKeyFromSeed, type BlsKeyPair } from "../../src/protocol/bls";
import { keccak256, toHex } from "../../src/protocol/hash";
import { privateKeyToAddress } from "../../src/protocol/signature";

export const BENCH_CHAIN_ID = 31337n;
/** A stand-in inbox address: only the EIP-712 domain uses it. */
export const BENCH_INBOX = "0x" + "b1".repeat(20);
/** Each account's genesis balance: 1,000 ETH. */
export const DEPOSIT = 10n ** 21n;

export interface BenchAccount {
  /** L2 account index (deposits create accounts 1..n in order). */
  index: number;
  key: Uint8Array;
  address: string;
}

/** `n` accounts with keys `keccak("bilayer-bench-" ‖ i)`. */
export function benchAccounts(n: number): BenchAccount[] {
  const out: BenchAccount[] = [];
  for (let i = 0; i < n; i++) {
    const key = keccak256(new TextEncoder().encode(`bilayer-bench-${i}`));
    out.push({ index: i + 1, key, address: privateKeyToAddress(toHex(key)) });
  }
  return out;
}

/** Account `index`'s BLS key in the bench (seed `keccak("bilayer-bench-bls-" ‖ index)`). */
export function benchBlsKey(index: number): BlsKeyPair {
  return blsKeyFromSeed(keccak256(new TextEncoder().encode(`bilayer-bench-bls-${index}`)));
}

// The size a public mempool judges a transaction by: its signed, serialized bytes (geth, reth and Nethermind drop
// a non-blob transaction over 131,072 bytes). Measured at the widest every field can be, so that the figure bounds
// what any sender, on any chain, at any nonce and fee, can produce for the same call.
import { Transaction, Wallet } from "ethers";
import { MAX_BATCH_BYTES, MAX_CHUNKS_PER_BATCH } from "../../../src/l1/batch";

const WIDEST = {
  chainId: 2n ** 64n - 1n,
  nonce: 2 ** 53 - 1,
  maxFeePerGas: 2n ** 256n - 1n,
  maxPriorityFeePerGas: 2n ** 256n - 1n,
  gasLimit: 16_777_216n,
};

const SIGNER = new Wallet("0x" + "42".repeat(32));

/** The serialized size of an EIP-1559 transaction calling `to` with `data`, signed with every field at its widest. */
export async function widestSignedSize(to: string, data: string, value = 0n): Promise<number> {
  const raw = await SIGNER.signTransaction({ type: 2, to, data, value, ...WIDEST });
  return Transaction.from(raw).serialized.length / 2 - 1;
}

/** `length` pseudo-random bytes with no zero byte (the most expensive calldata). */
export function nonZeroBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x % 255) + 1;
  }
  return out;
}

/**
 * The chunks of the largest `appendBatch` the inbox accepts: the most chunks, `MAX_BATCH_BYTES` of non-zero bytes
 * in all, each as badly padded as the sum allows (length 1 mod 32, but one, which the sum forces to 16 mod 32).
 */
export function largestBatchChunks(): Uint8Array[] {
  const n = MAX_CHUNKS_PER_BATCH;
  const sizes = Array.from({ length: n }, (_, i) => (i === 0 ? 16 : 1));
  for (let i = 0, rest = MAX_BATCH_BYTES - (n - 1) - 16; rest > 0; i = (i + 1) % n, rest -= 32) sizes[i] += 32;
  return sizes.map((size, i) => nonZeroBytes(size, 100 + i));
}

/** A transaction from `from` to `to` waiting in the pool of the node `send` talks to, with its fee caps. */
export async function pendingTx(
  send: (method: string, params: unknown[]) => Promise<unknown>,
  to: string,
  from: string,
): Promise<{ maxFeePerGas: string; maxPriorityFeePerGas: string } | undefined> {
  const block = (await send("eth_getBlockByNumber", ["pending", true])) as {
    transactions: { from: string; to: string | null; maxFeePerGas: string; maxPriorityFeePerGas: string }[];
  };
  return block.transactions.find(
    (t) => t.to?.toLowerCase() === to.toLowerCase() && t.from.toLowerCase() === from.toLowerCase(),
  );
}

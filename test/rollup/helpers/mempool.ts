// The size a public mempool judges a transaction by: its signed, serialized bytes (geth, reth and Nethermind drop
// a non-blob transaction over 131,072 bytes). Measured at the widest every field can be, so that the figure bounds
// what any sender, on any chain, at any nonce and fee, can produce for the same call.
import { Transaction, Wallet } from "ethers";

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

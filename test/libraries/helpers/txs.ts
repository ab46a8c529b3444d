// Signed, packed L2 transactions for tests (PROTOCOL §2–§3), built with ethers only.
import { keccak256, toUtf8Bytes, type TypedDataDomain, Wallet } from "ethers";
import {
  AMOUNT_MANTISSA_BITS,
  encodeTx,
  FEE_MANTISSA_BITS,
  pack,
  signTransfer,
  signTransferToNew,
  signWithdraw,
} from "./encoding";

/** Deterministic wallets, so failures reproduce. */
export function wallets(count: number, label = "user"): Wallet[] {
  return Array.from({ length: count }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`${label}${i}`))));
}

interface Common {
  from: bigint;
  amount: bigint;
  fee: bigint;
  /** The sender's token and nonce as the signer believes them to be. */
  tokenId: bigint;
  nonce: bigint;
}

export type TxSpec =
  | (Common & { type: "transfer"; to: bigint })
  | (Common & { type: "withdraw" })
  | (Common & { type: "transferToNew"; toAddress: string });

/** Packs `amount` and `fee` canonically, signs the decoded values with `signer` under `domain` and encodes. */
export async function signedTx(domain: TypedDataDomain, signer: Wallet, t: TxSpec): Promise<string> {
  const amount = pack(t.amount, AMOUNT_MANTISSA_BITS);
  const fee = pack(t.fee, FEE_MANTISSA_BITS);
  switch (t.type) {
    case "transfer":
      return encodeTx({
        type: "transfer",
        from: t.from,
        to: t.to,
        amount,
        fee,
        sig: await signTransfer(signer, domain, t),
      });
    case "withdraw":
      return encodeTx({ type: "withdraw", from: t.from, amount, fee, sig: await signWithdraw(signer, domain, t) });
    case "transferToNew":
      return encodeTx({
        type: "transferToNew",
        from: t.from,
        to: t.toAddress,
        amount,
        fee,
        sig: await signTransferToNew(signer, domain, t),
      });
  }
}

import type { ContractTransactionReceipt, Signer } from "ethers";
import { Bridge__factory } from "../../typechain-types";
import type { StateHeaderStruct } from "../../typechain-types/contracts/rollup/Bridge";
import { BilayerError } from "../protocol/errors";
import type { WithdrawalProofView } from "./client";

/** A withdrawal's proof, its amount as the API's JSON has it (a decimal string) or decoded. */
type ClaimableProof = Omit<WithdrawalProofView, "amount"> & { amount: bigint | string };

/** The arguments of `Bridge.claimWithdrawal` for `proof` (what a claim sends, by any signer or wallet). */
export function claimWithdrawalArgs(
  proof: ClaimableProof,
): [bigint, StateHeaderStruct, number, string, number, bigint, string[]] {
  return [
    BigInt(proof.batchIndex),
    {
      accountsRoot: proof.header.accountsRoot,
      accountCount: proof.header.accountCount,
      withdrawalsRoot: proof.header.withdrawalsRoot,
      withdrawalCount: BigInt(proof.header.withdrawalCount),
    },
    proof.withdrawalIndex,
    proof.recipient,
    proof.tokenId,
    BigInt(proof.amount),
    proof.siblings,
  ];
}

/**
 * Claims a withdrawal on the bridge with the proof the operator served
 * (`l2_getWithdrawalProof`), against the final state root of its batch.
 * Anyone may send it; the bridge pays the withdrawal's recipient.
 */
export async function claimWithdrawal(
  signer: Signer,
  bridge: string,
  proof: WithdrawalProofView,
): Promise<ContractTransactionReceipt> {
  const contract = Bridge__factory.connect(bridge, signer);
  const tx = await contract.claimWithdrawal(...claimWithdrawalArgs(proof));
  const receipt = await tx.wait();
  if (!receipt) throw new BilayerError("NO_RECEIPT", `no receipt for claim ${tx.hash}`);
  return receipt;
}

import type { ContractTransactionReceipt, Signer } from "ethers";
import { Bridge__factory } from "../../typechain-types";
import { BilayerError } from "../protocol/errors";
import type { WithdrawalProofView } from "./client";

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
  const tx = await contract.claimWithdrawal(
    proof.batchIndex,
    {
      accountsRoot: proof.header.accountsRoot,
      accountCount: proof.header.accountCount,
      withdrawalsRoot: proof.header.withdrawalsRoot,
      withdrawalCount: BigInt(proof.header.withdrawalCount),
    },
    proof.withdrawalIndex,
    proof.recipient,
    proof.tokenId,
    proof.amount,
    proof.siblings,
  );
  const receipt = await tx.wait();
  if (!receipt) throw new BilayerError("NO_RECEIPT", `no receipt for claim ${tx.hash}`);
  return receipt;
}

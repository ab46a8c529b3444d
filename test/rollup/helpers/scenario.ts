// Shared L2 scenarios: a genesis batch of deposits, then a batch whose steps exercise every rule a liar can bend.
import { ethers } from "hardhat";
import { Outcome, TxType } from "../../../src/protocol/constants";
import { domainSeparator } from "../../../src/protocol/eip712";
import { loadRollup } from "./fixtures";
import { ChunkBuilder } from "./model";

export const ETH = 10n ** 18n;
export const FEE = 10n ** 15n;

/** Account indices created by batch 0. */
export const ACCOUNTS = { alice: 1, bob: 2, carolToken: 3, mallory: 4, fees: 5 } as const;

/**
 * Batch 0: five deposits, all consumed by a queue-only batch. Alice 10 ETH (account 1), Bob 5 ETH (2), Carol
 * 1000 tokens (3), Mallory 1 ETH (4), and 1 wei to the sequencer's fee account (5).
 */
export async function genesisScenario() {
  const fixture = await loadRollup();
  const { alice, bob, carol, mallory, sequencer, token, model } = fixture;
  const { bridge } = fixture.deployment.handles;
  await bridge.connect(alice).depositEth(alice.address, 0, { value: 10n * ETH });
  await bridge.connect(bob).depositEth(bob.address, 0, { value: 5n * ETH });
  await bridge.connect(carol).depositToken(await token.getAddress(), 1000n * ETH, carol.address, 0);
  await bridge.connect(mallory).depositEth(mallory.address, 0, { value: ETH });
  await bridge.connect(sequencer).depositEth(sequencer.address, 0, { value: 1n });
  await model.syncQueue();
  await model.append(sequencer, [], 5, 0);
  return fixture;
}

/**
 * Batch 1, three steps, fee recipient account 5:
 *  - step 0 (queue): Carol deposits 500 tokens to account 3 (credited); Mallory force-exits account 4 (1 ETH →
 *    withdrawal 0).
 *  - step 1 (chunk A): Alice → Bob 1 ETH; Bob withdraws 0.5 ETH (withdrawal 1); Alice → new account 6 of Carol,
 *    2 ETH; a transfer of 3 ETH from Alice's account to Mallory signed by Mallory (BadSignature, skipped). Each
 *    applied transaction pays a fee of 0.001 ETH.
 *  - step 2 (chunk B): Bob → Alice 0.25 ETH, no fee.
 * Also returns the variants a liar uses: chunk A with the forged transfer validly signed, and chunk A without
 * Bob's withdrawal.
 */
export async function batchOneScenario() {
  const fixture = await genesisScenario();
  const { alice, bob, carol, mallory, sequencer, token, model } = fixture;
  const { bridge } = fixture.deployment.handles;
  await bridge.connect(carol).depositToken(await token.getAddress(), 500n * ETH, carol.address, ACCOUNTS.carolToken);
  await bridge.connect(mallory).requestForcedExit(ACCOUNTS.mallory);
  await model.syncQueue();

  // The chunk is signed against the state it will run on: batch 0's state after batch 1's queue step.
  const base = model.tip().clone();
  model.applyStep(1, base, { kind: "queue", items: model.queue.slice(5, 7) });
  const { alice: a, bob: b, mallory: m } = ACCOUNTS;
  const build = (variant: "honest" | "forgeryValid" | "withoutWithdrawal"): Uint8Array => {
    const builder = new ChunkBuilder(base, model.domain);
    builder.add(alice, { type: TxType.Transfer, from: a, to: b, amount: ETH, fee: FEE });
    if (variant !== "withoutWithdrawal") {
      builder.add(bob, { type: TxType.Withdraw, from: b, amount: ETH / 2n, fee: FEE });
    }
    builder.add(alice, { type: TxType.TransferToNew, from: a, to: carol.address, amount: 2n * ETH, fee: FEE });
    builder.add(variant === "forgeryValid" ? alice : mallory, {
      type: TxType.Transfer,
      from: a,
      to: m,
      amount: 3n * ETH,
      fee: 0n,
    });
    return builder.build();
  };
  const chunkA = build("honest");
  const afterA = base.clone();
  const builderB = new ChunkBuilder(afterA, model.domain);
  // Bob's nonce after chunk A: his transfer in chunk B is signed over 1.
  builderB.add(bob, { type: TxType.Transfer, from: b, to: a, amount: ETH / 4n, fee: 0n }, { nonce: 1 });
  const chunkB = builderB.build();
  await model.append(sequencer, [chunkA, chunkB], 2, ACCOUNTS.fees);

  const trace = model.trace(1);
  const outcomesA = trace.steps[1].outcomes.map((o) => o.code);
  if (outcomesA.join() !== [Outcome.Applied, Outcome.Applied, Outcome.Applied, Outcome.BadSignature].join()) {
    throw new Error(`unexpected outcomes of chunk A: ${outcomesA.join()}`);
  }
  if (trace.steps[2].outcomes[0].code !== Outcome.Applied) throw new Error("chunk B did not apply");
  return {
    ...fixture,
    chunkA,
    chunkB,
    chunkAForgeryValid: build("forgeryValid"),
    chunkAWithoutWithdrawal: build("withoutWithdrawal"),
  };
}

/** The domain separators a replayed signature could come from: another chain, another inbox. */
export async function foreignDomains(inbox: string): Promise<{ otherChain: string; otherInbox: string }> {
  const { chainId } = await ethers.provider.getNetwork();
  return {
    otherChain: domainSeparator(chainId + 1n, inbox),
    otherInbox: domainSeparator(chainId, ethers.getCreateAddress({ from: inbox, nonce: 1 })),
  };
}

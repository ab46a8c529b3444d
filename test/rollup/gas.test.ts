import { expect } from "chai";
import { Wallet } from "ethers";
import { MAX_CHUNKS_PER_BATCH, MAX_L1_TX_BYTES, MAX_QUEUE_ITEMS_PER_BATCH } from "../../src/l1/batch";
import { MAX_TXS_PER_CHUNK, Outcome, TX_SIZE, TxType } from "../../src/protocol/constants";
import { fillQueue, loadRollup } from "./helpers/fixtures";
import { widestSignedSize } from "./helpers/mempool";
import { ChunkBuilder, garbageRoot } from "./helpers/model";
import { ETH, FEE } from "./helpers/scenario";

const FRAUD_PROOF_LIMIT = 8_000_000n;
const STEPS = 32 + MAX_CHUNKS_PER_BATCH;

describe("Rollup gas", function () {
  it("keeps the worst-case fraud proofs under 8,000,000 gas and within a public mempool's size, in a batch of the most steps", async function () {
    const f = await loadRollup();
    const { alice, deployer, sequencer, proposer, mallory, challenger, model } = f;
    const { bridge, stateCommitmentChain } = f.deployment.handles;

    // Batch 0: Alice's ETH account (1) and the fee account (2).
    await bridge.connect(alice).depositEth(alice.address, 0, { value: 100n * ETH });
    await bridge.connect(sequencer).depositEth(sequencer.address, 0, { value: 1n });
    await model.syncQueue();
    await model.append(sequencer, [], 2, 0);

    // Batch 1: the most queue items a batch takes, each a deposit whose hint names Alice's account, so every item
    // reads two account slots (the hint, then the new one); then the most chunks, the first one 32 fee-paying
    // TransferToNew (the largest transaction, each reading and writing two slots), the rest empty.
    await fillQueue(deployer, f.deployment.contracts.bridge, deployer.address, MAX_QUEUE_ITEMS_PER_BATCH, 1);
    await model.syncQueue();
    const afterQueue = model.tip().clone();
    for (let i = 0; i < MAX_QUEUE_ITEMS_PER_BATCH; i += 32) {
      model.applyStep(1, afterQueue, { kind: "queue", items: model.queue.slice(2 + i, 2 + i + 32) });
    }
    const builder = new ChunkBuilder(afterQueue, model.domain);
    for (let i = 0; i < 32; i++) {
      builder.add(alice, {
        type: TxType.TransferToNew,
        from: 1,
        to: Wallet.createRandom().address,
        amount: ETH,
        fee: FEE,
      });
    }
    const worstChunk = builder.build();
    // The most gas of a chunk of signed transactions (the longest RegisterKeys write one account, not two).
    expect(worstChunk.length).to.equal(MAX_TXS_PER_CHUNK * TX_SIZE[TxType.TransferToNew]);
    const chunks = [worstChunk, ...Array.from({ length: MAX_CHUNKS_PER_BATCH - 1 }, () => new Uint8Array(0))];
    await model.append(sequencer, chunks, MAX_QUEUE_ITEMS_PER_BATCH, 2);
    await model.propose(proposer, 0);

    const trace = model.trace(1);
    expect(trace.stepRoots).to.have.length(STEPS);
    expect(trace.steps[0].outcomes.every((o) => o.code === Outcome.Created)).to.equal(true);
    expect(trace.steps[0].witness?.accounts).to.have.length(64);
    expect(trace.steps[32].outcomes.every((o) => o.code === Outcome.Applied)).to.equal(true);
    expect(trace.steps[32].witness?.accounts).to.have.length(66);

    const measured: [string, number, bigint, number][] = [];
    const fraudVerifier = await f.deployment.handles.fraudVerifier.getAddress();
    for (const [label, step] of [
      ["chunk step: 32 TransferToNew with fees", 32],
      ["queue step: 32 deposits with a wrong hint", 0],
      ["queue step: the last one", 31],
    ] as const) {
      const roots = trace.stepRoots.map((root, i) => (i === step ? garbageRoot(step) : root));
      await model.propose(mallory, 1, roots);
      const response = await model.challenge(challenger, 1, step, roots);
      const receipt = await response.wait();
      expect(await stateCommitmentChain.proposalCount(), "rolled back").to.equal(1);
      measured.push([label, step, receipt?.gasUsed ?? 0n, await widestSignedSize(fraudVerifier, response.data)]);
    }
    for (const [label, step, gas, size] of measured) {
      console.log(`      fraud proof, ${label} (step ${step} of ${STEPS}): ${gas} gas, ${size} bytes signed`);
      expect(gas).to.be.lessThan(FRAUD_PROOF_LIMIT);
      expect(size).to.be.at.most(MAX_L1_TX_BYTES);
    }
  });
});

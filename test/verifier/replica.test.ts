import { expect } from "chai";
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import { domainSeparator } from "../../src/protocol/eip712";
import { initHashing } from "../../src/protocol/hash";
import { QueueKind, type QueueItem } from "../../src/protocol/queue";
import { L2State } from "../../src/protocol/state";
import { applyBatch, type BatchInput } from "../../src/protocol/stf";
import { buildFraudProof, firstWrongStep, Replica, stepInputs, type BatchData } from "../../src/verifier/replica";
import { ChunkMaker, ETH } from "./helpers";

const DOMAIN = domainSeparator(31337n, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const keys = Array.from({ length: 6 }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`replica test ${i}`))));

function deposit(i: number, amount: bigint, hint = 0): QueueItem {
  return {
    kind: QueueKind.Deposit,
    addr: keys[i].address.toLowerCase(),
    tokenId: 0,
    amount,
    account: hint,
    timestamp: 1n,
  };
}

/** Five batches touching overlapping accounts: deposits, transfers, a transfer to a new account, withdrawals, an exit. */
function history(): BatchData[] {
  const state = new L2State();
  const batches: BatchData[] = [];
  let queueStart = 0;
  const add = (queueItems: QueueItem[], build: (m: ChunkMaker) => Uint8Array[], feeRecipient = 1): void => {
    const pre = state.clone();
    const input: BatchInput = { queueItems, chunks: [], feeRecipient, domainSeparator: DOMAIN };
    // Chunks are signed over the state after the batch's queue steps.
    applyBatch(pre, input);
    const chunks = build(new ChunkMaker(pre, DOMAIN));
    applyBatch(state, { ...input, chunks });
    batches.push({
      index: batches.length,
      queueStart,
      queueEnd: queueStart + queueItems.length,
      feeRecipient,
      chunks,
      queueItems,
    });
    queueStart += queueItems.length;
  };
  add([deposit(0, ETH), deposit(1, 10n * ETH), deposit(2, 5n * ETH), deposit(3, 3n * ETH)], () => [], 0);
  add([deposit(1, ETH, 2)], (m) => [
    m
      .add(keys[1], { type: 1, from: 2, to: 3, amount: ETH, fee: 10n ** 15n })
      .add(keys[2], { type: 2, from: 3, amount: ETH / 2n, fee: 0n })
      .cut(),
    m.add(keys[1], { type: 3, from: 2, to: keys[4].address.toLowerCase(), amount: 2n * ETH, fee: 10n ** 15n }).cut(),
  ]);
  add([], (m) => [
    m
      .add(keys[4], { type: 1, from: 5, to: 2, amount: ETH / 4n, fee: 0n })
      .add(keys[3], { type: 2, from: 4, amount: ETH, fee: 10n ** 15n })
      .cut(),
  ]);
  add(
    [
      {
        kind: QueueKind.ForcedExit,
        addr: keys[2].address.toLowerCase(),
        tokenId: 0,
        amount: 0n,
        account: 3,
        timestamp: 2n,
      },
      deposit(5, ETH),
    ],
    (m) => [m.add(keys[1], { type: 1, from: 2, to: 6, amount: ETH / 8n, fee: 0n }).cut()],
  );
  add([], (m) => [
    m
      .add(keys[0], { type: 1, from: 1, to: 2, amount: ETH / 2n, fee: 0n })
      .add(keys[5], { type: 1, from: 2, to: 1, amount: ETH, fee: 0n })
      .cut(),
  ]);
  return batches;
}

describe("verifier replica", function () {
  before(initHashing);

  it("rebuilds the exact pre-state of every unsettled batch from the tip and the undo records", function () {
    const batches = history();
    const replica = Replica.genesis();
    const truth: L2State[] = [new L2State()];
    for (const b of batches) {
      const replayed = replica.replay(b, DOMAIN);
      const next = truth[truth.length - 1].clone();
      expect(replayed.stepRoots).to.deep.equal(applyBatch(next, { ...b, domainSeparator: DOMAIN }).stepRoots);
      truth.push(next);
    }
    expect(replica.stateRoot()).to.equal(truth[batches.length].stateRoot());
    for (let k = 0; k <= batches.length; k++) {
      const pre = replica.preStateOf(k);
      expect(pre.stateRoot(), `pre-state of batch ${k}`).to.equal(truth[k].stateRoot());
      expect(pre.withdrawalCount).to.equal(truth[k].withdrawalCount);
    }
    // Settling drops the undo records: earlier pre-states are gone, later ones still rebuild.
    replica.settle(3);
    expect(() => replica.preStateOf(2)).to.throw(/undo record of batch 2 is gone/);
    expect(replica.preStateOf(3).stateRoot()).to.equal(truth[3].stateRoot());
  });

  it("restores from a checkpoint (accounts, withdrawals, undo records) to the same tip and pre-states", function () {
    const batches = history();
    const replica = Replica.genesis();
    for (const b of batches) replica.replay(b, DOMAIN);
    const tip = replica.tip;
    const accounts = Array.from({ length: tip.accountCount }, (_, i) => tip.getAccount(i + 1)!);
    const withdrawals = Array.from({ length: Number(tip.withdrawalCount) }, (_, i) => tip.withdrawal(i)!);
    const undos = replica.undoBatches().map((k) => replica.undoOf(k)!);
    const restored = Replica.restore(accounts, withdrawals, batches.length, undos);
    expect(restored.stateRoot()).to.equal(replica.stateRoot());
    for (let k = 0; k < batches.length; k++)
      expect(restored.preStateOf(k).stateRoot()).to.equal(replica.preStateOf(k).stateRoot());
    expect(() => restored.replay(batches[0], DOMAIN)).to.throw(/replayed after/);
  });

  it("builds the proof of any step from the batch's pre-state, with the root the step really yields", function () {
    const batches = history();
    const replica = Replica.genesis();
    const roots = batches.map((b) => replica.replay(b, DOMAIN).stepRoots);
    for (const b of batches) {
      const steps = stepInputs(b);
      steps.forEach((input, step) => {
        const proof = buildFraudProof(replica.preStateOf(b.index), b, step, DOMAIN);
        expect(proof.kind).to.equal(input.kind);
        expect(proof.computedRoot).to.equal(roots[b.index][step]);
        expect(proof.witness.accounts.length + proof.witness.withdrawals.length).to.be.greaterThan(0);
        if (proof.kind === "chunk") expect(proof.chunkProof).to.have.length(7);
      });
      expect(() => buildFraudProof(replica.preStateOf(b.index), b, steps.length, DOMAIN)).to.throw(/has no step/);
    }
  });

  it("finds the first step root that differs", function () {
    const a = ["0x01", "0x02", "0x03"];
    expect(firstWrongStep(a, a)).to.equal(-1);
    expect(firstWrongStep(["0x01", "0x0F", "0x0E"], a)).to.equal(1);
    expect(firstWrongStep(["0x01", "0x02"], a)).to.equal(2);
    expect(firstWrongStep(["0xAB"], ["0xab"])).to.equal(-1);
  });
});

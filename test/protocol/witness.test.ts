import { expect } from "chai";
import fc from "fast-check";
import {
  accountLeaf,
  applyChunk,
  applyQueueStep,
  fromHex,
  initHashing,
  L2State,
  QueueKind,
  SparseMerkleTree,
  TxType,
  ChunkExecutor,
  ZERO_HASHES,
  type StepWitness,
} from "../../src/protocol";
import {
  namedEdgeVectors,
  VECTOR_ADDRESSES,
  VECTOR_DOMAIN_SEPARATOR,
  ChunkBuilder,
  type StepVector,
} from "../../src/protocol/testing";
import { generateVectors, stepVectorArbitrary } from "./helpers/vectors";
import { replayVector, WitnessError, WitnessReplay } from "./helpers/witnessReplay";

const A = VECTOR_ADDRESSES;
const E18 = 10n ** 18n;

function base(): L2State {
  return L2State.fromAccounts([
    { owner: A[0], tokenId: 0, balance: 100n * E18, nonce: 0 },
    { owner: A[1], tokenId: 0, balance: 100n * E18, nonce: 0 },
    { owner: A[2], tokenId: 0, balance: 0n, nonce: 0 },
  ]);
}

function expectShape(witness: StepWitness): void {
  for (const entry of witness.accounts) {
    expect(entry.siblings).to.have.length(32);
    for (const s of entry.siblings) expect(s).to.match(/^0x[0-9a-f]{64}$/);
    expect(entry.account.owner).to.match(/^0x[0-9a-f]{40}$/);
    expect(typeof entry.account.balance).to.equal("bigint");
  }
  for (const entry of witness.withdrawals) {
    expect(entry).to.have.length(32);
    for (const s of entry) expect(s).to.match(/^0x[0-9a-f]{64}$/);
  }
}

function expectReplays(vector: StepVector): void {
  const replayed = replayVector(vector);
  expect(replayed.outcomes, vector.name).to.deep.equal(vector.outcomes);
  expect(replayed.post, vector.name).to.deep.equal(vector.post);
}

describe("protocol/witness", () => {
  before(async () => {
    await initHashing();
  });

  it("gives every entry 32 siblings of 32 bytes and the account fields in ABI shape", () => {
    for (const vector of namedEdgeVectors()) expectShape(vector.witness);
  });

  it("replays every named edge vector from its witness alone to the same post-state", () => {
    for (const vector of namedEdgeVectors()) expectReplays(vector);
  });

  it("replays random vectors of every scenario from their witnesses alone", () => {
    for (const vector of generateVectors(11, 39)) expectReplays(vector);
  });

  it("replays arbitrary vectors (property)", () => {
    fc.assert(
      fc.property(stepVectorArbitrary(), (vector) => {
        expectReplays(vector);
      }),
      { numRuns: 25, seed: 20261125 },
    );
  });

  it("proves both reads of a transfer against the root at the start of the transaction", () => {
    const pre = base();
    const builder = new ChunkBuilder(pre, VECTOR_DOMAIN_SEPARATOR, 3);
    builder.add({ type: TxType.Transfer, from: 1, to: 2, amount: E18, fee: 5n });
    builder.add({ type: TxType.Transfer, from: 2, to: 1, amount: E18, fee: 5n });
    const state = pre.clone();
    const start = state.accountsRoot();
    const { witness, outcomes } = applyChunk(
      state,
      builder.bytes(),
      { domainSeparator: VECTOR_DOMAIN_SEPARATOR, feeRecipient: 3 },
      { witness: true },
    );
    expect(outcomes.map((o) => o.code)).to.deep.equal([0, 0]);
    const accounts = (witness as StepWitness).accounts;
    // fee recipient, sender 1, recipient 2, sender 2, recipient 1, fee recipient at the end
    expect(accounts.map((a) => a.account.owner)).to.deep.equal([A[2], A[0], A[1], A[1], A[0], A[2]]);
    const proves = (i: number, index: number, root: Uint8Array): boolean =>
      SparseMerkleTree.verify(
        root,
        accountLeaf(accounts[i].account),
        index,
        accounts[i].siblings.map((s) => fromHex(s)),
      );
    expect(proves(0, 3, start)).to.equal(true);
    expect(proves(1, 1, start)).to.equal(true);
    expect(proves(2, 2, start)).to.equal(true);
    // The second transaction's reads prove against the root after the first, not the step's start.
    expect(proves(3, 2, start)).to.equal(false);
    const afterFirst = pre.clone();
    new ChunkExecutor(afterFirst, { domainSeparator: VECTOR_DOMAIN_SEPARATOR, feeRecipient: 3 }).next(
      builder.bytes(),
      0,
    );
    expect(proves(3, 2, afterFirst.accountsRoot())).to.equal(true);
    expect(proves(4, 1, afterFirst.accountsRoot())).to.equal(true);
  });

  it("records the empty slot of a created account with all-zero fields", () => {
    const pre = base();
    const { witness } = applyQueueStep(
      pre.clone(),
      [{ kind: QueueKind.Deposit, addr: A[4], tokenId: 0, amount: 5n, account: 0, timestamp: 1n }],
      { witness: true },
    );
    const [slot] = (witness as StepWitness).accounts;
    expect(slot.account).to.deep.equal({
      owner: "0x" + "00".repeat(20),
      tokenId: 0,
      balance: 0n,
      nonce: 0,
      blsKeyHash: "0x" + "00".repeat(32),
    });
    expect(
      SparseMerkleTree.verify(
        pre.accountsRoot(),
        ZERO_HASHES[0],
        4,
        slot.siblings.map((s) => fromHex(s)),
      ),
    ).to.equal(true);
  });

  it("consumes nothing for a missing sender and one entry for a missing recipient or a self-transfer", () => {
    const pre = base();
    const builder = new ChunkBuilder(pre, VECTOR_DOMAIN_SEPARATOR, 0);
    builder.add({ type: TxType.Transfer, from: 9, to: 1, amount: 1n, fee: 0n });
    const first = applyChunk(
      pre.clone(),
      builder.bytes(),
      { domainSeparator: VECTOR_DOMAIN_SEPARATOR, feeRecipient: 0 },
      { witness: true },
    );
    expect(first.witness?.accounts).to.have.length(0);
    const second = new ChunkBuilder(pre, VECTOR_DOMAIN_SEPARATOR, 0);
    second.add({ type: TxType.Transfer, from: 1, to: 9, amount: 1n, fee: 0n });
    second.add({ type: TxType.Transfer, from: 1, to: 1, amount: 1n, fee: 0n });
    const result = applyChunk(
      pre.clone(),
      second.bytes(),
      { domainSeparator: VECTOR_DOMAIN_SEPARATOR, feeRecipient: 0 },
      { witness: true },
    );
    expect(result.outcomes.map((o) => o.code)).to.deep.equal([4, 0]);
    expect(result.witness?.accounts).to.have.length(2);
  });

  it("makes the replay reject a witness with an entry missing, extra or tampered", () => {
    const vector = namedEdgeVectors().find((v) => v.name === "every transaction type in one chunk") as StepVector;
    const tamper = (witness: StepWitness): StepVector => ({ ...vector, witness });
    const { accounts, withdrawals } = vector.witness;
    const bls = { blsKeys: "0x", blsSignature: "0x" };
    expect(() => replayVector(tamper({ ...bls, accounts: accounts.slice(1), withdrawals }))).to.throw(WitnessError);
    expect(() => replayVector(tamper({ ...bls, accounts: [...accounts, accounts[0]], withdrawals }))).to.throw(
      WitnessError,
    );
    expect(() => replayVector(tamper({ ...bls, accounts, withdrawals: [] }))).to.throw(WitnessError);
    const bumped = accounts.map((a, i) =>
      i === 1 ? { ...a, account: { ...a.account, balance: a.account.balance + 1n } } : a,
    );
    expect(() => replayVector(tamper({ ...bls, accounts: bumped, withdrawals }))).to.throw(WitnessError);
    expect(() => new WitnessReplay(vector.pre, vector.witness)).to.not.throw();
  });
});

import { expect } from "chai";
import { queueItemOf } from "../../src/operator/records";
import { blsAggregate, blsKeyFromSeed, blsRawPublicKey, blsSign, type BlsKeyPair } from "../../src/protocol/bls";
import { encodeBlsChunk, type BlsTransferFields } from "../../src/protocol/bls-chunk";
import { encodeChunk } from "../../src/protocol/codec";
import { TxType } from "../../src/protocol/constants";
import { blsTransferDigest, signTxWithKey } from "../../src/protocol/eip712";
import { toHex } from "../../src/protocol/hash";
import { AggregatePool, checkPackedAggregate, packAggregate } from "../../src/verifier/aggregate-pool";
import { Replica, type BatchData } from "../../src/verifier/replica";
import { deposits, DOMAIN, users } from "../operator/fixtures";

/*
 * The verifier's replay with BLS aggregates checked on other threads: the
 * same result as checking each in turn, whether every aggregate holds or
 * one fails (the batch is undone and replayed again).
 */

const people = users(3, "aggregate-pool");
const keys: BlsKeyPair[] = people.map((_, i) => blsKeyFromSeed(new Uint8Array(32).fill(40 + i)));

/** Batch 0: deposits (accounts 1..3) and each account's key registration. */
const firstDeposits = deposits(
  people.map((p) => p.address),
  10n ** 18n,
);

function genesis(): BatchData {
  const items = firstDeposits.map(queueItemOf);
  const txs = people.map((p, i) => {
    const tx = { type: TxType.RegisterKey, from: i + 1, fee: 0n, blsKey: toHex(blsRawPublicKey(keys[i])) } as const;
    return { ...tx, signature: signTxWithKey(p.key, DOMAIN, tx, 0, 0) };
  });
  return { index: 0, queueStart: 0, queueEnd: 3, feeRecipient: 0, chunks: [encodeChunk(txs)], queueItems: items };
}

/** A BLS chunk of `transfers` from senders at `nonces`, signed by `signers` (a wrong one makes the aggregate fail). */
function blsChunk(transfers: BlsTransferFields[], nonces: number[], signers: BlsKeyPair[]): Uint8Array {
  const sigs = transfers.map((t, i) => blsSign(signers[i], blsTransferDigest(DOMAIN, { ...t, fee: 0n }, 0, nonces[i])));
  return encodeBlsChunk({ fee: 0n, signature: blsAggregate(sigs) }, transfers);
}

/** Batch 1: a deposit creating account 4, then two BLS chunks (the first's aggregate fails if `badAggregate`). */
function batchOne(badAggregate: boolean): BatchData {
  const more = deposits([people[0].address], 5n, 3, firstDeposits[2].accumulator).map(queueItemOf);
  const first = blsChunk(
    [
      { from: 1, to: 2, amount: 100n },
      { from: 2, to: 4, amount: 7n },
    ],
    [1, 1],
    badAggregate ? [keys[0], keys[0]] : [keys[0], keys[1]],
  );
  // Its nonces are the ones after the first chunk if it applied, so it holds only then.
  const second = blsChunk([{ from: 1, to: 3, amount: 5n }], [badAggregate ? 1 : 2], [keys[0]]);
  return { index: 1, queueStart: 3, queueEnd: 4, feeRecipient: 0, chunks: [first, second], queueItems: more };
}

describe("verifier: BLS aggregates checked on threads while a batch replays", () => {
  let pool: AggregatePool;
  before(() => {
    pool = new AggregatePool(2);
  });
  after(async () => {
    await pool.stop();
  });

  it("packs a check its threads answer as blsVerifyAggregateRaw does", async () => {
    const m = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    const k = [blsRawPublicKey(keys[0]), blsRawPublicKey(keys[1])];
    const good = blsAggregate([blsSign(keys[0], m[0]), blsSign(keys[1], m[1])]);
    const bad = blsAggregate([blsSign(keys[0], m[0]), blsSign(keys[0], m[1])]);
    expect(checkPackedAggregate(packAggregate(m, k, good))).to.equal(true);
    expect(checkPackedAggregate(packAggregate(m, k, bad))).to.equal(false);
    expect(await Promise.all([pool.check(m, k, good), pool.check(m, k, bad), pool.check(m, k, good)])).to.deep.equal([
      true,
      false,
      true,
    ]);
  });

  for (const bad of [false, true]) {
    it(`gives the replay's result exactly, ${bad ? "undoing and replaying a batch whose aggregate fails" : "every aggregate holding"}`, async () => {
      const inTurn = Replica.genesis();
      const threaded = Replica.genesis();
      inTurn.replay(genesis(), DOMAIN);
      await threaded.replayChecked(genesis(), DOMAIN, (m, k, s) => pool.check(m, k, s));
      const expected = inTurn.replay(batchOne(bad), DOMAIN);
      let checks = 0;
      const got = await threaded.replayChecked(batchOne(bad), DOMAIN, (m, k, s) => {
        checks++;
        return pool.check(m, k, s);
      });
      expect(checks).to.equal(2);
      expect(got).to.deep.equal(expected);
      expect(threaded.stateRoot()).to.equal(inTurn.stateRoot());
      expect(threaded.replayed).to.equal(2);
      expect(threaded.tip.accountCount).to.equal(4);
      // The outcome the bad aggregate gives: nothing of the first chunk applied, the second (nonce 1) applied.
      expect(threaded.tip.getAccount(1)?.nonce).to.equal(bad ? 2 : 3);
      // Its undo record is the one the replay in turn keeps: the pre-state of batch 1 is genesis' post-state.
      expect(threaded.preStateOf(1).stateRoot()).to.equal(afterGenesis());
    });
  }
});

function afterGenesis(): string {
  const r = Replica.genesis();
  r.replay(genesis(), DOMAIN);
  return r.stateRoot();
}

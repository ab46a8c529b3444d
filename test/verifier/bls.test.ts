import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { Wallet } from "ethers";
import { blsAggregate, blsRawPublicKey, blsSign, deriveBlsKey, type BlsKeyPair } from "../../src/protocol/bls";
import { encodeBlsChunk, type BlsTransferFields } from "../../src/protocol/bls-chunk";
import { encodeChunk, type L2Tx, type RegisterKey } from "../../src/protocol/codec";
import { Outcome, TxType } from "../../src/protocol/constants";
import { blsTransferDigest, eip712Domain, signTx } from "../../src/protocol/eip712";
import { toHex } from "../../src/protocol/hash";
import { applyBatch, applyChunk, type AggregateCheck } from "../../src/protocol/stf";
import { accountFromJson, accountToJson } from "../../src/verifier/store";
import { ACCOUNTS, buildWorld, ETH, makeVerifier, PROPOSER_BOND, type World } from "./helpers";

// BLS chunks end to end against the verifier (PROTOCOL.md §5.4): keys bound by wallets through EIP-712, BLS
// transfers applied from L1, and each lie about a BLS chunk proven on chain by the verifier.

interface BlsWorld extends World {
  bls: { alice: BlsKeyPair; bob: BlsKeyPair; carol: BlsKeyPair };
}

/** A RegisterKey signed by `wallet` through ethers' signTypedData, in the domain of (`chainId`, `inbox`). */
async function registration(
  w: World,
  wallet: Wallet,
  from: number,
  key: BlsKeyPair,
  domain: { chainId: bigint; inbox: string },
): Promise<L2Tx> {
  const account = w.mirror.tip().getAccount(from);
  const tx: Omit<RegisterKey, "signature"> = {
    type: TxType.RegisterKey,
    from,
    fee: 0n,
    blsKey: toHex(blsRawPublicKey(key)),
  };
  const signature = await signTx(wallet, domain.chainId, domain.inbox, tx, account?.tokenId ?? 0, account?.nonce ?? 0);
  return { ...tx, signature };
}

/** Batch 0 (deposits) and batch 1 (Alice, Bob and Carol register keys they derived from their wallets), proposed. */
async function blsWorldFixture(): Promise<BlsWorld> {
  const w = await buildWorld();
  const inbox = await w.deployment.handles.inbox.getAddress();
  const chainId = w.deployment.chainId;
  const domain = eip712Domain(chainId, inbox);
  const { alice, bob, carol } = w.users;
  const bls = {
    alice: await deriveBlsKey(alice, domain),
    bob: await deriveBlsKey(bob, domain),
    carol: await deriveBlsKey(carol, domain),
  };
  const here = { chainId, inbox };
  const txs = [
    await registration(w, alice, ACCOUNTS.alice, bls.alice, here),
    await registration(w, bob, ACCOUNTS.bob, bls.bob, here),
    await registration(w, carol, ACCOUNTS.carol, bls.carol, here),
  ];
  await w.mirror.append(w.sequencer, [encodeChunk(txs)], 0, ACCOUNTS.fees);
  await w.mirror.propose(w.proposer, 0);
  await w.mirror.propose(w.proposer, 1);
  return { ...w, bls };
}

async function loadBlsWorld(): Promise<BlsWorld> {
  const w = await loadFixture(blsWorldFixture);
  await time.setNextBlockTimestamp((await time.latest()) + 1);
  return { ...w, mirror: w.mirror.clone() };
}

/** A BLS chunk of `transfers` on the mirror's tip, each signed by `signers[i]` (the sender's key, or another). */
function blsChunk(w: BlsWorld, transfers: BlsTransferFields[], signers: BlsKeyPair[], fee = 0n): Uint8Array {
  const state = w.mirror.tip();
  const sent = new Map<number, number>();
  const signatures = transfers.map((t, i) => {
    const sender = state.getAccount(t.from);
    const nonce = (sender?.nonce ?? 0) + (sent.get(t.from) ?? 0);
    sent.set(t.from, (sent.get(t.from) ?? 0) + 1);
    return blsSign(signers[i], blsTransferDigest(w.mirror.domain, { ...t, fee }, sender?.tokenId ?? 0, nonce));
  });
  return encodeBlsChunk({ fee, signature: blsAggregate(signatures) }, transfers);
}

describe("BLS chunks against the verifier", function () {
  it("binds keys a wallet authorized with signTypedData, and applies BLS transfers from those accounts", async function () {
    const w = await loadBlsWorld();
    const tip = w.mirror.tip();
    for (const [index, key] of [
      [ACCOUNTS.alice, w.bls.alice],
      [ACCOUNTS.bob, w.bls.bob],
      [ACCOUNTS.carol, w.bls.carol],
    ] as const) {
      expect(tip.getAccount(index)?.blsKey).to.equal(toHex(blsRawPublicKey(key)));
    }
    const { alice: a, bob: b, carol: c } = ACCOUNTS;
    const transfers = [
      { from: a, to: b, amount: ETH },
      { from: b, to: c, amount: ETH / 2n },
      { from: c, to: a, amount: ETH / 4n },
    ];
    const chunk = blsChunk(w, transfers, [w.bls.alice, w.bls.bob, w.bls.carol], 1000n);
    const before = w.mirror.tip();
    const result = applyChunk(before.clone(), chunk, { domainSeparator: w.mirror.domain, feeRecipient: ACCOUNTS.fees });
    expect(result.outcomes.map((o) => o.code)).to.deep.equal([Outcome.Applied, Outcome.Applied, Outcome.Applied]);
    await w.mirror.append(w.sequencer, [chunk], 0, ACCOUNTS.fees);
    await w.mirror.propose(w.proposer, 2);
    const after = w.mirror.tip();
    expect(after.getAccount(a)?.balance).to.equal((before.getAccount(a)?.balance ?? 0n) - ETH - 1000n + ETH / 4n);

    // The verifier rebuilds the same state from L1 and finds every proposal right.
    const v = await makeVerifier(w);
    await v.tick();
    expect(v.status().state.stateRoot).to.equal(after.stateRoot());
    expect(v.status().proposals.map((p) => p.verdict)).to.deep.equal(["right", "right", "right"]);
    await v.stop();
  });

  it("keeps an account's BLS key in the stored records (the verifier's and the operator's snapshot)", async function () {
    const w = await loadBlsWorld();
    const alice = w.mirror.tip().getAccount(ACCOUNTS.alice);
    expect(alice?.blsKey).to.not.equal(undefined);
    expect(accountFromJson(accountToJson(alice!))).to.deep.equal(alice);
    const plain = w.mirror.tip().getAccount(ACCOUNTS.fees)!;
    expect(accountToJson(plain)).to.not.have.property("k");
    expect(accountFromJson(accountToJson(plain))).to.deep.equal(plain);
  });

  it("refuses a key authorization signed for another chain or another inbox", async function () {
    const w = await loadBlsWorld();
    const inbox = await w.deployment.handles.inbox.getAddress();
    const { dave } = w.users;
    const key = await deriveBlsKey(dave, eip712Domain(w.deployment.chainId, inbox));
    // Bob's account, registered by Bob's wallet but for another chain, then for another inbox.
    const elsewhere = [
      await registration(w, w.users.bob, ACCOUNTS.bob, key, { chainId: 1n, inbox }),
      await registration(w, w.users.bob, ACCOUNTS.bob, key, { chainId: w.deployment.chainId, inbox: dave.address }),
    ];
    const result = applyChunk(w.mirror.tip(), encodeChunk(elsewhere), {
      domainSeparator: w.mirror.domain,
      feeRecipient: ACCOUNTS.fees,
    });
    expect(result.outcomes.map((o) => o.code)).to.deep.equal([Outcome.BadSignature, Outcome.BadSignature]);
  });

  // Each lie: the honest chunk, and how the liar runs the STF to get its roots.
  const lies: {
    name: string;
    bad: boolean;
    liar: AggregateCheck;
    tamper?: (t: BlsTransferFields) => BlsTransferFields;
  }[] = [
    { name: "applies a chunk whose aggregate fails", bad: true, liar: () => true },
    { name: "skips a chunk whose aggregate holds", bad: false, liar: () => false },
    {
      name: "applies the transfers with wrong amounts",
      bad: false,
      liar: () => true,
      tamper: (t) => ({ ...t, amount: t.amount * 2n }),
    },
  ];
  for (const lie of lies) {
    it(`a proposal that ${lie.name} is proven on chain by the verifier`, async function () {
      const w = await loadBlsWorld();
      const { alice: a, bob: b, carol: c } = ACCOUNTS;
      const transfers = [
        { from: a, to: b, amount: ETH },
        { from: b, to: c, amount: ETH / 2n },
        { from: c, to: a, amount: ETH / 4n },
      ];
      // A bad aggregate: Bob's transfer signed by Carol's key.
      const signers = [w.bls.alice, lie.bad ? w.bls.carol : w.bls.bob, w.bls.carol];
      const chunk = blsChunk(w, transfers, signers);
      const pre = w.mirror.tip();
      const k = await w.mirror.append(w.sequencer, [chunk], 0, ACCOUNTS.fees);
      const told = lie.tamper === undefined ? chunk : blsChunk(w, transfers.map(lie.tamper), signers);
      const { stepRoots: forged } = applyBatch(
        pre,
        { queueItems: [], chunks: [told], feeRecipient: ACCOUNTS.fees, domainSeparator: w.mirror.domain },
        { verifyAggregate: lie.liar },
      );
      expect(forged[0]).to.not.equal(w.mirror.roots[k][0]);
      await w.mirror.propose(w.mallory, k, forged);

      const v = await makeVerifier(w);
      await v.tick();
      const { fraudVerifier, stateCommitmentChain: chain } = w.deployment.handles;
      const proven = await fraudVerifier.queryFilter(fraudVerifier.filters.FraudProven());
      expect(proven.map((e) => [e.args.batchIndex, e.args.stepIndex, e.args.challenger])).to.deep.equal([
        [BigInt(k), 0n, w.challenger.address],
      ]);
      expect(proven[0].args.proposedRoot).to.equal(forged[0]);
      expect(proven[0].args.computedRoot).to.equal(w.mirror.roots[k][0]);
      const receipt = await ethers.provider.getTransactionReceipt(proven[0].transactionHash);
      expect(receipt?.gasUsed).to.be.lessThan(8_000_000n);
      const rolled = await chain.queryFilter(chain.filters.ProposalsRolledBack());
      expect(rolled.map((e) => [e.args.fromBatch, e.args.reward])).to.deep.equal([[BigInt(k), PROPOSER_BOND / 2n]]);
      await v.stop();
    });
  }
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { deployRollup, type DeployedRollup } from "../../scripts/deploy";
import { stepRootsHash } from "../../src/l1/batch";
import { pendingTx } from "../rollup/helpers/mempool";
import { BondState } from "../../src/operator/bonds";
import { L2Client, registerKeyTx, signBlsTransfer, signL2Transaction, transferTx } from "../../src/operator/client";
import { blsRawPublicKey, deriveBlsKey } from "../../src/protocol/bls";
import { eip712Domain } from "../../src/protocol/eip712";
import { toHex } from "../../src/protocol/hash";
import { defaultVerifierConfig } from "../../src/verifier/config";
import { Verifier } from "../../src/verifier/verifier";
import { defaultConfig } from "../../src/operator/config";
import { createLogger, silentLogger } from "../../src/operator/log";
import { Operator } from "../../src/operator/operator";

const MNEMONIC = "test test test test test test test test test test test junk";
const provider = hre.ethers.provider as unknown as Provider;
const ETH = 10n ** 18n;
/** `TEST_LOG=info` shows the operators' logs. */
const testLogger = () => (process.env.TEST_LOG ? createLogger({ level: process.env.TEST_LOG, fd: 2 }) : silentLogger());

function wallet(index: number): Wallet {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider) as unknown as Wallet;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const pending = (to: string, from: string) =>
  pendingTx((method, params) => hre.network.provider.send(method, params), to, from);

describe("Operator (in-process L1)", () => {
  const operatorKey = wallet(10);
  const users = [wallet(11), wallet(12)];
  let dep: DeployedRollup;
  let dir: string;

  beforeEach(async () => {
    const [deployer] = await hre.ethers.getSigners();
    dep = await deployRollup(
      deployer,
      {
        challengeWindowSeconds: 100n,
        forcedInclusionDelaySeconds: 600n,
        proposerBond: ETH,
        sequencer: operatorKey.address,
      },
      { write: false },
    );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-op-"));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(maxAgeMs = 100): Promise<{ op: Operator; client: L2Client }> {
    const config = defaultConfig(dep.chainId, dir);
    config.port = 0;
    config.pollMs = 20;
    config.batch.maxAgeMs = maxAgeMs;
    const op = await Operator.start({ config, provider, wallet: operatorKey, deployment: dep, logger: testLogger() });
    return { op, client: new L2Client(op.url) };
  }

  it("refuses to start with a key that is not the sequencer, or on a data directory of another deployment", async () => {
    const config = defaultConfig(dep.chainId, dir);
    config.port = 0;
    try {
      await Operator.start({ config, provider, wallet: users[0], deployment: dep, logger: silentLogger() });
      expect.fail("started without the sequencer role");
    } catch (err) {
      expect((err as Error).message).to.match(/sequencer role/);
    }
    const { op } = await start();
    await op.stop();
    const [deployer] = await hre.ethers.getSigners();
    const other = await deployRollup(
      deployer,
      {
        challengeWindowSeconds: 100n,
        forcedInclusionDelaySeconds: 3600n,
        proposerBond: ETH,
        sequencer: operatorKey.address,
      },
      { write: false },
    );
    try {
      await Operator.start({ config, provider, wallet: operatorKey, deployment: other, logger: silentLogger() });
      expect.fail("started on another deployment's data");
    } catch (err) {
      expect((err as Error).message).to.match(/holds the state of inbox/);
    }
  });

  it("appends and proposes every batch exactly once across a restart, and takes the bonds back after finality", async () => {
    let { op, client } = await start();
    for (const u of users)
      await (await dep.handles.bridge.connect(u).depositEth(u.address, 0, { value: 2n * ETH })).wait();
    const [a, b] = await Promise.all(
      users.map((u) => until("an account", async () => (await client.getAccountsOf(u.address).catch(() => []))[0])),
    );
    const sign = (u: Wallet, from: number, to: number, nonce: number) =>
      signL2Transaction(u, transferTx(from, to, ETH / 1000n), {
        chainId: dep.chainId,
        inbox: dep.contracts.rollupInbox,
        tokenId: 0,
        nonce,
      });
    for (let n = 0; n < 40; n++) await client.sendTransaction(await sign(users[0], a.index, b.index, n));
    await op.closeBatch();
    const caughtUp = async () => {
      const s = await client.getStatus();
      return s.heads.proposed === s.batches.closed && s.batches.open === undefined ? s : undefined;
    };
    const first = await until("the proposals", caughtUp);

    await op.stop();
    client.close();
    ({ op, client } = await start());
    for (let n = 0; n < 10; n++) await client.sendTransaction(await sign(users[1], b.index, a.index, n));
    await op.closeBatch();
    const second = await until("the proposals after the restart", async () => {
      const s = await caughtUp();
      return s && s.batches.closed > first.batches.closed ? s : undefined;
    });

    const appended = await dep.handles.inbox.queryFilter(dep.handles.inbox.filters.BatchAppended());
    const proposed = await dep.handles.stateCommitmentChain.queryFilter(
      dep.handles.stateCommitmentChain.filters.StateProposed(),
    );
    expect(appended.map((e) => Number(e.args.batchIndex))).to.deep.equal([...Array(second.batches.closed).keys()]);
    expect(proposed.map((e) => Number(e.args.batchIndex))).to.deep.equal([...Array(second.batches.closed).keys()]);
    expect((await client.getAccount(a.index)).balance).to.equal(2n * ETH - (40n * ETH) / 1000n + (10n * ETH) / 1000n);

    await hre.network.provider.send("evm_increaseTime", [101]);
    await hre.network.provider.send("evm_mine", []);
    await until("the bonds", async () => {
      for (let k = 0; k < second.batches.closed; k++) {
        if ((await dep.handles.stateCommitmentChain.proposal(k)).bond !== BondState.Returned) return undefined;
      }
      return true;
    });
    const metrics = await (await fetch(`${op.url}/metrics`)).text();
    expect(metrics).to.match(/bilayer_batch_head\{stage="final"\} [1-9]/);
    expect(metrics).to.match(/bilayer_transfers_accepted_total 10\b/);
    await op.stop();
    client.close();
  });

  it("sequences BLS transfers from wallet-derived keys onto L1, and a verifier from L1 alone finds every proposal right", async () => {
    const { op, client } = await start();
    for (const u of users) await (await dep.handles.bridge.connect(u).depositEth(u.address, 0, { value: ETH })).wait();
    const [a, b] = await Promise.all(
      users.map((u) => until("an account", async () => (await client.getAccountsOf(u.address).catch(() => []))[0])),
    );
    const ctx = (nonce: number) => ({ chainId: dep.chainId, inbox: dep.contracts.rollupInbox, tokenId: 0, nonce });
    const domain = eip712Domain(dep.chainId, dep.contracts.rollupInbox);
    const keys = await Promise.all(users.map((u) => deriveBlsKey(u, domain)));
    await client.sendTransaction(await signL2Transaction(users[0], registerKeyTx(a.index, keys[0]), ctx(0)));
    await client.sendTransaction(await signL2Transaction(users[1], registerKeyTx(b.index, keys[1]), ctx(0)));
    expect((await client.getAccount(a.index)).blsKey).to.equal(toHex(blsRawPublicKey(keys[0])));
    const amount = 10n ** 15n;
    for (let n = 1; n <= 45; n++)
      await client.sendTransaction(signBlsTransfer(keys[0], { from: a.index, to: b.index, amount }, ctx(n)));
    // A signed transfer between them, then BLS again: the chunks follow the kinds.
    await client.sendTransaction(await signL2Transaction(users[1], transferTx(b.index, a.index, amount), ctx(1)));
    for (let n = 2; n <= 6; n++)
      await client.sendTransaction(signBlsTransfer(keys[1], { from: b.index, to: a.index, amount }, ctx(n)));
    await op.closeBatch();
    const done = await until("the proposals", async () => {
      const s = await client.getStatus();
      return s.heads.proposed === s.batches.closed && s.batches.open === undefined ? s : undefined;
    });
    expect((await client.getAccount(a.index)).balance).to.equal(ETH - 45n * amount + 6n * amount);

    const v = await Verifier.start({
      config: { ...defaultVerifierConfig(dep.chainId, path.join(dir, "verifier")), port: 0, pollMs: 20 },
      provider,
      signer: wallet(13),
      deployment: dep,
      logger: testLogger(),
    });
    try {
      const s = await v.waitFor((x) => x.batches.replayed === done.batches.closed && !x.syncing);
      expect(s.proposals.length).to.equal(done.batches.closed);
      for (const p of s.proposals) expect(p.verdict, `batch ${p.batchIndex}`).to.equal("right");
    } finally {
      await v.stop();
      await op.stop();
      client.close();
    }
  });

  it("proves a lie that front-ran its proposal, proposes the right roots after the rollback, and loses no bond", async () => {
    const attacker = wallet(14);
    const scc = dep.handles.stateCommitmentChain;
    const { op, client } = await start();
    for (const u of users) await (await dep.handles.bridge.connect(u).depositEth(u.address, 0, { value: ETH })).wait();
    const [a, b] = await Promise.all(
      users.map((u) => until("an account", async () => (await client.getAccountsOf(u.address).catch(() => []))[0])),
    );
    const idle = async () => {
      const s = await client.getStatus();
      return s.heads.proposed === s.batches.closed && s.batches.open === undefined ? s : undefined;
    };
    const before = await until("batch 0 proposed", idle);
    const k = before.batches.closed;
    const sign = (nonce: number) =>
      signL2Transaction(users[0], transferTx(a.index, b.index, ETH / 100n), {
        chainId: dep.chainId,
        inbox: dep.contracts.rollupInbox,
        tokenId: 0,
        nonce,
      });

    // L1 stops mining on its own: the test decides what goes into each block.
    await hre.network.provider.send("evm_setAutomine", [false]);
    try {
      // Batch k: a deposit (a queue step) and a transfer (a chunk step).
      await dep.handles.bridge.connect(users[1]).depositEth(users[1].address, b.index, { value: ETH });
      await hre.network.provider.send("evm_mine", []);
      await until("the deposit", async () => (op.sequencer.status().queue.sequenced === 3 ? true : undefined));
      await client.sendTransaction(await sign(0));
      await op.closeBatch();
      await until("the append", () => pending(dep.contracts.rollupInbox, operatorKey.address));
      await hre.network.provider.send("evm_mine", []);
      // The operator's proposal waits in the pool; the attacker outbids it with a lie: a wrong root at step 0, the
      // right final root (so a careless proposer would build on it).
      const mine = await until("the proposal", () => pending(dep.contracts.stateCommitmentChain, operatorKey.address));
      const honest = (await client.getBatch(k))?.stepRoots as string[];
      expect(honest).to.have.length(2);
      const lie = [hre.ethers.keccak256(hre.ethers.toUtf8Bytes("made up")), honest[1]];
      const gwei = 10n ** 9n;
      // (A gas limit of its own: an estimate would run on the pending block, where the operator's proposal is.)
      await scc.connect(attacker).propose(k, lie, {
        value: ETH,
        gasLimit: 500_000,
        maxFeePerGas: BigInt(mine.maxFeePerGas) + gwei,
        maxPriorityFeePerGas: BigInt(mine.maxPriorityFeePerGas) + gwei,
      });
      await hre.network.provider.send("evm_mine", []);
      const lieId = (await scc.proposal(k)).id;
      expect((await scc.proposal(k)).proposer).to.equal(attacker.address);
      await hre.network.provider.send("evm_setAutomine", [true]);

      // The operator proves the lie, is paid half the liar's bond, and proposes the right roots.
      const proven = await until("the operator's proof", async () => {
        const events = await dep.handles.fraudVerifier.queryFilter(dep.handles.fraudVerifier.filters.FraudProven(k));
        return events[0];
      });
      expect(proven.args.challenger).to.equal(operatorKey.address);
      expect(proven.args.stepIndex).to.equal(0n);
      const [rollback] = await scc.queryFilter(scc.filters.ProposalsRolledBack(k));
      expect([rollback.args.challenger, rollback.args.proposalId, rollback.args.reward]).to.deep.equal([
        operatorKey.address,
        lieId,
        ETH / 2n,
      ]);
      await until("the right roots", async () => {
        const p = await scc.proposal(k).catch(() => undefined);
        return p?.proposer === operatorKey.address && p.stepRootsHash === stepRootsHash(honest) ? p : undefined;
      });
      const s = await client.getStatus();
      expect(s.proposer.liesProven).to.have.length(1);
      expect(s.proposer.liesProven[0]).to.include({ batchIndex: k, stepIndex: 0, reward: (ETH / 2n).toString() });
      expect(s.proposer.liesProven[0].proposer).to.equal(attacker.address);
    } finally {
      await hre.network.provider.send("evm_setAutomine", [true]);
    }

    // Every later batch goes on, and every bond of the operator comes back.
    await client.sendTransaction(await sign(1));
    await op.closeBatch();
    const after = await until("the next batch proposed", async () => {
      const st = await idle();
      return st && st.batches.closed > k + 1 ? st : undefined;
    });
    await hre.network.provider.send("evm_increaseTime", [101]);
    await hre.network.provider.send("evm_mine", []);
    const ours = async () =>
      (await scc.queryFilter(scc.filters.StateProposed(undefined, operatorKey.address))).map((e) => e.args.proposalId);
    await until("every bond of the operator back", async () => {
      const states = await Promise.all((await ours()).map(async (id) => (await scc.bond(id)).state));
      return states.every((st) => st === BondState.Returned) ? states : undefined;
    });
    expect((await ours()).length).to.be.at.least(after.batches.closed);
    expect(
      (await scc.bond((await scc.queryFilter(scc.filters.StateProposed(k, attacker.address)))[0].args.proposalId))
        .state,
    ).to.equal(BondState.Forfeited);
    await op.stop();
    client.close();
  });

  describe("when L1 and the local sequence part", () => {
    const late = wallet(13);
    const sign = (u: Wallet, from: number, to: number, nonce: number) =>
      signL2Transaction(u, transferTx(from, to, ETH / 100n), {
        chainId: dep.chainId,
        inbox: dep.contracts.rollupInbox,
        tokenId: 0,
        nonce,
      });

    /** Deposits for the two users, appended; then `n` transfers left in the open batch. */
    async function withOpenTransfers(n: number): Promise<{ op: Operator; client: L2Client; hashes: string[] }> {
      const { op, client } = await start(600_000);
      for (const u of users)
        await (await dep.handles.bridge.connect(u).depositEth(u.address, 0, { value: ETH })).wait();
      await until("the deposits", async () => (op.sequencer.status().queue.sequenced === 2 ? true : undefined));
      await op.closeBatch();
      await until("batch 0 on L1", async () => ((await client.getStatus()).heads.appended === 1 ? true : undefined));
      const hashes: string[] = [];
      for (let nonce = 0; nonce < n; nonce++)
        hashes.push((await client.sendTransaction(await sign(users[0], 1, 2, nonce))).hash);
      return { op, client, hashes };
    }

    it("adopts a batch force-included while it was down, and sequences its own transactions again after it", async () => {
      const first = await withOpenTransfers(3);
      const hashes = first.hashes;
      await first.op.stop();
      first.client.close();
      // Down: a deposit waits past the forced-inclusion delay, and its owner force-includes it.
      await (await dep.handles.bridge.connect(late).depositEth(late.address, 0, { value: ETH })).wait();
      await hre.network.provider.send("evm_increaseTime", [601]);
      await hre.network.provider.send("evm_mine", []);
      await (await dep.handles.inbox.connect(late).forceInclude(1)).wait();

      const { op, client } = await start(600_000);
      await until("the adoption", async () => ((await client.getStatus()).heads.appended >= 2 ? true : undefined));
      await op.closeBatch();
      const s = await until("the re-sequenced batch on L1", async () => {
        const st = await client.getStatus();
        return st.heads.appended === 3 && st.heads.proposed === 3 ? st : undefined;
      });
      expect(s.halted).to.equal(undefined);
      expect((await client.getBatch(1))?.queueEnd).to.equal("3");
      expect((await client.getBatch(2))?.transactionCount).to.equal(3);
      for (const h of hashes) expect(await client.getReceipt(h)).to.include({ outcome: "Applied", batchIndex: 2 });
      expect((await client.getAccountsOf(late.address))[0]).to.include({ index: 3, balance: ETH });
      expect((await client.getAccount(2)).balance).to.equal(ETH + (3n * ETH) / 100n);
      const appended = await dep.handles.inbox.queryFilter(dep.handles.inbox.filters.BatchAppended());
      expect(appended.map((e) => e.args.forced)).to.deep.equal([false, true, false]);
      await op.stop();
      client.close();
    });

    it("re-forms a batch the inbox would refuse for leaving an overdue queue item out", async () => {
      const { op, client, hashes } = await withOpenTransfers(2);
      // A deposit arrives while the batch has transactions (so it waits for the next), and becomes overdue.
      await (await dep.handles.bridge.connect(late).depositEth(late.address, 0, { value: ETH })).wait();
      await until("the late deposit", async () => (op.sequencer.queueLength === 3 ? true : undefined));
      await hre.network.provider.send("evm_increaseTime", [601]);
      await hre.network.provider.send("evm_mine", []);
      await op.closeBatch();
      // The inbox refuses batch 1 as it is: the operator re-forms it with the overdue item first.
      await until("the re-formed batch", async () => {
        const open = op.sequencer.status().batches.open;
        return open?.index === 1 && open.queueItems === 1 && open.txs === 2 ? true : undefined;
      });
      await op.closeBatch();
      const s = await until("the re-formed batch on L1", async () => {
        const st = await client.getStatus();
        return st.heads.appended === 2 ? st : undefined;
      });
      expect(s.halted).to.equal(undefined);
      expect(await client.getBatch(1)).to.include({ queueStart: "2", queueEnd: "3", transactionCount: 2 });
      for (const h of hashes) expect(await client.getReceipt(h)).to.include({ outcome: "Applied", batchIndex: 1 });
      expect((await client.getAccountsOf(late.address))[0]?.index).to.equal(3);
      await op.stop();
      client.close();
    });
  });
});

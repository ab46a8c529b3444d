import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { deployRollup, type DeployedRollup } from "../../scripts/deploy";
import { L2Client, signL2Transaction, transferTx } from "../../src/operator/client";
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
        if (!(await dep.handles.stateCommitmentChain.proposal(k)).bondReturned) return undefined;
      }
      return true;
    });
    const metrics = await (await fetch(`${op.url}/metrics`)).text();
    expect(metrics).to.match(/bilayer_batch_head\{stage="final"\} [1-9]/);
    expect(metrics).to.match(/bilayer_transfers_accepted_total 10\b/);
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
      expect((await client.getBatch(1))?.queueEnd).to.equal(3);
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
      expect(await client.getBatch(1)).to.include({ queueStart: 2, queueEnd: 3, transactionCount: 2 });
      for (const h of hashes) expect(await client.getReceipt(h)).to.include({ outcome: "Applied", batchIndex: 1 });
      expect((await client.getAccountsOf(late.address))[0]?.index).to.equal(3);
      await op.stop();
      client.close();
    });
  });
});

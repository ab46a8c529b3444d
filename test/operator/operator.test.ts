import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { deployRollup, type DeployedRollup } from "../../scripts/deploy";
import { L2Client, signL2Transaction, transferTx } from "../../src/operator/client";
import { defaultConfig } from "../../src/operator/config";
import { silentLogger } from "../../src/operator/log";
import { Operator } from "../../src/operator/operator";

const MNEMONIC = "test test test test test test test test test test test junk";
const provider = hre.ethers.provider as unknown as Provider;
const ETH = 10n ** 18n;

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
        forcedInclusionDelaySeconds: 3600n,
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

  async function start(): Promise<{ op: Operator; client: L2Client }> {
    const config = defaultConfig(dep.chainId, dir);
    config.port = 0;
    config.pollMs = 20;
    config.batch.maxAgeMs = 100;
    const op = await Operator.start({ config, provider, wallet: operatorKey, deployment: dep, logger: silentLogger() });
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
});

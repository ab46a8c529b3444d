import { expect } from "chai";
import hre from "hardhat";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { MAX_L1_TX_BYTES } from "../../src/l1/batch";
import { L1Sender, L1TxLostError, L1TxTooLargeError, type TxPurpose } from "../../src/operator/l1-sender";
import { silentLogger } from "../../src/operator/log";
import { OperatorMetrics } from "../../src/operator/metrics";
import { MemoryStore } from "../../src/common/store";

const MNEMONIC = "test test test test test test test test test test test junk";
const provider = hre.ethers.provider as unknown as Provider;
const purpose: TxPurpose = { kind: "append", batch: 0 };
const target = "0x" + "5e".repeat(20);

function wallet(index: number): Wallet {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider) as unknown as Wallet;
}

function newSender(
  store: MemoryStore,
  w: Wallet,
  opts: { confirmations?: number; stuckAfterMs?: number } = {},
): L1Sender {
  return new L1Sender({
    provider,
    wallet: w,
    store,
    logger: silentLogger(),
    metrics: new OperatorMetrics({ defaultMetrics: false }),
    confirmations: opts.confirmations ?? 1,
    stuckAfterMs: opts.stuckAfterMs ?? 60_000,
    feeBumpPercent: 25,
    maxFeePerGasCap: 10n ** 12n,
    pollMs: 20,
  });
}

const send = (method: string, params: unknown[] = []): Promise<unknown> => hre.network.provider.send(method, params);

async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("L1Sender", () => {
  afterEach(async () => {
    await send("evm_setAutomine", [true]);
  });

  it("never signs a transaction larger than a public mempool relays, and stores and sends nothing for it", async () => {
    const store = new MemoryStore();
    const w = wallet(19);
    const sender = newSender(store, w);
    await sender.recover();
    const nonce = await provider.getTransactionCount(w.address);
    // Calldata at the limit on its own: with the signed envelope around it, over 131,072 bytes.
    const data = "0x" + "01".repeat(MAX_L1_TX_BYTES);
    const refusal = await sender.send(purpose, target, data, 0n).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).to.be.instanceOf(L1TxTooLargeError);
    const context = (refusal as L1TxTooLargeError).context ?? {};
    expect(context).to.include({ max: MAX_L1_TX_BYTES });
    expect(context.size as number).to.be.greaterThan(MAX_L1_TX_BYTES);
    expect(sender.unconfirmed()).to.deep.equal([]);
    const stored: string[] = [];
    for await (const [key] of store.entries("")) stored.push(key);
    expect(stored).to.deep.equal([]);
    expect(await provider.getTransactionCount(w.address, "pending")).to.equal(nonce);
    // A transaction that fits goes out with the nonce the refused one did not take.
    const rec = await sender.send(purpose, target, "0x" + "01".repeat(1000), 0n);
    expect(rec.nonce).to.equal(nonce);
  });

  it("replaces a transaction stuck in the pool with one paying at least 25% more, same nonce", async () => {
    const sender = newSender(new MemoryStore(), wallet(15), { stuckAfterMs: 150 });
    await sender.recover();
    await send("evm_setAutomine", [false]);
    const rec = await sender.send(purpose, target, "0x", 1n);
    const mined = sender.waitMined(rec);
    await until("a replacement", () => rec.attempts.length >= 2);
    await send("evm_mine");
    const receipt = await mined;
    const [first, second] = rec.attempts;
    // A replacement is what was mined (on a loaded machine, a third attempt may go out before the block).
    expect(rec.attempts.slice(1).map((a) => a.hash)).to.include(receipt.hash);
    expect((await provider.getTransaction(receipt.hash))?.nonce).to.equal(rec.nonce);
    expect(BigInt(second.maxFeePerGas)).to.be.at.least((BigInt(first.maxFeePerGas) * 125n) / 100n);
    expect(BigInt(second.maxPriorityFeePerGas)).to.be.at.least((BigInt(first.maxPriorityFeePerGas) * 125n) / 100n);
    expect(await provider.getTransactionReceipt(first.hash)).to.equal(null);
  });

  it("sends again a mined transaction that a reorg took out of the chain, and forgets it once deep enough", async () => {
    const sender = newSender(new MemoryStore(), wallet(16), { confirmations: 3 });
    await sender.recover();
    const snapshot = await send("evm_snapshot");
    const rec = await sender.send(purpose, target, "0x", 2n);
    const first = await sender.waitMined(rec);
    await send("evm_revert", [snapshot]);
    expect(await provider.getTransactionReceipt(first.hash)).to.equal(null);
    expect(await sender.poll()).to.deep.equal([purpose]);
    const again = await provider.getTransactionReceipt(first.hash);
    expect(again?.status).to.equal(1);
    expect(sender.unconfirmed()).to.have.length(1);
    await send("hardhat_mine", ["0x3"]);
    expect(await sender.poll()).to.deep.equal([]);
    expect(sender.unconfirmed()).to.have.length(0);
  });

  it("after a restart, re-sends from its store a signed transaction the node lost", async () => {
    const store = new MemoryStore();
    const w = wallet(17);
    const before = newSender(store, w);
    await before.recover();
    await send("evm_setAutomine", [false]);
    const rec = await before.send(purpose, target, "0x", 3n);
    await send("hardhat_dropTransaction", [rec.attempts[0].hash]);
    // "restart": a new sender on the same store, the node's pool empty
    const after = newSender(store, w);
    await send("evm_setAutomine", [true]);
    await after.recover();
    const found = after.find(purpose);
    expect(found?.nonce).to.equal(rec.nonce);
    const receipt = await after.waitMined(found as NonNullable<typeof found>);
    expect(receipt.hash).to.equal(rec.attempts[0].hash);
    // and it does not reuse the nonce for the next transaction
    const next = await after.send({ kind: "propose", batch: 0 }, target, "0x", 1n);
    expect(next.nonce).to.equal(rec.nonce + 1);
  });

  it("gives a transaction up when another transaction of its key took the nonce", async () => {
    const w = wallet(18);
    const sender = newSender(new MemoryStore(), w);
    await sender.recover();
    await send("evm_setAutomine", [false]);
    const rec = await sender.send(purpose, target, "0x", 4n);
    const price = BigInt(rec.attempts[0].maxFeePerGas) * 2n;
    await w.sendTransaction({ to: w.address, nonce: rec.nonce, maxFeePerGas: price, maxPriorityFeePerGas: price });
    await send("evm_mine");
    try {
      await sender.waitMined(rec);
      expect.fail("waited for a transaction that can never be mined");
    } catch (err) {
      expect(err).to.be.instanceOf(L1TxLostError);
    }
    expect(sender.find(purpose)).to.equal(undefined);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { LevelStore, MemoryStore, StoreWriteError, type FlushStats } from "../../src/common/store";

describe("LevelStore", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-store-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps what it acknowledged across a reopen", async () => {
    const store = await LevelStore.open(dir);
    await store.write([
      { type: "put", key: "t/1", value: "one" },
      { type: "put", key: "t/2", value: "two" },
    ]);
    await store.write([{ type: "del", key: "t/1" }]);
    await store.close();
    const again = await LevelStore.open(dir);
    expect(await again.get("t/1")).to.equal(undefined);
    expect(await again.get("t/2")).to.equal("two");
    await again.close();
  });

  it("groups concurrent writers into shared synced writes, in order", async () => {
    const store = await LevelStore.open(dir);
    const flushes: FlushStats[] = [];
    store.onFlush = (s) => flushes.push(s);
    const writes = Array.from({ length: 200 }, (_, i) => store.write([{ type: "put", key: "k", value: String(i) }]));
    await Promise.all(writes);
    expect(flushes.reduce((n, f) => n + f.writers, 0)).to.equal(200);
    expect(flushes.length).to.be.lessThan(200);
    expect(Math.max(...flushes.map((f) => f.writers))).to.be.greaterThan(1);
    expect(await store.get("k")).to.equal("199"); // the last writer wins: writes apply in order
    await store.close();
  });

  it("iterates a prefix in key order", async () => {
    const store = await LevelStore.open(dir);
    await store.write(["b/2", "a/1", "b/10", "b/1", "c/1"].map((key) => ({ type: "put" as const, key, value: key })));
    const keys: string[] = [];
    for await (const [k] of store.entries("b/")) keys.push(k);
    expect(keys).to.deep.equal(["b/1", "b/10", "b/2"]);
    await store.close();
  });

  it("with maxBatchOps, splits a backlog into synced batches of whole writes, each writer answered in order", async () => {
    const store = await LevelStore.open(dir, { maxBatchOps: 10 });
    const flushes: FlushStats[] = [];
    store.onFlush = (s) => flushes.push(s);
    const done: number[] = [];
    const writes: Promise<unknown>[] = Array.from({ length: 30 }, (_, i) =>
      store
        .write([
          { type: "put", key: `k/${i}`, value: "a" },
          { type: "put", key: `k/${i}`, value: String(i) },
          { type: "put", key: "last", value: String(i) },
        ])
        .then(() => done.push(i)),
    );
    // One write larger than the limit still goes down whole, alone.
    writes.push(
      store.write(Array.from({ length: 25 }, (_, j) => ({ type: "put" as const, key: `big/${j}`, value: "x" }))),
    );
    await Promise.all(writes);
    expect(done).to.deep.equal(Array.from({ length: 30 }, (_, i) => i));
    expect(flushes.length).to.be.greaterThan(3);
    expect(Math.max(...flushes.filter((f) => f.writers > 1).map((f) => f.ops))).to.be.at.most(10);
    expect(flushes.some((f) => f.ops === 25 && f.writers === 1)).to.equal(true);
    expect(store.stats.ops).to.equal(30 * 3 + 25);
    expect(await store.get("k/7")).to.equal("7");
    expect(await store.get("last")).to.equal("29");
    expect(await store.list("big/")).to.have.length(25);
    await store.close();
  });

  it("with collapseKeys, writes the last operation on each key of a batch, as a plain batch would leave it", async () => {
    const store = await LevelStore.open(dir, { collapseKeys: true });
    await store.write([{ type: "put", key: "gone", value: "1" }]);
    await Promise.all([
      store.write([{ type: "put", key: "s", value: "1" }]),
      store.write([
        { type: "put", key: "s", value: "2" },
        { type: "del", key: "gone" },
      ]),
      store.write([
        { type: "put", key: "gone", value: "back" },
        { type: "del", key: "gone" },
        { type: "put", key: "s", value: "3" },
      ]),
    ]);
    await store.close();
    const again = await LevelStore.open(dir);
    expect(await again.get("s")).to.equal("3");
    expect(await again.get("gone")).to.equal(undefined);
    await again.close();
  });

  it("refuses writes once closed", async () => {
    const store = await LevelStore.open(dir);
    await store.close();
    try {
      await store.write([{ type: "put", key: "k", value: "v" }]);
      expect.fail("wrote to a closed store");
    } catch (err) {
      expect(err).to.be.instanceOf(StoreWriteError);
    }
  });
});

describe("MemoryStore", () => {
  it("fails every write after a failure until reopened, so that no later write lands after a lost one", async () => {
    const store = new MemoryStore();
    store.failWrites = new Error("disk full");
    await expect(store.write([{ type: "put", key: "a", value: "1" }])).to.be.rejectedWith(StoreWriteError);
    store.failWrites = undefined;
    expect(store.failed).to.equal(true);
    await expect(store.write([{ type: "put", key: "b", value: "1" }])).to.be.rejectedWith(StoreWriteError);
    await store.reopen();
    await store.write([{ type: "put", key: "c", value: "1" }]);
    expect(await store.get("b")).to.equal(undefined);
    expect(await store.get("c")).to.equal("1");
  });
});

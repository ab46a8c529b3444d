import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { LevelStore, MemoryStore, StoreWriteError, type FlushStats } from "../../src/operator/store";

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

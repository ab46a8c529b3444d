import { expect } from "chai";
import { keyParts, lockId, storeKey, storePrefix } from "../../src/channels/records";

describe("channel store keys", () => {
  const id = "0x" + "ab".repeat(32);
  const hashlock = "0x" + "cd".repeat(32);

  it("builds every key under its kind's prefix and reads its parts back", () => {
    const cases: [keyof typeof storePrefix, string, string, string | undefined][] = [
      ["channel", storeKey.channel(id), id, undefined],
      ["full", storeKey.full(id), id, undefined],
      ["signedVersion", storeKey.signedVersion(id), id, undefined],
      ["resize", storeKey.resize(id), id, undefined],
      ["pending", storeKey.pending(id, 258n), id, "0000000000000102"],
      ["voided", storeKey.voided(id, 1n), id, "0000000000000001"],
      ["request", storeKey.request(id, "r1"), id, "r1"],
      ["secret", storeKey.secret(hashlock), hashlock, undefined],
      ["lockMeta", storeKey.lockMeta(lockId(id, hashlock)), id, hashlock],
      ["locks", storeKey.locks(lockId(id, hashlock)), id, hashlock],
      ["invoice", storeKey.invoice(hashlock), hashlock, undefined],
      ["route", storeKey.route(hashlock), hashlock, undefined],
      ["watchedChannel", storeKey.watchedChannel(id), id, undefined],
      ["watchedState", storeKey.watchedState(id), id, undefined],
    ];
    expect(cases.map((c) => c[0]).sort()).to.deep.equal(Object.keys(storePrefix).sort());
    for (const [kind, key, first, rest] of cases) {
      expect(key.startsWith(storePrefix[kind]), kind).to.equal(true);
      expect(keyParts(key), kind).to.deep.equal({ id: first, rest });
    }
    // No prefix is the start of another: listing one kind never returns another's keys.
    const prefixes = Object.values(storePrefix);
    for (const a of prefixes)
      for (const b of prefixes) if (a !== b) expect(b.startsWith(a), `${a} ${b}`).to.equal(false);
  });

  it("sorts pending proposals by version", () => {
    const keys = [300n, 2n, 17n, 1n << 40n].map((v) => storeKey.pending(id, v));
    expect([...keys].sort()).to.deep.equal([2n, 17n, 300n, 1n << 40n].map((v) => storeKey.pending(id, v)));
  });
});

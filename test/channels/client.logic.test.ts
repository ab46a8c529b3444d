import { expect } from "chai";
import fc from "fast-check";
import { hashlockOf, locksRoot, stateCommitsToLocks, ZERO_BYTES32, type Lock } from "../../src/channels/state";
import {
  applyUpdate,
  approvalError,
  depositSnapshot,
  MAX_LOCKS,
  sameUpdate,
  type ChannelUpdate,
  type Party,
  type Snapshot,
} from "../../src/channels/updates";
import {
  forwardRefusal,
  lockExpiredUnclaimed,
  payeeRefusal,
  planRoute,
  revealDue,
  ROUTE_SLACK_SECONDS,
  type RoutingPolicy,
} from "../../src/channels/routing";
import {
  decodeMemo,
  decodeSigned,
  decodeUpdate,
  encodeMemo,
  encodeSigned,
  encodeUpdate,
} from "../../src/channels/wire";

const ID = "0x" + "ab".repeat(32);
const SECRET = "0x" + "5e".repeat(32);
const H = hashlockOf(SECRET);
const POLICY: RoutingPolicy = {
  hopDeltaSeconds: 600n,
  finalDeltaSeconds: 300n,
  revealMarginSeconds: 120n,
  forwardFee: 2n,
};

function lock(overrides: Partial<Lock> = {}): Lock {
  return { sender: 0, receiver: 1, amount: 40n, hashlock: H, expiry: 10_000n, ...overrides };
}

describe("Channel client logic", function () {
  describe("applyUpdate", function () {
    const base = depositSnapshot(ID, [100n, 50n]);

    it("moves payments, locks, settlements and refunds between balances and keeps the locks root exact", function () {
      const paid = applyUpdate(base, { kind: "pay", from: 0, amount: 30n }, 1n);
      expect(paid.state.balances).to.deep.equal([70n, 80n]);
      const locked = applyUpdate(paid, { kind: "lock", lock: lock() }, 2n);
      expect(locked.state.balances).to.deep.equal([30n, 80n]);
      expect(locked.state.lockedTotal).to.equal(40n);
      expect(locked.state.locksRoot).to.equal(locksRoot([lock()]));
      expect(stateCommitsToLocks(locked.state, locked.locks)).to.equal(true);
      const settled = applyUpdate(locked, { kind: "settle", hashlock: H, secret: SECRET }, 3n);
      expect(settled.state.balances).to.deep.equal([30n, 120n]);
      expect(settled.state.locksRoot).to.equal(ZERO_BYTES32);
      const cancelled = applyUpdate(locked, { kind: "cancel", hashlock: H }, 3n);
      expect(cancelled.state.balances).to.deep.equal([70n, 80n]);
      expect(cancelled.state.lockedTotal).to.equal(0n);
    });

    it("refuses what the adjudicator could not honour", function () {
      const locked = applyUpdate(base, { kind: "lock", lock: lock() }, 1n);
      const cases: [Snapshot, ChannelUpdate, bigint, RegExp][] = [
        [base, { kind: "pay", from: 1, amount: 51n }, 1n, /cannot pay/],
        [base, { kind: "pay", from: 0, amount: 0n }, 1n, /positive/],
        [base, { kind: "pay", from: 0, amount: 1n }, 0n, /does not follow/],
        [base, { kind: "lock", lock: lock({ receiver: 0 }) }, 1n, /one participant to the other/],
        [base, { kind: "lock", lock: lock({ amount: 101n }) }, 1n, /cannot lock/],
        [locked, { kind: "lock", lock: lock() }, 2n, /already has a lock/],
        [locked, { kind: "settle", hashlock: H, secret: "0x" + "00".repeat(32) }, 2n, /does not open/],
        [base, { kind: "cancel", hashlock: H }, 1n, /no lock/],
        [locked, { kind: "final" }, 2n, /pending locks/],
        [applyUpdate(base, { kind: "final" }, 1n), { kind: "pay", from: 0, amount: 1n }, 2n, /final/],
      ];
      for (const [from, update, version, message] of cases) {
        expect(() => applyUpdate(from, update, version), JSON.stringify(encodeUpdate(update))).to.throw(message);
      }
    });

    it(`holds at most ${MAX_LOCKS} locks`, function () {
      let s = depositSnapshot(ID, [10_000n, 0n]);
      for (let i = 0; i < MAX_LOCKS; i++) {
        const h = "0x" + i.toString(16).padStart(64, "0");
        s = applyUpdate(s, { kind: "lock", lock: lock({ hashlock: h, amount: 1n }) }, BigInt(i + 1));
      }
      expect(() => applyUpdate(s, { kind: "lock", lock: lock({ amount: 1n }) }, 1000n)).to.throw(/at most/);
    });

    it("conserves the channel's total through any sequence of updates (property)", function () {
      const secrets = Array.from({ length: 4 }, (_, i) => "0x" + String(i + 1).repeat(64));
      const update = fc.oneof(
        fc.record({
          kind: fc.constant("pay" as const),
          from: fc.constantFrom<Party>(0, 1),
          amount: fc.bigInt(1n, 60n),
        }),
        fc.record({
          kind: fc.constant("lock" as const),
          sender: fc.constantFrom<Party>(0, 1),
          i: fc.nat(3),
          amount: fc.bigInt(1n, 60n),
        }),
        fc.record({ kind: fc.constantFrom("settle" as const, "cancel" as const), i: fc.nat(3) }),
      );
      fc.assert(
        fc.property(fc.array(update, { maxLength: 40 }), (updates) => {
          let s = depositSnapshot(ID, [100n, 60n]);
          let version = 0n;
          for (const u of updates) {
            let next: ChannelUpdate;
            if (u.kind === "pay") next = u;
            else if (u.kind === "lock") {
              next = {
                kind: "lock",
                lock: {
                  sender: u.sender,
                  receiver: u.sender === 0 ? 1 : 0,
                  amount: u.amount,
                  hashlock: hashlockOf(secrets[u.i]),
                  expiry: 99n,
                },
              };
            } else if (u.kind === "settle")
              next = { kind: "settle", hashlock: hashlockOf(secrets[u.i]), secret: secrets[u.i] };
            else next = { kind: "cancel", hashlock: hashlockOf(secrets[u.i]) };
            try {
              s = applyUpdate(s, next, ++version);
            } catch {
              continue; // refused: the state stays
            }
            const total = s.state.balances[0] + s.state.balances[1] + s.state.lockedTotal;
            if (total !== 160n || !stateCommitsToLocks(s.state, s.locks)) return false;
            if (s.state.balances[0] < 0n || s.state.balances[1] < 0n) return false;
          }
          return true;
        }),
      );
    });
  });

  describe("approvalError", function () {
    const base = applyUpdate(depositSnapshot(ID, [100n, 50n]), { kind: "lock", lock: lock() }, 1n);
    const ctx = (initiator: Party, now = 5_000n, revealedAt = 0n) => ({ initiator, now, revealedAt: () => revealedAt });

    it("signs what only adds to its side, and gives something up only when it asked", function () {
      expect(approvalError(1, { kind: "pay", from: 0, amount: 1n }, base, ctx(0))).to.equal(undefined);
      expect(approvalError(1, { kind: "pay", from: 1, amount: 1n }, base, ctx(0))).to.match(/did not ask/);
      expect(approvalError(1, { kind: "pay", from: 1, amount: 1n }, base, ctx(1))).to.equal(undefined);
      expect(approvalError(0, { kind: "lock", lock: lock({ sender: 0 }) }, base, ctx(1))).to.match(/did not ask/);
      expect(approvalError(1, { kind: "lock", lock: lock({ expiry: 4_000n }) }, base, ctx(0))).to.match(/expired/);
      expect(approvalError(0, { kind: "settle", hashlock: H, secret: SECRET }, base, ctx(1))).to.equal(undefined);
    });

    it("gives back a lock it receives only once it expired with no secret on chain in time", function () {
      const cancel: ChannelUpdate = { kind: "cancel", hashlock: H };
      expect(approvalError(0, cancel, base, ctx(1)), "the sender always takes it back").to.equal(undefined);
      expect(approvalError(1, cancel, base, ctx(1)), "the receiver gives it up itself").to.equal(undefined);
      expect(approvalError(1, cancel, base, ctx(0, 10_000n))).to.match(/not expired/);
      expect(approvalError(1, cancel, base, ctx(0, 10_001n))).to.equal(undefined);
      expect(approvalError(1, cancel, base, ctx(0, 10_001n, 10_000n))).to.match(/revealed on chain in time/);
      expect(approvalError(1, cancel, base, ctx(0, 10_001n, 10_001n))).to.equal(undefined);
    });
  });

  describe("routing", function () {
    it("plans decreasing expiries and fees along a route", function () {
      const hops = planRoute(["0xB", "0xC", "0xD"], 1000n, 5n, 1_000n, 600n, 300n);
      expect(hops.map((h) => h.amount)).to.deep.equal([1010n, 1005n, 1000n]);
      const last = 1_000n + 300n + ROUTE_SLACK_SECONDS;
      expect(hops.map((h) => h.expiry)).to.deep.equal([last + 1200n, last + 600n, last]);
    });

    it("forwards only with the fee, the margin and a channel", function () {
      const incoming = lock({ amount: 102n, expiry: 2_000n });
      const hop = { to: "0xC", amount: 100n, expiry: 1_400n };
      expect(forwardRefusal(incoming, hop, true, 1_000n, POLICY)).to.equal(undefined);
      expect(forwardRefusal(incoming, hop, false, 1_000n, POLICY)).to.match(/no open channel/);
      expect(forwardRefusal(lock({ amount: 101n, expiry: 2_000n }), hop, true, 1_000n, POLICY)).to.match(/fee/);
      expect(forwardRefusal(lock({ amount: 102n, expiry: 1_999n }), hop, true, 1_000n, POLICY)).to.match(/too little/);
      expect(forwardRefusal(incoming, hop, true, 1_280n, POLICY)).to.match(/too soon/);
    });

    it("takes a lock to its invoice only when it pays enough in time", function () {
      const invoice = { amount: 40n, status: "open" as const };
      expect(payeeRefusal(lock(), invoice, true, 9_700n, POLICY)).to.equal(undefined);
      expect(payeeRefusal(lock(), undefined, false, 9_700n, POLICY)).to.match(/no invoice/);
      expect(payeeRefusal(lock(), { ...invoice, status: "paid" }, true, 9_700n, POLICY)).to.match(/paid/);
      expect(payeeRefusal(lock({ amount: 39n }), invoice, true, 9_700n, POLICY)).to.match(/asks 40/);
      expect(payeeRefusal(lock(), invoice, true, 9_701n, POLICY)).to.match(/too soon/);
    });

    it("reveals within the margin before expiry and takes back only unclaimed expired locks", function () {
      expect(revealDue(lock(), 9_879n, POLICY)).to.equal(false);
      expect(revealDue(lock(), 9_880n, POLICY)).to.equal(true);
      expect(revealDue(lock(), 10_000n, POLICY)).to.equal(true);
      expect(revealDue(lock(), 10_001n, POLICY)).to.equal(false);
      expect(lockExpiredUnclaimed(lock(), 10_000n, 0n)).to.equal(false);
      expect(lockExpiredUnclaimed(lock(), 10_001n, 0n)).to.equal(true);
      expect(lockExpiredUnclaimed(lock(), 10_001n, 10_000n)).to.equal(false);
      expect(lockExpiredUnclaimed(lock(), 10_001n, 10_001n)).to.equal(true);
    });
  });

  describe("wire encodings", function () {
    it("round-trips updates, memos and signed states, and rejects malformed ones", function () {
      const updates: ChannelUpdate[] = [
        { kind: "pay", from: 1, amount: 12345678901234567890n },
        { kind: "lock", lock: lock() },
        { kind: "settle", hashlock: H, secret: SECRET },
        { kind: "cancel", hashlock: H },
        { kind: "final" },
      ];
      for (const u of updates)
        expect(sameUpdate(decodeUpdate(JSON.parse(JSON.stringify(encodeUpdate(u)))), u)).to.equal(true);
      const memo = { hops: [{ to: "0x" + "cd".repeat(20), amount: 5n, expiry: 77n }] };
      expect(decodeMemo(encodeMemo(memo)).hops[0].amount).to.equal(5n);
      const signed = {
        ...applyUpdate(depositSnapshot(ID, [1n, 0n]), { kind: "lock", lock: lock({ amount: 1n }) }, 1n),
        sigs: [
          { r: "0x" + "01".repeat(32), vs: "0x" + "02".repeat(32) },
          { r: "0x" + "03".repeat(32), vs: "0x" + "04".repeat(32) },
        ] as [{ r: string; vs: string }, { r: string; vs: string }],
      };
      expect(decodeSigned(JSON.parse(JSON.stringify(encodeSigned(signed))))).to.deep.equal(signed);
      const bad: unknown[] = [
        { kind: "pay", from: 2, amount: "1" },
        { kind: "pay", from: 0, amount: "-1" },
        { kind: "pay", from: 0, amount: "01" },
        { kind: "pay", from: 0, amount: 1.5 },
        { kind: "lock", lock: { sender: 0, receiver: 1, amount: "1", hashlock: H } },
        { kind: "settle", hashlock: H, secret: "0x12" },
        { kind: "steal" },
        null,
        [],
      ];
      for (const b of bad) expect(() => decodeUpdate(b), JSON.stringify(b)).to.throw(/must/);
    });
  });
});

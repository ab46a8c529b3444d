/**
 * The update engine on its own: two engines, each with its own store, joined through the real peer transport on
 * loopback, with an in-memory host in place of the channel client (no chain: the channel is open from the start).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { Wallet } from "ethers";
import pino from "pino";
import type { LevelStore } from "../../src/common/store";
import { UpdateEngine, type EngineHost } from "../../src/channels/engine";
import { LiveChannel } from "../../src/channels/live-channel";
import { peerRequest } from "../../src/channels/messages";
import { openChannelStore, type ChannelRecord } from "../../src/channels/records";
import { StateSigner } from "../../src/channels/state-signer";
import {
  channelId as computeChannelId,
  initHashing,
  signStateWithKey,
  verifyStateSignatures,
  ZERO_ADDRESS,
  type ChannelParams,
} from "../../src/channels/state";
import { PeerRequestError, PeerTransport } from "../../src/channels/transport";
import { applyUpdate, depositSnapshot, type ChannelUpdate } from "../../src/channels/updates";
import { until } from "./client.helpers.test";

const CHAIN_ID = 31337n;
const ADJUDICATOR = "0x" + "ad".repeat(20);
const DEPOSITS: [bigint, bigint] = [100n, 100n];

/** One side of the channel: its engine, store, transport and the channel as the engine holds it. */
interface Side {
  key: string;
  address: string;
  store: LevelStore;
  transport: PeerTransport;
  engine: UpdateEngine<LiveChannel>;
  chan: LiveChannel;
  hooks: Hooks;
}

/** What the test sets and reads of a side's host. */
interface Hooks {
  /** Updates this side refuses when the peer proposes them (its "policy"). */
  refuse: (update: ChannelUpdate) => string | undefined;
  /** How many times a newer state signed by both was stored. */
  committed: number;
}

/** A host that keeps nothing of its own: the engine's records are all there is. */
function host(hooks: Hooks): EngineHost<LiveChannel> {
  return {
    chain: { now: () => 1_000n, revealedAt: () => 0n, refreshRevealed: () => Promise.resolve() },
    records: { signing: () => undefined, effects: () => () => undefined, adopted: () => undefined },
    lifecycle: {
      activate: () => Promise.resolve(),
      resizeSigned: () => undefined,
      settleResize: () => Promise.resolve(),
      committed: () => {
        hooks.committed += 1;
      },
      setPhase: (chan, phase) => {
        chan.rec = { ...chan.rec, phase };
        return Promise.resolve();
      },
    },
    policyRefusal: (_chan, update) => hooks.refuse(update),
  };
}

describe("UpdateEngine", function () {
  this.timeout(60_000);
  const keys = [Wallet.createRandom().privateKey, Wallet.createRandom().privateKey];
  const addresses = keys.map((k) => new Wallet(k).address) as [string, string];
  const params: ChannelParams = {
    participants: addresses,
    asset: ZERO_ADDRESS,
    challengeDuration: 300n,
    salt: "0x" + "11".repeat(32),
  };
  let id: string;
  let sides: Side[] = [];
  let root: string;

  before(async function () {
    await initHashing();
    id = computeChannelId(params, CHAIN_ID, ADJUDICATOR);
  });

  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-engine-"));
  });

  afterEach(async function () {
    for (const s of sides.splice(0)) await shut(s);
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Starts participant `me` (on its own store, read back if it exists), the channel open with the deposits. */
  async function start(me: 0 | 1, opts: { maxInFlight?: number; listen?: boolean } = {}): Promise<Side> {
    const dir = path.join(root, `p${me}`);
    const store = await openChannelStore(dir);
    const transport = new PeerTransport({
      privateKey: keys[me],
      ...(opts.listen === false ? {} : { port: 0 }),
      requestTimeoutMs: 2_000,
      reconnectMs: 50,
    });
    const rec: ChannelRecord = { id, params, me, peer: addresses[1 - me], deposits: DEPOSITS, phase: "open" };
    const chan = new LiveChannel(rec);
    const channels = new Map([[id, chan]]);
    const hooks: Hooks = { refuse: () => undefined, committed: 0 };
    const engine = new UpdateEngine(
      {
        store,
        transport,
        signer: new StateSigner(Buffer.from(keys[me].slice(2), "hex"), CHAIN_ID, ADJUDICATOR),
        log: pino({ level: "silent" }),
        maxInFlight: opts.maxInFlight ?? 8,
        maxVersionStep: 1_000n,
        channels,
      },
      host(hooks),
    );
    await engine.restore();
    engine.serve();
    await transport.start();
    const side: Side = { key: keys[me], address: addresses[me], store, transport, engine, chan, hooks };
    sides.push(side);
    return side;
  }

  async function shut(s: Side): Promise<void> {
    s.engine.stop();
    await s.transport.stop();
    await s.store.close();
    sides = sides.filter((x) => x !== s);
  }

  /** Connects `a` to `b`. */
  async function link(a: Side, b: Side): Promise<void> {
    a.transport.setPeerUrl(b.address, b.transport.url as string);
    await a.transport.connect(b.address);
  }

  /** Keeps syncing `s` (as the client's timer does) until `cond` holds. */
  async function syncUntil(s: Side, cond: () => boolean, what: string): Promise<void> {
    await until(() => {
      s.engine.syncDue();
      return cond();
    }, what);
  }

  function balances(s: Side): [bigint, bigint] {
    const b = s.chan.committed().state.balances;
    return [b[0], b[1]];
  }

  it("commits a payment the leader proposes once the follower countersigned it, on both sides", async function () {
    const leader = await start(0);
    const follower = await start(1);
    await link(leader, follower);
    const committed = await leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: 30n });
    expect(committed).to.deep.equal({ channelId: id, version: 1n });
    await until(() => follower.chan.full?.state.version === 1n, "the follower storing version 1");
    for (const s of [leader, follower]) {
      const full = s.chan.full;
      expect(full?.state.version).to.equal(1n);
      expect(balances(s)).to.deep.equal([70n, 130n]);
      expect(verifyStateSignatures(full!.state, full!.sigs, addresses, CHAIN_ID, ADJUDICATOR)).to.equal(true);
      expect(s.chan.inFlight).to.equal(0);
      expect(s.hooks.committed).to.equal(1);
    }
    // The follower asks for its own payment: the leader proposes it, and the follower's request resolves.
    const asked = await follower.engine.submit(follower.chan, { kind: "pay", from: 1, amount: 50n });
    expect(asked.version).to.equal(2n);
    await until(() => leader.chan.full?.state.version === 2n, "the leader storing version 2");
    expect(balances(leader)).to.deep.equal([120n, 80n]);
    expect(balances(follower)).to.deep.equal([120n, 80n]);
  });

  it("refuses a conflicting proposal for a version it already signed with OUT_OF_SYNC, and keeps its state", async function () {
    const leader = await start(0);
    const follower = await start(1);
    await link(leader, follower);
    await leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: 30n });
    await until(() => follower.chan.full?.state.version === 1n, "the follower storing version 1");
    // Another state with the same version, properly signed by the leader: the follower must never sign both.
    const update: ChannelUpdate = { kind: "pay", from: 0, amount: 60n };
    const conflicting = applyUpdate(depositSnapshot(id, DEPOSITS), update, 1n);
    const sig = signStateWithKey(leader.key, conflicting.state, CHAIN_ID, ADJUDICATOR);
    const attempt = peerRequest(leader.transport, follower.address, "ch.propose", {
      channelId: id,
      version: 1n,
      baseVersion: 0n,
      update,
      by: 0,
      sig,
    });
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(PeerRequestError);
    expect((err as PeerRequestError).peerCode).to.equal("OUT_OF_SYNC");
    expect(follower.chan.full?.state.version).to.equal(1n);
    expect(balances(follower)).to.deep.equal([70n, 130n]);
  });

  it("fails a proposal the follower refuses with its code, never reuses its version, and supersedes it", async function () {
    const leader = await start(0);
    const follower = await start(1);
    follower.hooks.refuse = (u) => (u.kind === "pay" && u.amount > 50n ? "too much at once" : undefined);
    await link(leader, follower);
    const refusedErr = await leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: 60n }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((refusedErr as { code?: string }).code).to.equal("UPDATE_REFUSED");
    // The refused version 1 may have left countersigned: a no-op at version 2 supersedes it.
    await until(() => leader.chan.full?.state.version === 2n, "the no-op superseding the refused version");
    expect(leader.chan.voided).to.have.length(0);
    expect(balances(leader)).to.deep.equal(DEPOSITS);
    const next = await leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: 10n });
    expect(next.version).to.equal(3n);
    expect(balances(follower)).to.deep.equal([90n, 110n]);
  });

  it("keeps at most maxInFlight proposals pending and queues the rest until there is room", async function () {
    const leader = await start(0, { maxInFlight: 2 });
    const follower = await start(1);
    // The follower is not reachable yet: nothing gets answered.
    const done = [1n, 2n, 3n, 4n].map((n) => leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: n }));
    await until(() => leader.chan.pending.length === 2, "two proposals pending");
    expect(leader.chan.queued).to.have.length(2);
    expect(leader.chan.inFlight).to.equal(4);
    expect(leader.chan.pending.map((p) => [p.version, p.baseVersion])).to.deep.equal([
      [1n, 0n],
      [2n, 1n],
    ]);
    leader.transport.setPeerUrl(follower.address, follower.transport.url as string);
    await syncUntil(leader, () => leader.chan.full?.state.version === 4n, "all four committed");
    expect((await Promise.all(done)).map((c) => c.version)).to.deep.equal([1n, 2n, 3n, 4n]);
    expect(balances(leader)).to.deep.equal([90n, 110n]);
    expect(leader.chan.inFlight).to.equal(0);
  });

  it("reads back the same state after a restart, and completes a proposal pending when it stopped", async function () {
    let leader = await start(0);
    let follower = await start(1);
    await link(leader, follower);
    await leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: 25n });
    await until(() => follower.chan.full?.state.version === 1n, "the follower storing version 1");
    const before = { leader: leader.chan.full, follower: follower.chan.full };
    // The follower goes away; the leader signs and stores version 2, which cannot be sent, and stops.
    await shut(follower);
    void leader.engine.submit(leader.chan, { kind: "pay", from: 0, amount: 5n }).catch(() => undefined);
    await until(() => leader.chan.pending[0]?.durable === true, "the proposal stored");
    await shut(leader);

    leader = await start(0);
    follower = await start(1);
    expect(leader.chan.full).to.deep.equal(before.leader);
    expect(follower.chan.full).to.deep.equal(before.follower);
    expect(leader.chan.maxSigned).to.equal(2n);
    expect(leader.chan.pending.map((p) => p.version)).to.deep.equal([2n]);
    expect(leader.chan.needsSync).to.equal(true);
    leader.transport.setPeerUrl(follower.address, follower.transport.url as string);
    await syncUntil(leader, () => leader.chan.full?.state.version === 2n, "the restored proposal committed");
    await until(() => follower.chan.full?.state.version === 2n, "the follower storing version 2");
    expect(balances(follower)).to.deep.equal([70n, 130n]);
    expect(leader.chan.pending).to.have.length(0);
  });
});

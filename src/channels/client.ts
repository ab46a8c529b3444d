import { randomBytes } from "node:crypto";
import { getAddress, Wallet, type Provider } from "ethers";
import pino, { type Logger } from "pino";
import { BilayerError } from "../protocol/errors";
import { Adjudicator, AdjudicatorLogReader, ChainClock, ChannelStatus, type AdjudicatorEvent } from "./chain";
import {
  channelId as computeChannelId,
  hashlockOf,
  initHashing,
  signStateWithKey,
  stateCommitsToLocks,
  verifyStateSignature,
  verifyStateSignatures,
  ZERO_ADDRESS,
  ZERO_BYTES32,
  type ChannelParams,
  type CompactSignature,
  type Lock,
} from "./state";
import { ChannelStore, versionKey, type StoreOp } from "./store";
import {
  forwardRefusal,
  lockExpiredUnclaimed,
  payeeRefusal,
  planRoute,
  revealDue,
  type RoutingPolicy,
} from "./routing";
import { PeerRequestError, PeerTransport, PeerUnavailableError } from "./transport";
import {
  applyUpdate,
  approvalError,
  depositSnapshot,
  findLock,
  other,
  sameState,
  sameUpdate,
  type ChannelUpdate,
  type Party,
  type SignedSnapshot,
  type Snapshot,
} from "./updates";
import {
  asBytes32,
  asObject,
  asString,
  decodeMemo,
  decodeParams,
  decodeSig,
  decodeSigned,
  decodeUpdate,
  asUint,
  asArray,
  encodeMemo,
  encodeParams,
  encodeSig,
  encodeSigned,
  encodeUpdate,
  InvalidMessageError,
  encodeLock,
  decodeLock,
  type ForwardMemo,
  type Json,
} from "./wire";
import {
  decodeChannel,
  decodeInvoice,
  decodeLockMeta,
  decodeProposal,
  decodeRequest,
  decodeRoute,
  decodeSignedRecord,
  encodeChannel,
  encodeInvoice,
  encodeLockMeta,
  encodeProposal,
  encodeRequest,
  encodeRoute,
  encodeSignedRecord,
  type ChannelPhase,
  type ChannelRecord,
  type InvoiceRecord,
  type LockMeta,
  type LockStatus,
  type ProposalRecord,
  type RequestRecord,
  type RouteRecord,
} from "./records";

/*
 * A channel client: one participant's side of its
 * channels, kept in an embedded store, talking to its peers over the peer
 * transport and to the adjudicator on chain.
 *
 * Update protocol. Participant 0 of a channel leads: it builds every new state
 * (its own updates, and the ones participant 1 asks for with `ch.request`),
 * signs it, stores it as pending and sends it (`ch.propose`, the update and
 * its signature; the follower recomputes the state itself). The follower
 * checks and countersigns it, stores the state signed by both, and answers;
 * the leader stores it too, and only then is the update acknowledged (to
 * the follower as the answer to its `ch.request`). Proposals are pipelined:
 * each builds on the one before, and the follower takes them in order. No
 * participant ever signs two different states with the same version. After a
 * restart or a reconnection both sides exchange their latest states signed by
 * both (`ch.sync`); the leader adopts the follower's if it is newer and sends
 * what is still pending again, the follower asks again for what it still
 * waits for.
 */

/**
 * What a client accepts and how it routes (defaults: hop delta 600 s, payee margin 300 s, reveal margin 120 s,
 * no forwarding fee).
 */
export interface ChannelPolicy extends RoutingPolicy {
  /** The most this client deposits into a channel a peer opens with it (default 0: it only receives). */
  maxAutoFund: bigint;
  /** The challenge durations it accepts in channels others open (seconds). */
  minChallengeDuration: bigint;
  maxChallengeDuration: bigint;
  /** Conclude, unlock and withdraw disputed channels automatically (default true). */
  autoSettle: boolean;
  /** Proposals in flight per channel before new updates wait (default 4096). */
  maxInFlight: number;
  /** How often the latest states go to the watchtower (default 200 ms). */
  towerFlushMs: number;
  /** After the final state, the side that did not ask for the close submits it itself after this long (60 s). */
  closeGraceSeconds: bigint;
}

export const DEFAULT_POLICY: ChannelPolicy = {
  maxAutoFund: 0n,
  minChallengeDuration: 1n,
  maxChallengeDuration: 30n * 24n * 3600n,
  hopDeltaSeconds: 600n,
  finalDeltaSeconds: 300n,
  revealMarginSeconds: 120n,
  forwardFee: 0n,
  autoSettle: true,
  maxInFlight: 4096,
  towerFlushMs: 200,
  closeGraceSeconds: 60n,
};

export interface ChannelClientConfig {
  /** The participant's 32-byte private key: it signs states and sends the client's L1 transactions. */
  privateKey: string;
  /** Directory of the store. */
  dataDir: string;
  provider: Provider;
  adjudicator: string;
  chainId: bigint;
  /** Listen for peers on this interface (default 127.0.0.1). */
  host?: string;
  /** Listen for peers on this port (0: any free port); omit to only dial out. */
  port?: number;
  /** Known peers: address → WebSocket URL. */
  peers?: Record<string, string>;
  /** A watchtower to keep informed (its address is learned on connection when not given). */
  watchtower?: { url: string; address?: string };
  /** How often the chain is polled (default 500 ms). */
  pollMs?: number;
  /** Blocks to wait before reading a block's events (default 0). */
  confirmations?: number;
  /** First block to read events from on a fresh store (default: the current block). */
  startBlock?: number;
  policy?: Partial<ChannelPolicy>;
  logger?: Logger;
}

/** What a caller sees of a channel. */
export interface ChannelView {
  channelId: string;
  params: ChannelParams;
  me: Party;
  peer: string;
  phase: ChannelPhase;
  deposits: [bigint, bigint];
  /** The latest state signed by both (version 0: the deposits). */
  version: bigint;
  balances: [bigint, bigint];
  locks: Lock[];
  isFinal: boolean;
  /** Updates in flight (the leader's pending proposals, the follower's open requests). */
  inFlight: number;
  /** The latest version the watchtower confirmed, if one is configured. */
  towerVersion: bigint;
}

/** An acknowledged update: both participants stored the state of `version`. */
export interface Committed {
  channelId: string;
  version: bigint;
}

/** The outcome of a payment over a route. */
export interface RouteResult {
  hashlock: string;
  status: "completed" | "refunded";
  /** The payee's secret: the proof of payment (only when completed). */
  secret?: string;
}

/** A channel operation that cannot be done now. */
export class ChannelError extends BilayerError {}

interface Waiter {
  resolve(c: Committed): void;
  reject(err: unknown): void;
}

interface Queued {
  update: ChannelUpdate;
  by: Party;
  ref?: string;
  memo?: ForwardMemo;
  waiters: Waiter[];
}

interface Proposal extends ProposalRecord {
  waiters: Waiter[];
  durable: boolean;
  sent: boolean;
  dead: boolean;
  committing: boolean;
}

interface OutRequest extends RequestRecord {
  waiters: Waiter[];
  durable: boolean;
  sent: boolean;
  /** The version the follower countersigned it in (then it waits for the leader's commit). */
  version?: bigint;
}

/** One channel in memory. */
class Chan {
  full: SignedSnapshot | undefined;
  /** Follower: the latest state it countersigned (stored or being stored). */
  latest: SignedSnapshot | undefined;
  /** Follower: countersigned states not yet on disk, by version, with the write that stores them. */
  readonly unflushed = new Map<bigint, { signed: SignedSnapshot; durable: Promise<void> }>();
  readonly pending: Proposal[] = [];
  readonly queued: Queued[] = [];
  readonly refs = new Map<string, Proposal>();
  readonly requests = new Map<string, OutRequest>();
  maxSigned = 0n;
  serial: Promise<void> = Promise.resolve();
  session = 0;
  syncing = false;
  needsSync = false;
  lastSyncAt = 0;
  /** Hashlocks with an action in flight. */
  readonly busy = new Set<string>();
  chainBusy = false;
  nextChainActionAt = 0;
  funding = false;
  towerVersion = 0n;
  towerDirty = false;
  towerWatched = false;
  openWaiters: { resolve(): void; reject(err: unknown): void }[] = [];

  constructor(public rec: ChannelRecord) {}

  get id(): string {
    return this.rec.id;
  }

  /** The latest state signed by both that is on disk, or the deposit state. */
  committed(): Snapshot {
    return this.full ?? depositSnapshot(this.rec.id, this.rec.deposits);
  }

  /** The follower's base for the next proposal. */
  followerBase(): Snapshot {
    return this.latest ?? this.committed();
  }

  /** The leader's base for the next proposal: its last pending proposal, or the committed state. */
  tip(): Snapshot {
    for (let i = this.pending.length - 1; i >= 0; i--) if (!this.pending[i].dead) return this.pending[i].next;
    return this.committed();
  }

  get leader(): boolean {
    return this.rec.me === 0;
  }
}

const REFUSAL_RETRYABLE = new Set(["OUT_OF_SYNC", "CHANNEL_BUSY"]);

function refused(code: string, message: string, context: Record<string, unknown> = {}): ChannelError {
  return new ChannelError(code, message, { context });
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A channel client: opens channels, pays, routes, closes, disputes; keeps
 * everything in its store and resumes from it after a restart.
 */
export class ChannelClient {
  readonly address: string;
  readonly chainId: bigint;
  readonly adjudicatorAddress: string;
  readonly policy: ChannelPolicy;
  private readonly key: Buffer;
  private readonly log: Logger;
  private readonly transport: PeerTransport;
  private readonly adjudicator: Adjudicator;
  private readonly reader: AdjudicatorLogReader;
  private readonly clock = new ChainClock();
  private readonly chans = new Map<string, Chan>();
  private readonly secrets = new Map<string, string>();
  private readonly revealed = new Map<string, bigint>();
  private readonly lockMetas = new Map<string, LockMeta>();
  private readonly invoices = new Map<string, InvoiceRecord>();
  private readonly routes = new Map<string, RouteRecord>();
  private readonly routeWaiters = new Map<string, ((r: RouteResult) => void)[]>();
  private readonly revealing = new Set<string>();
  private readonly locksByRoot = new Map<string, Lock[]>();
  private cursor = -1;
  private towerAddress: string | undefined;
  /** Secrets handed to the watchtower. */
  private readonly towerSent = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private polling = false;
  private kickScheduled = false;
  private stopped = false;

  private constructor(
    private readonly config: ChannelClientConfig,
    private readonly store: ChannelStore,
  ) {
    const wallet = new Wallet(config.privateKey, config.provider);
    this.address = wallet.address;
    this.key = Buffer.from(wallet.privateKey.slice(2), "hex");
    this.chainId = config.chainId;
    this.adjudicatorAddress = getAddress(config.adjudicator);
    this.policy = { ...DEFAULT_POLICY, ...config.policy };
    this.log = config.logger ?? pino({ level: "silent" });
    this.transport = new PeerTransport({
      privateKey: config.privateKey,
      host: config.host,
      port: config.port,
      logger: this.log,
    });
    this.adjudicator = new Adjudicator(this.adjudicatorAddress, wallet, config.provider);
    this.reader = new AdjudicatorLogReader(config.provider, this.adjudicatorAddress, config.confirmations ?? 0);
  }

  /** Opens the store, loads the channels, listens for peers and starts following the chain. */
  static async start(config: ChannelClientConfig): Promise<ChannelClient> {
    await initHashing();
    const store = await ChannelStore.open(config.dataDir);
    const client = new ChannelClient(config, store);
    try {
      await client.load();
      client.registerHandlers();
      await client.transport.start();
      for (const [address, url] of Object.entries(config.peers ?? {})) client.transport.setPeerUrl(address, url);
      for (const chan of client.chans.values()) {
        if (client.transport.peerUrl(chan.rec.peer) === undefined) continue;
        client.transport.connect(chan.rec.peer).catch(() => undefined);
      }
      if (config.watchtower) client.connectTower(config.watchtower.url, config.watchtower.address);
      await client.clock.refresh(config.provider);
      if (client.cursor < 0) {
        client.cursor =
          config.startBlock !== undefined ? config.startBlock - 1 : await config.provider.getBlockNumber();
        await store.write([{ type: "put", key: "meta:cursor", value: String(client.cursor) }]);
      }
      const poll = config.pollMs ?? 500;
      client.timers.push(setInterval(() => client.tick(), poll));
      client.timers.push(setInterval(() => client.syncTick(), 250));
      client.timers.push(setInterval(() => void client.flushTower(), client.policy.towerFlushMs));
      client.tick();
    } catch (err) {
      await client.transport.stop();
      await store.close();
      throw err;
    }
    return client;
  }

  /** Stops the timers and the transport, pushes the latest states to the watchtower, closes the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flushTower().catch(() => undefined);
    this.stopped = true;
    await this.transport.stop();
    await this.store.close();
    for (const chan of this.chans.values()) {
      const err = refused("CLIENT_STOPPED", "the client stopped");
      for (const p of chan.pending) for (const w of p.waiters) w.reject(err);
      for (const q of chan.queued) for (const w of q.waiters) w.reject(err);
      for (const r of chan.requests.values()) for (const w of r.waiters) w.reject(err);
    }
  }

  /** The WebSocket URL peers reach this client at (when it listens). */
  get url(): string | undefined {
    return this.transport.url;
  }

  /** The store's flush statistics. */
  get storeStats(): { flushes: number; ops: number } {
    return this.store.stats;
  }

  /** Remembers where a peer listens. */
  addPeer(address: string, url: string): void {
    this.transport.setPeerUrl(address, url);
  }

  /** The chain's current time as this client estimates it. */
  now(): bigint {
    return this.clock.now();
  }

  // ---------------------------------------------------------------------------
  // Views

  channels(): ChannelView[] {
    return [...this.chans.values()].map((c) => this.view(c));
  }

  channel(channelId: string): ChannelView {
    return this.view(this.chan(channelId));
  }

  /** The latest state signed by both participants (undefined before the first update). */
  signedState(channelId: string): SignedSnapshot | undefined {
    return this.chan(channelId).full;
  }

  /** Whether an authenticated connection to the peer is up. */
  isPeerConnected(address: string): boolean {
    return this.transport.isConnected(address);
  }

  private view(c: Chan): ChannelView {
    const s = c.committed();
    return {
      channelId: c.id,
      params: c.rec.params,
      me: c.rec.me,
      peer: c.rec.peer,
      phase: c.rec.phase,
      deposits: c.rec.deposits,
      version: s.state.version,
      balances: [s.state.balances[0], s.state.balances[1]],
      locks: s.locks,
      isFinal: s.state.isFinal,
      inFlight: c.pending.length + c.queued.length + c.requests.size,
      towerVersion: c.towerVersion,
    };
  }

  private chan(channelId: string): Chan {
    const chan = this.chans.get(channelId.toLowerCase());
    if (!chan) throw refused("CHANNEL_NOT_FOUND", `no channel ${channelId}`, { channelId });
    return chan;
  }

  /** The open channel with `peer` that can send `amount` (the one with the most to send). */
  channelWith(peer: string, amount = 0n): ChannelView | undefined {
    const p = getAddress(peer);
    let best: Chan | undefined;
    let bestBalance = -1n;
    for (const c of this.chans.values()) {
      if (c.rec.peer !== p || c.rec.phase !== "open") continue;
      const base = c.leader ? c.tip() : c.followerBase();
      const balance = base.state.balances[c.rec.me];
      if (balance >= amount && balance > bestBalance) {
        best = c;
        bestBalance = balance;
      }
    }
    return best ? this.view(best) : undefined;
  }

  // ---------------------------------------------------------------------------
  // Opening

  /**
   * Opens a channel with `peer` (which must accept it): deposits `deposit` on chain and waits until the peer has
   * deposited `peerDeposit`. This client is participant 0 and leads the channel.
   */
  async openChannel(opts: {
    peer: string;
    deposit: bigint;
    peerDeposit?: bigint;
    asset?: string;
    challengeDuration?: bigint;
    salt?: string;
    timeoutMs?: number;
  }): Promise<ChannelView> {
    const peer = getAddress(opts.peer);
    const deposits: [bigint, bigint] = [opts.deposit, opts.peerDeposit ?? 0n];
    if (deposits[0] < 0n || deposits[1] < 0n || deposits[0] + deposits[1] === 0n) {
      throw refused("INVALID_DEPOSITS", "a channel needs a positive total deposit");
    }
    const params: ChannelParams = {
      participants: [this.address, peer],
      asset: getAddress(opts.asset ?? ZERO_ADDRESS),
      challengeDuration: opts.challengeDuration ?? 3600n,
      salt: opts.salt ?? "0x" + randomBytes(32).toString("hex"),
    };
    const id = computeChannelId(params, this.chainId, this.adjudicatorAddress);
    if (this.chans.has(id)) throw refused("CHANNEL_EXISTS", `channel ${id} exists`);
    // The peer agrees first; the record is on disk before any money moves.
    await this.transport.request(peer, "ch.open", {
      params: encodeParams(params),
      deposits: [deposits[0].toString(), deposits[1].toString()],
    });
    const chan = new Chan({ id, params, me: 0, peer, deposits, phase: "opening" });
    this.chans.set(id, chan);
    await this.store.write([{ type: "put", key: `ch:${id}`, value: encodeChannel(chan.rec) }]);
    await this.adjudicator.open(params, deposits[0]);
    this.log.info({ channelId: id, peer, deposits: deposits.map(String) }, "channel opened on chain");
    const opened = new Promise<void>((resolve, reject) => chan.openWaiters.push({ resolve, reject }));
    await this.checkFunding(chan);
    const timeout = opts.timeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        opened,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(refused("OPEN_TIMEOUT", `the peer did not fund channel ${id} within ${timeout} ms`)),
            timeout,
          );
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
    }
    return this.view(chan);
  }

  private async onOpenRequest(from: string, raw: unknown): Promise<Json> {
    const o = asObject(raw, "params");
    const params = decodeParams(o.params);
    const d = asArray(o.deposits, "deposits", 2);
    const deposits: [bigint, bigint] = [asUint(d[0], "deposits[0]"), asUint(d[1], "deposits[1]")];
    if (params.participants[0] !== from || params.participants[1] !== this.address) {
      throw refused("REFUSED", "the opener must be participant 0 and this client participant 1");
    }
    const p = this.policy;
    if (params.challengeDuration < p.minChallengeDuration || params.challengeDuration > p.maxChallengeDuration) {
      throw refused(
        "REFUSED",
        `challenge duration must be within ${p.minChallengeDuration}..${p.maxChallengeDuration} s`,
      );
    }
    if (deposits[1] > p.maxAutoFund) throw refused("REFUSED", `this client deposits at most ${p.maxAutoFund}`);
    if (deposits[0] + deposits[1] === 0n) throw refused("REFUSED", "a channel needs a positive total deposit");
    const id = computeChannelId(params, this.chainId, this.adjudicatorAddress);
    const existing = this.chans.get(id);
    if (existing) {
      if (existing.rec.peer === from) return { channelId: id };
      throw refused("CHANNEL_EXISTS", `channel ${id} exists`);
    }
    const chan = new Chan({ id, params, me: 1, peer: from, deposits, phase: "opening" });
    this.chans.set(id, chan);
    await this.store.write([{ type: "put", key: `ch:${id}`, value: encodeChannel(chan.rec) }]);
    this.log.info({ channelId: id, peer: from, deposits: deposits.map(String) }, "accepted a channel");
    return { channelId: id };
  }

  /** Reads the channel's funding on chain: funds this client's part when due, activates the channel when complete. */
  private async checkFunding(chan: Chan): Promise<void> {
    if (chan.rec.phase !== "opening") return;
    const info = await this.adjudicator.getChannel(chan.id);
    if (info.status === ChannelStatus.None) return;
    if (info.status !== ChannelStatus.Open || info.checkpointed) {
      await this.setPhase(chan, info.status === ChannelStatus.Disputed ? "disputed" : "concluded");
      return;
    }
    const me = chan.rec.me;
    if (chan.rec.deposits[me] > 0n && !info.funded[me] && !chan.funding) {
      chan.funding = true;
      try {
        await this.adjudicator.fund(chan.rec.params, chan.rec.deposits[me]);
        this.log.info({ channelId: chan.id, amount: String(chan.rec.deposits[me]) }, "funded channel");
      } finally {
        chan.funding = false;
      }
      return this.checkFunding(chan);
    }
    if (info.deposits[0] === chan.rec.deposits[0] && info.deposits[1] === chan.rec.deposits[1]) {
      await this.setPhase(chan, "open");
      this.log.info({ channelId: chan.id }, "channel is open");
      for (const w of chan.openWaiters.splice(0)) w.resolve();
      this.towerWatch(chan);
    }
  }

  private async setPhase(chan: Chan, phase: ChannelPhase, extra: StoreOp[] = []): Promise<void> {
    if (chan.rec.phase === phase && extra.length === 0) return;
    chan.rec = { ...chan.rec, phase };
    await this.store.write([{ type: "put", key: `ch:${chan.id}`, value: encodeChannel(chan.rec) }, ...extra]);
  }

  // ---------------------------------------------------------------------------
  // Payments

  /** Pays `amount` to the peer; resolves once both participants stored the new state. */
  pay(channelId: string, amount: bigint): Promise<Committed> {
    const chan = this.chan(channelId);
    return this.submit(chan, { kind: "pay", from: chan.rec.me, amount });
  }

  /** Creates an invoice: a secret only this client knows, whose hashlock a payer locks `amount` to. */
  async createInvoice(amount: bigint, secret?: string): Promise<{ hashlock: string; amount: bigint }> {
    if (amount <= 0n) throw refused("INVALID_AMOUNT", "an invoice needs a positive amount");
    const s = secret ? asBytes32(secret, "secret") : "0x" + randomBytes(32).toString("hex");
    const hashlock = hashlockOf(s);
    if (this.invoices.has(hashlock)) throw refused("INVOICE_EXISTS", "an invoice with this secret exists");
    const invoice: InvoiceRecord = { hashlock, amount, status: "open" };
    await this.store.write([
      { type: "put", key: `secret:${hashlock}`, value: s },
      { type: "put", key: `inv:${hashlock}`, value: encodeInvoice(invoice) },
    ]);
    this.secrets.set(hashlock, s);
    this.invoices.set(hashlock, invoice);
    return { hashlock, amount };
  }

  invoice(hashlock: string): InvoiceRecord | undefined {
    return this.invoices.get(hashlock.toLowerCase());
  }

  /**
   * Pays `amount` to the last address of `route` through the others (each forwarding a hash-locked payment to
   * the next), locked to `hashlock` (the payee's invoice). Expiries decrease along the route by the hop delta.
   * Resolves when the first hop's lock is settled (completed: the secret is the proof of payment) or cancelled
   * (refunded: every hop's lock was removed).
   */
  async payRoute(opts: {
    route: string[];
    amount: bigint;
    hashlock: string;
    feePerHop?: bigint;
    hopDeltaSeconds?: bigint;
    finalDeltaSeconds?: bigint;
  }): Promise<RouteResult> {
    const route = opts.route.map((a) => getAddress(a));
    if (route.length === 0 || route.length > 16) throw refused("INVALID_ROUTE", "a route has 1..16 hops");
    const hashlock = asBytes32(opts.hashlock, "hashlock");
    if (this.routes.has(hashlock)) throw refused("ROUTE_EXISTS", "a payment with this hashlock was already sent");
    const hops = planRoute(
      route,
      opts.amount,
      opts.feePerHop ?? 0n,
      this.clock.now(),
      opts.hopDeltaSeconds ?? this.policy.hopDeltaSeconds,
      opts.finalDeltaSeconds ?? this.policy.finalDeltaSeconds,
    );
    const first = this.channelWith(route[0], hops[0].amount);
    if (!first) throw refused("NO_CHANNEL", `no open channel with ${route[0]} that can send ${hops[0].amount}`);
    const chan = this.chan(first.channelId);
    const lock: Lock = {
      sender: chan.rec.me,
      receiver: other(chan.rec.me),
      amount: hops[0].amount,
      hashlock,
      expiry: hops[0].expiry,
    };
    const record: RouteRecord = {
      hashlock,
      channelId: chan.id,
      amount: opts.amount,
      sent: hops[0].amount,
      route,
      status: "pending",
    };
    const meta: LockMeta = { channelId: chan.id, hashlock, role: "sender", status: "pending" };
    this.routes.set(hashlock, record);
    this.lockMetas.set(`${chan.id}:${hashlock}`, meta);
    await this.store.write([
      { type: "put", key: `route:${hashlock}`, value: encodeRoute(record) },
      { type: "put", key: `lk:${chan.id}:${hashlock}`, value: encodeLockMeta(meta) },
    ]);
    const done = new Promise<RouteResult>((resolve) => {
      const list = this.routeWaiters.get(hashlock) ?? [];
      list.push(resolve);
      this.routeWaiters.set(hashlock, list);
    });
    try {
      await this.submit(chan, { kind: "lock", lock }, { hops: hops.slice(1) });
    } catch (err) {
      if (!(err instanceof PeerUnavailableError)) await this.finishRoute(hashlock, "refunded", undefined, []);
      throw err;
    }
    return done;
  }

  /** A route payment sent by this client. */
  routePayment(hashlock: string): RouteRecord | undefined {
    return this.routes.get(hashlock.toLowerCase());
  }

  private async finishRoute(
    hashlock: string,
    status: "completed" | "refunded",
    secret: string | undefined,
    ops: StoreOp[],
  ) {
    const record = this.routes.get(hashlock);
    if (!record || record.status !== "pending") {
      if (ops.length) await this.store.write(ops);
      return;
    }
    const next: RouteRecord = { ...record, status, ...(secret ? { secret } : {}) };
    this.routes.set(hashlock, next);
    await this.store.write([...ops, { type: "put", key: `route:${hashlock}`, value: encodeRoute(next) }]);
    this.log.info({ hashlock, status }, "route payment finished");
    for (const w of this.routeWaiters.get(hashlock) ?? []) w({ hashlock, status, ...(secret ? { secret } : {}) });
    this.routeWaiters.delete(hashlock);
  }

  // ---------------------------------------------------------------------------
  // Closing and disputes

  /**
   * Closes the channel cooperatively: both sign a final state (no locks may be pending), then this client submits
   * it and both are paid at once. Resolves with the close transaction's hash.
   */
  async close(channelId: string): Promise<string> {
    const chan = this.chan(channelId);
    if (chan.rec.phase === "open") {
      const base = chan.leader ? chan.tip() : chan.followerBase();
      if (base.locks.length > 0) {
        throw refused("LOCKS_PENDING", `channel ${channelId} has ${base.locks.length} pending locks`);
      }
      await this.submit(chan, { kind: "final" });
    }
    const final = chan.full;
    if (!final || !final.state.isFinal) throw refused("NOT_CLOSABLE", `channel ${channelId} is ${chan.rec.phase}`);
    return this.submitClose(chan);
  }

  private async submitClose(chan: Chan): Promise<string> {
    const final = chan.full as SignedSnapshot;
    const info = await this.adjudicator.getChannel(chan.id);
    if (info.status === ChannelStatus.Closed) {
      await this.setPhase(chan, "closed");
      return "";
    }
    const receipt = await this.adjudicator.close(chan.rec.params, final.state, final.sigs);
    await this.setPhase(chan, "closed");
    this.log.info({ channelId: chan.id, tx: receipt.hash }, "channel closed cooperatively");
    return receipt.hash;
  }

  /**
   * Starts a dispute: registers the latest state signed by both (or the deposits when there is none). The peer
   * (or its watchtower) may refute with a newer state until the deadline; then `conclude`.
   */
  async dispute(channelId: string): Promise<string> {
    const chan = this.chan(channelId);
    if (chan.rec.phase === "closed" || chan.rec.phase === "concluded") {
      throw refused("NOT_DISPUTABLE", `channel ${channelId} is ${chan.rec.phase}`);
    }
    const signed = chan.full;
    const receipt = signed
      ? await this.adjudicator.register(chan.rec.params, signed.state, signed.sigs)
      : await this.adjudicator.registerDeposits(chan.rec.params);
    await this.setPhase(chan, "disputed");
    this.rejectInFlight(chan, refused("CHANNEL_DISPUTED", "the channel is disputed"));
    this.log.info(
      { channelId: chan.id, version: String(signed?.state.version ?? 0n), tx: receipt.hash },
      "dispute registered",
    );
    return receipt.hash;
  }

  /** Fixes the outcome of a dispute once its deadline passed. */
  async conclude(channelId: string): Promise<string> {
    const chan = this.chan(channelId);
    const receipt = await this.adjudicator.conclude(chan.rec.params);
    await this.setPhase(chan, "concluded");
    return receipt.hash;
  }

  /**
   * Collects this client's share of a concluded channel: resolves the locks that pay it (when they can be) and
   * withdraws its credit. Returns what was withdrawn.
   */
  async withdraw(channelId: string): Promise<bigint> {
    const chan = this.chan(channelId);
    return this.collect(chan);
  }

  // ---------------------------------------------------------------------------
  // Submitting updates

  /** Makes `update` happen in `chan`: proposes it (leader) or asks the leader for it (follower). */
  private submit(chan: Chan, update: ChannelUpdate, memo?: ForwardMemo): Promise<Committed> {
    if (this.stopped) return Promise.reject(refused("CLIENT_STOPPED", "the client stopped"));
    if (chan.rec.phase !== "open") {
      return Promise.reject(refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`));
    }
    return chan.leader ? this.propose(chan, update, chan.rec.me, undefined, memo) : this.request(chan, update, memo);
  }

  private propose(chan: Chan, update: ChannelUpdate, by: Party, ref?: string, memo?: ForwardMemo): Promise<Committed> {
    return new Promise<Committed>((resolve, reject) => {
      const item: Queued = { update, by, ref, memo, waiters: [{ resolve, reject }] };
      if (chan.pending.length >= this.policy.maxInFlight || chan.queued.length > 0) chan.queued.push(item);
      else this.proposeNow(chan, item);
    });
  }

  private proposeNow(chan: Chan, item: Queued): void {
    let proposal: Proposal;
    try {
      if (chan.rec.phase !== "open") throw refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`);
      const base = chan.tip();
      if (item.by !== chan.rec.me) {
        const why = approvalError(chan.rec.me, item.update, base, {
          initiator: item.by,
          now: this.clock.now(),
          revealedAt: (h) => this.revealed.get(h) ?? 0n,
        });
        if (why) throw refused("REFUSED", why);
        if (item.update.kind === "settle" && !this.settleAcceptable(base, item.update.hashlock)) {
          throw refused("REFUSED", "the lock expired before its secret was revealed on chain");
        }
      }
      const version = chan.maxSigned + 1n;
      const next = applyUpdate(base, item.update, version);
      const sig = signStateWithKey(this.key, next.state, this.chainId, this.adjudicatorAddress);
      proposal = {
        version,
        baseVersion: base.state.version,
        update: item.update,
        by: item.by,
        ...(item.ref === undefined ? {} : { ref: item.ref }),
        ...(item.memo === undefined ? {} : { memo: item.memo }),
        next,
        sig,
        waiters: item.waiters,
        durable: false,
        sent: false,
        dead: false,
        committing: false,
      };
    } catch (err) {
      for (const w of item.waiters) w.reject(err);
      return;
    }
    chan.pending.push(proposal);
    chan.maxSigned = proposal.version;
    if (proposal.ref !== undefined) chan.refs.set(proposal.ref, proposal);
    // The pending record itself tells a restarted client that it signed this version; `sv` only when it is dropped.
    this.store
      .write([{ type: "put", key: `pend:${chan.id}:${versionKey(proposal.version)}`, value: encodeProposal(proposal) }])
      .then(
        () => {
          proposal.durable = true;
          this.sendProposal(chan, proposal);
        },
        (err: unknown) => this.storeFailed(err),
      );
  }

  private sendProposal(chan: Chan, p: Proposal): void {
    if (!p.durable || p.sent || p.dead || chan.syncing || this.stopped) return;
    if (!this.transport.isConnected(chan.rec.peer)) {
      chan.needsSync = true;
      return;
    }
    p.sent = true;
    const session = chan.session;
    const msg: Json = {
      channelId: chan.id,
      version: p.version.toString(),
      baseVersion: p.baseVersion.toString(),
      update: encodeUpdate(p.update),
      by: p.by,
      sig: encodeSig(p.sig),
    };
    if (p.ref !== undefined) msg.ref = p.ref;
    if (p.memo !== undefined) msg.memo = encodeMemo(p.memo);
    this.transport.request(chan.rec.peer, "ch.propose", msg).then(
      (res) => this.onCountersigned(chan, p, res, session),
      (err: unknown) => this.onProposeFailed(chan, p, err, session),
    );
  }

  private onCountersigned(chan: Chan, p: Proposal, res: unknown, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    let sig: CompactSignature;
    try {
      sig = decodeSig(asObject(res, "result").sig);
    } catch {
      sig = { r: ZERO_BYTES32, vs: ZERO_BYTES32 };
    }
    const peerIndex = other(chan.rec.me);
    if (
      !verifyStateSignature(
        p.next.state,
        sig,
        chan.rec.params.participants[peerIndex],
        this.chainId,
        this.adjudicatorAddress,
      )
    ) {
      this.log.warn({ channelId: chan.id, version: String(p.version) }, "peer countersigned with a bad signature");
      p.sent = false;
      chan.needsSync = true;
      return;
    }
    const sigs: [CompactSignature, CompactSignature] = chan.rec.me === 0 ? [p.sig, sig] : [sig, p.sig];
    void this.commitLeader(chan, { ...p.next, sigs });
  }

  private onProposeFailed(chan: Chan, p: Proposal, err: unknown, session: number): void {
    if (p.dead || p.committing || session !== chan.session) return;
    if (err instanceof PeerRequestError && err.rpcCode !== -32603 && !REFUSAL_RETRYABLE.has(err.peerCode ?? "")) {
      this.log.info({ channelId: chan.id, version: String(p.version), reason: err.message }, "proposal refused");
      this.discard(chan, p, refused(err.peerCode ?? "REFUSED", `the peer refused the update: ${err.message}`));
      return;
    }
    p.sent = false;
    chan.needsSync = true;
  }

  /**
   * Drops a refused proposal and every proposal built on it; the later ones (and the first too when `err` is
   * undefined) are proposed again on the new tip.
   */
  private discard(chan: Chan, p: Proposal, err: unknown): void {
    const index = chan.pending.indexOf(p);
    if (index < 0) return;
    const dead = chan.pending.splice(index);
    const ops: StoreOp[] = [{ type: "put", key: `sv:${chan.id}`, value: chan.maxSigned.toString() }];
    for (const d of dead) {
      d.dead = true;
      if (d.ref !== undefined) chan.refs.delete(d.ref);
      ops.push({ type: "del", key: `pend:${chan.id}:${versionKey(d.version)}` });
    }
    this.store.write(ops).catch((e: unknown) => this.storeFailed(e));
    if (err !== undefined) for (const w of p.waiters) w.reject(err);
    const again: Queued[] = dead.slice(err === undefined ? 0 : 1).map((d) => ({
      update: d.update,
      by: d.by,
      ...(d.ref === undefined ? {} : { ref: d.ref }),
      ...(d.memo === undefined ? {} : { memo: d.memo }),
      waiters: d.waiters,
    }));
    chan.queued.unshift(...again);
    this.pump(chan);
  }

  private pump(chan: Chan): void {
    while (chan.queued.length > 0 && chan.pending.length < this.policy.maxInFlight) {
      this.proposeNow(chan, chan.queued.shift() as Queued);
    }
  }

  /** The leader stores a state signed by both and acknowledges every proposal up to it. */
  private commitLeader(chan: Chan, signed: SignedSnapshot): Promise<void> {
    const done: Proposal[] = [];
    for (const q of chan.pending) {
      if (q.version > signed.state.version) break; // pending is in version order
      if (!q.committing && !q.dead) done.push(q);
    }
    for (const q of done) q.committing = true;
    const ops: StoreOp[] = [{ type: "put", key: `full:${chan.id}`, value: encodeSignedRecord(signed) }];
    const effects: (() => void)[] = [];
    let base = chan.committed();
    for (const q of done) {
      ops.push({ type: "del", key: `pend:${chan.id}:${versionKey(q.version)}` });
      effects.push(this.effects(chan, q.update, q.memo, q.by, base, q.next, ops));
      base = q.next;
    }
    return this.store.write(ops).then(
      () => {
        if (!chan.full || signed.state.version > chan.full.state.version) chan.full = signed;
        // Writes complete in order, so everything before these was removed already: they lead the list.
        let removed = 0;
        while (removed < done.length && chan.pending[0] === done[removed]) {
          chan.pending.shift();
          removed++;
        }
        if (removed < done.length) {
          const gone = new Set(done);
          chan.pending.splice(0, chan.pending.length, ...chan.pending.filter((q) => !gone.has(q)));
        }
        for (const q of done) if (q.ref !== undefined) chan.refs.delete(q.ref);
        chan.towerDirty = true;
        for (const q of done) for (const w of q.waiters) w.resolve({ channelId: chan.id, version: q.version });
        for (const e of effects) e();
        this.pump(chan);
      },
      (err: unknown) => this.storeFailed(err),
    );
  }

  // --- follower

  private request(chan: Chan, update: ChannelUpdate, memo?: ForwardMemo): Promise<Committed> {
    return new Promise<Committed>((resolve, reject) => {
      const ref = randomBytes(16).toString("hex");
      const r: OutRequest = {
        ref,
        update,
        ...(memo === undefined ? {} : { memo }),
        waiters: [{ resolve, reject }],
        durable: false,
        sent: false,
      };
      chan.requests.set(ref, r);
      this.store.write([{ type: "put", key: `req:${chan.id}:${ref}`, value: encodeRequest(r) }]).then(
        () => {
          r.durable = true;
          this.sendRequest(chan, r);
        },
        (err: unknown) => this.storeFailed(err),
      );
    });
  }

  private sendRequest(chan: Chan, r: OutRequest): void {
    if (!r.durable || r.sent || chan.syncing || this.stopped) return;
    if (!this.transport.isConnected(chan.rec.peer)) {
      chan.needsSync = true;
      return;
    }
    r.sent = true;
    const session = chan.session;
    const msg: Json = { channelId: chan.id, ref: r.ref, update: encodeUpdate(r.update) };
    if (r.memo !== undefined) msg.memo = encodeMemo(r.memo);
    this.transport.request(chan.rec.peer, "ch.request", msg, 120_000).then(
      (res) => {
        let version: bigint;
        try {
          version = asUint(asObject(res, "result").version, "version");
        } catch {
          r.sent = false;
          chan.needsSync = true;
          return;
        }
        this.requestCommitted(chan, r, version);
      },
      (err: unknown) => {
        if (session !== chan.session || !chan.requests.has(r.ref)) return;
        if (err instanceof PeerRequestError && err.rpcCode !== -32603 && !REFUSAL_RETRYABLE.has(err.peerCode ?? "")) {
          if (r.version !== undefined) return; // countersigned already: only the leader's commit is missing
          chan.requests.delete(r.ref);
          this.store
            .write([{ type: "del", key: `req:${chan.id}:${r.ref}` }])
            .catch((e: unknown) => this.storeFailed(e));
          const reason = refused(err.peerCode ?? "REFUSED", `the peer refused the update: ${err.message}`);
          for (const w of r.waiters) w.reject(reason);
          return;
        }
        r.sent = false;
        chan.needsSync = true;
      },
    );
  }

  private requestCommitted(chan: Chan, r: OutRequest, version: bigint): void {
    if (!chan.requests.has(r.ref)) return;
    if (r.version === undefined) {
      // The leader committed a state with the request this follower has not countersigned: cannot be.
      this.log.warn({ channelId: chan.id, ref: r.ref }, "leader reports a commit this client did not countersign");
      chan.needsSync = true;
      r.sent = false;
      return;
    }
    chan.requests.delete(r.ref);
    for (const w of r.waiters) w.resolve({ channelId: chan.id, version: r.version > version ? r.version : version });
  }

  private onPropose(from: string, raw: unknown): Promise<Json> {
    const o = asObject(raw, "params");
    const channelId = asBytes32(o.channelId, "channelId");
    const msg = {
      version: asUint(o.version, "version"),
      baseVersion: asUint(o.baseVersion, "baseVersion"),
      update: decodeUpdate(o.update),
      by: o.by === 0 || o.by === 1 ? (o.by as Party) : undefined,
      ref: o.ref === undefined ? undefined : asString(o.ref, "ref", 66),
      memo: o.memo === undefined ? undefined : decodeMemo(o.memo),
      sig: decodeSig(o.sig),
    };
    if (msg.by === undefined) throw new InvalidMessageError("by must be 0 or 1", "by");
    const chan = this.chan(channelId);
    if (chan.rec.peer !== from) throw refused("REFUSED", "not a participant of this channel");
    if (chan.leader) throw refused("REFUSED", "only participant 0 proposes");
    const prepared = chan.serial.then(() => this.preparePropose(chan, msg as typeof msg & { by: Party }));
    chan.serial = prepared.then(
      () => undefined,
      () => undefined,
    );
    return prepared.then((p) => p.done);
  }

  /** Checks and countersigns a proposal; returns the answer, which resolves once the state is on disk. */
  private async preparePropose(
    chan: Chan,
    msg: {
      version: bigint;
      baseVersion: bigint;
      update: ChannelUpdate;
      by: Party;
      ref?: string;
      memo?: ForwardMemo;
      sig: CompactSignature;
    },
  ): Promise<{ done: Promise<Json> }> {
    if (chan.rec.phase === "opening") await this.checkFunding(chan);
    const me = chan.rec.me;
    const leaderAddress = chan.rec.params.participants[other(me)];
    const base = chan.followerBase();
    if (msg.version <= base.state.version) {
      // The leader sends again what it may not have seen answered: answer the same way.
      const known =
        chan.unflushed.get(msg.version)?.signed ??
        (chan.latest?.state.version === msg.version ? chan.latest : undefined);
      if (known && verifyStateSignature(known.state, msg.sig, leaderAddress, this.chainId, this.adjudicatorAddress)) {
        const durable = chan.unflushed.get(msg.version)?.durable ?? Promise.resolve();
        return { done: durable.then(() => ({ sig: encodeSig(known.sigs[me]) })) };
      }
      throw refused("OUT_OF_SYNC", `version ${msg.version} is not above ${base.state.version}`);
    }
    if (msg.baseVersion !== base.state.version) {
      throw refused("OUT_OF_SYNC", `proposal builds on ${msg.baseVersion}, this side is at ${base.state.version}`);
    }
    if (chan.rec.phase !== "open") throw refused("CHANNEL_NOT_OPEN", `channel ${chan.id} is ${chan.rec.phase}`);
    let request: OutRequest | undefined;
    if (msg.by === me) {
      request = msg.ref === undefined ? undefined : chan.requests.get(msg.ref);
      if (!request || request.version !== undefined || !sameUpdate(request.update, msg.update)) {
        throw refused("REFUSED", "an update in this client's name that it did not ask for");
      }
    }
    if (msg.update.kind === "cancel" && msg.by !== me) {
      const i = findLock(base.locks, msg.update.hashlock);
      if (i >= 0 && base.locks[i].receiver === me) await this.refreshRevealed(base.locks[i].hashlock);
    }
    const why = approvalError(me, msg.update, base, {
      initiator: msg.by,
      now: this.clock.now(),
      revealedAt: (h) => this.revealed.get(h) ?? 0n,
    });
    if (why) throw refused("REFUSED", why);
    if (msg.update.kind === "settle" && msg.by !== me && !this.settleAcceptable(base, msg.update.hashlock)) {
      throw refused("REFUSED", "the lock expired before its secret was revealed on chain");
    }
    const next = applyUpdate(base, msg.update, msg.version);
    if (!verifyStateSignature(next.state, msg.sig, leaderAddress, this.chainId, this.adjudicatorAddress)) {
      throw refused("INVALID_SIGNATURE", "the leader's signature does not match the state this update yields");
    }
    const mine = signStateWithKey(this.key, next.state, this.chainId, this.adjudicatorAddress);
    const sigs: [CompactSignature, CompactSignature] = me === 0 ? [mine, msg.sig] : [msg.sig, mine];
    const signed: SignedSnapshot = { ...next, sigs };
    chan.latest = signed;
    chan.maxSigned = msg.version;
    const ops: StoreOp[] = [{ type: "put", key: `full:${chan.id}`, value: encodeSignedRecord(signed) }];
    if (request) {
      request.version = msg.version;
      ops.push({ type: "del", key: `req:${chan.id}:${request.ref}` });
    }
    const effect = this.effects(chan, msg.update, msg.memo, msg.by, base, next, ops);
    const durable = this.store.write(ops);
    chan.unflushed.set(msg.version, { signed, durable });
    const done = durable.then(
      () => {
        chan.unflushed.delete(msg.version);
        if (!chan.full || signed.state.version > chan.full.state.version) chan.full = signed;
        chan.towerDirty = true;
        effect();
        return { sig: encodeSig(mine) } as Json;
      },
      (err: unknown) => {
        this.storeFailed(err);
        throw refused("STORE_FAILED", "this client could not store the state");
      },
    );
    return { done };
  }

  /** A lock's sender pays out on a secret only while the lock is live, or if the secret reached the chain in time. */
  private settleAcceptable(base: Snapshot, hashlock: string): boolean {
    const i = findLock(base.locks, hashlock);
    if (i < 0) return true; // applyUpdate refuses it
    const lock = base.locks[i];
    if (this.clock.now() <= lock.expiry) return true;
    const at = this.revealed.get(lock.hashlock) ?? 0n;
    return at !== 0n && at <= lock.expiry;
  }

  private async refreshRevealed(hashlock: string): Promise<void> {
    try {
      const at = await this.adjudicator.secretRevealedAt(hashlock);
      if (at !== 0n) this.revealed.set(hashlock, at);
    } catch (err) {
      throw refused("CHANNEL_BUSY", `cannot read the chain: ${errText(err)}`);
    }
  }

  private onRequest(from: string, raw: unknown): Promise<Json> {
    const o = asObject(raw, "params");
    const channelId = asBytes32(o.channelId, "channelId");
    const ref = asString(o.ref, "ref", 66);
    const update = decodeUpdate(o.update);
    const memo = o.memo === undefined ? undefined : decodeMemo(o.memo);
    const chan = this.chan(channelId);
    if (chan.rec.peer !== from) throw refused("REFUSED", "not a participant of this channel");
    if (!chan.leader) throw refused("REFUSED", "only participant 0 takes requests");
    const existing = chan.refs.get(ref);
    const committed = existing
      ? new Promise<Committed>((resolve, reject) => existing.waiters.push({ resolve, reject }))
      : (async () => {
          if (update.kind === "cancel") {
            const i = findLock(chan.tip().locks, update.hashlock);
            if (i >= 0 && chan.tip().locks[i].receiver === chan.rec.me) await this.refreshRevealed(update.hashlock);
          }
          return this.propose(chan, update, other(chan.rec.me), ref, memo);
        })();
    return committed.then((c) => ({ version: c.version.toString() }));
  }

  private onSync(from: string, raw: unknown): Json {
    const o = asObject(raw, "params");
    const channelId = asBytes32(o.channelId, "channelId");
    const theirs = asUint(o.version, "version");
    const chan = this.chan(channelId);
    if (chan.rec.peer !== from) throw refused("REFUSED", "not a participant of this channel");
    if (theirs > (chan.full?.state.version ?? 0n)) chan.needsSync = true;
    return { signed: chan.full ? encodeSigned(chan.full) : null };
  }

  /** Exchanges latest states with the peer and sends again what is still in flight. */
  private async resync(chan: Chan): Promise<void> {
    if (chan.syncing || this.stopped) return;
    chan.syncing = true;
    chan.needsSync = false;
    chan.lastSyncAt = Date.now();
    chan.session += 1;
    for (const p of chan.pending) p.sent = false;
    for (const r of chan.requests.values()) r.sent = false;
    try {
      const res = asObject(
        await this.transport.request(chan.rec.peer, "ch.sync", {
          channelId: chan.id,
          version: (chan.full?.state.version ?? 0n).toString(),
        }),
        "result",
      );
      const theirs = res.signed === null || res.signed === undefined ? undefined : decodeSigned(res.signed);
      const mine = chan.full?.state.version ?? 0n;
      if (theirs && theirs.state.version > mine) {
        if (
          theirs.state.channelId !== chan.id ||
          !stateCommitsToLocks(theirs.state, theirs.locks) ||
          !verifyStateSignatures(
            theirs.state,
            theirs.sigs,
            chan.rec.params.participants,
            this.chainId,
            this.adjudicatorAddress,
          )
        ) {
          throw refused("INVALID_STATE", "the peer's latest state is not signed by both");
        }
        if (chan.leader) {
          const match = chan.pending.find((p) => p.version === theirs.state.version);
          if (match && sameState(match.next.state, theirs.state)) {
            await this.commitLeader(chan, theirs);
          } else {
            await this.adopt(chan, theirs);
          }
        } else {
          await this.adopt(chan, theirs);
        }
      }
      if (chan.leader) {
        const fullVersion = chan.full?.state.version ?? 0n;
        const live = chan.pending.filter((p) => !p.dead && !p.committing);
        if (live.length > 0 && live[0].baseVersion !== fullVersion) {
          this.log.warn({ channelId: chan.id }, "pending proposals do not build on the latest state: proposing again");
          this.discard(chan, live[0], undefined);
        }
      } else {
        const theirVersion = theirs?.state.version ?? 0n;
        for (const r of [...chan.requests.values()]) {
          if (r.version !== undefined && r.version <= theirVersion) this.requestCommitted(chan, r, theirVersion);
        }
      }
    } catch (err) {
      chan.needsSync = true;
      this.log.debug({ channelId: chan.id, err: errText(err) }, "sync failed");
    } finally {
      chan.syncing = false;
    }
    if (chan.needsSync) return;
    if (chan.leader) {
      for (const p of chan.pending) this.sendProposal(chan, p);
    } else {
      for (const r of chan.requests.values()) if (r.version === undefined) this.sendRequest(chan, r);
      // Countersigned requests wait for the leader's commit, which a later sync shows if the answer was lost.
      if ([...chan.requests.values()].some((r) => r.version !== undefined && !r.sent)) chan.needsSync = true;
    }
  }

  /** Takes a newer state signed by both that this side lost or never stored (after a crash). */
  private async adopt(chan: Chan, signed: SignedSnapshot): Promise<void> {
    const ops: StoreOp[] = [
      { type: "put", key: `full:${chan.id}`, value: encodeSignedRecord(signed) },
      {
        type: "put",
        key: `sv:${chan.id}`,
        value: (signed.state.version > chan.maxSigned ? signed.state.version : chan.maxSigned).toString(),
      },
    ];
    if (signed.locks.length > 0) {
      ops.push({
        type: "put",
        key: `locks:${chan.id}:${signed.state.locksRoot}`,
        value: JSON.stringify(signed.locks.map(encodeLock)),
      });
      this.locksByRoot.set(`${chan.id}:${signed.state.locksRoot}`, signed.locks);
    }
    for (const p of chan.pending) {
      if (p.version <= signed.state.version) ops.push({ type: "del", key: `pend:${chan.id}:${versionKey(p.version)}` });
    }
    await this.store.write(ops);
    const stale = chan.pending.filter((p) => p.version <= signed.state.version);
    for (const p of stale) {
      p.dead = true;
      chan.pending.splice(chan.pending.indexOf(p), 1);
      for (const w of p.waiters) w.reject(refused("OUT_OF_SYNC", "the channel moved on without this update"));
    }
    chan.full = signed;
    chan.latest = signed;
    if (signed.state.version > chan.maxSigned) chan.maxSigned = signed.state.version;
    if (signed.state.isFinal && chan.rec.phase === "open") await this.setPhase(chan, "closing");
    chan.towerDirty = true;
    this.log.warn({ channelId: chan.id, version: String(signed.state.version) }, "adopted the peer's newer state");
  }

  // ---------------------------------------------------------------------------
  // What a committed update does to this client's records

  /**
   * Adds to `ops` the records an update changes (written with the state) and returns what to do once they are
   * on disk.
   */
  private effects(
    chan: Chan,
    update: ChannelUpdate,
    memo: ForwardMemo | undefined,
    _by: Party,
    base: Snapshot,
    next: Snapshot,
    ops: StoreOp[],
  ): () => void {
    const me = chan.rec.me;
    if (next.state.locksRoot !== base.state.locksRoot && next.locks.length > 0) {
      const key = `${chan.id}:${next.state.locksRoot}`;
      if (!this.locksByRoot.has(key)) {
        this.locksByRoot.set(key, next.locks);
        ops.push({ type: "put", key: `locks:${key}`, value: JSON.stringify(next.locks.map(encodeLock)) });
      }
    }
    switch (update.kind) {
      case "pay":
        return () => undefined;
      case "final": {
        chan.rec = { ...chan.rec, phase: "closing", finalAt: this.clock.now() };
        ops.push({ type: "put", key: `ch:${chan.id}`, value: encodeChannel(chan.rec) });
        return () => undefined;
      }
      case "lock": {
        const h = update.lock.hashlock.toLowerCase();
        const key = `${chan.id}:${h}`;
        if (update.lock.receiver === me) {
          const meta: LockMeta = {
            channelId: chan.id,
            hashlock: h,
            role: "receiver",
            status: "received",
            ...(memo ? { memo } : {}),
          };
          this.lockMetas.set(key, meta);
          ops.push({ type: "put", key: `lk:${key}`, value: encodeLockMeta(meta) });
          return () => this.kick();
        }
        let meta = this.lockMetas.get(key);
        if (!meta) {
          meta = { channelId: chan.id, hashlock: h, role: "sender", status: "pending" };
          this.lockMetas.set(key, meta);
          ops.push({ type: "put", key: `lk:${key}`, value: encodeLockMeta(meta) });
        }
        const incoming = meta.incoming;
        return () => {
          if (incoming !== undefined) void this.setLockStatus(incoming, h, "forwarded");
        };
      }
      case "settle":
      case "cancel": {
        const h = update.hashlock.toLowerCase();
        const lock = base.locks[findLock(base.locks, h)];
        const key = `${chan.id}:${h}`;
        const status: LockStatus = update.kind === "settle" ? "settled" : "cancelled";
        const meta: LockMeta = this.lockMetas.get(key) ?? {
          channelId: chan.id,
          hashlock: h,
          role: lock.sender === me ? "sender" : "receiver",
          status,
        };
        const updated: LockMeta = { ...meta, status };
        this.lockMetas.set(key, updated);
        ops.push({ type: "put", key: `lk:${key}`, value: encodeLockMeta(updated) });
        if (update.kind === "settle" && !this.secrets.has(h)) {
          this.secrets.set(h, update.secret);
          ops.push({ type: "put", key: `secret:${h}`, value: update.secret });
        }
        const invoice = this.invoices.get(h);
        if (update.kind === "settle" && lock.receiver === me && invoice && invoice.status === "open") {
          const paid: InvoiceRecord = { ...invoice, status: "paid" };
          this.invoices.set(h, paid);
          ops.push({ type: "put", key: `inv:${h}`, value: encodeInvoice(paid) });
        }
        return () => {
          if (lock.sender !== me) return;
          if (meta.incoming !== undefined) {
            if (update.kind === "cancel")
              void this.setLockStatus(meta.incoming, h, "forward-failed", "the next hop cancelled");
            else this.kick();
          }
          if (this.routes.has(h)) {
            void this.finishRoute(
              h,
              update.kind === "settle" ? "completed" : "refunded",
              update.kind === "settle" ? update.secret : undefined,
              [],
            );
          }
        };
      }
      default:
        return () => undefined;
    }
  }

  private async setLockStatus(channelId: string, hashlock: string, status: LockStatus, reason?: string): Promise<void> {
    const key = `${channelId}:${hashlock}`;
    const meta = this.lockMetas.get(key);
    if (!meta || meta.status === "settled" || meta.status === "cancelled") return;
    const next: LockMeta = { ...meta, status, ...(reason ? { reason } : {}) };
    this.lockMetas.set(key, next);
    try {
      await this.store.write([{ type: "put", key: `lk:${key}`, value: encodeLockMeta(next) }]);
    } catch (err) {
      this.storeFailed(err);
    }
    this.kick();
  }

  // ---------------------------------------------------------------------------
  // Reconciliation: what each lock and each channel needs next

  private kick(): void {
    if (this.kickScheduled || this.stopped) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.reconcile();
    });
  }

  private tick(): void {
    if (this.stopped) return;
    void this.pollChain().then(() => this.reconcile());
  }

  private syncTick(): void {
    if (this.stopped) return;
    const now = Date.now();
    for (const chan of this.chans.values()) {
      if (!chan.needsSync || chan.syncing || now - chan.lastSyncAt < 500) continue;
      if (!this.transport.isConnected(chan.rec.peer)) {
        if (this.transport.peerUrl(chan.rec.peer) !== undefined)
          this.transport.connect(chan.rec.peer).catch(() => undefined);
        continue;
      }
      void this.resync(chan);
    }
  }

  private reconcile(): void {
    if (this.stopped) return;
    for (const chan of this.chans.values()) {
      try {
        this.reconcileChannel(chan);
      } catch (err) {
        this.log.warn({ channelId: chan.id, err: errText(err) }, "reconcile failed");
      }
    }
  }

  /**
   * What a channel needs next. Lock actions start here and run on their own; chain actions (funding, closing,
   * refuting, concluding, collecting) run in the background one at a time per channel, so a slow transaction on
   * one channel never holds up the others.
   */
  private reconcileChannel(chan: Chan): void {
    switch (chan.rec.phase) {
      case "opening":
        if (!chan.chainBusy && Date.now() >= chan.nextChainActionAt) {
          chan.nextChainActionAt = Date.now() + 2_000;
          chan.chainBusy = true;
          this.checkFunding(chan)
            .catch((err: unknown) => this.log.warn({ channelId: chan.id, err: errText(err) }, "funding check failed"))
            .finally(() => {
              chan.chainBusy = false;
            });
        }
        return;
      case "open":
        this.reconcileLocks(chan);
        return;
      case "closing":
        void this.reconcileClosing(chan);
        return;
      case "disputed":
      case "concluded":
        void this.reconcileDispute(chan);
        return;
      default:
        return;
    }
  }

  private reconcileLocks(chan: Chan): void {
    const me = chan.rec.me;
    const now = this.clock.now();
    for (const lock of chan.committed().locks) {
      const h = lock.hashlock;
      if (chan.busy.has(h)) continue;
      const meta = this.lockMetas.get(`${chan.id}:${h}`);
      if (lock.receiver === me) {
        const status = meta?.status ?? "received";
        const secret = this.secrets.get(h);
        if (status === "received") {
          this.act(chan, h, () => this.handleIncoming(chan, lock, meta));
        } else if ((status === "accepted" || status === "forwarded" || status === "forwarding") && secret) {
          if (revealDue(lock, now, this.policy)) this.revealOnChain(secret);
          this.towerSecret(secret);
          this.act(chan, h, () => this.submit(chan, { kind: "settle", hashlock: h, secret }));
        } else if (status === "rejected" || status === "forward-failed") {
          this.act(chan, h, () => this.submit(chan, { kind: "cancel", hashlock: h }));
        } else if (status === "forwarding" && meta?.outgoing !== undefined) {
          // The next hop's lock may have expired unresolved: then this one can be given back.
          const out = this.chans.get(meta.outgoing);
          const outLock = out?.committed().locks.find((l) => l.hashlock === h);
          if (
            outLock === undefined &&
            out &&
            !out.pending.some((p) => p.update.kind === "lock" && p.update.lock.hashlock === h)
          ) {
            const outMeta = this.lockMetas.get(`${out.id}:${h}`);
            if (outMeta?.status === "cancelled")
              void this.setLockStatus(chan.id, h, "forward-failed", "the next hop cancelled");
          }
        }
      } else {
        if (lockExpiredUnclaimed(lock, now, this.revealed.get(h) ?? 0n)) {
          this.act(chan, h, () => this.submit(chan, { kind: "cancel", hashlock: h }));
        }
      }
    }
  }

  /** Runs one action for a lock at a time; failures are retried by a later reconciliation. */
  private act(chan: Chan, hashlock: string, action: () => Promise<unknown>): void {
    chan.busy.add(hashlock);
    action().then(
      () => {
        chan.busy.delete(hashlock);
      },
      (err: unknown) => {
        this.log.debug({ channelId: chan.id, hashlock, err: errText(err) }, "lock action failed; will retry");
        setTimeout(() => chan.busy.delete(hashlock), 1_000).unref();
      },
    );
  }

  /** Decides what to do with a lock this client received: take it (payee), forward it, or refuse it. */
  private async handleIncoming(chan: Chan, lock: Lock, meta: LockMeta | undefined): Promise<void> {
    const h = lock.hashlock;
    const hops = meta?.memo?.hops ?? [];
    const now = this.clock.now();
    if (hops.length === 0) {
      const reason = payeeRefusal(lock, this.invoices.get(h), this.secrets.has(h), now, this.policy);
      await this.setLockStatus(chan.id, h, reason ? "rejected" : "accepted", reason);
      this.log.info({ channelId: chan.id, hashlock: h, accepted: !reason, reason }, "payment received");
      return;
    }
    const hop = hops[0];
    const out = this.channelWith(hop.to, hop.amount);
    const reason = forwardRefusal(lock, hop, out !== undefined, now, this.policy);
    if (reason || !out) {
      await this.setLockStatus(chan.id, h, "forward-failed", reason);
      this.log.info({ channelId: chan.id, hashlock: h, reason }, "cannot forward");
      return;
    }
    const outChan = this.chan(out.channelId);
    const outMeta: LockMeta = {
      channelId: outChan.id,
      hashlock: h,
      role: "sender",
      status: "pending",
      incoming: chan.id,
    };
    const inMeta: LockMeta = { ...(meta as LockMeta), status: "forwarding", outgoing: outChan.id };
    this.lockMetas.set(`${outChan.id}:${h}`, outMeta);
    this.lockMetas.set(`${chan.id}:${h}`, inMeta);
    await this.store.write([
      { type: "put", key: `lk:${outChan.id}:${h}`, value: encodeLockMeta(outMeta) },
      { type: "put", key: `lk:${chan.id}:${h}`, value: encodeLockMeta(inMeta) },
    ]);
    const outLock: Lock = {
      sender: outChan.rec.me,
      receiver: other(outChan.rec.me),
      amount: hop.amount,
      hashlock: h,
      expiry: hop.expiry,
    };
    try {
      await this.submit(outChan, { kind: "lock", lock: outLock }, { hops: hops.slice(1) });
      this.log.info({ from: chan.id, to: outChan.id, hashlock: h }, "forwarded a lock");
    } catch (err) {
      if (err instanceof PeerUnavailableError) throw err;
      // The next hop refused: its lock does not exist, so this one is given back.
      const failed: LockMeta = { ...outMeta, status: "cancelled", reason: errText(err) };
      this.lockMetas.set(`${outChan.id}:${h}`, failed);
      await this.store.write([{ type: "put", key: `lk:${outChan.id}:${h}`, value: encodeLockMeta(failed) }]);
      await this.setLockStatus(chan.id, h, "forward-failed", `the next hop refused: ${errText(err)}`);
    }
  }

  private revealOnChain(secret: string): void {
    const h = hashlockOf(secret);
    if (this.revealed.has(h) || this.revealing.has(h)) return;
    this.revealing.add(h);
    this.adjudicator.revealSecret(secret).then(
      (receipt) => {
        this.log.info({ hashlock: h, tx: receipt.hash }, "revealed a secret on chain");
      },
      (err: unknown) => {
        this.log.warn({ hashlock: h, err: errText(err) }, "could not reveal a secret");
        this.revealing.delete(h);
      },
    );
  }

  private async reconcileClosing(chan: Chan): Promise<void> {
    const final = chan.full;
    if (!final?.state.isFinal || chan.chainBusy || Date.now() < chan.nextChainActionAt) return;
    if (this.clock.now() < (chan.rec.finalAt ?? 0n) + this.policy.closeGraceSeconds) return;
    chan.chainBusy = true;
    chan.nextChainActionAt = Date.now() + 5_000;
    try {
      await this.submitClose(chan);
    } catch (err) {
      this.log.warn({ channelId: chan.id, err: errText(err) }, "fallback close failed");
    } finally {
      chan.chainBusy = false;
    }
  }

  private async reconcileDispute(chan: Chan): Promise<void> {
    if (chan.chainBusy || Date.now() < chan.nextChainActionAt) return;
    chan.chainBusy = true;
    chan.nextChainActionAt = Date.now() + 1_000;
    try {
      const info = await this.adjudicator.getChannel(chan.id);
      const now = this.clock.now();
      if (info.status === ChannelStatus.Closed) {
        await this.setPhase(chan, "closed");
        return;
      }
      if (info.status === ChannelStatus.Disputed) {
        const best = chan.full;
        if (best && best.state.version > info.version && now < info.deadline) {
          const receipt = await this.adjudicator.refute(chan.rec.params, best.state, best.sigs);
          this.log.info(
            { channelId: chan.id, version: String(best.state.version), tx: receipt.hash },
            "refuted a stale state",
          );
          return;
        }
        // No more off-chain settling: reveal what this client is owed before the locks expire.
        for (const lock of this.locksOf(chan, info.locksRoot)) {
          const secret = this.secrets.get(lock.hashlock);
          if (lock.receiver === chan.rec.me && secret && now <= lock.expiry) this.revealOnChain(secret);
        }
        if (this.policy.autoSettle && now >= info.deadline) {
          await this.adjudicator.conclude(chan.rec.params);
          await this.setPhase(chan, "concluded");
        }
        return;
      }
      if (info.status === ChannelStatus.Concluded) {
        if (chan.rec.phase !== "concluded") await this.setPhase(chan, "concluded");
        if (this.policy.autoSettle) await this.collect(chan);
      }
    } catch (err) {
      this.log.warn({ channelId: chan.id, err: errText(err) }, "dispute step failed");
    } finally {
      chan.chainBusy = false;
    }
  }

  /** The locks behind a registered locks root (from this client's records). */
  private locksOf(chan: Chan, root: string): Lock[] {
    if (root === ZERO_BYTES32) return [];
    if (chan.full?.state.locksRoot === root) return chan.full.locks;
    return this.locksByRoot.get(`${chan.id}:${root}`) ?? [];
  }

  /** Unlocks what pays this client in a concluded channel and withdraws its credit. */
  private async collect(chan: Chan): Promise<bigint> {
    const info = await this.adjudicator.getChannel(chan.id);
    if (info.status === ChannelStatus.Closed) {
      await this.setPhase(chan, "closed");
      return 0n;
    }
    if (info.status !== ChannelStatus.Concluded) {
      throw refused("NOT_CONCLUDED", `channel ${chan.id} is not concluded on chain`);
    }
    const me = chan.rec.me;
    const now = this.clock.now();
    const locks = this.locksOf(chan, info.locksRoot);
    for (let i = 0; i < locks.length; i++) {
      const lock = locks[i];
      const at = this.revealed.get(lock.hashlock) ?? (await this.adjudicator.secretRevealedAt(lock.hashlock));
      const payee: Party | undefined =
        at !== 0n && at <= lock.expiry ? lock.receiver : now > lock.expiry ? lock.sender : undefined;
      if (payee !== me || (await this.adjudicator.isLockSettled(chan.id, i))) continue;
      const receipt = await this.adjudicator.unlock(chan.rec.params, locks, i);
      this.log.info({ channelId: chan.id, index: i, tx: receipt.hash }, "unlocked a lock");
    }
    const after = await this.adjudicator.getChannel(chan.id);
    const credit = after.balances[me];
    if (after.status === ChannelStatus.Concluded && credit > 0n) {
      const receipt = await this.adjudicator.withdraw(chan.rec.params, me);
      this.log.info({ channelId: chan.id, amount: String(credit), tx: receipt.hash }, "withdrew");
    }
    const final = await this.adjudicator.getChannel(chan.id);
    if (final.status === ChannelStatus.Closed) await this.setPhase(chan, "closed");
    return credit;
  }

  private rejectInFlight(chan: Chan, err: unknown): void {
    for (const q of chan.queued.splice(0)) for (const w of q.waiters) w.reject(err);
    for (const p of chan.pending) {
      for (const w of p.waiters.splice(0)) w.reject(err);
    }
    for (const r of chan.requests.values()) {
      if (r.version === undefined) for (const w of r.waiters.splice(0)) w.reject(err);
    }
  }

  // ---------------------------------------------------------------------------
  // The chain

  private async pollChain(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const { events, toBlock } = await this.reader.read(this.cursor + 1, this.clock);
      for (const ev of events) await this.onChainEvent(ev);
      if (toBlock > this.cursor) {
        this.cursor = toBlock;
        await this.store.write([{ type: "put", key: "meta:cursor", value: String(toBlock) }]);
      }
    } catch (err) {
      if (!this.stopped) this.log.warn({ err: errText(err) }, "reading the chain failed");
    } finally {
      this.polling = false;
    }
  }

  private async onChainEvent(ev: AdjudicatorEvent): Promise<void> {
    if (ev.name === "SecretRevealed") {
      if (!this.revealed.has(ev.hashlock)) this.revealed.set(ev.hashlock, ev.revealedAt);
      const relevant = [...this.lockMetas.values()].some((m) => m.hashlock === ev.hashlock);
      if (relevant && !this.secrets.has(ev.hashlock)) {
        this.secrets.set(ev.hashlock, ev.secret);
        await this.store.write([{ type: "put", key: `secret:${ev.hashlock}`, value: ev.secret }]);
        this.log.info({ hashlock: ev.hashlock }, "learned a secret from the chain");
      }
      if (relevant) this.kick();
      return;
    }
    const chan = this.chans.get(ev.channelId);
    if (!chan) return;
    switch (ev.name) {
      case "ChannelOpened":
      case "Deposited":
        chan.nextChainActionAt = 0; // the next reconciliation checks the funding
        this.kick();
        return;
      case "ChallengeRegistered":
      case "ChallengeRefuted":
        if (chan.rec.phase !== "disputed") {
          this.log.warn({ channelId: chan.id, version: String(ev.state.version) }, "the channel is disputed on chain");
          await this.setPhase(chan, "disputed");
          this.rejectInFlight(chan, refused("CHANNEL_DISPUTED", "the channel is disputed"));
        }
        chan.nextChainActionAt = 0;
        this.kick();
        return;
      case "ChannelConcluded":
      case "PayoutCredited":
        await this.setPhase(chan, "concluded");
        chan.nextChainActionAt = 0;
        this.kick();
        return;
      case "ChannelClosed":
        if (chan.rec.phase !== "closed") {
          await this.setPhase(chan, "closed");
          this.log.info({ channelId: chan.id }, "the channel is closed");
        }
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------------------
  // The watchtower

  private connectTower(url: string, address?: string): void {
    const attempt = () => {
      if (this.stopped) return;
      this.transport.dial(url, address).then(
        (addr) => {
          this.towerAddress = addr;
          this.transport.setPeerUrl(addr, url);
          this.log.info({ tower: addr }, "connected to the watchtower");
          for (const chan of this.chans.values()) {
            if (chan.rec.phase !== "opening" && chan.rec.phase !== "closed") this.towerWatch(chan);
          }
        },
        () => setTimeout(attempt, 1_000).unref(),
      );
    };
    attempt();
  }

  /** The watchtower's address, once connected. */
  get watchtower(): string | undefined {
    return this.towerAddress;
  }

  private towerWatch(chan: Chan): void {
    const tower = this.towerAddress;
    if (!tower || chan.towerWatched) return;
    chan.towerWatched = true;
    this.transport.request(tower, "wt.watch", { params: encodeParams(chan.rec.params) }).then(
      () => {
        chan.towerDirty = true;
      },
      (err: unknown) => {
        chan.towerWatched = false;
        this.log.warn({ channelId: chan.id, err: errText(err) }, "the watchtower did not take the channel");
      },
    );
  }

  private towerSecret(secret: string): void {
    const tower = this.towerAddress;
    if (!tower || this.towerSent.has(secret)) return;
    this.towerSent.add(secret);
    this.transport.request(tower, "wt.secret", { secret }).catch(() => this.towerSent.delete(secret));
  }

  /** Sends the latest state of every channel that changed to the watchtower. */
  async flushTower(): Promise<void> {
    const tower = this.towerAddress;
    if (!tower || !this.transport.isConnected(tower)) return;
    const sends: Promise<void>[] = [];
    for (const chan of this.chans.values()) {
      if (!chan.towerDirty || !chan.towerWatched || !chan.full) continue;
      chan.towerDirty = false;
      const signed = chan.full;
      sends.push(
        this.transport.request(tower, "wt.state", { signed: encodeSigned(signed) }).then(
          () => {
            if (signed.state.version > chan.towerVersion) chan.towerVersion = signed.state.version;
          },
          (err: unknown) => {
            chan.towerDirty = true;
            this.log.debug({ channelId: chan.id, err: errText(err) }, "the watchtower did not take a state");
          },
        ),
      );
    }
    await Promise.all(sends);
  }

  // ---------------------------------------------------------------------------
  // Loading and wiring

  private registerHandlers(): void {
    this.transport.on("ch.open", (from, params) => this.onOpenRequest(from, params));
    this.transport.on("ch.propose", (from, params) => this.onPropose(from, params));
    this.transport.on("ch.request", (from, params) => this.onRequest(from, params));
    this.transport.on("ch.sync", (from, params) => this.onSync(from, params));
    this.transport.onPeerConnected((peer) => {
      for (const chan of this.chans.values()) if (chan.rec.peer === peer) void this.resync(chan);
    });
    this.transport.onPeerDisconnected((peer) => {
      for (const chan of this.chans.values()) {
        if (chan.rec.peer !== peer) continue;
        for (const p of chan.pending) p.sent = false;
        for (const r of chan.requests.values()) r.sent = false;
      }
    });
  }

  private async load(): Promise<void> {
    for (const [, v] of await this.store.entries("ch:")) {
      const rec = decodeChannel(v);
      this.chans.set(rec.id, new Chan(rec));
    }
    for (const [k, v] of await this.store.entries("full:")) {
      const chan = this.chans.get(k.slice(5));
      if (!chan) continue;
      chan.full = decodeSignedRecord(v);
      chan.latest = chan.full;
      chan.maxSigned = chan.full.state.version;
    }
    for (const [k, v] of await this.store.entries("sv:")) {
      const chan = this.chans.get(k.slice(3));
      const sv = BigInt(v);
      if (chan && sv > chan.maxSigned) chan.maxSigned = sv;
    }
    for (const [k, v] of await this.store.entries("pend:")) {
      const chan = this.chans.get(k.slice(5, 71));
      if (!chan) continue;
      const rec = decodeProposal(v);
      if (chan.full && rec.version <= chan.full.state.version) continue;
      const p: Proposal = { ...rec, waiters: [], durable: true, sent: false, dead: false, committing: false };
      chan.pending.push(p);
      if (p.ref !== undefined) chan.refs.set(p.ref, p);
      if (p.version > chan.maxSigned) chan.maxSigned = p.version;
    }
    for (const [k, v] of await this.store.entries("req:")) {
      const chan = this.chans.get(k.slice(4, 70));
      if (!chan) continue;
      const rec = decodeRequest(v);
      chan.requests.set(rec.ref, { ...rec, waiters: [], durable: true, sent: false });
    }
    for (const [k, v] of await this.store.entries("secret:")) this.secrets.set(k.slice(7), v);
    for (const [, v] of await this.store.entries("lk:")) {
      const meta = decodeLockMeta(v);
      this.lockMetas.set(`${meta.channelId}:${meta.hashlock}`, meta);
    }
    for (const [k, v] of await this.store.entries("locks:")) {
      const locks = (JSON.parse(v) as unknown[]).map((l, i) => decodeLock(l, `locks[${i}]`));
      this.locksByRoot.set(k.slice(6), locks);
    }
    for (const [, v] of await this.store.entries("inv:")) {
      const inv = decodeInvoice(v);
      this.invoices.set(inv.hashlock, inv);
    }
    for (const [, v] of await this.store.entries("route:")) {
      const r = decodeRoute(v);
      this.routes.set(r.hashlock, r);
    }
    const cursor = await this.store.get("meta:cursor");
    if (cursor !== undefined) this.cursor = Number(cursor);
    for (const chan of this.chans.values()) {
      chan.pending.sort((a, b) => (a.version < b.version ? -1 : 1));
      if (chan.pending.length > 0 || chan.requests.size > 0) chan.needsSync = true;
      chan.towerDirty = chan.full !== undefined;
    }
  }

  private storeFailed(err: unknown): void {
    if (this.stopped) return; // writes racing the close of the store
    this.log.fatal({ err: errText(err) }, "the store failed: the client stops taking updates");
    for (const chan of this.chans.values()) this.rejectInFlight(chan, refused("STORE_FAILED", "the store failed"));
  }
}

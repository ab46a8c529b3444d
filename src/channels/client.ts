import { randomBytes } from "node:crypto";
import { getAddress, Wallet, type Provider } from "ethers";
import pino, { type Logger } from "pino";
import {
  Adjudicator,
  AdjudicatorLogReader,
  ChainClock,
  ChainCursor,
  ChannelStatus,
  type AdjudicatorEvent,
} from "./chain";
import { errText, LiveChannel, refused, UpdateEngine, type Committed, type EngineHost } from "./engine";
import { failpoint } from "./failpoints";
import {
  checkPolicy,
  DEFAULT_POLICY,
  incomingLockRefusal,
  resizeExpiryRefusal,
  type ChannelPolicy,
  type PeerExposure,
} from "./policy";
import { resizeMessage } from "./resize";
import { offeredLockFate, type LockFate } from "./settlement";
import {
  channelId as computeChannelId,
  hashlockOf,
  initHashing,
  signFundingWithKey,
  verifyFundingSignature,
  ZERO_ADDRESS,
  ZERO_BYTES32,
  type ChannelParams,
  type CompactSignature,
  type Funding,
  type Lock,
} from "./state";
import type { LevelStore, StoreOp } from "../common/store";
import { forwardRefusal, lockExpiredUnclaimed, payeeRefusal, planRoute, revealDue } from "./routing";
import { PeerTransport } from "./transport";
import {
  findLock,
  other,
  type ChannelUpdate,
  type Party,
  type ResizeUpdate,
  type SignedSnapshot,
  type Snapshot,
} from "./updates";
import {
  asArray,
  asBytes32,
  asObject,
  asUint,
  decodeLock,
  decodeParams,
  decodeSig,
  encodeLock,
  encodeParams,
  encodeSig,
  encodeSigned,
  type ForwardMemo,
  type Hop,
  type Json,
} from "./wire";
import {
  decodeChannel,
  decodeInvoice,
  decodeLockMeta,
  decodeResize,
  decodeRoute,
  decodeSignedRecord,
  encodeChannel,
  encodeInvoice,
  encodeLockMeta,
  encodeRoute,
  type ChannelPhase,
  type ChannelRecord,
  type InvoiceRecord,
  type LockMeta,
  type LockStatus,
  type PendingResize,
  type RouteRecord,
  openChannelStore,
  keyParts,
  lockId,
  storeKey,
  storePrefix,
} from "./records";

export { ChannelError, type Committed } from "./engine";
export { DEFAULT_POLICY, type ChannelPolicy } from "./policy";

/*
 * A channel client: one participant's side of its channels, kept in an
 * embedded store (LevelDB), talking to its peers over the peer transport (the
 * update protocol of ./engine.ts) and to the adjudicator on chain. On top of
 * the update protocol it keeps: the channels' life cycle (opening and funding,
 * top-ups and partial withdrawals, cooperative close, disputes, refutations,
 * conclusion, unlocks and withdrawals), hash-locked routing (invoices,
 * payments over a route, forwarding, settling or refunding every hop by the
 * settlement rule of ./settlement.ts), the on-chain fallbacks (revealing a
 * secret before its lock expires, registering the latest state when a peer
 * leaves a lock unresolved), and a watchtower kept informed.
 *
 * Every deadline is checked on a timer of its own, whatever requests to peers
 * are still waiting: a silent peer delays nothing this client must do on chain.
 */

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
  /** The latest state signed by both and in force (version 0: the deposits). */
  version: bigint;
  balances: [bigint, bigint];
  locks: Lock[];
  isFinal: boolean;
  /** Updates in flight (the leader's pending proposals, the follower's open requests). */
  inFlight: number;
  /** The latest version the watchtower confirmed, if one is configured. */
  towerVersion: bigint;
  /** A co-signed top-up or withdrawal waiting for the chain (nothing else is signed until it settles). */
  resize?: { kind: "deposit" | "withdraw"; participant: Party; amount: bigint; expiry: bigint; version: bigint };
}

/** The outcome of a payment over a route. */
export interface RouteResult {
  hashlock: string;
  status: "completed" | "refunded";
  /** The payee's secret: the proof of payment (only when completed). */
  secret?: string;
  /** Why the payment was refunded. */
  reason?: string;
}

/** The outcome of a top-up or partial withdrawal. */
export interface ResizeResult {
  channelId: string;
  /** The version of the resized state, now the channel's version floor on chain. */
  version: bigint;
  txHash: string;
}

/** How many times a forward is attempted before its incoming lock is given back. */
const MAX_FORWARD_ATTEMPTS = 3;

/** One channel in memory: the update protocol's state and what the client adds. */
class ClientChannel extends LiveChannel {
  /** Hashlocks with an off-chain action in flight. */
  readonly busy = new Set<string>();
  /** Hashlocks whose fate is being read from the chain. */
  readonly checking = new Set<string>();
  /** A chain action (funding, closing, refuting, concluding, collecting) is running. */
  chainBusy = false;
  nextChainActionAt = 0;
  funding = false;
  towerVersion = 0n;
  towerDirty = false;
  towerWatched = false;
  /** Why this client registered the channel on its own, if it did (so it does it once). */
  forcedClose: string | undefined;
  /** The execution of the pending resize this client submits, if any. */
  resizeTx: Promise<string> | undefined;
  /** Resolves when the channel is open, whatever the order of the events that open it; rejects if it never will. */
  readonly opened: Promise<void>;
  private settleOpen!: (err?: unknown) => void;

  constructor(rec: ConstructorParameters<typeof LiveChannel>[0]) {
    super(rec);
    this.opened = new Promise<void>((resolve, reject) => {
      this.settleOpen = (err?: unknown) => (err === undefined ? resolve() : reject(err));
    });
    this.opened.catch(() => undefined);
    this.phaseChanged();
  }

  /** Settles `opened` once the phase says how opening ended. */
  phaseChanged(): void {
    const phase = this.rec.phase;
    if (phase === "opening") return;
    if (phase === "open" || phase === "closing") this.settleOpen();
    else this.settleOpen(refused("OPEN_FAILED", `channel ${this.id} is ${phase} without having opened`));
  }

  failOpen(err: unknown): void {
    this.settleOpen(err);
  }
}

/**
 * A channel client: opens channels, pays, routes, resizes, closes, disputes; keeps everything in its store and
 * resumes from it after a restart.
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
  private readonly chans = new Map<string, ClientChannel>();
  private readonly secrets = new Map<string, string>();
  private readonly revealed = new Map<string, bigint>();
  private readonly lockMetas = new Map<string, LockMeta>();
  private readonly invoices = new Map<string, InvoiceRecord>();
  private readonly routes = new Map<string, RouteRecord>();
  private readonly routeWaiters = new Map<string, ((r: RouteResult) => void)[]>();
  private readonly revealing = new Set<string>();
  private readonly locksByRoot = new Map<string, Lock[]>();
  /** `channelId:hashlock` of locks this client is about to hand to the engine (their records are being written). */
  private readonly offering = new Set<string>();
  /** `channelId:hashlock` of offered locks read from the registry as expired without their secret. */
  private readonly confirmedExpired = new Set<string>();
  private readonly cursor: ChainCursor;
  /** The timestamp of the latest block whose events were processed: the chain's certain "now". */
  private chainTime = 0n;
  private towerAddress: string | undefined;
  /** Secrets handed to the watchtower. */
  private readonly towerSent = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private polling = false;
  private kickScheduled = false;
  private stopped = false;
  private readonly engine: UpdateEngine<ClientChannel>;

  private constructor(
    private readonly config: ChannelClientConfig,
    private readonly store: LevelStore,
  ) {
    const wallet = new Wallet(config.privateKey, config.provider);
    this.address = wallet.address;
    this.key = Buffer.from(wallet.privateKey.slice(2), "hex");
    this.chainId = config.chainId;
    this.adjudicatorAddress = getAddress(config.adjudicator);
    this.policy = { ...DEFAULT_POLICY, ...config.policy };
    checkPolicy(this.policy, config.confirmations ?? 0);
    this.log = config.logger ?? pino({ level: "silent" });
    this.transport = new PeerTransport({
      privateKey: config.privateKey,
      host: config.host,
      port: config.port,
      logger: this.log,
    });
    this.adjudicator = new Adjudicator(this.adjudicatorAddress, wallet, config.provider);
    this.reader = new AdjudicatorLogReader(config.provider, this.adjudicatorAddress, config.confirmations ?? 0);
    this.cursor = new ChainCursor(store);
    this.engine = new UpdateEngine<ClientChannel>(this.engineHost());
  }

  /** What the update protocol sees of this client. */
  private engineHost(): EngineHost<ClientChannel> {
    return {
      store: this.store,
      transport: this.transport,
      key: this.key,
      chainId: this.chainId,
      adjudicatorAddress: this.adjudicatorAddress,
      log: this.log,
      maxInFlight: this.policy.maxInFlight,
      maxVersionStep: this.policy.maxVersionStep,
      stopped: () => this.stopped,
      now: () => this.clock.now(),
      revealedAt: (h) => this.revealed.get(h) ?? 0n,
      refreshRevealed: (h) => this.refreshRevealed(h),
      channel: (id) => this.chan(id),
      activate: (chan) => this.checkFunding(chan),
      effects: (chan, update, memo, by, base, next, ops) => this.effects(chan, update, memo, by, base, next, ops),
      recordLocks: (chan, signed, ops) => this.recordLocks(chan.id, signed, ops),
      policyRefusal: (chan, update) => this.policyRefusal(chan, update),
      signing: (chan, update, next, ops) => this.signing(chan, update, next, ops),
      resizeSigned: (chan, resize) => this.resizeSigned(chan, resize),
      settleResize: (chan) => this.settleResize(chan),
      committed: (chan) => {
        chan.towerDirty = true;
        this.kick();
      },
      setPhase: (chan, phase) => this.setPhase(chan, phase),
      storeFailed: (err) => this.storeFailed(err),
    };
  }

  private async refreshRevealed(hashlock: string): Promise<void> {
    try {
      const at = await this.adjudicator.secretRevealedAt(hashlock);
      if (at !== 0n) this.revealed.set(hashlock, at);
    } catch (err) {
      throw refused("CHANNEL_BUSY", `cannot read the chain: ${errText(err)}`);
    }
  }

  /** Adds the record of a state's locks (to unlock them if that state is ever registered) to `ops`. */
  private recordLocks(channelId: string, s: Snapshot, ops: StoreOp[]): void {
    if (s.locks.length === 0) return;
    const key = lockId(channelId, s.state.locksRoot);
    if (this.locksByRoot.has(key)) return;
    this.locksByRoot.set(key, s.locks);
    ops.push({ type: "put", key: storeKey.locks(key), value: JSON.stringify(s.locks.map(encodeLock)) });
  }

  /**
   * This client signs `next`, the result of `update`: its locks are recorded (the peer may register it), each lock
   * it offers in it is marked as offered, and a settle's secret is kept (a peer that countersigns the payout and
   * then refuses holds it paid: the secret must claim the lock's upstream twin), all in the write that stores it.
   */
  private signing(chan: ClientChannel, update: ChannelUpdate, next: Snapshot, ops: StoreOp[]): void {
    this.recordLocks(chan.id, next, ops);
    if (update.kind === "settle" && !this.secrets.has(update.hashlock)) {
      this.secrets.set(update.hashlock, update.secret);
      ops.push({ type: "put", key: storeKey.secret(update.hashlock), value: update.secret });
      this.kick();
    }
    for (const lock of next.locks) {
      if (lock.sender !== chan.rec.me) continue;
      const key = lockId(chan.id, lock.hashlock);
      const meta = this.lockMetas.get(key);
      if (!meta || meta.offered) continue;
      const offered: LockMeta = { ...meta, offered: true, amount: lock.amount, expiry: lock.expiry };
      this.lockMetas.set(key, offered);
      ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(offered) });
    }
  }

  /** Opens the store, loads the channels, listens for peers and starts following the chain. */
  static async start(config: ChannelClientConfig): Promise<ChannelClient> {
    await initHashing();
    const store = await openChannelStore(config.dataDir);
    let client: ChannelClient;
    try {
      client = new ChannelClient(config, store);
    } catch (err) {
      await store.close();
      throw err;
    }
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
      await client.cursor.init(config.provider, config.startBlock);
      const poll = config.pollMs ?? 500;
      client.timers.push(setInterval(() => client.tick(), poll));
      client.timers.push(setInterval(() => client.syncTick(), 250));
      client.timers.push(setInterval(() => void client.flushTower(), client.policy.towerFlushMs));
      for (const chan of client.chans.values()) if (chan.resize) client.resizeSigned(chan, chan.resize);
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
    const err = refused("CLIENT_STOPPED", "the client stopped");
    for (const chan of this.chans.values()) {
      for (const p of chan.pending) for (const w of p.waiters) w.reject(err);
      for (const q of chan.queued) for (const w of q.waiters) w.reject(err);
      for (const r of chan.requests.values()) for (const w of r.waiters) w.reject(err);
      chan.failOpen(err);
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

  /** The latest state signed by both participants and in force (undefined before the first update). */
  signedState(channelId: string): SignedSnapshot | undefined {
    return this.chan(channelId).full;
  }

  /** Whether an authenticated connection to the peer is up. */
  isPeerConnected(address: string): boolean {
    return this.transport.isConnected(address);
  }

  /** The co-signed top-up or withdrawal of `channelId` waiting for the chain, with what executes it. */
  pendingResize(channelId: string): PendingResize | undefined {
    return this.chan(channelId).resize;
  }

  /** The fate of a lock this client offered in `channelId` (./settlement.ts), as far as it knows now. */
  lockFate(channelId: string, hashlock: string): LockFate | undefined {
    const chan = this.chan(channelId);
    const meta = this.lockMetas.get(lockId(chan.id, hashlock.toLowerCase()));
    return meta?.role === "sender" ? this.fateOf(chan, meta) : undefined;
  }

  private view(c: ClientChannel): ChannelView {
    const s = c.committed();
    const r = c.resize;
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
      inFlight: c.inFlight,
      towerVersion: c.towerVersion,
      ...(r
        ? {
            resize: {
              kind: r.update.kind,
              participant: r.update.participant,
              amount: r.update.amount,
              expiry: r.update.expiry,
              version: r.signed.state.version,
            },
          }
        : {}),
    };
  }

  private chan(channelId: string): ClientChannel {
    const chan = this.chans.get(channelId.toLowerCase());
    if (!chan) throw refused("CHANNEL_NOT_FOUND", `no channel ${channelId}`, { channelId });
    return chan;
  }

  /** The open channel with `peer` that can send `amount` (the one with the most to send). */
  channelWith(peer: string, amount = 0n): ChannelView | undefined {
    const p = getAddress(peer);
    let best: ClientChannel | undefined;
    let bestBalance = -1n;
    for (const c of this.chans.values()) {
      if (c.rec.peer !== p || c.rec.phase !== "open" || c.resize) continue;
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
   * deposited `peerDeposit`. This client is participant 0 and leads the channel. In a token channel the peer's
   * deposit is pulled in the same transaction with its signed consent (`openFunded`), so the channel is open at once.
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
    const challengeDuration = opts.challengeDuration ?? this.policy.defaultChallengeDuration;
    const p = this.policy;
    if (challengeDuration < p.minChallengeDuration || challengeDuration > p.maxChallengeDuration) {
      throw refused(
        "INVALID_CHALLENGE_DURATION",
        `challenge duration must be within ${p.minChallengeDuration}..${p.maxChallengeDuration} s`,
        { challengeDuration: challengeDuration.toString() },
      );
    }
    const params: ChannelParams = {
      participants: [this.address, peer],
      asset: getAddress(opts.asset ?? ZERO_ADDRESS),
      challengeDuration,
      salt: opts.salt ?? "0x" + randomBytes(32).toString("hex"),
    };
    const id = computeChannelId(params, this.chainId, this.adjudicatorAddress);
    if (this.chans.has(id)) throw refused("CHANNEL_EXISTS", `channel ${id} exists`);
    // The peer agrees first (and, in a token channel, consents to its deposit); the record is on disk before any
    // money moves.
    const answer = asObject(
      await this.transport.request(
        peer,
        "ch.open",
        { params: encodeParams(params), deposits: [deposits[0].toString(), deposits[1].toString()] },
        120_000,
      ),
      "result",
    );
    const consent = answer.funding === undefined ? undefined : this.decodeConsent(answer.funding, id, deposits[1]);
    const chan = new ClientChannel({ id, params, me: 0, peer, deposits, phase: "opening" });
    this.chans.set(id, chan);
    await this.store.write([{ type: "put", key: storeKey.channel(id), value: encodeChannel(chan.rec) }]);
    if (consent) await this.adjudicator.openFunded(params, deposits[0], consent.funding, consent.sig);
    else await this.adjudicator.open(params, deposits[0]);
    this.log.info({ channelId: id, peer, deposits: deposits.map(String) }, "channel opened on chain");
    // `opened` settles whenever the channel becomes open, even if the chain poll got there first.
    await this.checkFunding(chan).catch(() => undefined);
    const timeout = opts.timeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        chan.opened,
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

  /** The peer's consent to `openFunded`, checked: for this channel, by the peer, for the deposit agreed. */
  private decodeConsent(raw: unknown, id: string, amount: bigint): { funding: Funding; sig: CompactSignature } {
    const o = asObject(raw, "funding");
    const f = asObject(o.funding, "funding.funding");
    const funding: Funding = {
      channelId: asBytes32(f.channelId, "funding.channelId"),
      participant: 1,
      amount: asUint(f.amount, "funding.amount"),
      expiry: asUint(f.expiry, "funding.expiry"),
    };
    const sig = decodeSig(o.sig, "funding.sig");
    if (funding.channelId !== id || funding.amount !== amount || f.participant !== 1) {
      throw refused("INVALID_FUNDING", "the peer's funding consent is not for this channel and deposit");
    }
    return { funding, sig };
  }

  private async onOpenRequest(from: string, raw: unknown): Promise<Json> {
    const o = asObject(raw, "params");
    const params = decodeParams(o.params);
    const d = asArray(o.deposits, "deposits", 2);
    const deposits: [bigint, bigint] = [asUint(d[0], "deposits[0]"), asUint(d[1], "deposits[1]")];
    if (params.participants[0] !== from || params.participants[1] !== this.address) {
      throw refused("OPEN_REFUSED", "the opener must be participant 0 and this client participant 1");
    }
    const p = this.policy;
    if (params.challengeDuration < p.minChallengeDuration || params.challengeDuration > p.maxChallengeDuration) {
      throw refused(
        "OPEN_REFUSED",
        `challenge duration must be within ${p.minChallengeDuration}..${p.maxChallengeDuration} s`,
      );
    }
    if (deposits[1] > p.maxAutoFund) throw refused("OPEN_REFUSED", `this client deposits at most ${p.maxAutoFund}`);
    if (deposits[0] + deposits[1] === 0n) throw refused("OPEN_REFUSED", "a channel needs a positive total deposit");
    const id = computeChannelId(params, this.chainId, this.adjudicatorAddress);
    const existing = this.chans.get(id);
    if (existing && existing.rec.peer !== from) throw refused("CHANNEL_EXISTS", `channel ${id} exists`);
    if (!existing) {
      const chan = new ClientChannel({ id, params, me: 1, peer: from, deposits, phase: "opening" });
      this.chans.set(id, chan);
      await this.store.write([{ type: "put", key: storeKey.channel(id), value: encodeChannel(chan.rec) }]);
      this.log.info({ channelId: id, peer: from, deposits: deposits.map(String) }, "accepted a channel");
    }
    if (params.asset === ZERO_ADDRESS || deposits[1] === 0n) return { channelId: id };
    // A token deposit is pulled by the opener's transaction: approve it, then consent to exactly this channel.
    await this.adjudicator.approve(params.asset, deposits[1]);
    const funding: Funding = {
      channelId: id,
      participant: 1,
      amount: deposits[1],
      expiry: this.clock.now() + p.fundingExpirySeconds,
    };
    const sig = signFundingWithKey(this.key, funding, this.chainId, this.adjudicatorAddress);
    if (!verifyFundingSignature(funding, sig, this.address, this.chainId, this.adjudicatorAddress)) {
      throw refused("INTERNAL", "could not sign the funding consent");
    }
    return {
      channelId: id,
      funding: {
        funding: {
          channelId: id,
          participant: 1,
          amount: funding.amount.toString(),
          expiry: funding.expiry.toString(),
        },
        sig: encodeSig(sig),
      },
    };
  }

  /** Reads the channel's funding on chain: funds this client's part when due, activates the channel when complete. */
  private async checkFunding(chan: ClientChannel): Promise<void> {
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
      this.towerWatch(chan);
    }
  }

  private async setPhase(chan: ClientChannel, phase: ChannelPhase, extra: StoreOp[] = []): Promise<void> {
    if (chan.rec.phase === phase && extra.length === 0) return;
    chan.rec = { ...chan.rec, phase };
    chan.phaseChanged();
    await this.store.write([{ type: "put", key: storeKey.channel(chan.id), value: encodeChannel(chan.rec) }, ...extra]);
  }

  // ---------------------------------------------------------------------------
  // Payments

  /** Pays `amount` to the peer; resolves once both participants stored the new state. */
  pay(channelId: string, amount: bigint): Promise<Committed> {
    const chan = this.chan(channelId);
    return this.engine.submit(chan, { kind: "pay", from: chan.rec.me, amount });
  }

  /** Creates an invoice: a secret only this client knows, whose hashlock a payer locks `amount` to. */
  async createInvoice(amount: bigint, secret?: string): Promise<{ hashlock: string; amount: bigint }> {
    if (amount <= 0n) throw refused("INVALID_AMOUNT", "an invoice needs a positive amount");
    const s = secret ? asBytes32(secret, "secret") : "0x" + randomBytes(32).toString("hex");
    const hashlock = hashlockOf(s);
    if (this.invoices.has(hashlock)) throw refused("INVOICE_EXISTS", "an invoice with this secret exists");
    const invoice: InvoiceRecord = { hashlock, amount, status: "open" };
    await this.store.write([
      { type: "put", key: storeKey.secret(hashlock), value: s },
      { type: "put", key: storeKey.invoice(hashlock), value: encodeInvoice(invoice) },
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
   * Resolves once the first hop's lock has a certain fate (./settlement.ts): `completed` when its secret is known
   * (the proof of payment), `refunded` when no state the next hop can register pays it out — never on the next
   * hop's word alone. Throws only when nothing was offered.
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
    const meta: LockMeta = {
      channelId: chan.id,
      hashlock,
      role: "sender",
      status: "pending",
      amount: lock.amount,
      expiry: lock.expiry,
    };
    const done = new Promise<RouteResult>((resolve) => {
      const list = this.routeWaiters.get(hashlock) ?? [];
      list.push(resolve);
      this.routeWaiters.set(hashlock, list);
    });
    const key = lockId(chan.id, hashlock);
    this.offering.add(key);
    try {
      this.routes.set(hashlock, record);
      this.lockMetas.set(key, meta);
      await this.store.write([
        { type: "put", key: storeKey.route(hashlock), value: encodeRoute(record) },
        { type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(meta) },
      ]);
      this.engine.submit(chan, { kind: "lock", lock }, { hops: hops.slice(1) }).then(
        () => this.kick(),
        (err: unknown) => {
          this.log.info({ hashlock, err: errText(err) }, "the first hop did not take the lock");
          this.kick();
        },
      );
    } finally {
      this.offering.delete(key);
    }
    this.kick();
    return done;
  }

  /** A route payment sent by this client. */
  routePayment(hashlock: string): RouteRecord | undefined {
    return this.routes.get(hashlock.toLowerCase());
  }

  private async finishRoute(
    hashlock: string,
    status: "completed" | "refunded",
    detail: { secret?: string; reason?: string },
  ): Promise<void> {
    const record = this.routes.get(hashlock);
    if (!record || record.status !== "pending") return;
    const next: RouteRecord = { ...record, status, ...detail };
    this.routes.set(hashlock, next);
    await this.store.write([{ type: "put", key: storeKey.route(hashlock), value: encodeRoute(next) }]);
    this.log.info({ hashlock, status, reason: detail.reason }, "route payment finished");
    for (const w of this.routeWaiters.get(hashlock) ?? []) w({ hashlock, status, ...detail });
    this.routeWaiters.delete(hashlock);
  }

  // ---------------------------------------------------------------------------
  // Top-ups and partial withdrawals

  /**
   * Tops the channel up with `amount` from this client: both sign the resized state and its `TopUp`, then this
   * client executes it on chain. Until then (or until it expires) nothing else is signed in the channel.
   */
  topUp(channelId: string, amount: bigint): Promise<ResizeResult> {
    const chan = this.chan(channelId);
    return this.resize(chan, { kind: "deposit", participant: chan.rec.me, amount, expiry: this.resizeExpiry() });
  }

  /** Takes `amount` of this client's balance out of the open channel, the same way. */
  withdrawPartially(channelId: string, amount: bigint): Promise<ResizeResult> {
    const chan = this.chan(channelId);
    return this.resize(chan, { kind: "withdraw", participant: chan.rec.me, amount, expiry: this.resizeExpiry() });
  }

  private resizeExpiry(): bigint {
    return this.clock.now() + this.policy.resizeExpirySeconds;
  }

  private async resize(chan: ClientChannel, update: ResizeUpdate): Promise<ResizeResult> {
    if (update.amount <= 0n) throw refused("INVALID_AMOUNT", `a ${update.kind} needs a positive amount`);
    if (chan.resize) throw refused("CHANNEL_BUSY", `channel ${chan.id} already has a resize waiting for the chain`);
    const committed = await this.engine.submit(chan, update);
    // Read again: the resize was stored while this waited (TypeScript keeps the narrowing across the await).
    const pending = chan.resize as PendingResize | undefined;
    if (!pending || pending.signed.state.version !== committed.version) {
      throw refused("RESIZE_SETTLED", "the resize settled before it could be executed");
    }
    const txHash = await this.executeResize(chan, pending);
    return { channelId: chan.id, version: committed.version, txHash };
  }

  /** A resize is signed by both: the participant it is for executes it on chain. */
  private resizeSigned(chan: ClientChannel, resize: PendingResize): void {
    this.kick();
    if (resize.update.participant !== chan.rec.me) return;
    this.executeResize(chan, resize).catch((err: unknown) =>
      this.log.warn({ channelId: chan.id, err: errText(err) }, "could not execute the resize; it will expire"),
    );
  }

  /** Submits the pending resize's on-chain message (once), and settles it when mined. */
  private executeResize(chan: ClientChannel, resize: PendingResize): Promise<string> {
    if (chan.resizeTx) return chan.resizeTx;
    const run = async () => {
      const m = resizeMessage(resize.update, resize.signed.state);
      const receipt =
        m.kind === "topUp"
          ? await this.adjudicator.topUp(chan.rec.params, m.top, resize.resizeSigs, resize.update.amount)
          : await this.adjudicator.partialWithdraw(chan.rec.params, m.withdrawal, resize.resizeSigs);
      this.log.info({ channelId: chan.id, kind: resize.update.kind, tx: receipt.hash }, "resize executed on chain");
      if (chan.resize === resize) await this.engine.resizeSettled(chan, true);
      return receipt.hash;
    };
    const tx = run();
    chan.resizeTx = tx;
    tx.then(
      () => undefined,
      () => {
        if (chan.resizeTx === tx) chan.resizeTx = undefined;
      },
    );
    return tx;
  }

  /** Reads the chain for the pending resize: executed (the floor reached its version) or expired. */
  private async settleResize(chan: ClientChannel): Promise<void> {
    const resize = chan.resize;
    if (!resize) return;
    const info = await this.adjudicator.getChannel(chan.id);
    const version = resize.signed.state.version;
    if (info.status === ChannelStatus.Open && info.checkpointed && info.version >= version) {
      await this.engine.resizeSettled(chan, true);
      return;
    }
    const head = await this.config.provider.getBlock("latest");
    if (info.status !== ChannelStatus.Open || (head && BigInt(head.timestamp) > resize.update.expiry)) {
      await this.engine.resizeSettled(chan, false);
    }
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
      await this.engine.submit(chan, { kind: "final" });
    }
    const final = chan.full;
    if (!final || !final.state.isFinal) throw refused("NOT_CLOSABLE", `channel ${channelId} is ${chan.rec.phase}`);
    return this.submitClose(chan);
  }

  private async submitClose(chan: ClientChannel): Promise<string> {
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
      ? await this.adjudicator.register(chan.rec.params, signed.state, signed.sigs, signed.locks)
      : await this.adjudicator.registerDeposits(chan.rec.params);
    await this.setPhase(chan, "disputed");
    this.engine.rejectInFlight(chan, refused("CHANNEL_DISPUTED", "the channel is disputed"));
    if (chan.resize) await this.engine.resizeSettled(chan, false);
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

  /** Goes on chain by itself: registers the latest state, once per channel, when a peer leaves a lock unresolved. */
  private forceClose(chan: ClientChannel, reason: string): void {
    if (chan.forcedClose !== undefined || chan.rec.phase !== "open" || chan.chainBusy) return;
    chan.forcedClose = reason;
    chan.chainBusy = true;
    this.log.warn({ channelId: chan.id, reason }, "registering the latest state: the peer leaves a lock unresolved");
    this.dispute(chan.id)
      .catch((err: unknown) => {
        chan.forcedClose = undefined; // tried again by a later reconciliation
        this.log.warn({ channelId: chan.id, err: errText(err) }, "could not register the latest state");
      })
      .finally(() => {
        chan.chainBusy = false;
        this.kick();
      });
  }

  // ---------------------------------------------------------------------------
  // What a committed update does to this client's records

  /** Why this client refuses an update its peer asked for (policy), beyond `approvalError`. */
  private policyRefusal(chan: ClientChannel, update: ChannelUpdate): string | undefined {
    const now = this.clock.now();
    if (update.kind === "lock" && update.lock.receiver === chan.rec.me) {
      return incomingLockRefusal(update.lock, now, this.policy, this.peerExposure(chan.rec.peer));
    }
    if (update.kind === "deposit" || update.kind === "withdraw")
      return resizeExpiryRefusal(update.expiry, now, this.policy);
    return undefined;
  }

  /** What `peer` has pending towards this client over all channels with it (for the per-peer lock limits). */
  private peerExposure(peer: string): PeerExposure {
    const exposure: PeerExposure = { locks: 0, locked: 0n };
    for (const c of this.chans.values()) {
      if (c.rec.peer !== peer) continue;
      for (const l of c.exposedLocks()) {
        if (l.receiver !== c.rec.me) continue;
        exposure.locks += 1;
        exposure.locked += l.amount;
      }
    }
    return exposure;
  }

  /**
   * Adds to `ops` the records an update changes (written with the state) and returns what to do once they are
   * on disk.
   */
  private effects(
    chan: ClientChannel,
    update: ChannelUpdate,
    memo: ForwardMemo | undefined,
    _by: Party,
    base: Snapshot,
    next: Snapshot,
    ops: StoreOp[],
  ): () => void {
    const me = chan.rec.me;
    if (next.state.locksRoot !== base.state.locksRoot) this.recordLocks(chan.id, next, ops);
    switch (update.kind) {
      case "final": {
        chan.rec = { ...chan.rec, phase: "closing", finalAt: this.clock.now() };
        ops.push({ type: "put", key: storeKey.channel(chan.id), value: encodeChannel(chan.rec) });
        return () => chan.phaseChanged();
      }
      case "lock": {
        const h = update.lock.hashlock.toLowerCase();
        const key = lockId(chan.id, h);
        if (update.lock.receiver === me) {
          const meta: LockMeta = {
            channelId: chan.id,
            hashlock: h,
            role: "receiver",
            status: "received",
            ...(memo ? { memo } : {}),
          };
          this.lockMetas.set(key, meta);
          ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(meta) });
          return () => this.kick();
        }
        let meta = this.lockMetas.get(key);
        if (!meta) {
          meta = {
            channelId: chan.id,
            hashlock: h,
            role: "sender",
            status: "pending",
            amount: update.lock.amount,
            expiry: update.lock.expiry,
            offered: true,
          };
          this.lockMetas.set(key, meta);
          ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(meta) });
        }
        const incoming = meta.incoming;
        return () => {
          if (incoming !== undefined) void this.setLockStatus(incoming, h, "forwarded");
          this.kick();
        };
      }
      case "settle":
      case "cancel": {
        const h = update.hashlock.toLowerCase();
        const lock = base.locks[findLock(base.locks, h)];
        const key = lockId(chan.id, h);
        const status: LockStatus = update.kind === "settle" ? "settled" : "cancelled";
        const meta: LockMeta = this.lockMetas.get(key) ?? {
          channelId: chan.id,
          hashlock: h,
          role: lock.sender === me ? "sender" : "receiver",
          status,
        };
        // The sender's record keeps `pending` until the settlement rule decides (the reconciliation does that).
        const updated: LockMeta = meta.role === "sender" ? meta : { ...meta, status };
        this.lockMetas.set(key, updated);
        ops.push({ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(updated) });
        if (update.kind === "settle" && !this.secrets.has(h)) {
          this.secrets.set(h, update.secret);
          ops.push({ type: "put", key: storeKey.secret(h), value: update.secret });
        }
        const invoice = this.invoices.get(h);
        if (update.kind === "settle" && lock.receiver === me && invoice && invoice.status === "open") {
          const paid: InvoiceRecord = { ...invoice, status: "paid" };
          this.invoices.set(h, paid);
          ops.push({ type: "put", key: storeKey.invoice(h), value: encodeInvoice(paid) });
        }
        return () => this.kick();
      }
      default:
        return () => undefined;
    }
  }

  private async setLockStatus(channelId: string, hashlock: string, status: LockStatus, reason?: string): Promise<void> {
    const key = lockId(channelId, hashlock);
    const meta = this.lockMetas.get(key);
    if (!meta || meta.status === "settled" || meta.status === "cancelled") return;
    const next: LockMeta = { ...meta, status, ...(reason ? { reason } : {}) };
    this.lockMetas.set(key, next);
    try {
      await this.store.write([{ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(next) }]);
    } catch (err) {
      this.storeFailed(err);
    }
    this.kick();
  }

  // ---------------------------------------------------------------------------
  // The settlement rule applied: the fate of the locks this client offered

  /** The fate of a lock this client offered (its record `meta`), from what this client knows for certain. */
  private fateOf(chan: ClientChannel, meta: LockMeta): LockFate {
    const h = meta.hashlock;
    const exposed = chan.exposedLocks().find((l) => l.hashlock.toLowerCase() === h);
    const expiry = exposed?.expiry ?? meta.expiry ?? 0n;
    let outcome: "kept" | "dropped" | undefined;
    if (chan.rec.outcomeRoot !== undefined) {
      const locks = this.locksOf(chan, chan.rec.outcomeRoot);
      outcome = locks.some((l) => l.hashlock.toLowerCase() === h && l.sender === chan.rec.me) ? "kept" : "dropped";
    }
    return offeredLockFate({
      expiry,
      ...(this.secrets.has(h) ? { secret: this.secrets.get(h) as string } : {}),
      exposed: exposed !== undefined,
      attempting: chan.attempting(h) || this.offering.has(lockId(chan.id, h)),
      ...(outcome ? { outcome } : {}),
      chainTime: this.chainTime,
      revealedAt: this.revealed.get(h) ?? 0n,
    });
  }

  /**
   * The fate of an offered lock, with an expiry verdict confirmed by a direct read of the registry (a reveal before
   * this client started following the chain is not in its logs). `undefined` while that read runs.
   */
  private certainFate(chan: ClientChannel, meta: LockMeta): LockFate | undefined {
    const fate = this.fateOf(chan, meta);
    const key = lockId(chan.id, meta.hashlock);
    if (fate.kind !== "dead" || fate.cause !== "expired" || this.confirmedExpired.has(key)) return fate;
    if (chan.checking.has(meta.hashlock)) return undefined;
    chan.checking.add(meta.hashlock);
    this.refreshRevealed(meta.hashlock)
      .then(() => {
        // Any reveal from now on comes after the expiry: if none came before, none ever will in time.
        if (this.fateOf(chan, meta).kind === "dead") this.confirmedExpired.add(key);
      })
      .catch((err: unknown) =>
        this.log.debug({ hashlock: meta.hashlock, err: errText(err) }, "cannot read the registry"),
      )
      .finally(() => {
        chan.checking.delete(meta.hashlock);
        this.kick();
      });
    return undefined;
  }

  /** Records the certain fate of an offered lock (terminal) and returns the updated record. */
  private async recordFate(chan: ClientChannel, meta: LockMeta, fate: LockFate): Promise<LockMeta> {
    const status: LockStatus = fate.kind === "settled" ? "settled" : "cancelled";
    const next: LockMeta = { ...meta, status, ...(fate.kind === "dead" ? { reason: fate.reason } : {}) };
    const key = lockId(chan.id, meta.hashlock);
    this.lockMetas.set(key, next);
    await this.store.write([{ type: "put", key: storeKey.lockMeta(key), value: encodeLockMeta(next) }]);
    return next;
  }

  /** The payer's side: a route is finished once its first lock's fate is certain. */
  private reconcileRoutes(): void {
    for (const route of this.routes.values()) {
      if (route.status !== "pending") continue;
      const chan = this.chans.get(route.channelId);
      const meta = this.lockMetas.get(lockId(route.channelId, route.hashlock));
      if (!chan || !meta || chan.busy.has(`route:${route.hashlock}`)) continue;
      const fate = this.certainFate(chan, meta);
      if (!fate) continue;
      if (fate.kind === "live") {
        this.giveUpLateAttempt(chan, meta);
        continue;
      }
      this.act(chan, `route:${route.hashlock}`, async () => {
        await this.recordFate(chan, meta, fate);
        await this.finishRoute(
          route.hashlock,
          fate.kind === "settled" ? "completed" : "refunded",
          fate.kind === "settled" ? { secret: fate.secret } : { reason: fate.reason },
        );
      });
    }
  }

  /**
   * An attempt to offer a lock that has not been signed yet and can no longer leave its receiver time to reveal the
   * secret is given up, so that the lock's fate becomes certain (dead) instead of waiting on a silent peer.
   */
  private giveUpLateAttempt(chan: ClientChannel, meta: LockMeta): void {
    const expiry = meta.expiry ?? 0n;
    if (this.clock.now() < expiry - this.policy.revealMarginSeconds) return;
    if (chan.attempting(meta.hashlock) && this.engine.withdrawAttempt(chan, meta.hashlock)) {
      this.log.info({ channelId: chan.id, hashlock: meta.hashlock }, "gave up offering a lock too close to its expiry");
      this.kick();
    }
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
      void this.engine.resync(chan);
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
    try {
      this.reconcileRoutes();
    } catch (err) {
      this.log.warn({ err: errText(err) }, "reconciling routes failed");
    }
  }

  /**
   * What a channel needs next. Lock actions start here and run on their own; chain actions (funding, closing,
   * refuting, concluding, collecting) run in the background one at a time per channel, so a slow transaction on
   * one channel never holds up the others.
   */
  private reconcileChannel(chan: ClientChannel): void {
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
        // Off-chain settling is over; the chain resolves the locks (reveals happen in reconcileDispute). The
        // locks this channel forwarded elsewhere follow their fate from the open channels they came in by.
        void this.reconcileDispute(chan);
        return;
      default:
        return;
    }
  }

  private reconcileLocks(chan: ClientChannel): void {
    const me = chan.rec.me;
    const now = this.clock.now();
    for (const lock of chan.committed().locks) {
      const h = lock.hashlock;
      const meta = this.lockMetas.get(lockId(chan.id, h));
      const secret = this.secrets.get(h);
      if (lock.receiver === me) {
        // Deadlines first, whatever is still waiting on the peer.
        if (secret) {
          this.towerSecret(secret);
          if (revealDue(lock, now, this.policy)) this.revealOnChain(secret);
          const at = this.revealed.get(h) ?? 0n;
          if (now > lock.expiry + this.policy.lockGraceSeconds && at !== 0n && at <= lock.expiry) {
            this.forceClose(chan, "a lock revealed on chain in time is still not settled off chain");
          }
        }
        if (chan.busy.has(h)) continue;
        const status = meta?.status ?? "received";
        if (status === "received") {
          this.act(chan, h, () => this.handleIncoming(chan, lock, meta));
        } else if ((status === "accepted" || status === "forwarded" || status === "forwarding") && secret) {
          this.act(chan, h, () => this.engine.submit(chan, { kind: "settle", hashlock: h, secret }));
        } else if (status === "rejected" || status === "forward-failed") {
          this.act(chan, h, () => this.engine.submit(chan, { kind: "cancel", hashlock: h }));
        } else if ((status === "forwarding" || status === "forwarded") && meta) {
          this.reconcileForward(chan, lock, meta);
        }
      } else {
        const revealedAt = this.revealed.get(h) ?? 0n;
        if (!lockExpiredUnclaimed(lock, now, revealedAt)) continue;
        if (!chan.busy.has(h)) this.act(chan, h, () => this.engine.submit(chan, { kind: "cancel", hashlock: h }));
      }
    }
    // A lock this client offered that the peer may still register (committed, or only in a state it signed that
    // was never answered), expired and unrevealed, still there after the grace: take it back on chain.
    for (const lock of chan.exposedLocks()) {
      if (lock.sender !== me || now <= lock.expiry + this.policy.lockGraceSeconds) continue;
      if (lockExpiredUnclaimed(lock, now, this.revealed.get(lock.hashlock) ?? 0n)) {
        this.forceClose(chan, "an expired lock is still not cancelled off chain");
      }
    }
  }

  /**
   * A lock this client forwards: settled upstream when its outgoing lock is (the secret), given back upstream
   * when its outgoing lock is certainly dead, held otherwise. A forward that never got signed (a crash before the
   * outgoing proposal was stored) is attempted again while there is time.
   */
  private reconcileForward(chan: ClientChannel, lock: Lock, meta: LockMeta): void {
    const outChan = meta.outgoing === undefined ? undefined : this.chans.get(meta.outgoing);
    const outMeta = outChan ? this.lockMetas.get(lockId(outChan.id, lock.hashlock)) : undefined;
    if (!outChan || !outMeta) {
      this.act(chan, lock.hashlock, () =>
        this.setLockStatus(chan.id, lock.hashlock, "forward-failed", "the outgoing lock is unknown"),
      );
      return;
    }
    if (outChan.busy.has(lock.hashlock)) return;
    const fate = this.certainFate(outChan, outMeta);
    if (!fate) return;
    if (fate.kind === "live") {
      this.giveUpLateAttempt(outChan, outMeta);
      return;
    }
    if (fate.kind === "settled") return; // the secret is known: the settle branch takes it from here
    this.act(chan, lock.hashlock, async () => {
      const attempts = outMeta.attempts ?? 1;
      const hop = meta.memo?.hops[0];
      if (!outMeta.offered && attempts < MAX_FORWARD_ATTEMPTS && hop && this.mayForward(lock, hop) !== undefined) {
        this.log.warn({ channelId: chan.id, hashlock: lock.hashlock }, "the forward was never signed: trying again");
        await this.forward(chan, lock, meta, hop, attempts + 1);
        return;
      }
      await this.recordFate(outChan, outMeta, fate);
      await this.setLockStatus(chan.id, lock.hashlock, "forward-failed", `the next hop's lock is dead: ${fate.reason}`);
    });
  }

  /** Runs one action for a lock at a time; failures are retried by a later reconciliation. */
  private act(chan: ClientChannel, hashlock: string, action: () => Promise<unknown>): void {
    chan.busy.add(hashlock);
    action().then(
      () => {
        chan.busy.delete(hashlock);
        this.kick();
      },
      (err: unknown) => {
        this.log.debug({ channelId: chan.id, hashlock, err: errText(err) }, "lock action failed; will retry");
        setTimeout(() => chan.busy.delete(hashlock), 1_000).unref();
      },
    );
  }

  /** The open channel a forward of `hop` may use now, or `undefined` if this client refuses to forward `lock`. */
  private mayForward(lock: Lock, hop: Hop): ChannelView | undefined {
    const out = this.channelWith(hop.to, hop.amount);
    const reason = forwardRefusal(lock, hop, out !== undefined, this.clock.now(), this.policy);
    return reason ? undefined : out;
  }

  /** Decides what to do with a lock this client received: take it (payee), forward it, or refuse it. */
  private async handleIncoming(chan: ClientChannel, lock: Lock, meta: LockMeta | undefined): Promise<void> {
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
    await this.forward(chan, lock, meta as LockMeta, hop, 1);
  }

  /**
   * Offers the next hop's lock. Its records go to disk first (the incoming lock then waits for the outgoing one's
   * fate, even across a crash); what the next hop answers decides nothing (./settlement.ts does).
   */
  private async forward(chan: ClientChannel, lock: Lock, meta: LockMeta, hop: Hop, attempt: number): Promise<void> {
    const h = lock.hashlock;
    const out = this.mayForward(lock, hop);
    if (!out) {
      await this.setLockStatus(chan.id, h, "forward-failed", "cannot forward any more");
      return;
    }
    const outChan = this.chan(out.channelId);
    const outKey = lockId(outChan.id, h);
    const outLock: Lock = {
      sender: outChan.rec.me,
      receiver: other(outChan.rec.me),
      amount: hop.amount,
      hashlock: h,
      expiry: hop.expiry,
    };
    const outMeta: LockMeta = {
      channelId: outChan.id,
      hashlock: h,
      role: "sender",
      status: "pending",
      incoming: chan.id,
      amount: hop.amount,
      expiry: hop.expiry,
      offered: false,
      attempts: attempt,
    };
    const inMeta: LockMeta = { ...meta, status: "forwarding", outgoing: outChan.id };
    this.offering.add(outKey);
    try {
      this.lockMetas.set(outKey, outMeta);
      this.lockMetas.set(lockId(chan.id, h), inMeta);
      await this.store.write([
        { type: "put", key: storeKey.lockMeta(outKey), value: encodeLockMeta(outMeta) },
        { type: "put", key: storeKey.lockMeta(lockId(chan.id, h)), value: encodeLockMeta(inMeta) },
      ]);
      failpoint("forward-recorded");
      this.engine.submit(outChan, { kind: "lock", lock: outLock }, { hops: meta.memo?.hops.slice(1) ?? [] }).then(
        () => this.log.info({ from: chan.id, to: outChan.id, hashlock: h }, "forwarded a lock"),
        (err: unknown) => {
          this.log.info({ to: outChan.id, hashlock: h, err: errText(err) }, "the next hop did not take the lock");
          this.kick();
        },
      );
    } finally {
      this.offering.delete(outKey);
    }
  }

  private revealOnChain(secret: string): void {
    const h = hashlockOf(secret);
    if (this.revealed.has(h) || this.revealing.has(h)) return;
    this.revealing.add(h);
    this.adjudicator.revealSecret(secret).then(
      (receipt) => {
        this.log.info({ hashlock: h, tx: receipt.hash }, "revealed a secret on chain");
        void this.refreshRevealed(h).catch(() => undefined);
      },
      (err: unknown) => {
        this.log.warn({ hashlock: h, err: errText(err) }, "could not reveal a secret");
        this.revealing.delete(h);
      },
    );
  }

  private async reconcileClosing(chan: ClientChannel): Promise<void> {
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

  private async reconcileDispute(chan: ClientChannel): Promise<void> {
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
          const receipt = await this.adjudicator.refute(chan.rec.params, best.state, best.sigs, best.locks);
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
          await this.concluded(chan);
        }
        return;
      }
      if (info.status === ChannelStatus.Concluded) {
        await this.concluded(chan, info.locksRoot);
        if (this.policy.autoSettle) await this.collect(chan);
      }
    } catch (err) {
      this.log.warn({ channelId: chan.id, err: errText(err) }, "dispute step failed");
    } finally {
      chan.chainBusy = false;
    }
  }

  /** The channel's outcome is fixed on chain: record which locks it holds (the settlement rule reads it). */
  private async concluded(chan: ClientChannel, locksRoot?: string): Promise<void> {
    const root = locksRoot ?? (await this.adjudicator.getChannel(chan.id)).locksRoot;
    if (chan.rec.phase === "concluded" && chan.rec.outcomeRoot === root) return;
    await this.updateRecord(chan, { phase: "concluded", outcomeRoot: root });
    this.kick();
  }

  /** Changes the channel's record and stores it. */
  private async updateRecord(chan: ClientChannel, changes: Partial<ChannelRecord>): Promise<void> {
    chan.rec = { ...chan.rec, ...changes };
    chan.phaseChanged();
    await this.store.write([{ type: "put", key: storeKey.channel(chan.id), value: encodeChannel(chan.rec) }]);
  }

  /** The locks behind a registered locks root (from this client's records). */
  private locksOf(chan: ClientChannel, root: string): Lock[] {
    if (root === ZERO_BYTES32) return [];
    if (chan.full?.state.locksRoot === root) return chan.full.locks;
    return this.locksByRoot.get(lockId(chan.id, root)) ?? [];
  }

  /** Unlocks what pays this client in a concluded channel and withdraws its credit. */
  private async collect(chan: ClientChannel): Promise<bigint> {
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

  // ---------------------------------------------------------------------------
  // The chain

  private async pollChain(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const { events, toBlock, timestamp } = await this.reader.read(this.cursor.block + 1, this.clock);
      for (const ev of events) await this.onChainEvent(ev);
      await this.cursor.advance(toBlock);
      if (timestamp > this.chainTime) this.chainTime = timestamp;
      for (const chan of this.chans.values()) {
        // Nothing can execute a resize after a block later than its expiry.
        if (chan.resize && this.chainTime > chan.resize.update.expiry) await this.engine.resizeSettled(chan, false);
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
        await this.store.write([{ type: "put", key: storeKey.secret(ev.hashlock), value: ev.secret }]);
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
      case "ToppedUp":
      case "PartiallyWithdrawn": {
        const version = ev.name === "ToppedUp" ? ev.state.version : ev.version;
        if (chan.resize && chan.resize.signed.state.version === version) await this.engine.resizeSettled(chan, true);
        return;
      }
      case "ChallengeRegistered":
      case "ChallengeRefuted":
        if (chan.rec.phase !== "disputed") {
          this.log.warn({ channelId: chan.id, version: String(ev.state.version) }, "the channel is disputed on chain");
          await this.setPhase(chan, "disputed");
          this.engine.rejectInFlight(chan, refused("CHANNEL_DISPUTED", "the channel is disputed"));
        }
        // A disputed channel never reopens: a resize waiting for it can no longer execute.
        if (chan.resize) await this.engine.resizeSettled(chan, false);
        chan.nextChainActionAt = 0;
        this.kick();
        return;
      case "ChannelConcluded":
        await this.concluded(chan);
        chan.nextChainActionAt = 0;
        return;
      case "PayoutCredited":
        // A cooperative close whose payout became a credit: a final state, so no locks.
        await this.updateRecord(chan, { phase: "concluded", outcomeRoot: ZERO_BYTES32 });
        chan.nextChainActionAt = 0;
        this.kick();
        return;
      case "ChannelClosed":
        if (chan.rec.phase !== "closed" || chan.rec.outcomeRoot === undefined) {
          await this.updateRecord(chan, { phase: "closed", outcomeRoot: chan.rec.outcomeRoot ?? ZERO_BYTES32 });
          this.log.info({ channelId: chan.id }, "the channel is closed");
        }
        this.kick();
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

  private towerWatch(chan: ClientChannel): void {
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
    this.transport.on("ch.propose", (from, params) => this.engine.onPropose(from, params));
    this.transport.on("ch.request", (from, params) => this.engine.onRequest(from, params));
    this.transport.on("ch.sync", (from, params) => this.engine.onSync(from, params));
    this.transport.onPeerConnected((peer) => {
      for (const chan of this.chans.values()) if (chan.rec.peer === peer) void this.engine.resync(chan);
    });
    this.transport.onPeerDisconnected((peer) => {
      for (const chan of this.chans.values()) if (chan.rec.peer === peer) this.engine.peerDisconnected(chan);
    });
  }

  private async load(): Promise<void> {
    for (const [, v] of await this.store.list(storePrefix.channel)) {
      const rec = decodeChannel(v);
      this.chans.set(rec.id, new ClientChannel(rec));
    }
    for (const [k, v] of await this.store.list(storePrefix.full)) {
      const chan = this.chans.get(keyParts(k).id);
      if (!chan) continue;
      chan.full = decodeSignedRecord(v);
      chan.latest = chan.full;
      chan.maxSigned = chan.full.state.version;
    }
    for (const [k, v] of await this.store.list(storePrefix.signedVersion)) {
      const chan = this.chans.get(keyParts(k).id);
      const sv = BigInt(v);
      if (chan && sv > chan.maxSigned) chan.maxSigned = sv;
    }
    for (const [k, v] of await this.store.list(storePrefix.resize)) {
      const chan = this.chans.get(keyParts(k).id);
      if (!chan) continue;
      chan.resize = decodeResize(v);
      if (chan.resize.signed.state.version > chan.maxSigned) chan.maxSigned = chan.resize.signed.state.version;
    }
    // The update protocol's own records: pending and voided proposals, requests.
    await this.engine.restore(this.chans);
    for (const [k, v] of await this.store.list(storePrefix.secret)) this.secrets.set(keyParts(k).id, v);
    for (const [, v] of await this.store.list(storePrefix.lockMeta)) {
      const meta = decodeLockMeta(v);
      this.lockMetas.set(lockId(meta.channelId, meta.hashlock), meta);
    }
    for (const [k, v] of await this.store.list(storePrefix.locks)) {
      const locks = (JSON.parse(v) as unknown[]).map((l, i) => decodeLock(l, `locks[${i}]`));
      const { id, rest } = keyParts(k);
      this.locksByRoot.set(lockId(id, rest ?? ""), locks);
    }
    for (const [, v] of await this.store.list(storePrefix.invoice)) {
      const inv = decodeInvoice(v);
      this.invoices.set(inv.hashlock, inv);
    }
    for (const [, v] of await this.store.list(storePrefix.route)) {
      const r = decodeRoute(v);
      this.routes.set(r.hashlock, r);
    }
    await this.cursor.load();
    for (const chan of this.chans.values()) {
      chan.pending.sort((a, b) => (a.version < b.version ? -1 : 1));
      chan.voided.sort((a, b) => (a.version < b.version ? -1 : 1));
      if (chan.pending.length > 0 || chan.requests.size > 0) chan.needsSync = true;
      chan.towerDirty = chan.full !== undefined;
    }
  }

  private storeFailed(err: unknown): void {
    if (this.stopped) return; // writes racing the close of the store
    this.log.fatal({ err: errText(err) }, "the store failed: the client stops taking updates");
    for (const chan of this.chans.values())
      this.engine.rejectInFlight(chan, refused("STORE_FAILED", "the store failed"));
  }
}

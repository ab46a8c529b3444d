import { Wallet, getAddress, type Provider } from "ethers";
import pino, { type Logger } from "pino";
import type { LevelStore } from "../common/store";
import { Adjudicator, ChainClock } from "./chain";
import { ClientChannel, type ChannelView } from "./client-channel";
import { ClientContext, type ClientServices } from "./client-context";
import { Closing } from "./closing";
import { UpdateEngine, type Committed, type EngineHost } from "./engine";
import { ChannelFunding, type OpenChannelOptions, type ResizeResult } from "./funding";
import { LockBook, type RouteResult } from "./lock-book";
import { onPeerRequest } from "./messages";
import { Payments, type RoutePaymentOptions } from "./payments";
import { checkPolicy, DEFAULT_POLICY, type ChannelPolicy } from "./policy";
import {
  decodeChannel,
  openChannelStore,
  storePrefix,
  type InvoiceRecord,
  type PendingResize,
  type RouteRecord,
} from "./records";
import { errText, refused } from "./errors";
import type { LockFate } from "./settlement";
import { initHashing } from "./state";
import { StateSigner } from "./state-signer";
import { TowerLink } from "./tower-link";
import { PeerTransport } from "./transport";
import type { SignedSnapshot } from "./updates";

export { ChannelError } from "./errors";
export { DEFAULT_POLICY, type ChannelPolicy } from "./policy";
export type { ChannelView, Committed, OpenChannelOptions, ResizeResult, RouteResult, RoutePaymentOptions };

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
 * This class is the façade: the life cycle (start, stop, the timers) and the
 * public API. Each concept has a file of its own: ./funding.ts (opening,
 * funding, resizing), ./payments.ts and ./lock-book.ts (invoices, routes,
 * locks), ./closing.ts (close, disputes, conclusion, the chain's events),
 * ./tower-link.ts (the watchtower); ./client-context.ts is what they share.
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

/**
 * A channel client: opens channels, pays, routes, resizes, closes, disputes; keeps everything in its store and
 * resumes from it after a restart.
 */
export class ChannelClient {
  readonly address: string;
  readonly chainId: bigint;
  readonly adjudicatorAddress: string;
  readonly policy: ChannelPolicy;
  private readonly services: ClientServices;
  private readonly ctx: ClientContext;
  private readonly engine: UpdateEngine<ClientChannel>;
  private readonly book: LockBook;
  private readonly tower: TowerLink;
  private readonly closing: Closing;
  private readonly payments: Payments;
  private readonly funding: ChannelFunding;
  private timers: NodeJS.Timeout[] = [];

  private constructor(
    private readonly config: ChannelClientConfig,
    store: LevelStore,
  ) {
    const wallet = new Wallet(config.privateKey, config.provider);
    this.address = wallet.address;
    this.chainId = config.chainId;
    this.adjudicatorAddress = getAddress(config.adjudicator);
    this.policy = { ...DEFAULT_POLICY, ...config.policy };
    checkPolicy(this.policy, config.confirmations ?? 0);
    const log = config.logger ?? pino({ level: "silent" });
    const transport = new PeerTransport({
      privateKey: config.privateKey,
      host: config.host,
      port: config.port,
      logger: log,
    });
    this.services = {
      address: this.address,
      key: Buffer.from(wallet.privateKey.slice(2), "hex"),
      chainId: this.chainId,
      adjudicatorAddress: this.adjudicatorAddress,
      policy: this.policy,
      provider: config.provider,
      store,
      log,
      transport,
      adjudicator: new Adjudicator(this.adjudicatorAddress, wallet, config.provider),
      clock: new ChainClock(),
    };
    this.ctx = new ClientContext(
      this.services,
      () => this.reconcile(),
      () => this.engine,
    );
    this.book = new LockBook(this.ctx);
    this.tower = new TowerLink(this.ctx);
    this.closing = new Closing(this.ctx, this.book, config.confirmations ?? 0);
    this.payments = new Payments(this.ctx, this.book, this.tower, this.closing);
    this.funding = new ChannelFunding(this.ctx, this.tower);
    this.engine = new UpdateEngine<ClientChannel>(
      {
        store,
        transport,
        signer: new StateSigner(this.services.key, this.chainId, this.adjudicatorAddress),
        log,
        maxInFlight: this.policy.maxInFlight,
        maxVersionStep: this.policy.maxVersionStep,
        channels: this.ctx.chans,
      },
      this.engineHost(),
    );
  }

  /** What the update protocol asks of this client, answered by the part that owns it. */
  private engineHost(): EngineHost<ClientChannel> {
    const { book, funding, closing, payments, ctx } = this;
    return {
      chain: {
        now: () => this.services.clock.now(),
        revealedAt: (h) => book.revealed.get(h) ?? 0n,
        refreshRevealed: (h) => book.refreshRevealed(h),
      },
      records: {
        signing: (chan, update, next, ops) => book.signing(chan, update, next, ops),
        effects: (chan, update, memo, base, next, ops) => {
          const stored = book.effects(chan, update, memo, base, next, ops);
          return update.kind === "final" ? closing.finalSigned(chan, ops) : stored;
        },
        adopted: (chan, signed, ops) => book.recordLocks(chan.id, signed, ops),
      },
      lifecycle: {
        activate: (chan) => funding.checkFunding(chan),
        resizeSigned: (chan, resize) => funding.resizeSigned(chan, resize),
        settleResize: (chan) => funding.settleResize(chan),
        committed: (chan) => {
          chan.towerDirty = true;
          ctx.kick();
        },
        setPhase: (chan, phase) => ctx.setPhase(chan, phase),
      },
      policyRefusal: (chan, update) => payments.policyRefusal(chan, update),
    };
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
    const { transport, clock } = client.services;
    try {
      await client.load();
      onPeerRequest(transport, "ch.open", (from, params) => client.funding.onOpenRequest(from, params));
      client.engine.serve();
      await transport.start();
      for (const [address, url] of Object.entries(config.peers ?? {})) transport.setPeerUrl(address, url);
      for (const chan of client.ctx.chans.values()) {
        if (transport.peerUrl(chan.rec.peer) === undefined) continue;
        transport.connect(chan.rec.peer).catch(() => undefined);
      }
      if (config.watchtower) client.tower.connect(config.watchtower.url, config.watchtower.address);
      await clock.refresh(config.provider);
      await client.closing.cursor.init(config.provider, config.startBlock);
      const poll = config.pollMs ?? 500;
      client.timers.push(setInterval(() => client.tick(), poll));
      client.timers.push(setInterval(() => client.engine.syncDue(), 250));
      client.timers.push(setInterval(() => void client.tower.flush(), client.policy.towerFlushMs));
      for (const chan of client.ctx.chans.values()) if (chan.resize) client.funding.resizeSigned(chan, chan.resize);
      client.tick();
    } catch (err) {
      await transport.stop();
      await store.close();
      throw err;
    }
    return client;
  }

  /** Stops the timers and the transport, pushes the latest states to the watchtower, closes the store. */
  async stop(): Promise<void> {
    if (this.ctx.stopped) return;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.tower.flush().catch(() => undefined);
    this.ctx.stopped = true;
    this.engine.stop();
    await this.services.transport.stop();
    await this.services.store.close();
    const err = refused("CLIENT_STOPPED", "the client stopped");
    for (const chan of this.ctx.chans.values()) {
      chan.rejectAll(err);
      chan.failOpen(err);
    }
  }

  /** Reads the channels back from the store; each part then reads its own records. */
  private async load(): Promise<void> {
    for (const [, v] of await this.services.store.list(storePrefix.channel)) {
      const rec = decodeChannel(v);
      this.ctx.chans.set(rec.id, new ClientChannel(rec));
    }
    // The update protocol's records: latest states, pending and voided proposals, requests.
    await this.engine.restore();
    await this.book.load();
    await this.closing.cursor.load();
    for (const chan of this.ctx.chans.values()) chan.towerDirty = chan.full !== undefined;
  }

  /** The WebSocket URL peers reach this client at (when it listens). */
  get url(): string | undefined {
    return this.services.transport.url;
  }

  /** The store's flush statistics. */
  get storeStats(): { flushes: number; ops: number } {
    return this.services.store.stats;
  }

  /** Remembers where a peer listens. */
  addPeer(address: string, url: string): void {
    this.services.transport.setPeerUrl(address, url);
  }

  /** The chain's current time as this client estimates it. */
  now(): bigint {
    return this.services.clock.now();
  }

  /** The watchtower's address, once connected. */
  get watchtower(): string | undefined {
    return this.tower.address;
  }

  /** Sends the latest state of every channel that changed to the watchtower. */
  flushTower(): Promise<void> {
    return this.tower.flush();
  }

  // ---------------------------------------------------------------------------
  // Views

  channels(): ChannelView[] {
    return [...this.ctx.chans.values()].map((c) => c.view());
  }

  channel(channelId: string): ChannelView {
    return this.ctx.chan(channelId).view();
  }

  /** The latest state signed by both participants and in force (undefined before the first update). */
  signedState(channelId: string): SignedSnapshot | undefined {
    return this.ctx.chan(channelId).full;
  }

  /** Whether an authenticated connection to the peer is up. */
  isPeerConnected(address: string): boolean {
    return this.services.transport.isConnected(address);
  }

  /** The co-signed top-up or withdrawal of `channelId` waiting for the chain, with what executes it. */
  pendingResize(channelId: string): PendingResize | undefined {
    return this.ctx.chan(channelId).resize;
  }

  /** The fate of a lock this client offered in `channelId` (./settlement.ts), as far as it knows now. */
  lockFate(channelId: string, hashlock: string): LockFate | undefined {
    return this.book.lockFate(channelId, hashlock);
  }

  /** The open channel with `peer` that can send `amount` (the one with the most to send). */
  channelWith(peer: string, amount = 0n): ChannelView | undefined {
    return this.ctx.channelWith(peer, amount)?.view();
  }

  /** An invoice this client created. */
  invoice(hashlock: string): InvoiceRecord | undefined {
    return this.book.invoice(hashlock);
  }

  /** A route payment sent by this client. */
  routePayment(hashlock: string): RouteRecord | undefined {
    return this.book.routePayment(hashlock);
  }

  // ---------------------------------------------------------------------------
  // Actions: each is documented where it is implemented.

  /** Opens a channel with `peer` (./funding.ts); this client leads it. */
  openChannel(opts: OpenChannelOptions): Promise<ChannelView> {
    return this.funding.openChannel(opts);
  }

  /** Pays `amount` to the peer; resolves once both participants stored the new state. */
  pay(channelId: string, amount: bigint): Promise<Committed> {
    return this.payments.pay(channelId, amount);
  }

  /** Creates an invoice: a secret only this client knows, whose hashlock a payer locks `amount` to. */
  createInvoice(amount: bigint, secret?: string): Promise<{ hashlock: string; amount: bigint }> {
    return this.book.createInvoice(amount, secret);
  }

  /** Pays the last address of a route through the others (./payments.ts); resolves once the outcome is certain. */
  payRoute(opts: RoutePaymentOptions): Promise<RouteResult> {
    return this.payments.payRoute(opts);
  }

  /** Tops the channel up with `amount` from this client (./funding.ts). */
  topUp(channelId: string, amount: bigint): Promise<ResizeResult> {
    return this.funding.topUp(channelId, amount);
  }

  /** Takes `amount` of this client's balance out of the open channel (./funding.ts). */
  withdrawPartially(channelId: string, amount: bigint): Promise<ResizeResult> {
    return this.funding.withdrawPartially(channelId, amount);
  }

  /** Closes the channel cooperatively (./closing.ts); resolves with the close transaction's hash. */
  close(channelId: string): Promise<string> {
    return this.closing.close(channelId);
  }

  /** Starts a dispute with the latest state signed by both (./closing.ts). */
  dispute(channelId: string): Promise<string> {
    return this.closing.dispute(channelId);
  }

  /** Fixes the outcome of a dispute once its deadline passed. */
  conclude(channelId: string): Promise<string> {
    return this.closing.conclude(channelId);
  }

  /** Collects this client's share of a concluded channel; returns what was withdrawn. */
  withdraw(channelId: string): Promise<bigint> {
    return this.closing.withdraw(channelId);
  }

  // ---------------------------------------------------------------------------
  // Reconciliation: what each lock and each channel needs next

  private tick(): void {
    if (this.ctx.stopped) return;
    void this.closing.pollChain().then(() => this.reconcile());
  }

  private reconcile(): void {
    if (this.ctx.stopped) return;
    const log = this.services.log;
    for (const chan of this.ctx.chans.values()) {
      try {
        this.reconcileChannel(chan);
      } catch (err) {
        log.warn({ channelId: chan.id, err: errText(err) }, "reconcile failed");
      }
    }
    try {
      this.payments.reconcileRoutes();
    } catch (err) {
      log.warn({ err: errText(err) }, "reconciling routes failed");
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
          this.funding
            .checkFunding(chan)
            .catch((err: unknown) =>
              this.services.log.warn({ channelId: chan.id, err: errText(err) }, "funding check failed"),
            )
            .finally(() => {
              chan.chainBusy = false;
            });
        }
        return;
      case "open":
        this.payments.reconcileLocks(chan);
        return;
      case "closing":
        void this.closing.reconcileClosing(chan);
        return;
      case "disputed":
      case "concluded":
        // Off-chain settling is over; the chain resolves the locks (reveals happen in reconcileDispute). The
        // locks this channel forwarded elsewhere follow their fate from the open channels they came in by.
        void this.closing.reconcileDispute(chan);
        return;
      default:
        return;
    }
  }
}

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
import type { LevelStore } from "../common/store";
import { onPeerRequest } from "./messages";
import {
  decodeParamsRecord,
  decodeSignedRecord,
  encodeParamsRecord,
  encodeSignedRecord,
  keyParts,
  openChannelStore,
  storeKey,
  storePrefix,
} from "./records";
import {
  channelId as computeChannelId,
  hashlockOf,
  initHashing,
  stateCommitsToLocks,
  verifyStateSignatures,
  type ChannelParams,
} from "./state";
import { PeerTransport } from "./transport";
import type { SignedSnapshot } from "./updates";
import { ChannelError, type ChannelErrorCode } from "./errors";

/*
 * The watchtower: clients send it the states they and
 * their peers signed (`wt.state`), and the secrets of the locks they are owed
 * (`wt.secret`). It follows the adjudicator from its logs alone. When a state
 * older than the newest it holds is registered, it refutes it before the
 * deadline (anyone may refute, and the deadline does not move). When a lock of
 * the newest state is about to expire, or the channel is disputed (no more
 * settling off chain), it reveals the lock's secret on chain so the receiver
 * is paid whatever happens. It needs no trust from its clients: every state it
 * takes is checked against both participants' signatures.
 */

export { towerStatusJson } from "./messages";

export interface WatchtowerConfig {
  /** The tower's key: its identity on the peer transport and the account that pays for refutations. */
  privateKey: string;
  dataDir: string;
  provider: Provider;
  adjudicator: string;
  chainId: bigint;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port to listen on (0: any free port). */
  port: number;
  /** How often the chain is polled (default 500 ms). */
  pollMs?: number;
  confirmations?: number;
  /** First block to read on a fresh store (default: the current block). */
  startBlock?: number;
  /** Reveal a held secret this long before its lock expires (default 120 s). */
  revealMarginSeconds?: bigint;
  logger?: Logger;
}

/** What the tower knows of one channel. */
export interface TowerChannelStatus {
  channelId: string;
  params: ChannelParams;
  /** The newest state held (0 when none). */
  version: bigint;
  /** The registered state while disputed. */
  registered?: { version: bigint; deadline: bigint };
  /** Whether the channel is concluded or closed (the tower no longer acts on it). */
  done: boolean;
  refutations: number;
}

class Watched {
  newest: SignedSnapshot | undefined;
  registered: { version: bigint; deadline: bigint } | undefined;
  done = false;
  refutations = 0;
  acting = false;
  constructor(
    readonly id: string,
    readonly params: ChannelParams,
  ) {}
}

function refusal(code: ChannelErrorCode, message: string): ChannelError {
  return new ChannelError(code, message);
}

/** A watchtower service with a start/stop life cycle. */
export class Watchtower {
  readonly address: string;
  private readonly log: Logger;
  private readonly transport: PeerTransport;
  private readonly adjudicator: Adjudicator;
  private readonly reader: AdjudicatorLogReader;
  private readonly clock = new ChainClock();
  private readonly watched = new Map<string, Watched>();
  private readonly secrets = new Map<string, string>();
  private readonly revealed = new Map<string, bigint>();
  private readonly revealing = new Set<string>();
  private readonly cursor: ChainCursor;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private stopped = false;
  /** Counters since start. */
  readonly stats = { statesReceived: 0, refutations: 0, reveals: 0 };

  private constructor(
    private readonly config: WatchtowerConfig,
    private readonly store: LevelStore,
  ) {
    const wallet = new Wallet(config.privateKey, config.provider);
    this.address = wallet.address;
    this.log = config.logger ?? pino({ level: "silent" });
    this.transport = new PeerTransport({
      privateKey: config.privateKey,
      host: config.host,
      port: config.port,
      logger: this.log,
    });
    this.adjudicator = new Adjudicator(getAddress(config.adjudicator), wallet, config.provider);
    this.reader = new AdjudicatorLogReader(config.provider, getAddress(config.adjudicator), config.confirmations ?? 0);
    this.cursor = new ChainCursor(store);
  }

  static async start(config: WatchtowerConfig): Promise<Watchtower> {
    await initHashing();
    const store = await openChannelStore(config.dataDir);
    const tower = new Watchtower(config, store);
    try {
      await tower.load();
      tower.serve();
      await tower.transport.start();
      await tower.clock.refresh(config.provider);
      await tower.cursor.init(config.provider, config.startBlock);
      for (const w of tower.watched.values()) if (!w.done) await tower.checkOnchain(w);
      tower.timer = setInterval(() => void tower.poll(), config.pollMs ?? 500);
      void tower.poll();
    } catch (err) {
      await tower.transport.stop();
      await store.close();
      throw err;
    }
    return tower;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.transport.stop();
    await this.store.close();
  }

  /** The WebSocket URL clients connect to. */
  get url(): string {
    return this.transport.url as string;
  }

  /** The last block whose events the tower has handled (and whose deadlines it has checked). */
  get syncedBlock(): number {
    return this.cursor.block;
  }

  /** How many secrets the tower has decided to reveal so far (sent or mined). */
  get revealsStarted(): number {
    return this.revealing.size;
  }

  /** What the transport's limits did since start (connections cut off, refused, throttled). */
  get transportStats(): PeerTransport["stats"] {
    return this.transport.stats;
  }

  // ---------------------------------------------------------------------------
  // What clients send

  /** Starts watching a channel. */
  async watch(params: ChannelParams): Promise<string> {
    const id = computeChannelId(params, this.config.chainId, this.adjudicator.address);
    let w = this.watched.get(id);
    if (!w) {
      w = new Watched(id, params);
      this.watched.set(id, w);
      await this.store.write([{ type: "put", key: storeKey.watchedChannel(id), value: encodeParamsRecord(params) }]);
      this.log.info({ channelId: id }, "watching a channel");
      await this.checkOnchain(w);
    }
    return id;
  }

  /** Takes a state signed by both participants if it is newer than the one held; returns the version held. */
  async submitState(signed: SignedSnapshot): Promise<bigint> {
    const w = this.watched.get(signed.state.channelId);
    if (!w) throw refusal("NOT_WATCHED", `channel ${signed.state.channelId} is not watched: send wt.watch first`);
    if (
      !stateCommitsToLocks(signed.state, signed.locks) ||
      !verifyStateSignatures(
        signed.state,
        signed.sigs,
        w.params.participants,
        this.config.chainId,
        this.adjudicator.address,
      )
    ) {
      throw refusal("INVALID_SIGNATURE", "the state is not signed by both participants");
    }
    this.stats.statesReceived += 1;
    if (w.newest && signed.state.version <= w.newest.state.version) return w.newest.state.version;
    w.newest = signed;
    await this.store.write([{ type: "put", key: storeKey.watchedState(w.id), value: encodeSignedRecord(signed) }]);
    if (w.registered && w.registered.version < signed.state.version) void this.act(w);
    return signed.state.version;
  }

  /** Keeps a secret to reveal on chain if a lock it opens is at risk; returns its hashlock. */
  async submitSecret(secret: string): Promise<string> {
    const h = hashlockOf(secret);
    if (!this.secrets.has(h)) {
      this.secrets.set(h, secret);
      await this.store.write([{ type: "put", key: storeKey.secret(h), value: secret }]);
    }
    return h;
  }

  /** Whether the tower holds the secret of `hashlock`. */
  holdsSecret(hashlock: string): boolean {
    return this.secrets.has(hashlock.toLowerCase());
  }

  status(channelId: string): TowerChannelStatus | undefined {
    const w = this.watched.get(channelId.toLowerCase());
    return w ? this.view(w) : undefined;
  }

  statuses(): TowerChannelStatus[] {
    return [...this.watched.values()].map((w) => this.view(w));
  }

  private view(w: Watched): TowerChannelStatus {
    return {
      channelId: w.id,
      params: w.params,
      version: w.newest?.state.version ?? 0n,
      ...(w.registered ? { registered: { ...w.registered } } : {}),
      done: w.done,
      refutations: w.refutations,
    };
  }

  /** Serves what clients send (`wt.*`, ./messages.ts): any peer may use the tower, so `from` is not checked. */
  private serve(): void {
    onPeerRequest(this.transport, "wt.watch", (_from, params) => this.watch(params));
    onPeerRequest(this.transport, "wt.state", (_from, signed) => this.submitState(signed));
    onPeerRequest(this.transport, "wt.secret", (_from, secret) => this.submitSecret(secret));
    onPeerRequest(this.transport, "wt.status", (_from, id) => {
      const s = this.status(id);
      if (!s) throw refusal("NOT_WATCHED", `channel ${id} is not watched`);
      return s;
    });
  }

  // ---------------------------------------------------------------------------
  // The chain

  private async poll(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      const { events, toBlock } = await this.reader.read(this.cursor.block + 1, this.clock);
      for (const ev of events) this.onEvent(ev);
      // Deadlines first, then the cursor: once `syncedBlock` shows a block, its deadlines were checked.
      this.defendLocks();
      await this.cursor.advance(toBlock);
    } catch (err) {
      if (!this.stopped) this.log.warn({ err: (err as Error).message }, "reading the chain failed");
    } finally {
      this.polling = false;
    }
  }

  private onEvent(ev: AdjudicatorEvent): void {
    if (ev.name === "SecretRevealed") {
      if (!this.revealed.has(ev.hashlock)) this.revealed.set(ev.hashlock, ev.revealedAt);
      return;
    }
    const w = this.watched.get(ev.channelId);
    if (!w) return;
    switch (ev.name) {
      case "ChallengeRegistered":
      case "ChallengeRefuted":
        w.registered = { version: ev.state.version, deadline: ev.deadline };
        this.log.info(
          { channelId: w.id, registered: String(ev.state.version), held: String(w.newest?.state.version ?? 0n) },
          ev.name === "ChallengeRegistered" ? "a dispute started" : "a dispute moved on",
        );
        void this.act(w);
        return;
      case "ChannelConcluded":
      case "ChannelClosed":
        w.done = true;
        w.registered = undefined;
        return;
      default:
        return;
    }
  }

  /** Reads a channel's on-chain status (for disputes registered before the tower saw them). */
  private async checkOnchain(w: Watched): Promise<void> {
    try {
      const info = await this.adjudicator.getChannel(w.id);
      if (info.status === ChannelStatus.Disputed) {
        w.registered = { version: info.version, deadline: info.deadline };
        void this.act(w);
      } else if (info.status === ChannelStatus.Concluded || info.status === ChannelStatus.Closed) {
        w.done = true;
      }
    } catch (err) {
      this.log.warn({ channelId: w.id, err: (err as Error).message }, "cannot read the channel");
    }
  }

  /** Refutes a registered state older than the newest held, while the challenge period runs. */
  private async act(w: Watched): Promise<void> {
    if (w.acting || w.done || this.stopped) return;
    const registered = w.registered;
    const newest = w.newest;
    if (!registered || !newest || newest.state.version <= registered.version) return;
    if (this.clock.now() >= registered.deadline) {
      this.log.error({ channelId: w.id, deadline: String(registered.deadline) }, "too late to refute");
      return;
    }
    w.acting = true;
    try {
      const receipt = await this.adjudicator.refute(w.params, newest.state, newest.sigs, newest.locks);
      w.refutations += 1;
      this.stats.refutations += 1;
      w.registered = { version: newest.state.version, deadline: registered.deadline };
      this.log.info(
        { channelId: w.id, stale: String(registered.version), version: String(newest.state.version), tx: receipt.hash },
        "refuted a stale state",
      );
    } catch (err) {
      this.log.warn({ channelId: w.id, err: (err as Error).message }, "refutation failed; rechecking");
      await this.checkOnchain(w);
    } finally {
      w.acting = false;
    }
    // A newer state may have arrived meanwhile.
    if (w.registered && w.newest && w.newest.state.version > w.registered.version) void this.act(w);
    this.defendLocks();
  }

  /** Reveals held secrets of the newest states' locks that are disputed or about to expire. */
  private defendLocks(): void {
    const now = this.clock.now();
    const margin = this.config.revealMarginSeconds ?? 120n;
    for (const w of this.watched.values()) {
      if (w.done || !w.newest) continue;
      for (const lock of w.newest.locks) {
        const secret = this.secrets.get(lock.hashlock);
        if (!secret || this.revealed.has(lock.hashlock) || this.revealing.has(lock.hashlock)) continue;
        if (now > lock.expiry) continue;
        if (w.registered === undefined && now < lock.expiry - margin) continue;
        this.reveal(secret, lock.hashlock);
      }
    }
  }

  private reveal(secret: string, hashlock: string): void {
    this.revealing.add(hashlock);
    this.adjudicator.revealSecret(secret).then(
      (receipt) => {
        this.stats.reveals += 1;
        this.log.info({ hashlock, tx: receipt.hash }, "revealed a secret to defend a lock");
      },
      (err: unknown) => {
        this.revealing.delete(hashlock);
        this.log.warn({ hashlock, err: (err as Error).message }, "could not reveal a secret");
      },
    );
  }

  private async load(): Promise<void> {
    for (const [k, v] of await this.store.list(storePrefix.watchedChannel)) {
      const id = keyParts(k).id;
      this.watched.set(id, new Watched(id, decodeParamsRecord(v)));
    }
    for (const [k, v] of await this.store.list(storePrefix.watchedState)) {
      const w = this.watched.get(keyParts(k).id);
      if (w) w.newest = decodeSignedRecord(v);
    }
    for (const [k, v] of await this.store.list(storePrefix.secret)) this.secrets.set(keyParts(k).id, v);
    await this.cursor.load();
  }
}

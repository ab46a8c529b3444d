/**
 * A hostile follower for the settlement tests (no tests of its own): a bare peer transport that speaks the update
 * protocol by hand with a participant's key. It countersigns every proposal it is sent (so it holds each state
 * signed by both), then answers as its behaviour says: honestly, with a refusal, or not at all. It never shows its
 * latest countersigned state in `ch.sync`, so the victim cannot learn it from there either.
 */
import { BilayerError, type BilayerErrorCode } from "../../src/protocol/errors";
import { randomBytes } from "node:crypto";
import { hashlockOf, signStateWithKey, type CompactSignature } from "../../src/channels/state";
import { PeerTransport } from "../../src/channels/transport";
import { applyUpdate, type SignedSnapshot, type Snapshot } from "../../src/channels/updates";
import {
  asObject,
  asUint,
  decodeSig,
  decodeUpdate,
  encodeSig,
  encodeSigned,
  encodeUpdate,
} from "../../src/channels/wire";

export type HostileBehaviour = "honest" | "refuse" | "silent";

export class HostileFollower {
  /** Every state it holds signed by both, by version. */
  readonly held = new Map<bigint, SignedSnapshot>();
  /** Every update it was proposed, in order (the no-ops too). */
  readonly proposals: string[] = [];
  behaviour: HostileBehaviour;
  /** What it answers `ch.sync` with: the state before the attack. */
  private shown: SignedSnapshot | undefined;

  private constructor(
    readonly transport: PeerTransport,
    private readonly key: string,
    private readonly me: 0 | 1,
    private readonly chainId: bigint,
    private readonly adjudicator: string,
    private base: Snapshot,
    behaviour: HostileBehaviour,
    private readonly victim: string,
  ) {
    this.behaviour = behaviour;
    this.shown = "sigs" in base ? (base as SignedSnapshot) : undefined;
  }

  /**
   * Starts listening as participant `me` of a channel whose latest state it holds is `base`, and dials `victim`
   * (the channel's leader) at `url`.
   */
  static async start(opts: {
    key: string;
    me: 0 | 1;
    chainId: bigint;
    adjudicator: string;
    base: Snapshot;
    behaviour: HostileBehaviour;
    victim: { address: string; url: string };
  }): Promise<HostileFollower> {
    // It listens too, so a victim that restarts (on a new port) can dial it back.
    const transport = new PeerTransport({ privateKey: opts.key, port: 0 });
    const peer = new HostileFollower(
      transport,
      opts.key,
      opts.me,
      opts.chainId,
      opts.adjudicator,
      opts.base,
      opts.behaviour,
      opts.victim.address,
    );
    transport.on("ch.sync", () => ({ signed: peer.shown ? encodeSigned(peer.shown) : null }));
    transport.on("ch.propose", (_from, raw) => peer.onPropose(raw));
    await transport.start();
    transport.setPeerUrl(opts.victim.address, opts.victim.url);
    await transport.dial(opts.victim.url, opts.victim.address);
    return peer;
  }

  /**
   * Asks the leader to settle the lock of `secret` to it (the claim a payee makes off chain). Whatever the leader
   * then proposes is answered by the behaviour, so a refusing follower ends up holding the payout countersigned.
   */
  claim(secret: string): Promise<"committed" | "refused"> {
    const update = { kind: "settle" as const, hashlock: hashlockOf(secret), secret };
    return this.transport
      .request(this.victim, "ch.request", {
        channelId: this.base.state.channelId,
        ref: randomBytes(16).toString("hex"),
        update: encodeUpdate(update),
      })
      .then(
        () => "committed" as const,
        () => "refused" as const,
      );
  }

  /** Where it listens. */
  get url(): string {
    return this.transport.url as string;
  }

  /** The held states that hold a lock with `hashlock`. */
  holding(hashlock: string): SignedSnapshot[] {
    return [...this.held.values()].filter((s) => s.locks.some((l) => l.hashlock === hashlock));
  }

  /** The highest version it holds signed by both. */
  latest(): SignedSnapshot | undefined {
    let best: SignedSnapshot | undefined;
    for (const s of this.held.values()) if (!best || s.state.version > best.state.version) best = s;
    return best;
  }

  private onPropose(raw: unknown): unknown {
    const o = asObject(raw, "params");
    const version = asUint(o.version, "version");
    const update = decodeUpdate(o.update);
    this.proposals.push(update.kind);
    const known = this.held.get(version);
    let signed = known;
    if (!signed) {
      const next = applyUpdate(this.base, update, version);
      const theirs = decodeSig(o.sig);
      const mine: CompactSignature = signStateWithKey(this.key, next.state, this.chainId, this.adjudicator);
      signed = { ...next, sigs: this.me === 0 ? [mine, theirs] : [theirs, mine] };
      this.held.set(version, signed);
    }
    switch (this.behaviour) {
      case "honest":
        this.base = signed;
        this.shown = signed;
        return { sig: encodeSig(signed.sigs[this.me]) };
      case "refuse":
        // The lie: it keeps the state it just countersigned and says it did not.
        throw new BilayerError("REFUSED" as BilayerErrorCode, "no thanks"); // a code no honest client registers;
      case "silent":
        return new Promise(() => undefined);
    }
  }

  async stop(): Promise<void> {
    await this.transport.stop();
  }
}

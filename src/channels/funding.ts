import { randomBytes } from "node:crypto";
import { getAddress } from "ethers";
import type { Logger } from "pino";
import { ChannelStatus } from "./chain";
import { ClientChannel, type ChannelView } from "./client-channel";
import type { ClientContext, ClientServices } from "./client-context";
import { peerRequest, type FundingConsent, type OpenResult, type ParamsOf } from "./messages";
import type { PendingResize } from "./records";
import { errText, refused } from "./errors";
import { resizeMessage } from "./resize";
import {
  channelId as computeChannelId,
  signFundingWithKey,
  verifyFundingSignature,
  ZERO_ADDRESS,
  type ChannelParams,
  type CompactSignature,
  type Funding,
} from "./state";
import type { TowerLink } from "./tower-link";
import type { ResizeUpdate } from "./updates";

/*
 * The money going into and out of a channel while it is open: opening it with a peer (`ch.open`, then the
 * deposits on chain, or both at once with the peer's signed consent in a token channel), accepting a peer's, and
 * top-ups and partial withdrawals — signed by both as a resize, executed on chain by the participant it is for.
 */

/** The outcome of a top-up or partial withdrawal. */
export interface ResizeResult {
  channelId: string;
  /** The version of the resized state, now the channel's version floor on chain. */
  version: bigint;
  txHash: string;
}

/** A channel to open: with whom, the deposits, and optionally its asset, challenge duration and salt. */
export interface OpenChannelOptions {
  peer: string;
  deposit: bigint;
  peerDeposit?: bigint;
  asset?: string;
  challengeDuration?: bigint;
  salt?: string;
  timeoutMs?: number;
}

/** The peer's consent to `openFunded`, checked: for this channel, by the peer, for the deposit agreed. */
function checkConsent(
  consent: FundingConsent,
  id: string,
  amount: bigint,
): { funding: Funding; sig: CompactSignature } {
  const { funding, sig } = consent;
  if (funding.channelId !== id || funding.amount !== amount || funding.participant !== 1) {
    throw refused("INVALID_FUNDING", "the peer's funding consent is not for this channel and deposit");
  }
  return { funding: { ...funding, participant: 1 }, sig };
}

/** Opening, funding and resizing the channels of one client. */
export class ChannelFunding {
  private readonly services: ClientServices;

  constructor(
    private readonly ctx: ClientContext,
    private readonly tower: TowerLink,
  ) {
    this.services = ctx.services;
  }

  private get log(): Logger {
    return this.services.log;
  }

  /**
   * Opens a channel with `peer` (which must accept it): deposits `deposit` on chain and waits until the peer has
   * deposited `peerDeposit`. This client is participant 0 and leads the channel. In a token channel the peer's
   * deposit is pulled in the same transaction with its signed consent (`openFunded`), so the channel is open at once.
   */
  async openChannel(opts: OpenChannelOptions): Promise<ChannelView> {
    const peer = getAddress(opts.peer);
    const deposits: [bigint, bigint] = [opts.deposit, opts.peerDeposit ?? 0n];
    if (deposits[0] < 0n || deposits[1] < 0n || deposits[0] + deposits[1] === 0n) {
      throw refused("INVALID_DEPOSITS", "a channel needs a positive total deposit");
    }
    const challengeDuration = opts.challengeDuration ?? this.services.policy.defaultChallengeDuration;
    const p = this.services.policy;
    if (challengeDuration < p.minChallengeDuration || challengeDuration > p.maxChallengeDuration) {
      throw refused(
        "INVALID_CHALLENGE_DURATION",
        `challenge duration must be within ${p.minChallengeDuration}..${p.maxChallengeDuration} s`,
        { challengeDuration: challengeDuration.toString() },
      );
    }
    const params: ChannelParams = {
      participants: [this.services.address, peer],
      asset: getAddress(opts.asset ?? ZERO_ADDRESS),
      challengeDuration,
      salt: opts.salt ?? "0x" + randomBytes(32).toString("hex"),
    };
    const id = computeChannelId(params, this.services.chainId, this.services.adjudicatorAddress);
    if (this.ctx.chans.has(id)) throw refused("CHANNEL_EXISTS", `channel ${id} exists`);
    // The peer agrees first (and, in a token channel, consents to its deposit); the record is on disk before any
    // money moves.
    const answer = await peerRequest(this.services.transport, peer, "ch.open", { params, deposits });
    const consent = answer.funding === undefined ? undefined : checkConsent(answer.funding, id, deposits[1]);
    const chan = new ClientChannel({ id, params, me: 0, peer, deposits, phase: "opening" });
    await this.ctx.addChannel(chan);
    if (consent) await this.services.adjudicator.openFunded(params, deposits[0], consent.funding, consent.sig);
    else await this.services.adjudicator.open(params, deposits[0]);
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
    return chan.view();
  }

  /** `ch.open`: takes part in a channel the peer opens, within this client's policy, and consents to its deposit. */
  async onOpenRequest(from: string, { params, deposits }: ParamsOf<"ch.open">): Promise<OpenResult> {
    if (params.participants[0] !== from || params.participants[1] !== this.services.address) {
      throw refused("OPEN_REFUSED", "the opener must be participant 0 and this client participant 1");
    }
    const p = this.services.policy;
    if (params.challengeDuration < p.minChallengeDuration || params.challengeDuration > p.maxChallengeDuration) {
      throw refused(
        "OPEN_REFUSED",
        `challenge duration must be within ${p.minChallengeDuration}..${p.maxChallengeDuration} s`,
      );
    }
    if (deposits[1] > p.maxAutoFund) throw refused("OPEN_REFUSED", `this client deposits at most ${p.maxAutoFund}`);
    if (deposits[0] + deposits[1] === 0n) throw refused("OPEN_REFUSED", "a channel needs a positive total deposit");
    const id = computeChannelId(params, this.services.chainId, this.services.adjudicatorAddress);
    const existing = this.ctx.chans.get(id);
    if (existing && existing.rec.peer !== from) throw refused("CHANNEL_EXISTS", `channel ${id} exists`);
    if (!existing) {
      await this.ctx.addChannel(new ClientChannel({ id, params, me: 1, peer: from, deposits, phase: "opening" }));
      this.log.info({ channelId: id, peer: from, deposits: deposits.map(String) }, "accepted a channel");
    }
    if (params.asset === ZERO_ADDRESS || deposits[1] === 0n) return { channelId: id };
    // A token deposit is pulled by the opener's transaction: approve it, then consent to exactly this channel.
    await this.services.adjudicator.approve(params.asset, deposits[1]);
    const funding: Funding = {
      channelId: id,
      participant: 1,
      amount: deposits[1],
      expiry: this.services.clock.now() + p.fundingExpirySeconds,
    };
    const sig = signFundingWithKey(this.services.key, funding, this.services.chainId, this.services.adjudicatorAddress);
    if (
      !verifyFundingSignature(
        funding,
        sig,
        this.services.address,
        this.services.chainId,
        this.services.adjudicatorAddress,
      )
    ) {
      throw refused("INTERNAL", "could not sign the funding consent");
    }
    return { channelId: id, funding: { funding, sig } };
  }

  /** Reads the channel's funding on chain: funds this client's part when due, activates the channel when complete. */
  async checkFunding(chan: ClientChannel): Promise<void> {
    if (chan.rec.phase !== "opening") return;
    const info = await this.services.adjudicator.getChannel(chan.id);
    if (info.status === ChannelStatus.None) return;
    if (info.status !== ChannelStatus.Open || info.checkpointed) {
      await this.ctx.setPhase(chan, info.status === ChannelStatus.Disputed ? "disputed" : "concluded");
      return;
    }
    const me = chan.rec.me;
    if (chan.rec.deposits[me] > 0n && !info.funded[me] && !chan.funding) {
      chan.funding = true;
      try {
        await this.services.adjudicator.fund(chan.rec.params, chan.rec.deposits[me]);
        this.log.info({ channelId: chan.id, amount: String(chan.rec.deposits[me]) }, "funded channel");
      } finally {
        chan.funding = false;
      }
      return this.checkFunding(chan);
    }
    if (info.deposits[0] === chan.rec.deposits[0] && info.deposits[1] === chan.rec.deposits[1]) {
      await this.ctx.setPhase(chan, "open");
      this.log.info({ channelId: chan.id }, "channel is open");
      this.tower.watch(chan);
    }
  }

  /**
   * Tops the channel up with `amount` from this client: both sign the resized state and its `TopUp`, then this
   * client executes it on chain. Until then (or until it expires) nothing else is signed in the channel.
   */
  topUp(channelId: string, amount: bigint): Promise<ResizeResult> {
    const chan = this.ctx.chan(channelId);
    return this.resize(chan, { kind: "deposit", participant: chan.rec.me, amount, expiry: this.resizeExpiry() });
  }

  /** Takes `amount` of this client's balance out of the open channel, the same way. */
  withdrawPartially(channelId: string, amount: bigint): Promise<ResizeResult> {
    const chan = this.ctx.chan(channelId);
    return this.resize(chan, { kind: "withdraw", participant: chan.rec.me, amount, expiry: this.resizeExpiry() });
  }

  /** When a resize signed now expires unexecuted. */
  private resizeExpiry(): bigint {
    return this.services.clock.now() + this.services.policy.resizeExpirySeconds;
  }

  private async resize(chan: ClientChannel, update: ResizeUpdate): Promise<ResizeResult> {
    if (update.amount <= 0n) throw refused("INVALID_AMOUNT", `a ${update.kind} needs a positive amount`);
    if (chan.resize) throw refused("CHANNEL_BUSY", `channel ${chan.id} already has a resize waiting for the chain`);
    const committed = await this.ctx.engine.submit(chan, update);
    // Read again: the resize was stored while this waited (TypeScript keeps the narrowing across the await).
    const pending = chan.resize as PendingResize | undefined;
    if (!pending || pending.signed.state.version !== committed.version) {
      throw refused("RESIZE_SETTLED", "the resize settled before it could be executed");
    }
    const txHash = await this.executeResize(chan, pending);
    return { channelId: chan.id, version: committed.version, txHash };
  }

  /** A resize is signed by both: the participant it is for executes it on chain. */
  resizeSigned(chan: ClientChannel, resize: PendingResize): void {
    this.ctx.kick();
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
          ? await this.services.adjudicator.topUp(chan.rec.params, m.top, resize.resizeSigs, resize.update.amount)
          : await this.services.adjudicator.partialWithdraw(chan.rec.params, m.withdrawal, resize.resizeSigs);
      this.log.info({ channelId: chan.id, kind: resize.update.kind, tx: receipt.hash }, "resize executed on chain");
      if (chan.resize === resize) await this.ctx.engine.resizeSettled(chan, true);
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
  async settleResize(chan: ClientChannel): Promise<void> {
    const resize = chan.resize;
    if (!resize) return;
    const info = await this.services.adjudicator.getChannel(chan.id);
    const version = resize.signed.state.version;
    if (info.status === ChannelStatus.Open && info.checkpointed && info.version >= version) {
      await this.ctx.engine.resizeSettled(chan, true);
      return;
    }
    const head = await this.services.provider.getBlock("latest");
    if (info.status !== ChannelStatus.Open || (head && BigInt(head.timestamp) > resize.update.expiry)) {
      await this.ctx.engine.resizeSettled(chan, false);
    }
  }
}

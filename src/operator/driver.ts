/**
 * The L1 driver's loop and life cycle, and the order of its actions on each
 * pass. What it reads from L1 is in `driver-watch.ts`, the transactions it
 * sends in `driver-post.ts`, how it follows L1 where L1 parts from the local
 * sequence in `driver-rebase.ts`, and what they share in `driver-state.ts`.
 */
import { PollLoop } from "../common/poll-loop";
import { DriverPoster } from "./driver-post";
import { DriverRebase } from "./driver-rebase";
import { DriverState, type DriverOptions, type DriverView } from "./driver-state";
import { DriverWatch } from "./driver-watch";
import { L1SendBlockedError } from "./l1-tx";
import { ProposalChecker } from "./proposals";

export type { DeploymentChecks, DriverOptions, DriverView, ProvenLie } from "./driver-state";

/** Whether an error means the L1 node could not be reached (as opposed to an answer it gave). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: unknown };
  if (
    ["NETWORK_ERROR", "TIMEOUT", "SERVER_ERROR", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(
      String(e.code),
    )
  )
    return true;
  if (typeof e.message === "string" && /fetch failed|ECONNREFUSED|socket hang up|timeout/i.test(e.message)) return true;
  return e.cause !== undefined && e.cause !== err && isUnreachable(e.cause);
}

/**
 * The batcher and the proposer: one loop that takes the next L1 action in
 * order — append the oldest closed batch the inbox lacks, propose the step
 * roots of the oldest appended batch without a proposal, take back the bonds
 * of final proposals — one transaction at a time through {@link L1Sender}
 * (stored before it is sent, replaced when stuck, re-sent after a reorg).
 *
 * Every action is decided from what L1 says now (batch count, proposal
 * count), never from memory alone, so after a crash nothing is sent twice:
 * an action already on L1 is simply not needed any more, and one still in
 * flight is found in the sender's records and waited for.
 */
export class L1Driver {
  private readonly s: DriverState;
  private readonly loop: PollLoop;
  private readonly watch: DriverWatch;
  private readonly poster: DriverPoster;
  private readonly rebase: DriverRebase;
  private readonly checker: ProposalChecker;

  constructor(opts: DriverOptions) {
    this.s = new DriverState(opts, () => this.loop.stopping);
    this.watch = new DriverWatch(this.s);
    this.poster = new DriverPoster(this.s);
    this.rebase = new DriverRebase(this.s);
    this.loop = new PollLoop({ pollMs: opts.pollMs, step: () => this.round(), onError: (err) => this.failed(err) });
    this.checker = new ProposalChecker({
      stateCommitmentChain: opts.stateCommitmentChain,
      startBlock: opts.startBlock,
      ownRoots: async (k) => (k < this.s.view.appended ? (await opts.sequencer.closedBatch(k))?.stepRoots : undefined),
      // Malicious mode proposes other roots than its own on purpose: it must not prove its own lie.
      trusted: opts.proposalRoots ? opts.sender.address : undefined,
    });
  }

  get state(): DriverView {
    return {
      ...this.s.view,
      l1: { ...this.s.view.l1 },
      openProposals: [...this.s.view.openProposals],
      lies: [...this.s.view.lies],
      bondsHeld: this.s.o.bonds.list().length,
    };
  }

  /** Starts the loop. */
  async start(): Promise<void> {
    this.s.bond = await this.s.o.stateCommitmentChain.PROPOSER_BOND();
    // The batches in the snapshot were appended and confirmed when it was taken.
    this.s.verified = this.s.o.sequencer.snapshotBatches;
    await this.watch.check();
    await this.watch.refresh();
    this.reachable();
    this.loop.start();
  }

  /** Wakes the loop early (a batch was closed). */
  poke(): void {
    this.loop.poke();
  }

  /**
   * Stops after the current action, or after `boundMs` if that action hangs (a frozen L1 node): every L1 action
   * is stored before it is sent and decided again from L1 after a restart, so leaving one mid-way loses nothing.
   */
  async stop(boundMs = 5_000): Promise<void> {
    await this.loop.stop(boundMs);
  }

  private reachable(): void {
    this.s.view.l1 = { reachable: true, lastOkAt: Date.now(), error: undefined, errorSince: undefined };
  }

  /** One round of the loop: a step, and L1 reachable if it went through. */
  private async round(): Promise<boolean> {
    const busy = await this.step();
    this.reachable();
    return busy;
  }

  /** A round that threw: what the view and the log say about it. */
  private failed(err: unknown): void {
    const unreachable = isUnreachable(err);
    const message = unreachable
      ? `cannot reach L1: ${(err as Error).message.split("\n")[0].slice(0, 200)}`
      : err instanceof L1SendBlockedError
        ? `cannot pay L1: ${err.message}`
        : (err as Error).message.split("\n")[0].slice(0, 300);
    this.s.view.l1 = {
      reachable: !unreachable,
      lastOkAt: this.s.view.l1.lastOkAt,
      error: message,
      errorSince: this.s.view.l1.errorSince ?? Date.now(),
    };
    if (unreachable || err instanceof L1SendBlockedError) this.s.o.logger.warn({ reason: message }, "L1 driver waits");
    else this.s.o.logger.error({ err }, "L1 driver step failed; retrying");
  }

  /** One pass: returns true when it did something (and should run again at once). */
  private async step(): Promise<boolean> {
    const { sender, sequencer } = this.s.o;
    await this.watch.checkWhenDue();
    // On another chain, or one without the contracts, there is nothing to do but check again.
    const c = this.s.view.checks;
    if (c && (c.chainId !== this.s.o.chainId.toString() || c.missingContracts.length > 0)) return false;
    await sender.poll();
    await this.watch.refresh();
    if (this.s.view.halted !== undefined) return false;
    await this.watch.checkpoint();
    if (this.s.diverged !== undefined) {
      await this.rebase.reconcile(this.s.diverged);
      return this.s.diverged === undefined;
    }

    const k = this.s.view.appended;
    if (k < sequencer.durableBatchCount && this.s.view.checks?.sequencerRole !== false) {
      await this.poster.append(k);
      return true;
    }
    if (this.s.o.propose) {
      // Never bond on a parent this operator disagrees with: prove the lie first, then propose after the rollback.
      const check = await this.checker.check(this.s.view.proposed);
      if (this.checker.takeRollbackSeen()) {
        this.watch.forgetDeadlines();
        this.s.o.bonds.sweepAll();
      }
      if (check.kind === "wrong") {
        await this.poster.proveLie(check.wrong);
        return true;
      }
      const p = this.s.view.proposed;
      if (check.kind === "ok" && p < this.s.view.appended) {
        await this.poster.proposeBatch(p);
        return true;
      }
      if (await this.poster.returnBonds()) return true;
    }
    return false;
  }
}

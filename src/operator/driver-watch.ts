/**
 * What the L1 driver reads from L1 on each pass: the heads (every newly
 * appended batch checked against the sequencer's own, so a batch this
 * operator did not append is found), which proposals are final, the
 * deployment as L1 shows it (chain, code, role, balance), and the snapshot
 * that follows the batches confirmed on L1.
 */
import { BilayerError } from "../protocol/errors";
import type { DeploymentChecks, DriverOptions, DriverState } from "./driver-state";

/** How often the deployment is checked on L1 (chain, code, role, balance), at most. */
const CHECK_EVERY_MS = 5_000;
/** How often the snapshot moves, at most. */
const CHECKPOINT_EVERY_MS = 2_000;

export class DriverWatch {
  private readonly o: DriverOptions;
  /** The deadline of each batch's live proposal, while it stands. */
  private readonly deadlines = new Map<number, number>();
  /** When the deployment was last checked, and the snapshot last moved. */
  private lastCheckAt = 0;
  private lastCheckpointAt = 0;

  constructor(private readonly s: DriverState) {
    this.o = s.o;
  }

  /** Checks the deployment again if the last check is {@link CHECK_EVERY_MS} old (at least a poll). */
  async checkWhenDue(): Promise<void> {
    if (Date.now() - this.lastCheckAt >= Math.max(this.o.pollMs, CHECK_EVERY_MS)) await this.check();
  }

  /** Forgets the deadlines read (a rollback was seen): they are read again. */
  forgetDeadlines(): void {
    this.deadlines.clear();
  }

  /** Reads the heads from L1 and checks every newly appended batch against ours. */
  async refresh(): Promise<void> {
    const { inbox, stateCommitmentChain: scc, sequencer } = this.o;
    const [block, appended, proposed] = await Promise.all([
      this.o.provider.getBlock("latest"),
      inbox.batchCount(),
      scc.proposalCount(),
    ]);
    if (!block) throw new BilayerError("L1_NO_BLOCK", "the L1 node returned no latest block");
    const appendedCount = Number(appended);
    const proposedCount = Number(proposed);
    if (appendedCount < this.s.verified) {
      this.o.logger.warn({ appended: appendedCount, before: this.s.verified }, "L1 batch count went down (reorg)");
      this.s.verified = appendedCount;
    }
    for (let k = this.s.verified; k < appendedCount; k++) {
      const ours = sequencer.batch(k);
      const onChain = await inbox.batchCommitment(k);
      if (!ours || ours.commitment !== onChain.toLowerCase()) {
        if (this.s.diverged === undefined) {
          this.o.logger.warn(
            { batch: k, onChain, ours: ours?.commitment },
            "L1 holds a batch this operator did not append (a forced inclusion?); reconciling",
          );
        }
        this.s.diverged = k;
        break;
      }
      this.s.verified = k + 1;
      sequencer.releaseChunks(k);
    }
    if (proposedCount < this.s.view.proposed) {
      this.o.logger.error(
        { proposed: proposedCount, before: this.s.view.proposed },
        "proposals were rolled back on L1",
      );
      this.o.bonds.sweepAll();
    }
    // A deadline is kept per batch while its proposal stands; a rollback (seen above or by the checker) drops them.
    for (const k of [...this.deadlines.keys()]) if (k >= proposedCount) this.deadlines.delete(k);
    // Finality is a prefix: a proposal is final once its deadline has passed (its parent's came earlier).
    let final = Math.min(this.s.view.final, proposedCount);
    const open: { batchIndex: number; deadline: number }[] = [];
    for (let k = final; k < proposedCount; k++) {
      let deadline = this.deadlines.get(k);
      if (deadline === undefined) {
        deadline = Number(await scc.deadline(k));
        this.deadlines.set(k, deadline);
      }
      if (deadline <= block.timestamp && final === k) final = k + 1;
      else open.push({ batchIndex: k, deadline });
    }
    for (const k of [...this.deadlines.keys()]) if (k < final) this.deadlines.delete(k);
    this.s.view = {
      ...this.s.view,
      l1Block: block.number,
      l1Timestamp: block.timestamp,
      appended: Math.min(appendedCount, this.s.verified),
      proposed: proposedCount,
      final,
      openProposals: open,
    };
    sequencer.setL1Heads({ appended: this.s.view.appended, proposed: proposedCount, final });
  }

  /**
   * Checks the deployment as L1 shows it now — the chain, the contracts' code, the sequencer role, the key's
   * balance — and has the sequencer refuse new transactions while nothing they need could reach L1 (a wrong or
   * wiped chain, contracts missing, the role revoked); lifted when the checks pass again.
   */
  async check(): Promise<DeploymentChecks> {
    const { provider, inbox, sender, sequencer } = this.o;
    const [chainIdHex, codes, balance] = await Promise.all([
      (provider as unknown as { send?(m: string, p: unknown[]): Promise<string> }).send?.("eth_chainId", []) ??
        provider.getNetwork().then((n) => "0x" + n.chainId.toString(16)),
      Promise.all(this.o.contracts.map((a) => provider.getCode(a))),
      provider.getBalance(sender.address),
    ]);
    // Only an inbox that is there can be asked about its roles.
    const inboxAddress = (await inbox.getAddress()).toLowerCase();
    const inboxCode = codes[this.o.contracts.findIndex((a) => a.toLowerCase() === inboxAddress)] ?? "0x";
    const role = inboxCode !== "0x" && (await inbox.hasRole(await inbox.SEQUENCER_ROLE(), sender.address));
    const checks: DeploymentChecks = {
      at: Date.now(),
      chainId: BigInt(chainIdHex).toString(),
      missingContracts: this.o.contracts.filter((_a, i) => codes[i] === "0x"),
      sequencerRole: role,
      balance,
      bond: this.s.bond,
    };
    this.s.view.checks = checks;
    this.lastCheckAt = checks.at;
    const refusal =
      checks.chainId !== this.o.chainId.toString()
        ? `the L1 node is chain ${checks.chainId}, the deployment is on chain ${this.o.chainId}`
        : checks.missingContracts.length > 0
          ? `the deployment's contracts are not on this L1 (no code at ${checks.missingContracts.join(", ")}): a wiped or another chain`
          : !checks.sequencerRole
            ? `${sender.address} no longer holds the inbox's sequencer role: its batches cannot reach L1`
            : undefined;
    sequencer.setRefusal("l1", refusal);
    return checks;
  }

  /**
   * Moves the sequencer's snapshot over the batches appended and confirmed on L1 (at most every
   * {@link CHECKPOINT_EVERY_MS}), so that a restart replays only what came after.
   */
  async checkpoint(): Promise<void> {
    const { sequencer, inbox } = this.o;
    if (this.s.view.appended <= sequencer.snapshotBatches) return;
    if (Date.now() - this.lastCheckpointAt < CHECKPOINT_EVERY_MS) return;
    const safeBlock = this.s.view.l1Block - this.o.confirmations + 1;
    const confirmed = safeBlock < this.o.startBlock ? 0 : Number(await inbox.batchCount({ blockTag: safeBlock }));
    this.s.view.confirmed = confirmed;
    this.lastCheckpointAt = Date.now();
    await sequencer.checkpoint(Math.min(confirmed, this.s.verified), this.s.view.final, {
      pruneHistory: this.o.pruneHistory,
    });
  }
}

/**
 * The operator's own bonds, from the proposal that posted each until the
 * state commitment chain paid it back or forfeited it (PROTOCOL.md §7.3). A
 * bond is recorded from the receipt of the confirmed proposal, so a crash
 * between the proposal and its record loses nothing: the L1 sender keeps the
 * transaction until it is confirmed and hands its receipt over then.
 *
 * A bond can be taken back when its proposal is final, or at any time once the
 * proposal was removed by the rollback of an earlier one. Which of the held
 * bonds that applies to is read from L1 only when it can have changed: for
 * final batches, and for every held bond after a rollback.
 */
import type { TransactionReceipt } from "ethers";
import type { StateCommitmentChain } from "../../typechain-types";
import type { Logger } from "./log";
import { keyNum, type KeyValueStore } from "../common/store";

const PREFIX = "bond/";
const key = (id: bigint): string => PREFIX + keyNum(id, 16);

/** Where a bond stands (`IStateCommitmentChain.BondState`). */
export const BondState = { None: 0n, Held: 1n, Returned: 2n, Forfeited: 3n } as const;

/** One of the operator's bonds. */
export interface OwnBond {
  proposalId: bigint;
  batchIndex: number;
}

/** A bond that can be taken back now, and why. */
export interface DueBond extends OwnBond {
  reason: "final" | "removed";
}

export interface BondBookOptions {
  store: KeyValueStore;
  /** A read-only handle. */
  stateCommitmentChain: StateCommitmentChain;
  /** The operator's L1 address. */
  self: string;
  logger: Logger;
}

export class BondBook {
  private readonly o: BondBookOptions;
  private readonly held = new Map<bigint, OwnBond>();
  /** Set when every held bond must be looked at (start-up, a rollback, a new bond). */
  private sweep = true;

  constructor(opts: BondBookOptions) {
    this.o = opts;
  }

  async load(): Promise<void> {
    for await (const [, v] of this.o.store.entries(PREFIX)) {
      const b = JSON.parse(v) as { proposalId: string; batchIndex: number };
      this.held.set(BigInt(b.proposalId), { proposalId: BigInt(b.proposalId), batchIndex: b.batchIndex });
    }
    this.sweep = true;
  }

  /** The bonds held, in batch order. */
  list(): OwnBond[] {
    return [...this.held.values()].sort((a, b) => a.batchIndex - b.batchIndex);
  }

  /** Records the bonds of this operator's proposals made in `receipt` (a confirmed L1 transaction). */
  async record(receipt: TransactionReceipt): Promise<void> {
    const scc = this.o.stateCommitmentChain;
    const address = (await scc.getAddress()).toLowerCase();
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== address) continue;
      const parsed = scc.interface.parseLog(log);
      if (parsed?.name !== "StateProposed") continue;
      if (String(parsed.args.proposer).toLowerCase() !== this.o.self.toLowerCase()) continue;
      const bond: OwnBond = {
        proposalId: parsed.args.proposalId as bigint,
        batchIndex: Number(parsed.args.batchIndex),
      };
      if (this.held.has(bond.proposalId)) continue;
      await this.o.store.write([
        {
          type: "put",
          key: key(bond.proposalId),
          value: JSON.stringify({ proposalId: bond.proposalId.toString(), batchIndex: bond.batchIndex }),
        },
      ]);
      this.held.set(bond.proposalId, bond);
      this.sweep = true;
    }
  }

  /** Asks for every held bond to be looked at again (after a rollback). */
  sweepAll(): void {
    this.sweep = true;
  }

  /** Forgets a bond that was paid back. */
  async forget(proposalId: bigint): Promise<void> {
    if (!this.held.delete(proposalId)) return;
    await this.o.store.write([{ type: "del", key: key(proposalId) }]);
  }

  /**
   * The held bonds that can be taken back now, in batch order, given that
   * proposals `0 .. finalCount − 1` are final. Bonds L1 no longer holds
   * (returned by someone else's call, or forfeited) are forgotten on the way.
   */
  async due(finalCount: number): Promise<DueBond[]> {
    const scc = this.o.stateCommitmentChain;
    const sweep = this.sweep;
    this.sweep = false;
    const out: DueBond[] = [];
    for (const bond of this.list()) {
      if (!sweep && bond.batchIndex >= finalCount) continue;
      const onChain = await scc.bond(bond.proposalId);
      if (onChain.proposer.toLowerCase() !== this.o.self.toLowerCase() || onChain.state !== BondState.Held) {
        if (onChain.state === BondState.Forfeited) {
          this.o.logger.error(
            { proposalId: bond.proposalId.toString(), batch: bond.batchIndex },
            "a bond of this operator was forfeited: one of its own proposals was proven wrong",
          );
        }
        await this.forget(bond.proposalId);
        continue;
      }
      if (!(await scc.isLive(bond.proposalId))) out.push({ ...bond, reason: "removed" });
      else if (bond.batchIndex < finalCount) out.push({ ...bond, reason: "final" });
    }
    return out;
  }
}

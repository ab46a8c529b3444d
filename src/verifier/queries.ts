/**
 * What a user asks the verifier, answered from the state rebuilt from L1
 * alone, in the shapes of the operator's API (../operator/rpc/views.ts): an
 * account, the accounts of an owner, the withdrawals of a recipient with where
 * each stands, and a withdrawal's proof against a batch's header.
 */
import { connectRollup } from "../l1/contracts";
import { toHex } from "../protocol/hash";
import type { Withdrawal } from "../protocol/state";
import { RpcCode, RpcError } from "../operator/errors";
import { headerToJson } from "../operator/records";
import {
  accountView,
  withdrawalProofView,
  withdrawalStatus,
  withdrawalView,
  type AccountJsonView,
  type WithdrawalJsonView,
  type WithdrawalProofJsonView,
} from "../operator/rpc/views";
import type { VerifierContext } from "./context";
import type { L1Replay } from "./replay";

export class StateQueries {
  /** Account indices by owner, for the tip as of `ownersAt` batches replayed. */
  private owners: { at: number; block: number; byOwner: Map<string, number[]> } | undefined;

  constructor(
    private readonly c: VerifierContext,
    private readonly replay: L1Replay,
  ) {}

  /** Account `index` of the state rebuilt from L1, or undefined. */
  account(index: number): AccountJsonView | undefined {
    const tip = this.replay.replica.tip;
    if (!Number.isInteger(index) || index < 1 || index > tip.accountCount) return undefined;
    const a = tip.getAccount(index);
    return a === undefined ? undefined : accountView(index, a);
  }

  /** The indices of the accounts `owner` holds in the state rebuilt from L1. */
  accountsOf(owner: string): number[] {
    const tip = this.replay.replica.tip;
    if (this.owners?.at !== this.replay.replica.replayed || this.owners.block !== this.replay.cursor.block) {
      const byOwner = new Map<string, number[]>();
      for (let i = 1; i <= tip.accountCount; i++) {
        const a = tip.getAccount(i);
        if (a === undefined) continue;
        const list = byOwner.get(a.owner);
        if (list) list.push(i);
        else byOwner.set(a.owner, [i]);
      }
      this.owners = { at: this.replay.replica.replayed, block: this.replay.cursor.block, byOwner };
    }
    return [...(this.owners.byOwner.get(owner.toLowerCase()) ?? [])];
  }

  /** The withdrawals paying `recipient` in the state rebuilt from L1, with where each stands. */
  async withdrawalsOf(recipient: string): Promise<WithdrawalJsonView[]> {
    const tip = this.replay.replica.tip;
    const who = recipient.toLowerCase();
    const heads = {
      proposed: this.replay.proposals.rightCount(this.replay.cursor.settled),
      final: this.replay.cursor.settled,
    };
    const bridge = connectRollup(this.c.deployment.contracts, this.c.provider).bridge;
    const out: WithdrawalJsonView[] = [];
    for (let i = 0; i < Number(tip.withdrawalCount); i++) {
      const w = tip.withdrawal(i);
      if (w?.recipient !== who) continue;
      const batch = this.replay.withdrawalBatch[i] >= 0 ? this.replay.withdrawalBatch[i] : undefined;
      const claimed = batch !== undefined && batch < heads.final && (await bridge.isClaimed(i));
      out.push(withdrawalView(i, w, batch, withdrawalStatus(batch, heads, claimed)));
    }
    return out;
  }

  /**
   * Withdrawal `index` with its proof against the header of batch `batchIndex` — by default the last settled batch
   * (final, with the roots computed here) when it holds it, else the last batch replayed. The verifier keeps the
   * state of the batches from the last settled one on, so an earlier one cannot be asked for.
   */
  withdrawalProof(index: number, batchIndex?: number): WithdrawalProofJsonView {
    const tip = this.replay.replica.tip;
    const w = tip.withdrawal(index);
    const first = this.replay.withdrawalBatch[index] ?? -1;
    const notFound = (message: string, data: Record<string, unknown> = {}): never => {
      throw new RpcError(RpcCode.WithdrawalNotFound, message, { withdrawalIndex: index, ...data });
    };
    if (w === undefined) notFound(`no withdrawal ${index} (there are ${tip.withdrawalCount})`);
    if (first < 0) notFound(`the batch holding withdrawal ${index} is not known to this verifier`);
    const last = this.replay.replica.replayed - 1;
    const settledBatch = this.replay.cursor.settled - 1;
    const k = batchIndex ?? (first <= settledBatch ? settledBatch : last);
    if (k < first || k > last)
      notFound(`batch ${k} does not hold withdrawal ${index} (first in batch ${first})`, { firstBatch: first });
    if (k < settledBatch) {
      notFound(
        `this verifier keeps the state of batch ${settledBatch} (the last final one) and later, not of batch ${k}`,
        {
          oldestBatch: settledBatch,
        },
      );
    }
    const state = k === last ? tip : this.replay.replica.preStateOf(k + 1);
    const header = state.header();
    return withdrawalProofView(index, w as Withdrawal, {
      batchIndex: k,
      header: headerToJson(header),
      stateRoot: state.stateRoot(),
      siblings: state.withdrawalProof(index).map(toHex),
      final: k <= settledBatch,
    });
  }
}

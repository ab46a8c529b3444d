/**
 * The verifier's log of its own L1 actions (fraud proofs, proposals, forced
 * inclusions, bond returns) with how each went, kept in the store and shown
 * by `/status`.
 */
import type { TxOutcome } from "./challenger";
import { actionKey, type ActionJson, type VerifierStore } from "./store";

export class ActionLog {
  private actions: ActionJson[] = [];
  private actionSeq = 0;

  constructor(private readonly store: VerifierStore) {}

  /** Loads the actions the store holds. */
  async restore(): Promise<void> {
    this.actions = await this.store.values<ActionJson>("x/");
    this.actionSeq = this.actions.length;
  }

  /** The actions recorded, oldest first. */
  list(): ActionJson[] {
    return [...this.actions];
  }

  /** Records the outcome of an action. */
  async record(action: Pick<ActionJson, "kind" | "batchIndex" | "stepIndex">, outcome: TxOutcome): Promise<void> {
    const json: ActionJson = {
      ...action,
      result: outcome.ok ? "succeeded" : outcome.hash === undefined ? "refused" : "reverted",
      at: Date.now(),
      ...(outcome.hash === undefined ? {} : { transactionHash: outcome.hash }),
      ...(outcome.error === undefined ? {} : { detail: outcome.error }),
    };
    this.actions.push(json);
    await this.store.write([{ type: "put", key: actionKey(this.actionSeq++), value: JSON.stringify(json) }]);
  }
}

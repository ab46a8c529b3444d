import type { Logger } from "../log";

/**
 * Whether the sequencer takes new transactions: its store must be usable (it is not while the state is rebuilt
 * from it, at start-up or after a failed write) and nobody may refuse on its behalf (the L1 checks, stopping).
 */
export class Availability {
  /** The store is usable and the pending state built from it. */
  available = false;
  /** Why the store is not usable right now (a failed write being recovered from). */
  unavailableReason: string | undefined;
  /** Why the operator refuses transactions though the store works, by who says so. */
  private readonly refusals = new Map<string, string>();

  constructor(private readonly logger: Logger) {}

  /** Why the store is not usable right now, if it is not. */
  get unavailable(): string | undefined {
    return this.available ? undefined : (this.unavailableReason ?? "starting");
  }

  /** Why new transactions are refused right now, if they are: a refusal, else the store. */
  get notAccepting(): string | undefined {
    if (this.available && this.refusals.size === 0) return undefined;
    return this.refusing ?? this.unavailableReason ?? "starting";
  }

  /** Why a source refuses new transactions right now, if one does (stopping first). */
  get refusing(): string | undefined {
    return this.refusals.get("stopping") ?? this.refusals.get("l1");
  }

  /** Sets or (with `undefined`) lifts the refusal of `source`; logs when the answer changes. */
  setRefusal(source: "l1" | "stopping", reason: string | undefined): void {
    const before = this.refusing;
    if (reason === undefined) this.refusals.delete(source);
    else this.refusals.set(source, reason);
    const after = this.refusing;
    if (after === before) return;
    if (after !== undefined) this.logger.error({ reason: after }, "refusing new transactions");
    else this.logger.warn({ was: before }, "accepting transactions again");
  }
}

/**
 * How often a second the sequencer's thread does signature work that only a refusal or a stale guess made
 * ahead needs: a refused signed transaction's nonce probes (./admission.ts: up to six recoveries, ~0.5 ms), or a
 * BLS transfer checked again because the HTTP thread checked it over another nonce than the account's when its
 * turn came (one pairing, ~0.7 ms). A client pipelining transfers needs few; someone sending bad signatures
 * would otherwise buy main-thread time with each. A token bucket: `perSecond` refill, up to `burst` at once.
 */
export interface CheckBudgetLimits {
  perSecond: number;
  burst: number;
}

/** At most ~14% of a core; a burst of 50 for a pipelining client's stale guesses. */
export const DEFAULT_CHECK_BUDGET: CheckBudgetLimits = { perSecond: 200, burst: 50 };

export class CheckBudget {
  private tokens: number;
  private at: number;

  constructor(
    readonly limits: CheckBudgetLimits = DEFAULT_CHECK_BUDGET,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = limits.burst;
    this.at = now();
  }

  /** Takes one from the budget; `false` (and nothing taken) when it is spent. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((t - this.at) / 1000) * this.limits.perSecond);
    this.at = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * What `/health` and `l2_getStatus.health` say (docs/OPERATOR.md, "Health
 * and probes"): one pure judgement over what the operator's parts report, so
 * that a supervisor can act on it and a test can state every case.
 *
 * - `unhealthy`: transactions are refused (the store is being recovered, the
 *   chain is wrong or wiped, the sequencer role is gone, L1 was never reached)
 *   or the operator halted;
 * - `degraded`: transactions are acknowledged but L1 progress is impaired (L1
 *   does not answer, the node refuses the operator's transactions, the key
 *   cannot pay the bond, a closed batch waits too long for L1, the HTTP thread
 *   was restarted a moment ago);
 * - `ok`: none of these.
 */
import type { DriverView } from "./driver";
import type { SenderBlocked } from "./l1-sender";

export type HealthStatus = "ok" | "degraded" | "unhealthy";

/** What the parts report, as of `now`. */
export interface HealthInputs {
  now: number;
  /** Why the store is not usable, if it is not. */
  storeUnavailable: string | undefined;
  /** Why new transactions are refused, if they are (L1 checks, stopping). */
  refusing: string | undefined;
  /** The driver's view; undefined while L1 was never reached. */
  driver: DriverView | undefined;
  /** Why L1 could not be reached at start, while it cannot. */
  l1StartError: string | undefined;
  sender: SenderBlocked | undefined;
  /** Whether the operator proposes (it then needs the bond). */
  propose: boolean;
  /** When the oldest closed batch not yet on L1 was closed, if one is waiting. */
  oldestUnappendedClosedAt: number | undefined;
  /** The HTTP thread's restarts and when the last one was. */
  rpcRestarts: number;
  rpcLastRestartAt: number | undefined;
  /** Limits: a batch waiting longer for L1, L1 silent longer, a restart more recent, degrade the status. */
  staleBatchMs: number;
  l1SilentMs: number;
  rpcRestartGraceMs: number;
}

export interface HealthReport {
  status: HealthStatus;
  /** One line per problem, the worst first. */
  reasons: string[];
  accepting: boolean;
  l1: {
    reachable: boolean;
    lastOkAt: number | null;
    error: string | null;
    chainId: string | null;
    missingContracts: string[];
    sequencerRole: boolean | null;
    /** The key's balance and the bond, in wei (decimal strings). */
    balance: string | null;
    bond: string | null;
  };
  batches: {
    lastAppend: { batch: number; at: number } | null;
    lastProposal: { batch: number; at: number } | null;
    /** How long the oldest closed batch not yet on L1 has waited, in ms. */
    oldestUnappendedAgeMs: number | null;
  };
  sender: { blocked: string | null };
  rpc: { restarts: number };
}

/** Judges the operator's health from what its parts report. */
export function assessHealth(i: HealthInputs): HealthReport {
  const unhealthy: string[] = [];
  const degraded: string[] = [];
  const d = i.driver;
  if (i.storeUnavailable !== undefined) unhealthy.push(`store: ${i.storeUnavailable}`);
  if (d?.halted !== undefined) unhealthy.push(`halted: ${d.halted}`);
  if (d === undefined) unhealthy.push(`L1 not reached yet: ${i.l1StartError ?? "starting"}`);
  else if (i.refusing !== undefined) unhealthy.push(`refusing transactions: ${i.refusing}`);
  if (d !== undefined) {
    if (d.l1.error !== undefined) degraded.push(d.l1.error);
    const lastOk = d.l1.lastOkAt ?? 0;
    if (d.l1.error === undefined && i.now - lastOk > i.l1SilentMs)
      degraded.push(`no answer from L1 for ${Math.round((i.now - lastOk) / 1000)} s`);
    const c = d.checks;
    if (c !== undefined && i.propose && c.balance < c.bond) {
      degraded.push(`the operator's balance ${c.balance} wei is below the proposer bond ${c.bond} wei`);
    }
  }
  if (i.sender !== undefined && !degraded.some((r) => r.startsWith("cannot pay L1"))) {
    degraded.push(`the L1 node refuses nonce ${i.sender.nonce}: ${i.sender.reason}`);
  }
  const waited = i.oldestUnappendedClosedAt === undefined ? undefined : i.now - i.oldestUnappendedClosedAt;
  if (waited !== undefined && waited > i.staleBatchMs) {
    degraded.push(`a closed batch has waited ${Math.round(waited / 1000)} s to be appended`);
  }
  if (i.rpcLastRestartAt !== undefined && i.now - i.rpcLastRestartAt < i.rpcRestartGraceMs) {
    degraded.push(`the HTTP thread was restarted (${i.rpcRestarts} time(s))`);
  }
  const reasons = [...unhealthy, ...degraded];
  const c = d?.checks;
  return {
    status: unhealthy.length > 0 ? "unhealthy" : degraded.length > 0 ? "degraded" : "ok",
    reasons,
    accepting: i.storeUnavailable === undefined && i.refusing === undefined && d !== undefined,
    l1: {
      reachable: d?.l1.reachable ?? false,
      lastOkAt: d?.l1.lastOkAt ?? null,
      error: d?.l1.error ?? i.l1StartError ?? null,
      chainId: c?.chainId ?? null,
      missingContracts: c?.missingContracts ?? [],
      sequencerRole: c?.sequencerRole ?? null,
      balance: c?.balance.toString() ?? null,
      bond: c?.bond.toString() ?? null,
    },
    batches: {
      lastAppend: d?.lastAppend ?? null,
      lastProposal: d?.lastProposal ?? null,
      oldestUnappendedAgeMs: waited ?? null,
    },
    sender: { blocked: i.sender ? `nonce ${i.sender.nonce} (${i.sender.purpose.kind}): ${i.sender.reason}` : null },
    rpc: { restarts: i.rpcRestarts },
  };
}

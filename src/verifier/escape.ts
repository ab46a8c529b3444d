/**
 * The escape hatch as one command (`npx hardhat escape`, docs/USING.md): a
 * user gets every L2 balance of theirs out to L1 with no help from the
 * operator, from L1 alone.
 *
 * It runs the verifier (the same code, with the user's key): the L2 state is
 * rebuilt from L1's queue and batches; a wrong proposal it meets is proven;
 * every appended batch nobody proposed is proposed with the user's bond;
 * queue items the sequencer leaves overdue are force-included. On top of it,
 * the escape requests a forced exit of each of the user's accounts that holds
 * a balance (unless one is queued), claims each final withdrawal paying the
 * user with a proof built from the rebuilt state, and waits — saying what for
 * and until when — until the last bond it posted is back.
 *
 * Resumable: its store (the verifier's, one per user) keeps what it read, and
 * every run decides again from L1, so it can be stopped at any time and run
 * again a week later. `dryRun` prints the plan and its costs and sends
 * nothing.
 */
import { formatEther, getAddress, type Provider, type Signer } from "ethers";
import { Bridge__factory, RollupInbox__factory, StateCommitmentChain__factory } from "../../typechain-types";
import type { RollupDeployment } from "../l1/deployments";
import { claimWithdrawal } from "../operator/l1-user";
import { BilayerError } from "../protocol/errors";
import { QueueKind } from "../protocol/queue";
import { defaultVerifierConfig } from "./config";
import type { Logger } from "./log";
import { Verifier } from "./verifier";

export interface EscapeOptions {
  provider: Provider;
  /** The user's key: it owns the accounts, posts the bonds, pays the gas. */
  signer: Signer;
  deployment: RollupDeployment;
  /** The store (one per user and deployment). */
  dataDir: string;
  /** Where the lines it prints go. */
  print: (line: string) => void;
  /** Print the plan and what it would cost; send nothing. */
  dryRun: boolean;
  /** How often to look at L1 again while waiting, in ms. */
  pollMs: number;
  logger: Logger;
  /** Stop after this many looks at L1 (tests); default: until done. */
  maxRounds?: number;
  /** Asked between looks at L1: true stops (Ctrl-C); the next run goes on from where L1 stands. */
  shouldStop?: () => boolean;
}

/** What remains to be done, as L1 stands. */
export interface EscapePlan {
  l1Time: number;
  /** The user's accounts with a balance. */
  accounts: { index: number; tokenId: number; balance: bigint }[];
  /** Accounts with a balance and no forced exit queued: the exits to request. */
  exitsToRequest: number[];
  /** Forced exits queued and not yet in a batch, with when the oldest item becomes overdue. */
  exitsQueued: { account: number; queueIndex: number }[];
  overdueAt: number | undefined;
  /** Batches appended with no live proposal, and wrong live proposals (to prove). */
  unproposed: number;
  wrong: { batchIndex: number; step: number; proposer: string }[];
  /** The user's withdrawals not yet claimed, and those claimable now. */
  withdrawals: { index: number; tokenId: number; amount: bigint; status: string; finalAt: number | undefined }[];
  /** Bonds of the user's the chain holds, and when the last becomes returnable. */
  bonds: { batchIndex: number; deadline: number }[];
  done: boolean;
}

const human = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  return [d ? `${d}d` : "", h ? `${h}h` : "", m ? `${m}m` : "", `${s % 60}s`].filter(Boolean).join(" ");
};
/** An amount of a token: ETH in ether, other tokens in their base units. */
const amountOf = (amount: bigint, tokenId: number): string =>
  tokenId === 0 ? `${formatEther(amount)} ETH` : `${amount} base units of token ${tokenId}`;
const when = (t: number, now: number): string => `${new Date(t * 1000).toISOString()} (L1 time), in ${human(t - now)}`;

/** What remains, from the verifier's rebuilt state and L1. */
async function plan(v: Verifier, o: EscapeOptions, user: string, requested: Set<number>): Promise<EscapePlan> {
  const c = o.deployment.contracts;
  const inbox = RollupInbox__factory.connect(c.rollupInbox, o.provider);
  const bridge = Bridge__factory.connect(c.bridge, o.provider);
  const chain = StateCommitmentChain__factory.connect(c.stateCommitmentChain, o.provider);
  const block = await o.provider.getBlock("latest");
  if (block === null) throw new BilayerError("L1_NO_BLOCK", "the L1 node returned no latest block");
  const now = block.timestamp;
  const status = v.status();

  const accounts: EscapePlan["accounts"] = [];
  for (const i of v.accountsOf(user)) {
    const a = v.account(i);
    if (a !== undefined && BigInt(a.balance) > 0n)
      accounts.push({ index: i, tokenId: a.tokenId, balance: BigInt(a.balance) });
  }

  // Forced exits of the user's accounts waiting in the queue (not consumed by a batch the replica has replayed).
  // The queue position is read at the last L1 block the verifier processed, so it matches the rebuilt balances: an
  // exit consumed by a batch appended since (ours, force-included in this tick, or the sequencer's) is still
  // counted as queued, never requested a second time.
  const consumed = Number(await inbox.queueConsumed({ blockTag: status.l1.processed }));
  const known = Number(status.queueItems);
  const exitsQueued: EscapePlan["exitsQueued"] = [];
  for (let q = consumed; q < known; q++) {
    const item = v.queueItemAt(q);
    if (item?.kind === QueueKind.ForcedExit && item.addr === user)
      exitsQueued.push({ account: item.account, queueIndex: q });
  }
  const queuedFor = new Set([...exitsQueued.map((e) => e.account), ...requested]);
  const exitsToRequest = accounts.map((a) => a.index).filter((i) => !queuedFor.has(i));
  // When the oldest item L1 has not consumed yet (as of its head) becomes overdue.
  const consumedNow = Number(await inbox.queueConsumed());
  const length = Number(await bridge.queueLength());
  const overdueAt =
    consumedNow < length
      ? Number(await bridge.queueTimestamp(consumedNow)) + Number(await inbox.FORCED_INCLUSION_DELAY_SECONDS())
      : undefined;

  const proposalCount = Number(await chain.proposalCount());
  const unproposed = Math.max(0, status.batches.replayed - proposalCount);
  const wrong = status.proposals
    .filter((p) => p.verdict === "wrong")
    .map((p) => ({ batchIndex: p.batchIndex, step: p.wrongStep ?? 0, proposer: p.proposer }));
  const deadlineOf = new Map(status.proposals.map((p) => [p.batchIndex, p.deadline]));

  const withdrawals = (await v.withdrawalsOf(user))
    .filter((w) => w.status !== "claimed")
    .map((w) => ({
      index: w.withdrawalIndex,
      tokenId: w.tokenId,
      amount: BigInt(w.amount),
      status: w.status,
      finalAt: w.batchIndex === null ? undefined : deadlineOf.get(w.batchIndex),
    }));
  const bonds = v.bondsHeld.map((b) => ({ batchIndex: b.batchIndex, deadline: b.deadline }));
  return {
    l1Time: now,
    accounts,
    exitsToRequest,
    exitsQueued,
    overdueAt,
    unproposed,
    wrong,
    withdrawals,
    bonds,
    done: accounts.length === 0 && exitsQueued.length === 0 && withdrawals.length === 0 && bonds.length === 0,
  };
}

/** What the escape waits for next, and until when (L1 time), if it waits. */
function waitingFor(p: EscapePlan): string | undefined {
  const now = p.l1Time;
  if (p.exitsQueued.length > 0 && p.overdueAt !== undefined && p.overdueAt > now) {
    const accounts = p.exitsQueued.map((e) => e.account).join(", ");
    return `the forced exit of account ${accounts} to be overdue (then anyone may force-include it) at ${when(p.overdueAt, now)}`;
  }
  if (p.exitsQueued.length > 0) return "the overdue queue items to be included in a batch";
  const pending = p.withdrawals.filter((w) => w.status !== "final");
  const next = pending.map((w) => w.finalAt).filter((t): t is number => t !== undefined);
  if (next.length > 0) {
    const t = Math.max(...next);
    return `withdrawal ${pending.map((w) => w.index).join(", ")} to be final at ${when(t, now)}`;
  }
  if (pending.length > 0) return `withdrawal ${pending.map((w) => w.index).join(", ")} to be proposed`;
  if (p.bonds.length > 0) {
    const t = Math.max(...p.bonds.map((b) => b.deadline));
    return `the bonds of ${p.bonds.length} proposal(s) to be returnable at ${when(t, now)}`;
  }
  return undefined;
}

/** Prints the plan and what it costs (estimated on L1 now where it can be). */
async function printPlan(p: EscapePlan, o: EscapeOptions, user: string): Promise<void> {
  const c = o.deployment.contracts;
  const bridge = Bridge__factory.connect(c.bridge, o.provider);
  const chain = StateCommitmentChain__factory.connect(c.stateCommitmentChain, o.provider);
  const bond = await chain.PROPOSER_BOND();
  const gas = async (estimate: () => Promise<bigint>): Promise<string> =>
    estimate().then(
      (g) => `${g.toLocaleString("en-US")} gas`,
      () => "gas estimated when due",
    );
  o.print("plan:");
  if (p.done) o.print("  nothing to do: no balance on L2, no withdrawal to claim, no bond held");
  for (const a of p.exitsToRequest) {
    const g = await gas(() => bridge.requestForcedExit.estimateGas(a, { from: user }));
    o.print(`  request a forced exit of account ${a} (L1 tx, ${g})`);
  }
  if (p.exitsQueued.length > 0 || p.exitsToRequest.length > 0) {
    o.print(
      `  force-include the queue once it is overdue${p.overdueAt ? ` (${when(p.overdueAt, p.l1Time)})` : ""}, unless the sequencer or someone else includes it first`,
    );
  }
  for (const w of p.wrong) {
    o.print(
      `  prove the wrong proposal of batch ${w.batchIndex} (step ${w.step}, by ${w.proposer}): its bond's half is the reward`,
    );
  }
  const toPropose = p.unproposed + p.wrong.length + (p.exitsToRequest.length > 0 || p.exitsQueued.length > 0 ? 1 : 0);
  if (toPropose > 0) {
    o.print(
      `  propose the step roots of ${toPropose} batch(es) nobody else proposes: a bond of ${formatEther(bond)} ETH each (returned after the challenge window), ${formatEther(bond * BigInt(toPropose))} ETH in all`,
    );
  }
  for (const w of p.withdrawals) {
    o.print(`  claim withdrawal ${w.index}: ${amountOf(w.amount, w.tokenId)} (now ${w.status})`);
  }
  for (const a of p.accounts) {
    if (p.exitsToRequest.includes(a.index) || p.exitsQueued.some((e) => e.account === a.index)) {
      o.print(`  then claim the exit of account ${a.index}: ${amountOf(a.balance, a.tokenId)}`);
    }
  }
  if (p.bonds.length > 0) o.print(`  take back ${p.bonds.length} bond(s) once final`);
}

/**
 * Runs the escape until every L2 balance of the signer is on L1 and its bonds
 * are back (or, with `dryRun`, prints the plan). Returns whether it is done.
 */
export async function escape(o: EscapeOptions): Promise<boolean> {
  const user = (await o.signer.getAddress()).toLowerCase();
  const config = { ...defaultVerifierConfig(o.deployment.chainId, o.dataDir), port: -1, propose: "all" as const };
  const v = await Verifier.create({
    config,
    provider: o.provider,
    ...(o.dryRun ? {} : { signer: o.signer }),
    deployment: o.deployment,
    logger: o.logger,
  });
  const bridge = Bridge__factory.connect(o.deployment.contracts.bridge, o.signer);
  const requested = new Set<number>();
  let lastWait: string | undefined;
  let lastPrint = 0;
  o.print(`escape for ${getAddress(user)} from L1 alone${o.dryRun ? " (dry run: nothing is sent)" : ""}`);
  try {
    for (let round = 0; o.maxRounds === undefined || round < o.maxRounds; round++) {
      // Read L1 up to its head; with a key, prove, force-include, propose and take bonds back as needed.
      await v.tick();
      if (v.haltReason !== undefined)
        throw new BilayerError("ESCAPE_HALTED", `the L1 data cannot be followed: ${v.haltReason}`);
      const p = await plan(v, o, user, requested);
      if (round === 0 || o.dryRun) {
        const s = v.status();
        o.print(
          `L1 block ${s.l1.processed}, ${new Date(p.l1Time * 1000).toISOString()}: ${s.batches.replayed} batches rebuilt, ${s.state.accountCount} accounts`,
        );
        for (const a of p.accounts) o.print(`  your account ${a.index}: ${amountOf(a.balance, a.tokenId)}`);
      }
      if (o.dryRun) {
        await printPlan(p, o, user);
        return p.done;
      }
      for (const account of p.exitsToRequest) {
        const receipt = await (await bridge.requestForcedExit(account)).wait();
        requested.add(account);
        o.print(`requested the forced exit of account ${account} (L1 tx ${receipt?.hash})`);
      }
      for (const w of p.withdrawals.filter((x) => x.status === "final")) {
        const proof = v.withdrawalProof(w.index);
        if (!proof.final) continue;
        const receipt = await claimWithdrawal(o.signer, o.deployment.contracts.bridge, {
          ...proof,
          amount: BigInt(proof.amount),
        });
        o.print(`claimed withdrawal ${w.index}: ${amountOf(w.amount, w.tokenId)} (L1 tx ${receipt.hash})`);
      }
      if (p.done) {
        o.print(`done: every L2 balance of ${getAddress(user)} is on L1, and every bond it posted is back`);
        return true;
      }
      // What it waits for, when that changes and once a minute (the countdown), so a user knows when to come back.
      const wait = waitingFor(p);
      const reason = wait?.replace(/, in .*$/, "");
      if (wait !== undefined && (reason !== lastWait || Date.now() - lastPrint >= 60_000)) {
        o.print(`waiting for ${wait}`);
        lastPrint = Date.now();
      }
      lastWait = reason;
      for (let waited = 0; waited < o.pollMs && !o.shouldStop?.(); waited += 100) {
        await new Promise((r) => setTimeout(r, Math.min(100, o.pollMs - waited)));
      }
      if (o.shouldStop?.()) return false;
    }
    return false;
  } finally {
    await v.stop();
  }
}

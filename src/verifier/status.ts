/**
 * What the verifier reports: the `/status` object, and the server that serves
 * it with `/metrics`, `/health` and the user's JSON-RPC methods.
 */
import { getAddress } from "ethers";
import { JsonRpcServer, type HttpRoute } from "../common/json-rpc-server";
import { mapApiError } from "../operator/rpc/api";
import type { VerifierContext } from "./context";
import type { L1Replay } from "./replay";
import type { ActionJson } from "./store";
import { userMethods } from "./user-api";
import type { Verifier } from "./verifier";

/** What `/status` reports. */
export interface VerifierStatus {
  chainId: string;
  contracts: { bridge: string; rollupInbox: string; stateCommitmentChain: string; fraudVerifier: string };
  challenger: string | null;
  propose: string;
  l1: { head: number; processed: number; timestamp: number; startBlock: number };
  syncing: boolean;
  /** Share of the blocks to catch up on that are processed (1 when caught up). */
  progress: number;
  halted: string | null;
  /** Queue items L1 holds (a u64 queue position: a decimal string, as in the operator's API). */
  queueItems: string;
  batches: { replayed: number; settled: number; proposed: number };
  state: { stateRoot: string; accountCount: number; withdrawalCount: string };
  transactionsReplayed: number;
  proposals: {
    batchIndex: number;
    proposer: string;
    deadline: number;
    verdict: "right" | "wrong";
    wrongStep?: number;
  }[];
  actions: ActionJson[];
}

/** What the façade knows of L1 and of itself, beside the replay. */
export interface StatusLive {
  /** L1's head as last read, and the timestamp of its latest block. */
  head: number;
  headTime: number;
  /** The block the current catch-up started from, while it runs. */
  catchUpFrom: number | undefined;
  halted: string | undefined;
  actions: ActionJson[];
}

/** What the verifier knows, as `/status` serves it: from the replay, and the façade's view of L1 (`live`). */
export function statusOf(c: VerifierContext, replay: L1Replay, live: StatusLive): VerifierStatus {
  const contracts = c.deployment.contracts;
  const tip = replay.replica.tip;
  const target = live.head - c.config.confirmations + 1;
  const from = live.catchUpFrom ?? replay.cursor.block;
  const syncing = replay.cursor.block < target;
  return {
    chainId: c.deployment.chainId.toString(),
    contracts: {
      bridge: contracts.bridge,
      rollupInbox: contracts.rollupInbox,
      stateCommitmentChain: contracts.stateCommitmentChain,
      fraudVerifier: contracts.fraudVerifier,
    },
    challenger: c.challengerAddress === undefined ? null : getAddress(c.challengerAddress),
    propose: c.config.propose,
    l1: {
      head: live.head,
      processed: replay.cursor.block,
      timestamp: live.headTime,
      startBlock: c.deployment.startBlock,
    },
    syncing,
    progress: syncing ? (replay.cursor.block - from) / Math.max(1, target - from) : 1,
    halted: live.halted ?? null,
    queueItems: String(replay.cursor.queueLength),
    batches: {
      replayed: replay.replica.replayed,
      settled: replay.cursor.settled,
      proposed: replay.proposals.liveCount(replay.cursor.settled),
    },
    state: {
      stateRoot: replay.cursor.stateRoot,
      accountCount: tip.accountCount,
      withdrawalCount: tip.withdrawalCount.toString(),
    },
    transactionsReplayed: replay.cursor.transactions,
    proposals: [...replay.proposals.byBatch.values()]
      .filter((p) => p.batchIndex >= replay.cursor.settled)
      .sort((a, b) => a.batchIndex - b.batchIndex)
      .map((p) => ({
        batchIndex: p.batchIndex,
        proposer: getAddress(p.proposer),
        deadline: p.deadline,
        verdict: p.wrongStep < 0 ? ("right" as const) : ("wrong" as const),
        ...(p.wrongStep < 0 ? {} : { wrongStep: p.wrongStep }),
      })),
    actions: live.actions,
  };
}

/** The verifier's HTTP server (not started): `/status`, `/metrics`, `/health` and the user's methods. */
export function statusServer(v: Verifier): JsonRpcServer {
  const route =
    (answer: () => Promise<{ status: number; contentType: string; body: string }>): HttpRoute =>
    async (_req, res) => {
      const a = await answer();
      res.writeHead(a.status, { "content-type": a.contentType }).end(a.body);
    };
  return new JsonRpcServer({
    host: v.config.host,
    port: v.config.port,
    maxBodyBytes: 64 * 1024,
    maxBatchLength: 100,
    // What a user asks, answered from the state rebuilt from L1 (no operator needed).
    methods: userMethods(v),
    routes: {
      "/status": route(async () => ({
        status: 200,
        contentType: "application/json",
        body: JSON.stringify(v.status(), null, 2) + "\n",
      })),
      "/metrics": route(async () => {
        const { contentType, body } = await v.metrics.text();
        return { status: 200, contentType, body };
      }),
      "/health": route(async () => {
        const ok = v.haltReason === undefined;
        return { status: ok ? 200 : 503, contentType: "text/plain", body: ok ? "ok\n" : "halted\n" };
      }),
    },
    logger: v.logger,
    mapError: mapApiError,
  });
}

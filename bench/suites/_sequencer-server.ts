/**
 * The server side of the `sequencer` bench, run as its own process so that it
 * has a core to itself: the operator's sequencer (durable LevelDB store with
 * group commit, pending L2 state, chunk executor with native signature
 * checks) behind its real JSON-RPC server, on a genesis state of `ACCOUNTS`
 * funded accounts. The L1 side (follower, batcher, proposer) is not started:
 * this process measures acceptance, not L1.
 *
 * With BENCH_BLS=1 every account also registers its BLS key (a RegisterKey
 * signed by its owner, through the sequencer) before it serves.
 *
 * Prints one JSON line `{ "url": ... }` on stdout once it serves.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { blsRawPublicKey } from "../../src/protocol/bls";
import { encodeTx } from "../../src/protocol/codec";
import { TxType } from "../../src/protocol/constants";
import { domainSeparator, signTxWithKey } from "../../src/protocol/eip712";
import { initHashing, toHex } from "../../src/protocol/hash";
import { silentLogger } from "../../src/operator/log";
import { OperatorMetrics } from "../../src/operator/metrics";
import { createApi, mapApiError, type L1Status } from "../../src/operator/rpc/api";
import { JsonRpcServer } from "../../src/common/json-rpc-server";
import { ThreadedJsonRpcServer } from "../../src/operator/rpc/threaded";
import { Sequencer } from "../../src/operator/sequencer";
import { LevelStore } from "../../src/common/store";
import { benchAccounts, benchBlsKey, BENCH_CHAIN_ID, BENCH_INBOX, DEPOSIT } from "./_sequencer-accounts";

async function main(): Promise<void> {
  await initHashing();
  const accounts = Number(process.env.BENCH_ACCOUNTS ?? "2000");
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-bench-seq-"));
  const store = await LevelStore.open(dataDir);
  const metrics = new OperatorMetrics({ defaultMetrics: false });
  store.onFlush = (s) => {
    metrics.storeFlushMs.observe(s.ms);
    metrics.storeGroupSize.observe(s.writers);
  };
  const logger = silentLogger();
  const separator = domainSeparator(BENCH_CHAIN_ID, BENCH_INBOX);
  const sequencer = new Sequencer({
    store,
    domainSeparator: separator,
    feeRecipient: 0,
    logger,
    metrics,
  });
  await sequencer.load([]);
  // Genesis: one deposit per account, as the L1 follower would have stored them.
  sequencer.addQueueItems(
    benchAccounts(accounts).map((a, index) => ({
      index,
      kind: 0,
      addr: a.address,
      tokenId: 0,
      amount: DEPOSIT.toString(),
      account: 0,
      timestamp: "1",
      accumulator: "0x" + "00".repeat(32),
      blockNumber: 1,
    })),
  );
  // Batches of queue items (1,024 at most each), closed at once rather than after their age.
  while (sequencer.status().queue.sequenced < accounts) {
    sequencer.tick();
    await sequencer.flush();
  }
  if (process.env.BENCH_BLS === "1") {
    for (const a of benchAccounts(accounts)) {
      const tx = {
        type: TxType.RegisterKey,
        from: a.index,
        fee: 0n,
        blsKey: toHex(blsRawPublicKey(benchBlsKey(a.index))),
      } as const;
      await sequencer.submit(encodeTx({ ...tx, signature: signTxWithKey(a.key, separator, tx, 0, 0) }));
    }
    await sequencer.flush();
  }
  const l1Status = (): L1Status => ({
    chainId: BENCH_CHAIN_ID.toString(),
    contracts: { bridge: BENCH_INBOX, rollupInbox: BENCH_INBOX, stateCommitmentChain: BENCH_INBOX },
    sequencer: BENCH_INBOX,
    l1Block: 0,
    heads: { appended: 0, proposed: 0, final: 0 },
    openProposals: [],
    proposer: { bondsHeld: 0, liesProven: [] },
    inFlight: [],
  });
  // As the operator runs it by default: HTTP on a thread of its own (BENCH_RPC_THREAD=0: on the main thread).
  const options = {
    host: "127.0.0.1",
    port: 0,
    maxBodyBytes: 64 * 1024,
    maxBatchLength: 1000,
    methods: createApi({ sequencer, l1Status }),
    logger,
    mapError: mapApiError,
    onResponse: (method: string, code: number) => metrics.countRequest(method, code),
  };
  const metricsRoute = async () => ({ status: 200, ...(await metrics.text()) });
  const server =
    process.env.BENCH_RPC_THREAD === "0"
      ? new JsonRpcServer({
          ...options,
          routes: {
            "/metrics": async (_req, res) => {
              const { status, contentType, body } = await metricsRoute();
              res.writeHead(status, { "content-type": contentType }).end(body);
            },
          },
        })
      : new ThreadedJsonRpcServer({
          ...options,
          routes: { "/metrics": metricsRoute },
          logLevel: "silent",
          // BENCH_PRESIGN=0: every signature recovered on the main thread; BENCH_PRESIGN_THREADS: the pool's size.
          ...(process.env.BENCH_PRESIGN === "0"
            ? {}
            : {
                presign: {
                  domainSeparator: separator,
                  hints: () => sequencer.senderHints(),
                  ...(process.env.BENCH_PRESIGN_THREADS ? { threads: Number(process.env.BENCH_PRESIGN_THREADS) } : {}),
                },
              }),
        });
  const { url } = await server.start();
  const timer = setInterval(() => sequencer.tick(), 100);
  process.stdout.write(JSON.stringify({ url }) + "\n");
  const stop = (): void => {
    clearInterval(timer);
    void server
      .stop()
      .then(() => store.close())
      .finally(() => {
        fs.rmSync(dataDir, { recursive: true, force: true });
        process.exit(0);
      });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

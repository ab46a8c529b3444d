/**
 * Suite `sequencer`: signed L2 transfers per second accepted by the operator
 * through its real HTTP JSON-RPC API, each one applied to the pending state
 * (chunk executor, native signature check) and durably stored (LevelDB,
 * fsync'd group commit) before it is acknowledged.
 *
 * The server runs in a child process (`_sequencer-server.ts`), the client
 * here: 2,000 funded accounts, 40,000 transfers signed beforehand, sent as
 * one `l2_sendTransaction` per HTTP request over 64 keep-alive connections;
 * each connection carries its own accounts' transfers in nonce order. At the
 * end the server must report every transfer applied.
 *
 * - transfersPerSecond: acknowledged transfers / wall time of the run
 * - sendLatencyMsP50 / P99: request-to-answer time of `l2_sendTransaction`
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import path from "node:path";
import readline from "node:readline";
import { TxType } from "../../src/protocol/constants";
import { encodeTx } from "../../src/protocol/codec";
import { domainSeparator, signTxWithKey } from "../../src/protocol/eip712";
import { initHashing, toHex } from "../../src/protocol/hash";
import { benchAccounts, BENCH_CHAIN_ID, BENCH_INBOX } from "./_sequencer-accounts";

export const description = "operator: durable signed transfers/s through the JSON-RPC API, send latency p50/p99";

const ACCOUNTS = 2_000;
const ROUNDS = 20;
const CONNECTIONS = 64;

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(__dirname, "_sequencer-server.ts")],
    {
      env: { ...process.env, BENCH_ACCOUNTS: String(ACCOUNTS) },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once("line", (line) => {
      try {
        resolve({ child, url: (JSON.parse(line) as { url: string }).url });
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    child.once("exit", (code) => reject(new Error(`the sequencer server exited with code ${code}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

function post(agent: http.Agent, url: URL, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: "/",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function run(): Promise<Record<string, number>> {
  await initHashing();
  const accounts = benchAccounts(ACCOUNTS);
  const domain = domainSeparator(BENCH_CHAIN_ID, BENCH_INBOX);
  // Lane i sends, round after round, one transfer of each of its accounts: nonce order per account.
  const lanes: string[][] = Array.from({ length: CONNECTIONS }, () => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const a of accounts) {
      const to = ((a.index + round * 7) % ACCOUNTS) + 1;
      const unsigned = {
        type: TxType.Transfer as const,
        from: a.index,
        to,
        amount: 10n ** 12n * BigInt(1 + (round % 9)),
        fee: 0n,
      };
      const signature = signTxWithKey(a.key, domain, unsigned, 0, round);
      const hex = toHex(encodeTx({ ...unsigned, signature }));
      lanes[a.index % CONNECTIONS].push(
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_sendTransaction", params: [hex] }),
      );
    }
  }
  const total = ACCOUNTS * ROUNDS;

  // BENCH_SEQUENCER_URL: measure a server started by hand (e.g. under a profiler) instead.
  const external = process.env.BENCH_SEQUENCER_URL;
  const { child, url } = external ? { child: undefined, url: external } : await startServer();
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const target = new URL(url);
  try {
    const latencies = new Float64Array(total);
    let n = 0;
    let failures = 0;
    let firstError = "";
    const started = performance.now();
    await Promise.all(
      lanes.map(async (bodies) => {
        for (const body of bodies) {
          const t = performance.now();
          const answer = await post(agent, target, body);
          latencies[n++] = performance.now() - t;
          if (!answer.includes('"result"')) {
            failures++;
            firstError ||= answer;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    if (failures > 0) throw new Error(`${failures} of ${total} transfers were refused; first: ${firstError}`);
    const status = JSON.parse(
      await post(agent, target, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_getStatus", params: [] })),
    ) as {
      result: { l2: { transactions: number } };
    };
    if (status.result.l2.transactions !== total) {
      throw new Error(`the server applied ${status.result.l2.transactions} transfers, expected ${total}`);
    }
    latencies.sort();
    return {
      transfersPerSecond: Math.round(total / seconds),
      sendLatencyMsP50: Math.round(percentile(latencies, 50) * 100) / 100,
      sendLatencyMsP99: Math.round(percentile(latencies, 99) * 100) / 100,
      transfers: total,
      connections: CONNECTIONS,
    };
  } finally {
    agent.destroy();
    if (child) await stopServer(child);
  }
}

if (require.main === module) {
  run()
    .then((r) => console.log(r))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}

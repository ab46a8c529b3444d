/**
 * Suite `sequencer`: signed L2 transfers per second accepted by the operator
 * through its real HTTP JSON-RPC API, each one applied to the pending state
 * (chunk executor; the signer recovered natively off the main thread, see
 * src/operator/presign.ts) and durably stored (LevelDB, fsync'd group
 * commit) before it is acknowledged.
 *
 * The server runs in a child process (`_sequencer-server.ts`), the client
 * here: 2,000 funded accounts, 40,000 transfers signed beforehand, sent as
 * one `l2_sendTransaction` per HTTP request over 64 keep-alive connections;
 * each connection carries its own accounts' transfers in nonce order. At the
 * end the server must report every transfer applied.
 *
 * - transfersPerSecond: acknowledged transfers / wall time of the run
 * - sendLatencyMsP50 / P99: request-to-answer time of `l2_sendTransaction`
 * - serverCpuMicrosPerTransfer, clientCpuMicrosPerTransfer: CPU time per
 *   transfer of each side (the machine's two cores are shared by both)
 * - batchedTransfersPerSecond, batchedRequestLatencyMsP50/P99: the same
 *   transfers again on a fresh server, 8 per JSON-RPC batch request
 * - blsTransfersPerSecond, blsSendLatencyMsP50/P99, blsServerCpuMicrosPerTransfer:
 *   BLS transfers (envelopes, PROTOCOL.md §5.4) on a fresh server whose
 *   accounts registered their keys, one per request: each signature checked
 *   by the HTTP thread's pool in one batch per turn before the sequencer
 *   applies it (BLS_ROUNDS rounds of every account)
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { TxType } from "../../src/protocol/constants";
import { encodeTx } from "../../src/protocol/codec";
import { blsTransferDigest, domainSeparator, signTxWithKey } from "../../src/protocol/eip712";
import { initHashing, toHex } from "../../src/protocol/hash";
import { runStandalone } from "./_helpers";
import { benchAccounts, benchBlsKey, BENCH_CHAIN_ID, BENCH_INBOX, type BenchAccount } from "./_sequencer-accounts";
import { blsSign } from "../../src/protocol/bls";
import { encodeBlsEnvelope } from "../../src/protocol/bls-chunk";

export const description = "operator: durable signed transfers/s through the JSON-RPC API, send latency p50/p99";

const ACCOUNTS = 2_000;
const ROUNDS = 20;
const CONNECTIONS = 64;
/** Transfers per JSON-RPC batch request in the batched phase. */
const BATCH = 8;

/** Rounds of BLS transfers (each signed here beforehand at ~0.45 ms). */
const BLS_ROUNDS = 10;

function startServer(env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(__dirname, "_sequencer-server.ts")],
    {
      env: { ...process.env, BENCH_ACCOUNTS: String(ACCOUNTS), ...env },
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

/**
 * A lean HTTP/1.1 keep-alive client for the load: one connection, one
 * request in flight, requests pre-encoded, responses framed by their
 * Content-Length. (Node's `http.request` costs the client several times
 * more CPU per request, and client and server share this machine's cores.)
 */
class Connection {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: ((body: string) => void) | undefined;
  private failed: ((err: Error) => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.failed?.(err));
  }

  static open(url: URL): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => resolve(new Connection(socket)));
      socket.once("error", reject);
    });
  }

  /** Sends one pre-encoded request; resolves with the response body. */
  send(request: Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      this.pending = resolve;
      this.failed = reject;
      this.socket.write(request);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf("\r\n\r\n");
    if (headerEnd < 0) return;
    const head = this.buffer.subarray(0, headerEnd).toString("latin1");
    const match = /content-length:\s*(\d+)/i.exec(head);
    if (!match) {
      this.failed?.(new Error(`response without Content-Length: ${head}`));
      return;
    }
    const end = headerEnd + 4 + Number(match[1]);
    if (this.buffer.length < end) return;
    const body = this.buffer.subarray(headerEnd + 4, end).toString("utf8");
    this.buffer = this.buffer.subarray(end);
    const done = this.pending;
    this.pending = undefined;
    done?.(body);
  }
}

function encodeRequest(url: URL, body: string): Buffer {
  const payload = Buffer.from(body, "utf8");
  const head = `POST / HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), payload]);
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

/**
 * CPU time (user + system) a process has used, in ms, from /proc (Linux);
 * undefined elsewhere. With `mainThread`, only its main thread's.
 */
function cpuMs(pid: number | undefined, mainThread = false): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const file = mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
    const fields = fs.readFileSync(file, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return undefined;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Phase {
  transfersPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  serverCpuMicrosPerTransfer?: number;
  serverMainThreadCpuMicrosPerTransfer?: number;
  clientCpuMicrosPerTransfer: number;
}

/**
 * Sends every lane's transfers against a fresh server, `perRequest` of them
 * per HTTP request (1: one `l2_sendTransaction` each; more: a JSON-RPC batch),
 * and checks that the server applied them all.
 */
async function phase(lanes: string[][], perRequest: number, env: Record<string, string> = {}): Promise<Phase> {
  const total = lanes.reduce((n, l) => n + l.length, 0);
  // BENCH_SEQUENCER_URL: measure a server started by hand (e.g. under a profiler) instead.
  const external = process.env.BENCH_SEQUENCER_URL;
  const { child, url } = external ? { child: undefined, url: external } : await startServer(env);
  const before = external ? 0 : await transactionCount(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const target = new URL(url);
  const bodies = lanes.map((lane) => {
    const out: { body: string; count: number; request: Buffer }[] = [];
    for (let i = 0; i < lane.length; i += perRequest) {
      const slice = lane.slice(i, i + perRequest);
      const body = perRequest === 1 ? slice[0] : `[${slice.join(",")}]`;
      out.push({ body, count: slice.length, request: encodeRequest(target, body) });
    }
    return out;
  });
  const connections = await Promise.all(bodies.map(() => Connection.open(target)));
  try {
    const latencies = new Float64Array(bodies.reduce((n, b) => n + b.length, 0));
    let n = 0;
    let failures = 0;
    let firstError = "";
    const cpuBefore = cpuMs(child?.pid);
    const mainBefore = cpuMs(child?.pid, true);
    const clientCpuBefore = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      bodies.map(async (requests, lane) => {
        for (const { count, request } of requests) {
          const t = performance.now();
          const answer = await connections[lane].send(request);
          latencies[n++] = performance.now() - t;
          const acks = answer.split('"result"').length - 1;
          if (acks !== count) {
            failures++;
            firstError ||= answer.slice(0, 500);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = cpuMs(child?.pid);
    const mainAfter = cpuMs(child?.pid, true);
    const clientCpu = process.cpuUsage(clientCpuBefore);
    if (failures > 0) throw new Error(`${failures} requests had refusals; first: ${firstError}`);
    const status = JSON.parse(
      await post(agent, target, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_getStatus", params: [] })),
    ) as {
      result: { l2: { transactions: number } };
    };
    if (status.result.l2.transactions - before !== total) {
      throw new Error(`the server applied ${status.result.l2.transactions - before} transfers, expected ${total}`);
    }
    latencies.sort();
    return {
      transfersPerSecond: Math.round(total / seconds),
      latencyMsP50: Math.round(percentile(latencies, 50) * 100) / 100,
      latencyMsP99: Math.round(percentile(latencies, 99) * 100) / 100,
      ...(cpuBefore !== undefined && cpuAfter !== undefined
        ? { serverCpuMicrosPerTransfer: Math.round(((cpuAfter - cpuBefore) * 1000) / total) }
        : {}),
      ...(mainBefore !== undefined && mainAfter !== undefined
        ? { serverMainThreadCpuMicrosPerTransfer: Math.round(((mainAfter - mainBefore) * 1000) / total) }
        : {}),
      clientCpuMicrosPerTransfer: Math.round((clientCpu.user + clientCpu.system) / total),
    };
  } finally {
    for (const c of connections) c.close();
    agent.destroy();
    if (child) await stopServer(child);
  }
}

/** Transactions the server has applied (the key registrations of a BLS phase are there before it starts). */
async function transactionCount(url: string): Promise<number> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_getStatus", params: [] });
    return (JSON.parse(await post(agent, new URL(url), body)) as { result: { l2: { transactions: number } } }).result.l2
      .transactions;
  } finally {
    agent.destroy();
  }
}

/** Lane i's BLS transfers: round after round, one of each of its accounts (nonce 1 on: 0 went to the key). */
function blsLanes(accounts: BenchAccount[], domain: string): string[][] {
  const lanes: string[][] = Array.from({ length: CONNECTIONS }, () => []);
  const keys = accounts.map((a) => benchBlsKey(a.index));
  for (let round = 0; round < BLS_ROUNDS; round++) {
    for (const [i, a] of accounts.entries()) {
      const to = ((a.index + round * 7) % ACCOUNTS) + 1;
      const transfer = { from: a.index, to, amount: 10n ** 12n * BigInt(1 + (round % 9)), fee: 0n };
      const signature = blsSign(keys[i], blsTransferDigest(domain, transfer, 0, round + 1));
      const hex = toHex(encodeBlsEnvelope({ ...transfer, signature }));
      lanes[a.index % CONNECTIONS].push(
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_sendTransaction", params: [hex] }),
      );
    }
  }
  return lanes;
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
  // The same signed transfers twice, each time on a fresh server (genesis again).
  const single = await phase(lanes, 1);
  if (process.env.BENCH_SEQUENCER_URL) return { transfersPerSecond: single.transfersPerSecond }; // one phase per server
  const batched = await phase(lanes, BATCH);
  const bls = await phase(blsLanes(accounts, domain), 1, { BENCH_BLS: "1" });
  return {
    transfersPerSecond: single.transfersPerSecond,
    sendLatencyMsP50: single.latencyMsP50,
    sendLatencyMsP99: single.latencyMsP99,
    ...(single.serverCpuMicrosPerTransfer !== undefined
      ? { serverCpuMicrosPerTransfer: single.serverCpuMicrosPerTransfer }
      : {}),
    ...(single.serverMainThreadCpuMicrosPerTransfer !== undefined
      ? { serverMainThreadCpuMicrosPerTransfer: single.serverMainThreadCpuMicrosPerTransfer }
      : {}),
    clientCpuMicrosPerTransfer: single.clientCpuMicrosPerTransfer,
    batchedTransfersPerSecond: batched.transfersPerSecond,
    batchedRequestLatencyMsP50: batched.latencyMsP50,
    batchedRequestLatencyMsP99: batched.latencyMsP99,
    transfers: ACCOUNTS * ROUNDS,
    connections: CONNECTIONS,
    transfersPerBatchedRequest: BATCH,
    blsTransfersPerSecond: bls.transfersPerSecond,
    blsSendLatencyMsP50: bls.latencyMsP50,
    blsSendLatencyMsP99: bls.latencyMsP99,
    ...(bls.serverCpuMicrosPerTransfer !== undefined
      ? { blsServerCpuMicrosPerTransfer: bls.serverCpuMicrosPerTransfer }
      : {}),
    ...(bls.serverMainThreadCpuMicrosPerTransfer !== undefined
      ? { blsServerMainThreadCpuMicrosPerTransfer: bls.serverMainThreadCpuMicrosPerTransfer }
      : {}),
    blsTransfers: ACCOUNTS * BLS_ROUNDS,
  };
}

if (require.main === module) runStandalone(run);

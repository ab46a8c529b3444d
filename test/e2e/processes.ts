/**
 * Child processes for the end-to-end tests: L1 nodes (`hardhat node`,
 * anvil), Hardhat tasks (deploy, operator) — each started on a free port,
 * waited for, and stopped by its PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

export const ROOT = path.resolve(__dirname, "..", "..");
const HARDHAT_CLI = path.join(ROOT, "node_modules", "hardhat", "internal", "cli", "cli.js");

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A started child; `log` is where its output goes. */
export interface Proc {
  child: ChildProcess;
  name: string;
  log: string;
}

const running = new Set<Proc>();

function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, logDir: string): Proc {
  fs.mkdirSync(logDir, { recursive: true });
  const log = path.join(logDir, `${name}.log`);
  const out = fs.openSync(log, "a");
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  const proc = { child, name, log };
  running.add(proc);
  child.once("exit", () => running.delete(proc));
  return proc;
}

/** The last lines of a process's log, for failure messages. */
export function tail(proc: Proc, lines = 30): string {
  try {
    return stripAnsi(fs.readFileSync(proc.log, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Removes terminal colour codes (Hardhat colours its errors when `CI` is set, as on a CI server). */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** Sends `signal` to the process by PID and waits for it to exit (SIGKILL after `graceMs`). */
export async function stop(proc: Proc | undefined, signal: NodeJS.Signals = "SIGTERM", graceMs = 5_000): Promise<void> {
  if (!proc || proc.child.pid === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.child.once("exit", () => r()));
  try {
    process.kill(proc.child.pid, signal);
  } catch {
    return; // already gone
  }
  const timer = setTimeout(() => {
    if (proc.child.exitCode === null && proc.child.signalCode === null && proc.child.pid !== undefined) {
      try {
        process.kill(proc.child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every child still running (an `after` hook calls it, whatever happened). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => stop(p)));
}

async function waitUntil(what: string, proc: Proc, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null)
      throw new Error(`${what}: the process exited (${proc.child.exitCode})\n${tail(proc)}`);
    if (await probe().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`${what}: not ready after ${timeoutMs} ms\n${tail(proc)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function jsonRpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

export type NodeKind = "hardhat" | "anvil";

/** Starts an L1 node of the given kind on a free port and waits until it answers. */
export async function startL1(kind: NodeKind, logDir: string, atPort?: number): Promise<{ proc: Proc; url: string }> {
  const port = atPort ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let proc: Proc;
  if (kind === "hardhat") {
    proc = start(
      "hardhat-node",
      process.execPath,
      [HARDHAT_CLI, "node", "--hostname", "127.0.0.1", "--port", String(port)],
      {},
      logDir,
    );
  } else {
    proc = start(
      "anvil",
      anvilBinary(),
      [
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--chain-id",
        "31337",
        "--hardfork",
        "prague",
        "--gas-limit",
        "60000000",
      ],
      {},
      logDir,
    );
  }
  await waitUntil(`${kind} node`, proc, async () => (await jsonRpc(url, "eth_chainId")) === "0x7a69", 30_000);
  return { proc, url };
}

/** The anvil binary itself (not its npm wrapper), so that its PID is the node's. */
function anvilBinary(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const candidate = path.join(ROOT, "node_modules", "@foundry-rs", `anvil-${process.platform}-${arch}`, "bin", "anvil");
  return fs.existsSync(candidate) ? candidate : path.join(ROOT, "node_modules", ".bin", "anvil");
}

/** Starts a Hardhat task as a child process (stopped by {@link stopAll} if still running); see {@link waitForLog}. */
export function startTask(args: string[], env: NodeJS.ProcessEnv, logDir: string, name = args[0]): Proc {
  return start(name, process.execPath, [HARDHAT_CLI, ...args], env, logDir);
}

/** Waits until a line of `proc`'s output (since `from` characters) matches `pattern`; returns the output since `from`. */
export async function waitForLog(proc: Proc, pattern: RegExp, timeoutMs = 60_000, from = 0): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(proc.log) ? fs.readFileSync(proc.log, "utf8").slice(from) : "";
    if (pattern.test(text)) return text;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited (${proc.child.exitCode}) before printing ${pattern}\n${tail(proc)}`);
    }
    if (Date.now() > until) throw new Error(`${proc.name} did not print ${pattern} in ${timeoutMs} ms\n${tail(proc)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Runs a Hardhat task to completion; rejects with its output on failure. */
export function runTask(args: string[], env: NodeJS.ProcessEnv, logDir: string, name = args[0]): Promise<string> {
  const proc = start(name, process.execPath, [HARDHAT_CLI, ...args], env, logDir);
  return new Promise((resolve, reject) => {
    proc.child.once("exit", (code) => {
      const output = tail(proc, 200);
      if (code === 0) resolve(output);
      else reject(new Error(`hardhat ${args.join(" ")} exited with ${code}\n${output}`));
    });
  });
}

/** Starts the operator task and waits until it is live, and (unless `ready` is false) healthy. */
export async function startOperator(
  args: string[],
  env: NodeJS.ProcessEnv,
  logDir: string,
  port: number,
  ready = true,
): Promise<Proc> {
  const proc = start(
    "operator",
    process.execPath,
    [HARDHAT_CLI, "operator", "--port", String(port), ...args],
    env,
    logDir,
  );
  await waitUntil("operator", proc, async () => (await fetch(`http://127.0.0.1:${port}/health/live`)).ok, 60_000);
  if (ready) {
    await waitUntil("operator ready", proc, async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 60_000);
  }
  return proc;
}

/** Starts the verifier process (scripts/verifier/run.ts) and waits for its /health. */
export async function startVerifier(
  args: string[],
  env: NodeJS.ProcessEnv,
  logDir: string,
  port: number,
): Promise<Proc> {
  const proc = start(
    "verifier",
    process.execPath,
    ["-r", "ts-node/register/transpile-only", "scripts/verifier/run.ts", "--port", String(port), ...args],
    env,
    logDir,
  );
  await waitUntil(
    "the verifier's /health",
    proc,
    async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok,
    60_000,
  );
  return proc;
}

/** Starts the explorer task and waits until its overview page answers. */
export async function startExplorer(
  args: string[],
  env: NodeJS.ProcessEnv,
  logDir: string,
  port: number,
): Promise<Proc> {
  const proc = start(
    "explorer",
    process.execPath,
    [HARDHAT_CLI, "explorer", "--port", String(port), ...args],
    env,
    logDir,
  );
  await waitUntil("the explorer's overview", proc, async () => (await fetch(`http://127.0.0.1:${port}/`)).ok, 90_000);
  return proc;
}

/**
 * Real processes on loopback for the channel end-to-end tests and the benchmark: a `hardhat node`, channel clients
 * and watchtowers, each a child process started with its PID kept, stopped by that PID.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { HDNodeWallet } from "ethers";

/** The project's root directory. */
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** The mnemonic `hardhat node` funds its accounts from. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** The private key of development account `index` (funded with 10,000 ETH by `hardhat node`). */
export function devKey(index: number): string {
  return HDNodeWallet.fromPhrase(DEV_MNEMONIC, "", `m/44'/60'/0'/0/${index}`).privateKey;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A child process with its output kept and a stop that waits for it to exit. */
export class Child {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  /** The first JSON line with `"ready": true` on stdout. */
  readonly ready: Promise<Record<string, unknown>>;
  private readonly lines: string[] = [];
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    if (proc.pid === undefined) throw new Error(`${name} did not start`);
    this.pid = proc.pid;
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(code);
      });
    });
    let resolveReady!: (v: Record<string, unknown>) => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((resolve, reject) => {
      resolveReady = resolve;
      rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    const keep = (line: string) => {
      this.lines.push(line);
      if (this.lines.length > 400) this.lines.shift();
    };
    let outBuf = "";
    proc.stdout?.on("data", (chunk: Buffer) => {
      outBuf += chunk.toString("utf8");
      let i;
      while ((i = outBuf.indexOf("\n")) >= 0) {
        const line = outBuf.slice(0, i);
        outBuf = outBuf.slice(i + 1);
        keep(line);
        if (line.startsWith("{")) {
          try {
            const j = JSON.parse(line) as Record<string, unknown>;
            if (j.ready === true) resolveReady(j);
          } catch {
            // not the ready line
          }
        }
      }
    });
    let errBuf = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      errBuf += chunk.toString("utf8");
      let i;
      while ((i = errBuf.indexOf("\n")) >= 0) {
        keep(errBuf.slice(0, i));
        errBuf = errBuf.slice(i + 1);
      }
    });
    void this.exited.then((code) =>
      rejectReady(new Error(`${name} exited (${code}) before it was ready:\n${this.output()}`)),
    );
  }

  /** Whether the process is still running. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines of its stdout and stderr. */
  output(last = 60): string {
    return this.lines.slice(-last).join("\n");
  }

  /** Waits for the ready line (at most `timeoutMs`). */
  async waitReady(timeoutMs = 30_000): Promise<Record<string, unknown>> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.ready,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output()}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Sends `signal` to the PID and waits for the exit; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      return; // already gone
    }
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    if (timer) clearTimeout(timer);
    if (killed && this.running) {
      try {
        process.kill(this.pid, "SIGKILL");
      } catch {
        // gone
      }
      await this.exited;
    }
  }

  /** Kills the process at once (a crash, as far as its peers can tell). */
  async kill(): Promise<void> {
    await this.stop("SIGKILL", 5_000);
  }
}

/**
 * Starts `node -r ts-node/register/transpile-only <script> ...args` in the project root (with the extra node flags
 * of `CHANNEL_CHILD_NODE_FLAGS`, e.g. `--cpu-prof`, when set).
 */
export function spawnTs(name: string, script: string, args: string[], env: Record<string, string> = {}): Child {
  const flags = (process.env.CHANNEL_CHILD_NODE_FLAGS ?? "").split(" ").filter((f) => f.length > 0);
  const proc = spawn(process.execPath, [...flags, "-r", "ts-node/register/transpile-only", script, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Child(name, proc);
}

/** Resolves once `url` answers `eth_chainId`. */
export async function waitForRpc(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A `hardhat node` child on a free port, answering JSON-RPC. */
export async function startHardhatNode(): Promise<{ url: string; child: Child }> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      path.join("node_modules", "hardhat", "internal", "cli", "cli.js"),
      "node",
      "--hostname",
      "127.0.0.1",
      "--port",
      String(port),
    ],
    { cwd: PROJECT_ROOT, env: { ...process.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const child = new Child("hardhat node", proc);
  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      waitForRpc(url, 60_000),
      child.exited.then((code) => {
        throw new Error(`hardhat node exited (${code}):\n${child.output()}`);
      }),
    ]);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { url, child };
}

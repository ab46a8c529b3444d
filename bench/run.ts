/**
 * Benchmark runner.
 *
 *   npm run bench                          every suite, then bench/report.md and bench/charts/*.svg
 *   npm run bench -- rollup channel        the named suites only; the other sections keep their figures
 *   npm run bench -- --report-only         the report from bench/results/latest.json, nothing measured
 *   npm run bench -- --no-report           measure, do not write the report
 *
 * The suites are `protocol`, `rollup`, `sequencer`, `restart`, `verifier`, `bls`, `explorer` and `channel`
 * (table `SUITES` below). A suite is a list of parts; a part is an exported
 * function of a module under bench/ that returns its figures, numbers (or, for
 * a series, a list of rows of numbers), and each part files them under one
 * section of the results. Parts run one after another in this process (some
 * start child processes of their own), with a progress line.
 *
 * `bench/results/latest.json` holds
 *
 *     { "updated": ISO date, "machine": { cores, cpu, memoryGiB, node, platform },
 *       "configured": { protocol constants the report compares with, each named in bench/report/model.ts },
 *       "<section>": { "<figure>": number | rows, ... }, ...,
 *       "sources": { "<section>.<figure>": "<file> <function>()" },   the code that measured each figure
 *       "runs": { "<suite>": { date, seconds, loadAverage, loadAverageEnd, invocation, code, failed? } },
 *       "fullRun": { date, seconds, loadAverage, loadAverageEnd, code } }   the last run of every suite at once
 *
 * where `code` is `{ commit, dirty }`: the git commit measured and the measured
 * files that had uncommitted changes.
 *
 * so `rollup.gasPerTransfer` is the figure `gasPerTransfer` of section
 * `rollup`. Running a suite replaces all of its sections (the `rollup` suite
 * fills `rollup` and `l1`); sections of suites not run are kept, and the
 * report shows the date of each.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { CodeVersion, Figures, Results, Value } from "./report/model";

interface Part {
  /** Shown while it runs. */
  label: string;
  /** The module, relative to bench/. */
  file: string;
  /** The exported function to call; `run` if not given. */
  fn?: string;
  /** The section its figures go to; the suite's name if not given. */
  section?: string;
  /** Environment set while the module is loaded (afresh) and run. */
  env?: Record<string, string>;
  /** What is filed, from what the function returned; everything as returned if not given. */
  map?: (figures: Figures) => Figures;
}

interface Suite {
  description: string;
  parts: Part[];
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Every suite, in the order `npm run bench` runs them. */
const SUITES: Record<string, Suite> = {
  protocol: {
    description: "the TypeScript STF on one core: signed transfers/s, Merkle tree updates/s",
    parts: [{ label: "STF and primitives", file: "protocol.ts" }],
  },
  rollup: {
    description: "L1 gas of the rollup (full batch, batch sizes, worst fraud proof), L1 baselines, latency to L1",
    parts: [
      { label: "full batch through the operator", file: "suites/rollup.ts" },
      { label: "plain L1 transfers", file: "suites/l1.ts", fn: "measureL1Transfers", section: "l1" },
      { label: "gas per transfer by batch size", file: "suites/l1.ts", fn: "measureBatchSizes" },
      { label: "worst-case fraud proofs", file: "suites/l1.ts", fn: "measureFraudProofs" },
      { label: "latency: send, batch on L1, proposal", file: "suites/l1.ts", fn: "measureRollupLatency" },
    ],
  },
  sequencer: {
    description: "operator: durable signed transfers/s through the JSON-RPC API, send latency",
    parts: [{ label: "JSON-RPC load", file: "suites/sequencer.ts" }],
  },
  restart: {
    description: "operator: time to accept again after a restart with 200,000 transactions behind it",
    parts: [{ label: "restart after a long history", file: "suites/restart.ts" }],
  },
  verifier: {
    description: "verifier: transfers rebuilt per second from L1 alone",
    parts: [{ label: "sync from L1", file: "suites/verifier.ts" }],
  },
  bls: {
    description: "BLS aggregate transfers: bytes and L1 gas per transfer in a full batch, verifier replay, checks/s",
    parts: [{ label: "full BLS batches, verifier sync, signature checks", file: "suites/bls.ts" }],
  },
  explorer: {
    description: "explorer: 100,000 L2 transactions indexed from L1, then a transaction and an address page",
    parts: [{ label: "index from L1, pages", file: "suites/explorer.ts" }],
  },
  channel: {
    description: "channel adjudicator gas (happy and dispute paths), payments/s and payment latency between processes",
    parts: [
      { label: "adjudicator gas", file: "suites/channel-gas.ts" },
      { label: "payments/s, pipelined", file: "suites/channel.ts" },
      {
        // The same bench with one payment in flight: each payment waits for the previous one's acknowledgement.
        label: "payment round trip, one in flight",
        file: "suites/channel.ts",
        env: { CHANNEL_BENCH_WINDOW: "1", CHANNEL_BENCH_PAYMENTS: "1000" },
        map: (f) => ({
          paymentLatencyMsMean: round(((f.seconds as number) * 1000) / (f.payments as number), 3),
          sequentialPayments: f.payments,
        }),
      },
    ],
  },
};

const BENCH_DIR = __dirname;
const RESULTS_FILE = path.join(BENCH_DIR, "results", "latest.json");

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

function readResults(): Results {
  try {
    return JSON.parse(fs.readFileSync(RESULTS_FILE, "utf8")) as Results;
  } catch {
    return {};
  }
}

function writeResults(results: Results): void {
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  const tmp = `${RESULTS_FILE}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(results, null, 2) + "\n");
  fs.renameSync(tmp, RESULTS_FILE);
}

/** Paths whose code is measured; changes elsewhere (docs, the generated report) do not matter. */
const MEASURED_PATHS = ["bench", "contracts", "scripts", "src", "tasks", "test/rollup/helpers", "hardhat.config.ts"];
const GENERATED = ["bench/results/", "bench/report.md", "bench/charts/"];

/** The commit being measured and the measured files that differ from it; undefined outside a git checkout. */
function codeVersion(): CodeVersion | undefined {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: path.join(BENCH_DIR, ".."), encoding: "utf8" });
    const commit = git("rev-parse", "HEAD").trim();
    const dirty = git("status", "--porcelain", "--untracked-files=all", "--", ...MEASURED_PATHS)
      .split("\n")
      .map((line) => line.slice(3).trim())
      .filter((file) => file !== "" && !GENERATED.some((g) => file.startsWith(g)));
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

const load1 = (): number => round(os.loadavg()[0], 2); // other work on the machine skews wall-clock figures

function format(value: Value): string {
  if (Array.isArray(value)) return `${value.length} rows`;
  return Number.isInteger(value)
    ? value.toLocaleString("en-US")
    : value.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The progress line: on a terminal one line redrawn every 200 ms with the
 * running part and its time; anything else written meanwhile goes above it.
 * Elsewhere (a pipe, CI) one line when each part starts.
 */
class Progress {
  private readonly tty = Boolean(process.stdout.isTTY);
  private timer: NodeJS.Timeout | undefined;
  private status = "";
  private frame = 0;
  private readonly out = process.stdout.write.bind(process.stdout);
  private readonly err = process.stderr.write.bind(process.stderr);

  constructor(private readonly started: bigint) {}

  begin(text: string): void {
    if (!this.tty) {
      console.log(`  … ${text}`);
      return;
    }
    const partStarted = process.hrtime.bigint();
    const draw = (): void => {
      const spinner = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"[this.frame++ % 10];
      const part = Number(process.hrtime.bigint() - partStarted) / 1e9;
      const total = Number(process.hrtime.bigint() - this.started) / 1e9;
      this.status = `  ${spinner} ${text} · ${part.toFixed(1)} s · total ${clock(total)}`;
      this.out(`\r\x1b[2K${this.status.slice(0, (process.stdout.columns || 120) - 1)}`);
    };
    // Whatever a suite prints goes above the progress line.
    const through =
      (write: typeof this.out) =>
      (...args: Parameters<typeof this.out>): boolean => {
        this.out("\r\x1b[2K");
        const ok = write(...args);
        draw();
        return ok;
      };
    process.stdout.write = through(this.out) as typeof process.stdout.write;
    process.stderr.write = through(this.err) as typeof process.stderr.write;
    draw();
    this.timer = setInterval(draw, 200);
  }

  end(): void {
    if (!this.tty) return;
    clearInterval(this.timer);
    process.stdout.write = this.out as typeof process.stdout.write;
    process.stderr.write = this.err as typeof process.stderr.write;
    this.out("\r\x1b[2K");
  }
}

/** Loads a part's module (afresh when it has an environment of its own) and calls its function. */
async function runPart(part: Part): Promise<Figures> {
  const file = path.join(BENCH_DIR, part.file);
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(part.env ?? {})) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  if (part.env) delete require.cache[require.resolve(file)];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the parts are chosen at run time
    const mod = require(file) as Record<string, unknown>;
    const fn = mod[part.fn ?? "run"];
    if (typeof fn !== "function") throw new Error(`bench/${part.file} does not export ${part.fn ?? "run"}()`);
    const figures = (await (fn as () => Promise<Figures>)()) ?? {};
    return part.map ? part.map(figures) : figures;
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    if (part.env) delete require.cache[require.resolve(file)];
  }
}

function sectionsOf(name: string): string[] {
  return [...new Set(SUITES[name].parts.map((p) => p.section ?? name))];
}

/** The code that measured a part's figures, as the results' `sources` name it. */
function sourceOf(part: Part): string {
  const env = Object.entries(part.env ?? {}).map(([k, v]) => ` ${k}=${v}`);
  return `bench/${part.file} ${part.fn ?? "run"}()${env.length > 0 ? ` with${env.join("")}` : ""}`;
}

const META = new Set(["updated", "machine", "configured", "sources", "runs", "fullRun"]);

/** Drops what no suite of this runner writes any more (sections and runs of renamed or removed suites). */
function prune(results: Results): Results {
  const sections = new Set(Object.keys(SUITES).flatMap(sectionsOf));
  for (const key of Object.keys(results)) if (!META.has(key) && !sections.has(key)) delete results[key];
  for (const name of Object.keys(results.runs ?? {})) if (!(name in SUITES)) delete results.runs?.[name];
  for (const key of Object.keys(results.sources ?? {})) {
    const section = key.split(".")[0];
    if (section !== "fullRun" && !sections.has(section)) delete results.sources?.[key];
  }
  return results;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flags = new Set(args.filter((a) => a.startsWith("-")));
  const unknownFlags = [...flags].filter((f) => f !== "--report-only" && f !== "--no-report");
  const requested = args.filter((a) => !a.startsWith("-"));
  const unknown = requested.filter((name) => !(name in SUITES));
  if (unknown.length > 0 || unknownFlags.length > 0) {
    console.error(
      `unknown suite(s) or option(s): ${[...unknown, ...unknownFlags].join(", ")}; ` +
        `suites: ${Object.keys(SUITES).join(", ")}; options: --report-only, --no-report`,
    );
    process.exitCode = 1;
    return;
  }
  const { writeReport, CONFIGURED } = await import("./report");
  if (flags.has("--report-only")) {
    for (const file of await writeReport(readResults())) console.log(`wrote ${path.relative(process.cwd(), file)}`);
    return;
  }

  const names = requested.length > 0 ? [...new Set(requested)] : Object.keys(SUITES);
  const invocation = new Date().toISOString();
  const started = process.hrtime.bigint();
  const loadAtStart = load1();
  const code = codeVersion();
  const progress = new Progress(started);
  const results = prune(readResults());
  results.machine = machine();
  results.configured = Object.fromEntries(CONFIGURED.map((c) => [c.key, c.value]));
  results.sources ??= {};
  results.runs ??= {};
  const loads = os.loadavg().map((l) => l.toFixed(2));
  if (code && code.dirty.length > 0) {
    console.log(
      `note: measuring uncommitted changes to ${code.dirty.join(", ")} (on top of ${code.commit.slice(0, 8)})`,
    );
  }
  console.log(
    `bench: ${names.join(", ")} on ${os.cpus().length} cores, Node ${process.version}, load ${loads.join(" ")}`,
  );
  const failed: string[] = [];
  for (const [i, name] of names.entries()) {
    const suite = SUITES[name];
    const suiteStarted = process.hrtime.bigint();
    const loadAverage = load1();
    console.log(`[${i + 1}/${names.length}] ${name}: ${suite.description}`);
    const sections: Record<string, Figures> = Object.fromEntries(sectionsOf(name).map((s) => [s, {}]));
    const sources: Record<string, string> = {};
    const failedParts: string[] = [];
    for (const [j, part] of suite.parts.entries()) {
      const section = part.section ?? name;
      const where = sourceOf(part);
      const partStarted = process.hrtime.bigint();
      progress.begin(`[${i + 1}/${names.length}] ${name} ${j + 1}/${suite.parts.length}: ${part.label}`);
      try {
        const figures = await runPart(part);
        progress.end();
        const seconds = Number(process.hrtime.bigint() - partStarted) / 1e9;
        console.log(`  ✓ ${part.label} (${seconds.toFixed(1)} s, ${where})`);
        for (const [key, value] of Object.entries(figures)) {
          sections[section][key] = value;
          sources[`${section}.${key}`] = where;
          console.log(`      ${section}.${key} = ${format(value)}`);
        }
      } catch (error) {
        // One broken part must not hide the others' figures: report it and go on.
        progress.end();
        console.error(`  ✗ ${part.label} failed (${where}):`, error);
        failedParts.push(part.label);
      }
    }
    const seconds = Number(process.hrtime.bigint() - suiteStarted) / 1e9;
    const date = new Date().toISOString();
    // A suite's sections are replaced as a whole, so that no figure of an older run stays beside the new ones.
    for (const [section, figures] of Object.entries(sections)) {
      results[section] = figures;
      for (const key of Object.keys(results.sources)) if (key.startsWith(`${section}.`)) delete results.sources[key];
    }
    Object.assign(results.sources, sources);
    results.runs[name] = {
      date,
      seconds: round(seconds, 1),
      loadAverage,
      loadAverageEnd: load1(),
      invocation,
      ...(code ? { code } : {}),
      ...(failedParts.length > 0 ? { failed: failedParts } : {}),
    };
    results.updated = date;
    console.log(`  ${name}: ${seconds.toFixed(1)} s (load average ${loadAverage} at start)`);
    if (failedParts.length > 0) failed.push(name);
    writeResults(results); // after every suite, so that a later failure keeps what was measured
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (names.length === Object.keys(SUITES).length && failed.length === 0) {
    results.fullRun = {
      date: invocation,
      seconds: round(seconds, 1),
      loadAverage: loadAtStart,
      loadAverageEnd: load1(),
      ...(code ? { code } : {}),
    };
    results.sources["fullRun.seconds"] = "bench/run.ts main()";
    writeResults(results);
  }
  console.log(`results: ${path.relative(process.cwd(), RESULTS_FILE)} (${clock(seconds)} for ${names.join(", ")})`);
  if (!flags.has("--no-report")) {
    for (const file of await writeReport(results)) console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
  if (failed.length > 0) {
    console.error(`failed suites: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

main().then(
  // Suites leave no servers behind, but a stray handle must not keep the run from ending.
  () => setTimeout(() => process.exit(), 100).unref(),
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);

/**
 * Benchmark runner: `npm run bench` runs every suite, `npm run bench -- protocol rollup` the named ones.
 *
 * A suite is a file `bench/suites/<name>.ts` (or, for the suites that predate
 * that folder, `bench/<name>.ts`); files whose name starts with `_` are
 * helpers, not suites. A suite exports
 *
 *     export const description: string;                                // optional, printed before it runs
 *     export async function run(): Promise<Record<string, number>>;    // figures, e.g. { transfersPerSecond: 6100 }
 *
 * Suites run one after another in this process. Each suite's figures are
 * printed and merged into `bench/results/latest.json` under its name:
 *
 *     { "updated": ISO date, "machine": { cores, cpu, memoryGiB, node, platform },
 *       "<suite>": { "<figure>": number, ... }, ...,
 *       "runs": { "<suite>": { "date": ISO date, "seconds": number, "loadAverage": 1-minute load at start } } }
 *
 * so `protocol.transfersPerSecond` is the figure `transfersPerSecond` of
 * suite `protocol`. Suites not run keep their previous figures.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Suite {
  description?: string;
  run(): Promise<Record<string, number>>;
}

interface Results {
  updated?: string;
  machine?: Record<string, unknown>;
  runs?: Record<string, { date: string; seconds: number; loadAverage: number }>;
  [suite: string]: unknown;
}

const BENCH_DIR = __dirname;
const SUITE_DIRS = [path.join(BENCH_DIR, "suites"), BENCH_DIR];
const RESULTS_FILE = path.join(BENCH_DIR, "results", "latest.json");

/** Suite name → file, from `bench/suites/` and `bench/`. */
function availableSuites(): Map<string, string> {
  const suites = new Map<string, string>();
  for (const dir of SUITE_DIRS) {
    if (!fs.existsSync(dir)) continue;
    for (const file of fs.readdirSync(dir)) {
      if (!file.endsWith(".ts") || file.endsWith(".d.ts") || file.startsWith("_")) continue;
      if (dir === BENCH_DIR && file === "run.ts") continue;
      const name = file.slice(0, -3);
      const existing = suites.get(name);
      if (existing !== undefined)
        throw new Error(`suite ${name} is defined twice: ${existing} and ${path.join(dir, file)}`);
      suites.set(name, path.join(dir, file));
    }
  }
  return new Map([...suites].sort(([a], [b]) => a.localeCompare(b)));
}

function loadSuite(file: string): Suite {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- suites are discovered at run time
  const mod = require(file) as Partial<Suite>;
  if (typeof mod.run !== "function") throw new Error(`${path.relative(process.cwd(), file)} does not export run()`);
  return mod as Suite;
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
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

function format(value: number): string {
  return Number.isInteger(value)
    ? value.toLocaleString("en-US")
    : value.toLocaleString("en-US", { maximumFractionDigits: 3 });
}

async function main(): Promise<void> {
  const available = availableSuites();
  const requested = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const unknown = requested.filter((name) => !available.has(name));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(", ")}; available: ${[...available.keys()].join(", ") || "none"}`);
    process.exitCode = 1;
    return;
  }
  const names = requested.length > 0 ? requested : [...available.keys()];
  const results = readResults();
  results.machine = machine();
  results.runs ??= {};
  const failed: string[] = [];
  for (const [i, name] of names.entries()) {
    const file = available.get(name) as string;
    const start = process.hrtime.bigint();
    const loadAverage = Math.round(os.loadavg()[0] * 100) / 100; // other work on the machine skews wall-clock figures
    try {
      const suite = loadSuite(file);
      console.log(`[${i + 1}/${names.length}] ${name}${suite.description ? `: ${suite.description}` : ""}`);
      const figures = await suite.run();
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      for (const [key, value] of Object.entries(figures)) console.log(`    ${name}.${key} = ${format(value)}`);
      console.log(`    (${seconds.toFixed(1)} s, load average ${loadAverage} at start)`);
      const date = new Date().toISOString();
      results[name] = figures;
      results.runs[name] = { date, seconds: Math.round(seconds * 10) / 10, loadAverage };
      results.updated = date;
      writeResults(results); // after every suite, so a later failure keeps what was measured
    } catch (error) {
      // One broken suite must not hide the others' figures: report it and go on.
      console.error(`[${i + 1}/${names.length}] ${name} failed:`, error);
      failed.push(name);
    }
  }
  console.log(`results: ${path.relative(process.cwd(), RESULTS_FILE)}`);
  if (failed.length > 0) {
    console.error(`failed suites: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

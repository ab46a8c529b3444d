/**
 * Benchmark runner: `npm run bench` runs every suite, `npm run bench -- protocol rollup` the named ones.
 *
 * A suite is a file `bench/<name>.ts` (any name but `run`, not starting with `_`) that exports
 *
 *     export const description: string;                       // one line, printed before it runs
 *     export async function run(): Promise<Record<string, number>>;   // figures, e.g. { transfersPerSecond: 6100 }
 *
 * Suites run one after another in this process. Each suite's figures are
 * printed and merged into `bench/results/latest.json` under its name:
 *
 *     { "updated": ISO date, "machine": { cores, cpu, memoryGiB, node, platform },
 *       "<suite>": { "<figure>": number, ... }, ...,
 *       "runs": { "<suite>": { "date": ISO date, "seconds": number } } }
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
  runs?: Record<string, { date: string; seconds: number }>;
  [suite: string]: unknown;
}

const BENCH_DIR = __dirname;
const RESULTS_FILE = path.join(BENCH_DIR, "results", "latest.json");

/** Names of the suites present in `bench/`. */
function availableSuites(): string[] {
  return fs
    .readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "run.ts" && !f.startsWith("_"))
    .map((f) => f.slice(0, -3))
    .sort();
}

function loadSuite(name: string): Suite {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- suites are discovered at run time
  const mod = require(path.join(BENCH_DIR, `${name}.ts`)) as Partial<Suite>;
  if (typeof mod.run !== "function") throw new Error(`bench/${name}.ts does not export run()`);
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
  const unknown = requested.filter((name) => !available.includes(name));
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(", ")}; available: ${available.join(", ") || "none"}`);
    process.exitCode = 1;
    return;
  }
  const names = requested.length > 0 ? requested : available;
  const results = readResults();
  results.machine = machine();
  results.runs ??= {};
  for (const [i, name] of names.entries()) {
    const suite = loadSuite(name);
    console.log(`[${i + 1}/${names.length}] ${name}${suite.description ? `: ${suite.description}` : ""}`);
    const start = process.hrtime.bigint();
    const figures = await suite.run();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    for (const [key, value] of Object.entries(figures)) console.log(`    ${name}.${key} = ${format(value)}`);
    console.log(`    (${seconds.toFixed(1)} s)`);
    const date = new Date().toISOString();
    results[name] = figures;
    results.runs[name] = { date, seconds: Math.round(seconds * 10) / 10 };
    results.updated = date;
    writeResults(results); // after every suite, so a later failure keeps what was measured
  }
  console.log(`results: ${path.relative(process.cwd(), RESULTS_FILE)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

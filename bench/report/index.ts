/**
 * Writes bench/report.md, bench/charts/*.svg and the "Figures" part of
 * README.md (between its `bench:figures` markers) from
 * bench/results/latest.json. bench/run.ts calls `writeReport` after every run;
 * `npm run bench -- --report-only` calls it alone.
 */
import fs from "node:fs";
import path from "node:path";
import { duration, finalityBars, renderCharts, throughputBars, type Chart } from "./charts";
import { CONFIGURED, configured, fmt, num, rows, verdicts, type Figures, type Results } from "./model";

export { CONFIGURED } from "./model";
export type { Results } from "./model";

const BENCH_DIR = path.resolve(__dirname, "..");
const ROOT = path.resolve(BENCH_DIR, "..");
const REPORT_FILE = path.join(BENCH_DIR, "report.md");
const CHARTS_DIR = path.join(BENCH_DIR, "charts");
const README_FILE = path.join(ROOT, "README.md");
const README_START = "<!-- bench:figures:start";
const README_END = "<!-- bench:figures:end -->";

const SECTION_ORDER = ["l1", "rollup", "protocol", "sequencer", "verifier", "bls", "explorer", "channel"];

function table(header: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

const mark = (met: boolean | undefined): string => (met === undefined ? "—" : met ? "✅ met" : "❌ missed");
const gas = (x: number | undefined): string => (x === undefined ? "—" : `${fmt(x, x < 100 ? 1 : 0)} gas`);
const ms = (x: number | undefined): string => (x === undefined ? "—" : duration(x / 1000));

function source(results: Results, key: string): string {
  const s = results.sources?.[key];
  return s ? `\`${s}\`` : "—";
}

/** Where the report's figures come from: one run, or the dates of each suite's run. */
function provenance(results: Results): string {
  const m = results.machine ?? {};
  const runs = Object.entries(results.runs ?? {});
  const machineLine =
    `${String(m.cores)} cores (${String(m.cpu)}), ${String(m.memoryGiB)} GiB, Node ${String(m.node)}, ` +
    `${String(m.platform)}`;
  const invocations = new Set(runs.map(([, r]) => r.invocation));
  const lines = [`**Machine:** ${machineLine}.`];
  const full = results.fullRun;
  if (full && invocations.size === 1 && invocations.has(full.date)) {
    lines.push(
      `**Run:** every figure below comes from one \`npm run bench\` started ${full.date}, which took ` +
        `${fmt(full.seconds, 1)} s (load average ${full.loadAverage} at the start, ${full.loadAverageEnd} at the end, ` +
        `on ${String(m.cores)} cores).`,
    );
  } else {
    lines.push(
      "**Runs:** the sections below come from more than one run; " +
        runs.map(([name, r]) => `\`${name}\` ${r.date} (load ${r.loadAverage})`).join(", ") +
        ". Run `npm run bench` for figures from one run.",
    );
  }
  const codes = new Map(runs.map(([, r]) => [JSON.stringify(r.code ?? null), r.code]));
  for (const code of codes.values()) {
    if (code === undefined) continue;
    lines.push(
      `**Code:** commit \`${code.commit.slice(0, 12)}\`` +
        (code.dirty.length === 0
          ? ", no uncommitted changes to the measured code."
          : ` with uncommitted changes to ${code.dirty.map((f) => `\`${f}\``).join(", ")}.`),
    );
  }
  const failed = runs.filter(([, r]) => r.failed && r.failed.length > 0);
  if (failed.length > 0) {
    lines.push(`**Failed parts:** ${failed.map(([n, r]) => `${n}: ${(r.failed ?? []).join(", ")}`).join("; ")}.`);
  }
  lines.push(
    "Load matters: the machine's cores are shared with whatever else runs, so wall-clock rates (transfers/s, " +
      "payments/s) fall when it is busy; gas figures do not move.",
  );
  return lines.join("\n\n");
}

/** The three paths side by side: cost, latency, throughput. */
function sideBySide(results: Results): string {
  const c = (key: string) => configured(results, key);
  const happy = num(results, "channel.happyPathGas");
  const size = num(results, "rollup.batchSize");
  const chunk = rows(results, "rollup.byBatchSize").find((r) => r.transfers === 32);
  const single = rows(results, "rollup.byBatchSize").find((r) => r.transfers === 1);
  const gasLimit = num(results, "l1.blockGasLimit");
  const perSlot = (g: number | undefined) =>
    gasLimit && g ? `${fmt(gasLimit / g / c("l1SlotSeconds"), 0)}/s (derived: block gas limit ÷ gas ÷ slot)` : "—";
  const body = [
    [
      "L1 gas per payment (measured)",
      `${gas(num(results, "l1.ethTransferGas"))} (ETH), ${gas(num(results, "l1.erc20TransferGas"))} (ERC-20)`,
      `${gas(num(results, "rollup.gasPerTransfer"))} in a full batch of ${fmt(size, 0)}; ` +
        `${gas(chunk?.gasPerTransfer)} in a batch of 32; ${gas(single?.gasPerTransfer)} alone`,
      happy === undefined
        ? "—"
        : `${gas(happy)} per channel (open, fund, close): ${gas(happy / 100)} per payment over 100 payments, ` +
          `${gas(happy / 10_000)} over 10,000`,
    ],
    [
      "accepted (measured)",
      `in a block in ${ms(num(results, "l1.inclusionLatencyMsP50"))} in-process (automine, p50)`,
      `sequencer acknowledgement (durable) ${ms(num(results, "sequencer.sendLatencyMsP50"))} p50, ` +
        `${ms(num(results, "sequencer.sendLatencyMsP99"))} p99 under full load; ` +
        `${ms(num(results, "rollup.softConfirmationMsP50"))} p50 one at a time`,
      `payment round trip, both sides durable: ${ms(num(results, "channel.paymentLatencyMsMean"))} (mean, one in flight)`,
    ],
    [
      "on L1",
      `next slot: ${duration(c("l1SlotSeconds"))} (configured)`,
      `batch on L1 ${ms(num(results, "rollup.l1InclusionMsMean"))} after sending, proposal ` +
        `${ms(num(results, "rollup.proposalMsMean"))} (measured in-process; batch age ${ms(c("rollupBatchMaxAgeMs"))} configured)`,
      "nothing per payment; only open and close",
    ],
    [
      "final",
      `${duration(c("l1FinalitySeconds"))} (configured: 2 epochs)`,
      `${duration(c("rollupChallengeWindowSeconds"))} challenge window after the proposal (configured); ` +
        "withdrawals wait for it",
      `at once for the two parties; on L1 a cooperative close is final in ${duration(c("l1FinalitySeconds"))}, ` +
        `a dispute after ${duration(c("channelChallengeDurationSeconds"))} (configured)`,
    ],
    [
      "throughput",
      perSlot(num(results, "l1.ethTransferGas")),
      `sequencer ${fmt(num(results, "sequencer.transfersPerSecond"), 0)}/s, verifier ` +
        `${fmt(num(results, "verifier.transfersPerSecond"), 0)}/s (measured); L1 data for ` +
        perSlot(num(results, "rollup.gasPerTransfer")),
      `${fmt(num(results, "channel.paymentsPerSecond"), 0)}/s per channel (measured); channels run in parallel`,
    ],
  ];
  return table(["", "plain L1 transfer", "rollup transfer", "channel payment"], body);
}

function targetsTable(results: Results): string {
  return table(
    ["target", "figure", "measured", "", "note", "measured by"],
    verdicts(results).map((v) => [
      v.target,
      `\`${v.figure}\``,
      v.value,
      mark(v.met),
      v.note,
      source(results, v.figure),
    ]),
  );
}

function batchSizeTable(results: Results): string {
  const series = rows(results, "rollup.byBatchSize");
  if (series.length === 0) return "_not measured_";
  return table(
    [
      "transfers",
      "chunks",
      "appendBatch gas",
      "propose gas",
      "gas / transfer",
      "floor / transfer",
      "× floor",
      "calldata B / transfer",
    ],
    series.map((r) => [
      fmt(r.transfers, 0),
      fmt(r.chunks, 0),
      fmt(r.appendGas, 0),
      fmt(r.proposeGas, 0),
      fmt(r.gasPerTransfer, 1),
      fmt(r.floorGasPerTransfer, 1),
      (r.gasPerTransfer / r.floorGasPerTransfer).toFixed(3),
      fmt(r.calldataBytesPerTransfer, 2),
    ]),
  );
}

function latencyTable(results: Results): string {
  const sourceOf = (label: string, kind: string): string => {
    if (kind === "configured") {
      const key =
        label.startsWith("L1: in a block") || label.includes("batch age")
          ? "l1SlotSeconds"
          : label.startsWith("L1: final") || label.includes("cooperative")
            ? "l1FinalitySeconds"
            : label.includes("challenge window")
              ? "rollupChallengeWindowSeconds"
              : "channelChallengeDurationSeconds";
      const extra = label.includes("batch age") ? " + `configured.rollupBatchMaxAgeMs`" : "";
      return `\`configured.${key}\`${extra}`;
    }
    const key = label.startsWith("L1")
      ? "l1.inclusionLatencyMsP50"
      : label.includes("sequencer")
        ? "sequencer.sendLatencyMsP50"
        : label.startsWith("rollup")
          ? "rollup.l1InclusionMsMean"
          : "channel.paymentLatencyMsMean";
    return `\`${key}\`: ${source(results, key)}`;
  };
  return table(
    ["path: stage", "time", "kind", "from"],
    finalityBars(results).map((b) => [b.label, b.text, b.kind, sourceOf(b.label, b.kind)]),
  );
}

function throughputTable(results: Results): string {
  return table(
    ["part", "per second", "kind"],
    throughputBars(results).map((b) => [b.label, b.text, b.kind]),
  );
}

function allFigures(results: Results): string {
  const body: string[][] = [];
  const sections = Object.keys(results).filter((k) => {
    const v = results[k];
    return typeof v === "object" && v !== null && !["machine", "configured", "sources", "runs", "fullRun"].includes(k);
  });
  const rank = (s: string): number => (SECTION_ORDER.includes(s) ? SECTION_ORDER.indexOf(s) : SECTION_ORDER.length);
  sections.sort((a, b) => rank(a) - rank(b));
  for (const section of sections) {
    for (const [key, value] of Object.entries(results[section] as Figures)) {
      const shown = Array.isArray(value) ? `${value.length} rows (table above)` : fmt(value, 3);
      body.push([`\`${section}.${key}\``, shown, source(results, `${section}.${key}`)]);
    }
  }
  return table(["figure", "value", "measured by"], body);
}

function configuredTable(results: Results): string {
  return table(
    ["constant", "value", "what", "source"],
    CONFIGURED.map((c) => [
      `\`configured.${c.key}\``,
      `${fmt(configured(results, c.key), 0)} ${c.unit}`,
      c.what,
      c.source,
    ]),
  );
}

function chartsMarkdown(charts: Chart[], prefix: string): string {
  return charts.map((c) => `![${c.title}](${prefix}${c.file})`).join("\n\n");
}

function report(results: Results, charts: Chart[]): string {
  const floorRatio =
    (num(results, "rollup.gasPerTransfer") ?? NaN) / (num(results, "rollup.calldataFloorGasPerTransfer") ?? NaN);
  return `# Benchmark report: what layer 2 buys over layer 1

Generated by \`npm run bench\` (\`bench/run.ts\`, then \`bench/report/\`) from
[\`bench/results/latest.json\`](results/latest.json); do not edit by hand. Every
figure names the function that measured it (last table). Gas comes from
transaction receipts on Hardhat's in-process network (hardfork osaka,
EIP-7623 calldata floor, EIP-7825 cap of 16,777,216 gas per transaction).
Times marked _configured_ are protocol constants, not measurements.

${provenance(results)}

Reproduce: \`npm run bench\` (every suite, then this report), or
\`npm run bench -- <suite>...\` with suites \`protocol\`, \`rollup\`,
\`sequencer\`, \`verifier\`, \`channel\` (their sections are replaced, the
others kept).

## Side by side

${sideBySide(results)}

## Targets

${targetsTable(results)}

## Charts

![L1 gas per transfer against batch size](charts/gas-per-transfer-by-batch-size.svg)

A rollup transfer's L1 cost is its share of two transactions: the batch's
\`appendBatch\` (calldata: the transfers' bytes, at the EIP-7623 floor of 10 gas
per zero byte and 40 per non-zero byte once the batch is large) and the
proposal of its step roots. The fixed part (21,000 base gas twice, the
proposal's storage and bond) is shared by the batch, so the cost per transfer
falls toward the floor of the transfer's own bytes as the batch grows
(× ${Number.isFinite(floorRatio) ? floorRatio.toFixed(3) : "—"} of the floor in a full batch).

${batchSizeTable(results)}

![L1 gas per payment](charts/cost-per-payment.svg)

A channel pays L1 only to open, fund and close; every payment in between is
two signatures exchanged off chain, so its share falls with the number of
payments the channel carries. Entering the rollup (a deposit,
${gas(num(results, "rollup.depositEthGas"))}) and leaving it (a withdrawal
claim) are one-off costs per user, like a channel's open and close, and are not
in the per-transfer figure.

![Throughput](charts/throughput.svg)

${throughputTable(results)}

![Time to finality](charts/time-to-finality.svg)

${latencyTable(results)}

## Every figure

${allFigures(results)}

## Configured constants

${configuredTable(results)}

${charts.length < 4 ? `_Some charts are missing because their figures were not measured._\n` : ""}`;
}

function readmeSection(results: Results, charts: Chart[]): string {
  const m = results.machine ?? {};
  const when = results.fullRun?.date ?? results.updated ?? "—";
  const code = results.fullRun?.code;
  const commit = code
    ? `, commit \`${code.commit.slice(0, 8)}\`${code.dirty.length > 0 ? " with uncommitted changes" : ""}`
    : "";
  const v = verdicts(results);
  const summary = v.map((x) => [x.target, x.value, mark(x.met)]);
  return `${README_START} (generated by \`npm run bench\`; edits here are overwritten) -->

Measured with \`npm run bench\` on ${String(m.cores)} cores, Node ${String(m.node)}, run of ${when}${
    results.fullRun ? ` (${fmt(results.fullRun.seconds, 0)} s)` : ""
  }${commit}. The full report, with every figure and the code that measured it, is
[bench/report.md](bench/report.md); the figures are in [bench/results/latest.json](bench/results/latest.json).

${sideBySide(results)}

${table(["target", "measured", ""], summary)}

${chartsMarkdown(charts, "bench/charts/")}

${README_END}`;
}

/** Markdown as the project's prettier writes it, so that generated files pass `npm run lint`. */
async function prettierMarkdown(text: string, file: string): Promise<string> {
  const prettier = await import("prettier");
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(text, { ...options, filepath: file, parser: "markdown" });
}

/** Writes the report, the charts and README's Figures section; returns the files written. */
export async function writeReport(results: Results): Promise<string[]> {
  const charts = await renderCharts(results);
  fs.mkdirSync(CHARTS_DIR, { recursive: true });
  const written: string[] = [];
  for (const chart of charts) {
    const file = path.join(CHARTS_DIR, chart.file);
    fs.writeFileSync(file, chart.svg + "\n");
    written.push(file);
  }
  fs.writeFileSync(REPORT_FILE, await prettierMarkdown(report(results, charts), REPORT_FILE));
  written.push(REPORT_FILE);
  // README: only between the markers, read right before writing; without the markers it is left alone.
  const section = (await prettierMarkdown(readmeSection(results, charts), README_FILE)).trimEnd();
  const readme = fs.readFileSync(README_FILE, "utf8");
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start >= 0 && end > start) {
    fs.writeFileSync(README_FILE, readme.slice(0, start) + section + readme.slice(end + README_END.length));
    written.push(README_FILE);
  }
  return written;
}

if (require.main === module) {
  const results = JSON.parse(fs.readFileSync(path.join(BENCH_DIR, "results", "latest.json"), "utf8")) as Results;
  writeReport(results).then(
    (files) => files.forEach((f) => console.log(`wrote ${path.relative(process.cwd(), f)}`)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}

/**
 * The report's charts: Vega-Lite specifications built from the results,
 * compiled to Vega and rendered to SVG offline (`renderer: "none"`, no
 * browser, no canvas).
 */
import { configured, num, rows, type Results } from "./model";

/** The parts of vega-lite and vega used here (both are ES modules; see `esm`). */
interface VegaLite {
  compile(spec: object): { spec: object };
}
interface Vega {
  parse(spec: object): object;
  View: new (runtime: object, options: { renderer: "none" }) => { toSVG(): Promise<string>; finalize(): void };
}

// TypeScript compiles `import()` to `require()` under CommonJS, which cannot load these ES modules (they use
// top-level await); a Function keeps the real dynamic import.
const esm = new Function("specifier", "return import(specifier)") as (specifier: string) => Promise<unknown>;

async function renderSvg(spec: object): Promise<string> {
  const vl = (await esm("vega-lite")) as VegaLite;
  const vega = (await esm("vega")) as Vega;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const CONFIG = {
  font: "Helvetica, Arial, sans-serif",
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e6e6e6" },
  legend: { labelFontSize: 11, titleFontSize: 12, orient: "bottom", direction: "vertical", labelLimit: 480 },
  title: { fontSize: 14, anchor: "start" },
};

const PATH_COLORS = { domain: ["L1", "rollup", "channel"], range: ["#d62728", "#1f77b4", "#2ca02c"] };

/** "3.9 ms", "2.1 s", "12.8 min", "7 d": a duration in seconds for a label. */
export function duration(seconds: number): string {
  if (seconds < 1) return `${Number((seconds * 1000).toPrecision(2))} ms`;
  if (seconds < 120) return `${Number(seconds.toPrecision(3))} s`;
  if (seconds < 7200) return `${Number((seconds / 60).toPrecision(3))} min`;
  if (seconds < 2 * 86400) return `${Number((seconds / 3600).toPrecision(3))} h`;
  return `${Number((seconds / 86400).toPrecision(3))} d`;
}

/** A log-scale domain from a power of ten below the smallest value to one well above the largest (room for labels). */
function logDomain(bars: readonly Bar[]): [number, number] {
  const values = bars.map((b) => b.value).filter((v) => v > 0);
  return [10 ** Math.floor(Math.log10(Math.min(...values))), 10 ** Math.ceil(Math.log10(Math.max(...values) * 8))];
}

const compact = (x: number): string =>
  x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toLocaleString("en-US", { maximumSignificantDigits: 3 });

const LINES = {
  rollup: "rollup transfer: batch append + proposal",
  floor: "EIP-7623 calldata floor of the transfer bytes",
  eth: "plain L1 ETH transfer",
  erc20: "plain L1 ERC-20 transfer",
};

/** L1 gas per transfer against transfers per batch, with the floor and the plain L1 transfers for scale. */
function gasByBatchSize(results: Results): object | undefined {
  const series = rows(results, "rollup.byBatchSize");
  if (series.length === 0) return undefined;
  const eth = num(results, "l1.ethTransferGas");
  const erc20 = num(results, "l1.erc20TransferGas");
  const data: { transfers: number; gas: number; line: string }[] = [];
  for (const r of series) {
    data.push({ transfers: r.transfers, gas: r.gasPerTransfer, line: LINES.rollup });
    data.push({ transfers: r.transfers, gas: r.floorGasPerTransfer, line: LINES.floor });
    if (eth !== undefined) data.push({ transfers: r.transfers, gas: eth, line: LINES.eth });
    if (erc20 !== undefined) data.push({ transfers: r.transfers, gas: erc20, line: LINES.erc20 });
  }
  const domain = [LINES.rollup, LINES.floor, LINES.eth, LINES.erc20];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: "L1 gas per transfer against batch size",
      subtitle: "measured: receipts on the in-process network (osaka)",
    },
    width: 520,
    height: 300,
    config: CONFIG,
    data: { values: data },
    encoding: {
      x: {
        field: "transfers",
        type: "quantitative",
        scale: { type: "log", base: 2 },
        axis: { title: "L2 transfers per batch", values: series.map((r) => r.transfers), labelAngle: -45 },
      },
      y: { field: "gas", type: "quantitative", scale: { type: "log" }, axis: { title: "L1 gas per transfer (log)" } },
      color: {
        field: "line",
        type: "nominal",
        title: null,
        scale: { domain, range: ["#1f77b4", "#7f7f7f", "#d62728", "#ff9896"] },
        legend: { symbolType: "stroke", symbolStrokeWidth: 2 },
      },
      strokeDash: {
        field: "line",
        type: "nominal",
        title: null,
        scale: {
          domain,
          range: [
            [1, 0],
            [5, 3],
            [2, 2],
            [2, 2],
          ],
        },
      },
    },
    layer: [
      { mark: { type: "line", strokeWidth: 2 } },
      { transform: [{ filter: { field: "line", equal: LINES.rollup } }], mark: { type: "point", filled: true } },
    ],
  };
}

export interface Bar {
  label: string;
  path: "L1" | "rollup" | "channel";
  value: number;
  kind: string;
  text: string;
}

/** Adds a bar to `bars` if its value is known, `text(value)` printed at its end; "measured" unless told. */
function barAdder(
  bars: Bar[],
  text: (value: number) => string,
): (label: string, path: Bar["path"], value: number | undefined, kind?: string) => void {
  return (label, path, value, kind = "measured") => {
    if (value !== undefined) bars.push({ label, path, value, kind, text: text(value) });
  };
}

/**
 * A horizontal bar per `bars` entry on a log scale, coloured by path, its value printed at its end. With `faded`,
 * the bars of that kind are drawn faded beside the "measured" ones; undefined when there are no bars.
 */
function barChart(
  bars: readonly Bar[],
  text: string,
  subtitle: string,
  xTitle: string,
  faded?: string,
): object | undefined {
  if (bars.length === 0) return undefined;
  const color = { field: "path", type: "nominal", title: null, scale: PATH_COLORS };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text, subtitle },
    width: 420,
    height: { step: 26 },
    config: CONFIG,
    data: { values: bars },
    encoding: {
      y: { field: "label", type: "nominal", sort: null, axis: { title: null, labelLimit: 600 } },
      x: {
        field: "value",
        type: "quantitative",
        stack: null,
        scale: { type: "log", domain: logDomain(bars) },
        axis: { title: xTitle },
      },
    },
    layer: [
      {
        mark: { type: "bar", height: 18 },
        encoding:
          faded === undefined
            ? { color }
            : {
                color,
                opacity: {
                  field: "kind",
                  type: "ordinal",
                  title: null,
                  scale: { domain: ["measured", faded], range: [1, 0.45] },
                },
              },
      },
      { mark: { type: "text", align: "left", dx: 4, fontSize: 11 }, encoding: { text: { field: "text" } } },
    ],
  };
}

/** The cost of one payment on each path, in L1 gas. */
export function costBars(results: Results): Bar[] {
  const bars: Bar[] = [];
  const add = barAdder(bars, compact);
  add("L1: ETH transfer", "L1", num(results, "l1.ethTransferGas"));
  add("L1: ERC-20 transfer", "L1", num(results, "l1.erc20TransferGas"));
  const bySize = rows(results, "rollup.byBatchSize");
  const single = bySize.find((r) => r.transfers === 1);
  const chunk = bySize.find((r) => r.transfers === 32);
  add("rollup: alone in its batch", "rollup", single?.gasPerTransfer);
  add("rollup: batch of 32", "rollup", chunk?.gasPerTransfer);
  add(
    `rollup: full batch (${compact(num(results, "rollup.batchSize") ?? 0)})`,
    "rollup",
    num(results, "rollup.gasPerTransfer"),
  );
  add(
    `rollup: BLS, full batch (${compact(num(results, "bls.batchSize") ?? 0)})`,
    "rollup",
    num(results, "bls.gasPerTransfer"),
  );
  const happy = num(results, "channel.happyPathGas");
  for (const n of [1, 100, 10_000]) {
    add(
      `channel: ${n.toLocaleString("en-US")} payment${n > 1 ? "s" : ""} per channel`,
      "channel",
      happy === undefined ? undefined : happy / n,
      "measured ÷ payments",
    );
  }
  return bars;
}

function costPerPayment(results: Results): object | undefined {
  return barChart(
    costBars(results),
    "L1 gas per payment: L1, rollup, channel",
    "channel: open + fund + cooperative close, shared by the payments made in the channel",
    "L1 gas per payment (log)",
  );
}

/** Throughput of each part, and what L1 itself takes for comparison. */
export function throughputBars(results: Results): Bar[] {
  const bars: Bar[] = [];
  const add = barAdder(bars, (value) => `${compact(value)}/s`);
  const gasLimit = num(results, "l1.blockGasLimit");
  const slot = configured(results, "l1SlotSeconds");
  const eth = num(results, "l1.ethTransferGas");
  const perTransfer = num(results, "rollup.gasPerTransfer");
  add(
    "L1: ETH transfers a block holds, per slot",
    "L1",
    gasLimit && eth ? gasLimit / eth / slot : undefined,
    "derived",
  );
  add(
    "rollup: L2 transfers a block's data holds, per slot",
    "rollup",
    gasLimit && perTransfer ? gasLimit / perTransfer / slot : undefined,
    "derived",
  );
  add("rollup: STF on one core (protocol)", "rollup", num(results, "protocol.transfersPerSecond"), "measured");
  add("rollup: sequencer, durable, via JSON-RPC", "rollup", num(results, "sequencer.transfersPerSecond"), "measured");
  add("rollup: sequencer, BLS, via JSON-RPC", "rollup", num(results, "sequencer.blsTransfersPerSecond"), "measured");
  add("rollup: verifier, rebuilt from L1", "rollup", num(results, "verifier.transfersPerSecond"), "measured");
  add(
    "rollup: verifier, BLS transfers rebuilt from L1",
    "rollup",
    num(results, "bls.verifierTransfersPerSecond"),
    "measured",
  );
  add("channel: one channel, two processes, durable", "channel", num(results, "channel.paymentsPerSecond"), "measured");
  return bars;
}

function throughput(results: Results): object | undefined {
  return barChart(
    throughputBars(results),
    "Throughput: transfers (payments) per second",
    `measured on this machine; derived: block gas limit ÷ gas per transfer ÷ ${configured(results, "l1SlotSeconds")} s slot`,
    "per second (log)",
    "derived",
  );
}

/** Each stage of each path, in seconds, measured (in-process) or configured (a protocol constant). */
export function finalityBars(results: Results): Bar[] {
  const bars: Bar[] = [];
  const add = barAdder(bars, duration);
  const ms = (key: string): number | undefined => {
    const v = num(results, key);
    return v === undefined ? undefined : v / 1000;
  };
  const slot = configured(results, "l1SlotSeconds");
  const l1Final = configured(results, "l1FinalitySeconds");
  const window = configured(results, "rollupChallengeWindowSeconds");
  add("L1: in a block (in-process, automine)", "L1", ms("l1.inclusionLatencyMsP50"), "measured");
  add("L1: in a block (mainnet slot)", "L1", slot, "configured");
  add("L1: final (mainnet, 2 epochs)", "L1", l1Final, "configured");
  add("rollup: acknowledged by the sequencer (p50 under load)", "rollup", ms("sequencer.sendLatencyMsP50"), "measured");
  add("rollup: its batch on L1 (in-process)", "rollup", ms("rollup.l1InclusionMsMean"), "measured");
  add(
    "rollup: its batch on L1 (mainnet: batch age + slot)",
    "rollup",
    configured(results, "rollupBatchMaxAgeMs") / 1000 + slot,
    "configured",
  );
  add("rollup: final (challenge window)", "rollup", window, "configured");
  add("channel: paid, final for both parties (round trip)", "channel", ms("channel.paymentLatencyMsMean"), "measured");
  add("channel: settled on L1, cooperative close (mainnet)", "channel", l1Final, "configured");
  add(
    "channel: settled on L1 after a dispute",
    "channel",
    configured(results, "channelChallengeDurationSeconds"),
    "configured",
  );
  return bars;
}

function timeToFinality(results: Results): object | undefined {
  return barChart(
    finalityBars(results),
    "Time to each stage of a payment, and to finality",
    "solid: measured on this machine (L1 in-process); faded: configured protocol constants",
    "seconds (log)",
    "configured",
  );
}

export interface Chart {
  file: string;
  title: string;
  svg: string;
}

/** Every chart the results allow (a chart whose figures are missing is left out). */
export async function renderCharts(results: Results): Promise<Chart[]> {
  const specs: [string, string, object | undefined][] = [
    ["gas-per-transfer-by-batch-size.svg", "L1 gas per transfer against batch size", gasByBatchSize(results)],
    ["cost-per-payment.svg", "L1 gas per payment: L1, rollup, channel", costPerPayment(results)],
    ["throughput.svg", "Throughput of each part", throughput(results)],
    ["time-to-finality.svg", "Time to finality on each path", timeToFinality(results)],
  ];
  const charts: Chart[] = [];
  for (const [file, title, spec] of specs) {
    if (spec !== undefined) charts.push({ file, title, svg: await renderSvg(spec) });
  }
  return charts;
}

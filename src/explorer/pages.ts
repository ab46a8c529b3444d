/**
 * The explorer's pages, rendered on the server as HTML (they read without
 * JavaScript; `assets.ts` only refreshes them and sends claims). Every fact
 * carries its source: `L1` (the chain, through the verifier's replica) or
 * `operator` (soft: the sequencer's word, not yet on L1).
 */
import { formatEther } from "ethers";
import type { IndexedBatch, IndexedProposal, IndexedTx } from "./chain-index";
import type { Explorer, StageView } from "./explorer";
import { formatDuration } from "./risks";

/** HTML-escapes a value. */
export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const short = (hex: string): string => (hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex);
const src = (s: "L1" | "operator"): string =>
  `<span class="src src-${s === "L1" ? "l1" : "op"}" title="${s === "L1" ? "read from L1" : "the operator's word, not yet on L1"}">${s}</span>`;
const eth = (wei: bigint | string): string => `${formatEther(BigInt(wei))} ETH`;
const link = (href: string, text: string): string => `<a href="${esc(href)}">${esc(text)}</a>`;

/** A countdown to `deadline` against L1's time `now`: what the chain says is left. */
export function countdown(deadline: number, now: number): string {
  const left = deadline - now;
  const text = left > 0 ? formatDuration(left) : "closed";
  return `<span class="countdown" data-deadline="${deadline}" data-l1-time="${now}" data-left="${Math.max(0, left)}">${esc(text)}</span>`;
}

function stageBadge(s: StageView, now: number): string {
  const wrong =
    s.proposal && s.proposal.wrongStep >= 0 ? ` <span class="bad">wrong at step ${s.proposal.wrongStep}</span>` : "";
  if (s.stage === "proposed" && s.deadline !== undefined) {
    return `<span class="stage stage-proposed">proposed</span> window closes in ${countdown(s.deadline, now)}${wrong}`;
  }
  return `<span class="stage stage-${s.stage.replace(/ /g, "-")}">${esc(s.stage)}</span>${wrong}`;
}

function layout(e: Explorer, title: string, body: string): string {
  const { block, time } = e.l1;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · bilayer explorer</title><link rel="stylesheet" href="/assets/style.css"></head>
<body><header><a class="brand" href="/">bilayer</a><nav>${link("/", "Overview")}${link("/disputes", "Disputes")}${link("/channels", "Channels")}${link("/risks", "Risks")}</nav>
<form action="/search" method="get"><input name="q" placeholder="tx hash, address or batch" aria-label="search"></form></header>
${e.halted ? `<p class="halted">This explorer stopped following L1 at block ${block}: ${esc(e.halted)}. What it shows is as of that block.</p>` : ""}<main>${body}</main>
<footer>L1 block <span id="l1-block">${block}</span> at time <span id="l1-time">${time}</span> ${src("L1")} = read from L1 · ${src("operator")} = the operator's word (soft, not yet on L1)</footer>
<script src="/assets/app.js"></script></body></html>`;
}

/** The `<main>` only (what the page's refresh swaps in) or the whole page. */
export function render(e: Explorer, title: string, body: string, partial: boolean): string {
  // What the page is as of, inside the part a refresh replaces (the footer follows it).
  const { block, time } = e.l1;
  const marked = `<div id="l1-at" hidden data-l1-block="${block}" data-l1-time="${time}"></div>${body}`;
  return partial ? marked : layout(e, title, marked);
}

function table(head: string[], rows: string[][], cls = ""): string {
  if (rows.length === 0) return `<p class="empty">none</p>`;
  return `<div class="scroll"><table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`)
    .join("")}</tbody></table></div>`;
}

function gasPerTx(batches: IndexedBatch[], e: Explorer): { gas: number; txs: number } {
  let gas = 0n;
  let txs = 0;
  for (const b of batches) {
    if (!b || b.gasUsed === undefined) continue;
    const n = b.chunks.reduce((k, c) => k + c.txs.length, 0);
    if (n === 0) continue;
    const proposal = e.index.liveProposal(b.index) ?? e.index.proposalsOf(b.index)[0];
    gas += b.gasUsed + (proposal?.gasUsed ?? 0n);
    txs += n;
  }
  return { gas: txs > 0 ? Number(gas) / txs : 0, txs };
}

/** How the batch poster and the proposers are doing, from L1: the last batch's age, batches not yet proposed, the oldest queue item waiting. */
function posterHealth(e: Explorer): string {
  const { time } = e.l1;
  const idx = e.index;
  const last = [...idx.batches].reverse().find((b) => b && !b.forced && b.timestamp !== undefined);
  const unproposed = idx.batches.length - idx.liveCount;
  const oldest = idx.queue.find((q) => q && q.batch === undefined);
  const overdue = oldest !== undefined && time >= oldest.timestamp + e.forcedInclusionDelay;
  return `<dl class="facts poster">
<dt>last batch</dt><dd>${last ? `${link(`/batch/${last.index}`, `#${last.index}`)}, ${esc(formatDuration(time - (last.timestamp ?? time)))} ago (L1 time)` : "none yet"} ${src("L1")}</dd>
<dt>not yet proposed</dt><dd>${unproposed} batch${unproposed === 1 ? "" : "es"} ${src("L1")}</dd>
<dt>queue backlog</dt><dd>${oldest ? `oldest item ${oldest.index} waiting ${esc(formatDuration(time - oldest.timestamp))}${overdue ? ' — <span class="bad">overdue: anyone may force it in</span>' : ""}` : "empty"} ${src("L1")}</dd>
</dl>`;
}

export function overviewPage(e: Explorer): string {
  const { time } = e.l1;
  const idx = e.index;
  const batches = idx.batches.filter(Boolean);
  const latest = batches.slice(-10).reverse();
  const cost = gasPerTx(batches, e);
  const open = idx.proposals.filter((p) => p.fate === "live" && p.deadline > time);
  const waiting = idx.queue.filter((q) => q && q.batch === undefined);
  const delay = e.forcedInclusionDelay;
  return `<h1>Overview</h1>
<section class="cards">
<div class="card"><b>${e.l1.block}</b><span>L1 block read ${src("L1")}</span></div>
<div class="card"><b>${batches.length}</b><span>batches ${src("L1")}</span></div>
<div class="card"><b>${idx.txs.length}</b><span>L2 transactions ${src("L1")}</span></div>
<div class="card" id="gas-per-tx"><b>${cost.txs > 0 ? Math.round(cost.gas).toLocaleString("en") : "–"}</b><span>L1 gas per L2 transaction (append + propose, from receipts) vs <b>21,000</b> for a plain L1 transfer ${src("L1")}</span></div>
</section>
<h2>Batch poster</h2>
${posterHealth(e)}
<h2>In the challenge window</h2>
${table(
  ["batch", "proposer", "closes in", "verdict"],
  open.map((p) => [
    link(`/batch/${p.batchIndex}`, `#${p.batchIndex}`),
    esc(short(p.proposer)),
    countdown(p.deadline, time),
    p.wrongStep >= 0 ? `<span class="bad">wrong at step ${p.wrongStep}</span>` : `<span class="good">right</span>`,
  ]),
  "windows",
)}
<h2>Latest batches</h2>
${table(
  ["batch", "L1 block", "transactions", "bytes", "L1 gas", "stage"],
  latest.map((b) => [
    link(`/batch/${b.index}`, `#${b.index}`),
    String(b.blockNumber),
    String(b.chunks.reduce((n, c) => n + c.txs.length, 0)),
    b.calldataBytes.toLocaleString("en"),
    b.gasUsed === undefined ? "…" : b.gasUsed.toLocaleString("en"),
    stageBadge(e.batchStage(b.index), time),
  ]),
)}
<h2>Latest proposals</h2>
${table(
  ["batch", "proposer", "fate", "deadline"],
  idx.proposals
    .slice(-10)
    .reverse()
    .map((p) => [
      link(`/batch/${p.batchIndex}`, `#${p.batchIndex}`),
      esc(short(p.proposer)),
      esc(fateOf(p, time)),
      p.fate === "live" ? countdown(p.deadline, time) : "–",
    ]),
)}
<h2>The queue (L1 → L2)</h2>
<p>Items not yet in a batch; anyone may force one in once it is overdue (${esc(formatDuration(delay))} after it was queued).</p>
${table(
  ["item", "kind", "address", "amount", "forced inclusion in"],
  waiting
    .slice(-20)
    .map((q) => [
      String(q.index),
      esc(q.kind),
      link(`/address/${q.addr}`, short(q.addr)),
      eth(q.amount),
      countdown(q.timestamp + delay, time),
    ]),
  "queue",
)}`;
}

/** A proposal's fate as the chain has it now: in its window, final, or removed. */
function fateOf(p: IndexedProposal, now: number): string {
  if (p.fate !== "live") return p.fate;
  return now >= p.deadline ? "final" : "in its window";
}

function txRow(t: IndexedTx): string[] {
  return [
    link(`/tx/${t.hash}`, short(t.hash)),
    esc(t.type),
    String(t.from),
    t.to === undefined ? "–" : typeof t.to === "number" ? String(t.to) : link(`/address/${t.to}`, short(t.to)),
    t.amount === undefined ? "–" : eth(t.amount),
    t.outcome === "Applied" ? "applied" : `<span class="bad">skipped: ${esc(t.outcome)}</span>`,
  ];
}

export function batchPage(e: Explorer, b: IndexedBatch): string {
  const time = e.l1.time;
  const stage = e.batchStage(b.index);
  const txs = b.chunks.flatMap((c) => c.txs.map((i) => e.index.txs[i]));
  return `<h1>Batch #${b.index}</h1>
<dl class="facts">
<dt>stage</dt><dd class="batch-stage">${stageBadge(stage, time)} ${src("L1")}</dd>
<dt>L1 transaction</dt><dd>${esc(b.transactionHash)} (block ${b.blockNumber}${b.forced ? ", forced inclusion" : ""})</dd>
<dt>queue items</dt><dd>${b.queueStart}..${b.queueEnd - 1 < b.queueStart ? "(none)" : b.queueEnd - 1}</dd>
<dt>calldata</dt><dd>${b.calldataBytes.toLocaleString("en")} bytes in ${b.chunks.length} chunks</dd>
<dt>L1 gas</dt><dd>${b.gasUsed === undefined ? "…" : b.gasUsed.toLocaleString("en")}</dd>
</dl>
<h2>Steps and roots</h2>
${table(
  ["step", "computed from L1", "proposed"],
  b.computedRoots.map((r, i) => {
    const p = stage.proposal?.stepRoots[i];
    return [
      String(i),
      `<code>${esc(short(r))}</code>`,
      p === undefined ? "–" : p === r ? `<code>${esc(short(p))}</code>` : `<code class="bad">${esc(short(p))}</code>`,
    ];
  }),
)}
<h2>Proposals</h2>
${table(
  ["proposer", "fate", "deadline", "bond"],
  e.index
    .proposalsOf(b.index)
    .map((p) => [
      esc(short(p.proposer)),
      esc(fateOf(p, time)),
      p.fate === "live" ? countdown(p.deadline, time) : "–",
      p.bondReturned ? "returned" : p.fate === "proven wrong" ? "slashed" : "held",
    ]),
)}
<h2>Chunks</h2>
${table(
  ["chunk", "kind", "bytes", "transactions", "applied"],
  b.chunks.map((c, i) => [
    String(i),
    c.kind,
    String(c.bytes),
    String(c.txs.length),
    String(c.applied) + (c.ended ? ` (ends: ${esc(c.ended)})` : ""),
  ]),
)}
<h2>Transactions</h2>
${table(["id", "type", "from", "to", "amount", "outcome"], txs.slice(0, 500).map(txRow))}
${txs.length > 500 ? `<p>and ${txs.length - 500} more</p>` : ""}`;
}

export async function txPage(e: Explorer, hash: string): Promise<string | undefined> {
  const v = await e.tx(hash);
  if (!v) return undefined;
  const time = e.l1.time;
  const steps = ["soft", "on L1", "proposed", "final"];
  const at = v.stage === "skipped" || v.stage === "queued" ? -1 : steps.indexOf(v.stage);
  const track = `<ol class="track">${steps.map((s, i) => `<li class="${i <= at ? "done" : ""}${i === at ? " now" : ""}">${esc(s)}</li>`).join("")}</ol>`;
  const t = v.tx;
  const r = v.receipt;
  const stageText =
    v.stage === "skipped"
      ? `<span class="stage stage-skipped">skipped</span>: ${esc(t?.outcome ?? r?.outcome ?? "")}${t?.reason || r?.reason ? ` (${esc(t?.reason ?? r?.reason)})` : ""}`
      : v.batchStage && v.stage === v.batchStage.stage
        ? stageBadge(v.batchStage, time)
        : `<span class="stage stage-${v.stage.replace(/ /g, "-")}">${esc(v.stage)}</span>`;
  return `<h1>Transaction</h1><p><code>${esc(hash)}</code></p>
${track}
<dl class="facts">
<dt>stage</dt><dd class="tx-stage" data-stage="${esc(v.stage)}">${stageText} ${src(v.source)}</dd>
${
  t
    ? `<dt>batch</dt><dd>${link(`/batch/${t.batch}`, `#${t.batch}`)}, chunk ${t.chunk}, position ${t.position} ${src("L1")}</dd>
<dt>type</dt><dd>${esc(t.type)} (${t.kind === "bls" ? "BLS, in an aggregate" : "ECDSA-signed"})</dd>
<dt>from</dt><dd>account ${t.from}, nonce ${t.nonce}</dd>
<dt>to</dt><dd>${t.to === undefined ? "–" : typeof t.to === "number" ? `account ${t.to}` : link(`/address/${t.to}`, t.to)}</dd>
<dt>amount</dt><dd>${t.amount === undefined ? "–" : eth(t.amount)} (fee ${eth(t.fee)})</dd>`
    : ""
}
${r && !t ? `<dt>sequencer says</dt><dd>${esc(r.status)} from account ${esc(r.from)}, nonce ${esc(r.nonce)}${r.batchIndex !== undefined ? `, batch ${esc(r.batchIndex)}` : ""} ${src("operator")}</dd>` : ""}
</dl>`;
}

export async function addressPage(e: Explorer, addr: string): Promise<string> {
  const a = await e.address(addr);
  const time = e.l1.time;
  const accounts = a.accounts
    .map(
      (x) => `<section class="account"><h2>Account ${x.l1.index}</h2>
<dl class="facts"><dt>balance</dt><dd class="balance-l1" data-wei="${esc(x.l1.balance)}">${eth(x.l1.balance)} ${src("L1")}</dd>
${x.soft ? `<dt>balance now</dt><dd class="balance-soft" data-wei="${esc(x.soft.balance)}">${eth(x.soft.balance)} ${src("operator")}</dd>` : ""}
<dt>nonce</dt><dd>${x.l1.nonce} ${src("L1")}${x.soft ? `, ${esc(x.soft.nonce)} ${src("operator")}` : ""}</dd>
<dt>BLS key</dt><dd>${x.l1.blsKey ? `<code>${esc(short(x.l1.blsKey))}</code>` : "none"}</dd></dl>
<h3>Transactions (${x.txCount})</h3>${table(["id", "type", "from", "to", "amount", "outcome"], x.txs.map(txRow))}</section>`,
    )
    .join("");
  const withdrawals = table(
    ["withdrawal", "amount", "batch", "stage", ""],
    a.withdrawals.map((w) => {
      const stage =
        w.status === "claimed"
          ? `<span class="stage stage-claimed">claimed</span>`
          : w.status === "final"
            ? `<span class="stage stage-final">final</span>`
            : w.status === "proposed" && w.deadline !== undefined
              ? `<span class="stage stage-proposed">proposed</span> claimable in ${countdown(w.deadline, time)}`
              : `<span class="stage">${esc(w.status === "batched" ? "on L1" : w.status)}</span>`;
      const button =
        w.status === "final"
          ? `<button class="claim" data-withdrawal="${w.withdrawalIndex}" data-recipient="${esc(w.recipient)}">Claim</button><span class="claim-result"></span>`
          : "";
      return [
        String(w.withdrawalIndex),
        eth(w.amount),
        w.batchIndex === null ? "–" : link(`/batch/${w.batchIndex}`, `#${w.batchIndex}`),
        `<span class="w-stage" data-status="${esc(w.status)}">${stage}</span> ${src("L1")}`,
        button,
      ];
    }),
    "withdrawals",
  );
  const l1Balance = await e.opts.provider.getBalance(a.address);
  return `<h1>Address</h1><p><code>${esc(a.address)}</code></p>
<dl class="facts"><dt>L1 balance</dt><dd class="l1-balance" data-wei="${l1Balance}">${eth(l1Balance)} ${src("L1")}</dd></dl>
${accounts || `<p class="empty">no L2 account on L1 yet</p>`}
<h2>Withdrawals</h2>${withdrawals}`;
}

export function disputesPage(e: Explorer): string {
  const idx = e.index;
  const slashed = idx.proposals.filter((p) => p.fate === "proven wrong");
  return `<h1>Disputes</h1>
<h2>Fraud proofs</h2>
${table(
  ["batch", "step", "challenger", "reward", "proposals rolled back", "L1 transaction"],
  idx.disputes.map((d) => [
    link(`/batch/${d.batchIndex}`, `#${d.batchIndex}`),
    String(d.stepIndex),
    esc(short(d.challenger)),
    d.rollback ? eth(d.rollback.reward) : "–",
    d.rollback ? `batches ${d.rollback.fromBatch}..${d.rollback.toBatch - 1}` : "–",
    `<code>${esc(short(d.transactionHash))}</code>`,
  ]),
  "disputes",
)}
<h2>Slashed bonds</h2>
${table(
  ["proposal", "batch", "proposer", "paid to the challenger", "burnt"],
  slashed.map((p) => {
    const d = idx.disputes.find((x) => x.rollback?.proposalId === p.proposalId);
    return [
      String(p.proposalId),
      link(`/batch/${p.batchIndex}`, `#${p.batchIndex}`),
      esc(short(p.proposer)),
      d?.rollback ? eth(d.rollback.reward) : "–",
      d?.rollback ? eth(d.rollback.burnt) : "–",
    ];
  }),
)}
<p>Source: the FraudVerifier's and StateCommitmentChain's events ${src("L1")}.</p>`;
}

export function channelsPage(e: Explorer): string {
  if (!e.channels) return `<h1>Channels</h1><p class="empty">no channel adjudicator is deployed on this network</p>`;
  const time = e.l1.time;
  const list = [...e.channels.channels.values()].reverse();
  return `<h1>Channels</h1><p>The adjudicator at <code>${esc(e.channels.adjudicator)}</code> ${src("L1")}</p>
${table(
  ["channel", "participants", "holdings", "version", "status", "challenge deadline"],
  list.map((c) => [
    `<code>${esc(short(c.channelId))}</code>`,
    c.participants.map((p) => link(`/address/${p}`, short(p))).join(" ⇄ "),
    eth(c.holdings),
    String(c.version),
    esc(c.status),
    c.deadline === undefined ? "–" : countdown(Number(c.deadline), time),
  ]),
  "channels",
)}`;
}

export async function risksPage(e: Explorer): Promise<string> {
  const r = await e.risks();
  const f = r.facts;
  return `<h1>Risks</h1>
<p class="stage-summary">Stage <b id="stage">${r.stage}</b> by L2BEAT's Stages, computed from the contracts on L1 ${src("L1")}</p>
<div class="risks">${r.risks
    .map(
      (x) =>
        `<section class="risk risk-${x.level}" data-category="${esc(x.category)}"><h2>${esc(x.category)}</h2><p class="value">${esc(x.value)}</p><p>${esc(x.meaning)}</p><p class="source">from ${esc(x.source)}</p></section>`,
    )
    .join("")}</div>
<h2>Stage requirements</h2>
${table(
  ["stage", "requirement", "", "why"],
  r.requirements.map((q) => [
    String(q.stage),
    esc(q.text),
    q.met ? `<span class="good met">met</span>` : `<span class="bad unmet">not met</span>`,
    esc(q.why),
  ]),
  "requirements",
)}
<p>The rules, as this page applies them (L2BEAT's Stages framework, 2025): a project is at the highest stage whose
requirements, and every lower stage's, are met. Stage 0: state roots and data on L1, software to rebuild the
state. Stage 1: a working proof system open to at least 5 outside actors, exits without the operator, and at least 7
days to exit before any upgrade not made by a Security Council. Stage 2: proofs open to anyone, at least 30 days to
exit before upgrades, and no Security Council power beyond provable bugs. The exit window is the delay of an
upgrade less the time to exit (forced-inclusion delay plus challenge window, here ${esc(formatDuration(f.forcedInclusionDelaySeconds + f.challengeWindowSeconds))}).</p>
<h2>What the contracts say</h2>
${table(
  ["contract", "address", "proxy", "can run other code", "access control"],
  f.contracts.map((c) => [
    esc(c.name),
    `<code>${esc(short(c.address))}</code>`,
    c.proxy ? "yes" : "no",
    c.foreignCode.length ? esc(c.foreignCode.join(", ")) : "no",
    c.accessControl ? "yes" : "none",
  ]),
)}
<dl class="facts">
<dt>challenge window</dt><dd id="challenge-window" data-seconds="${f.challengeWindowSeconds}">${esc(formatDuration(f.challengeWindowSeconds))}</dd>
<dt>forced-inclusion delay</dt><dd id="forced-delay" data-seconds="${f.forcedInclusionDelaySeconds}">${esc(formatDuration(f.forcedInclusionDelaySeconds))}</dd>
<dt>proposer bond</dt><dd>${eth(f.proposerBond)}</dd>
<dt>inbox admins</dt><dd>${f.admins.map((a) => link(`/address/${a}`, short(a))).join(", ") || "none"} (can grant or revoke the inbox's roles)</dd>
<dt>other inbox roles held</dt><dd>${f.otherRoles.map((r) => `<code>${esc(short(r))}</code>`).join(", ") || "none"}</dd>
<dt>sequencers</dt><dd>${f.sequencers.map((a) => link(`/address/${a}`, short(a))).join(", ") || "none"}</dd>
</dl>`;
}

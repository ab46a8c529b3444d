/**
 * The explorer's two assets, served from the process itself (no CDN, no
 * fonts or scripts from elsewhere: the page works offline).
 *
 * `app.js` refreshes the open page's `<main>` every two seconds (the same
 * URL with `?partial=1`, rendered on the server, so countdowns follow L1's
 * time as each new block arrives) and sends a withdrawal's claim through the
 * browser's wallet (EIP-1193 `window.ethereum`): it asks the explorer for
 * the claim transaction (the proof built from L1), then `eth_requestAccounts`
 * and `eth_sendTransaction`.
 */

export const STYLE_CSS = `
:root { --fg: #1b1f24; --muted: #59636e; --line: #d8dee4; --bg: #fff; --accent: #3451b2; --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; flex-wrap: wrap; gap: .75rem; }
header form { margin-left: auto; flex: 1 1 14rem; max-width: 26rem; }
header input { width: 100%; padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; font: inherit; }
main { padding: .5rem 1rem 2rem; max-width: 72rem; margin: 0 auto; }
footer { padding: 1rem; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); }
a { color: var(--accent); }
h1 { font-size: 1.5rem; margin: .8rem 0; } h2 { font-size: 1.15rem; margin: 1.4rem 0 .5rem; }
code { font: 13px ui-monospace, monospace; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .75rem; display: flex; flex-direction: column; gap: .2rem; }
.card b { font-size: 1.4rem; }
.card span { color: var(--muted); font-size: 13px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; }
.facts dt { color: var(--muted); } .facts dd { margin: 0; word-break: break-word; }
.src { font-size: 11px; padding: 0 .35rem; border-radius: 4px; border: 1px solid; vertical-align: middle; }
.src-l1 { color: var(--good); } .src-op { color: var(--warn); }
.stage { font-weight: 600; } .stage-final, .stage-claimed { color: var(--good); } .stage-skipped { color: var(--bad); } .stage-proposed { color: var(--warn); }
.halted { margin: 0; padding: .6rem 1rem; background: #ffebe9; color: var(--bad); font-weight: 600; }
.good { color: var(--good); } .bad { color: var(--bad); } .empty { color: var(--muted); }
.countdown { font-variant-numeric: tabular-nums; font-weight: 600; }
.track { display: flex; flex-wrap: wrap; gap: .3rem; padding: 0; list-style: none; }
.track li { padding: .2rem .6rem; border: 1px solid var(--line); border-radius: 999px; color: var(--muted); }
.track li.done { border-color: var(--good); color: var(--good); } .track li.now { background: var(--good); color: #fff; }
.risks { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: .75rem; }
.risk { border: 1px solid var(--line); border-left-width: 5px; border-radius: 8px; padding: .2rem .9rem .6rem; }
.risk h2 { margin-top: .6rem; } .risk .value { font-weight: 700; } .risk .source { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
.risk-good { border-left-color: var(--good); } .risk-warning { border-left-color: var(--warn); } .risk-bad { border-left-color: var(--bad); }
.stage-summary b { font-size: 1.3rem; }
button.claim { font: inherit; padding: .25rem .8rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.claim:disabled { opacity: .6; }
.claim-result { margin-left: .5rem; font-size: 13px; }
@media (max-width: 600px) { .facts { grid-template-columns: 1fr; } .facts dt { margin-top: .4rem; } header form { max-width: none; } }
`;

export const APP_JS = `
(function () {
  "use strict";
  var main = document.querySelector("main");
  var busy = false;
  function refresh() {
    if (busy || document.hidden) return;
    var u = new URL(location.href);
    u.searchParams.set("partial", "1");
    fetch(u, { cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || busy) return;
        main.innerHTML = html;
        var at = document.getElementById("l1-at");
        if (at) {
          document.getElementById("l1-block").textContent = at.dataset.l1Block;
          document.getElementById("l1-time").textContent = at.dataset.l1Time;
        }
      })
      .catch(function () {});
  }
  setInterval(refresh, 2000);
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("button.claim");
    if (!b) return;
    var out = b.parentElement.querySelector(".claim-result");
    if (!window.ethereum) { out.textContent = "no wallet in this browser (EIP-1193 window.ethereum)"; return; }
    busy = true;
    b.disabled = true;
    out.textContent = "building the proof from L1…";
    fetch("/api/claim/" + b.dataset.withdrawal)
      .then(function (r) { return r.json(); })
      .then(function (call) {
        if (call.error) throw new Error(call.error.message);
        // The claim is for this rollup's L1: a wallet on another chain is asked to switch first.
        return window.ethereum
          .request({ method: "eth_chainId" })
          .then(function (id) {
            if (String(id).toLowerCase() === call.chainId) return;
            out.textContent = "switching the wallet to chain " + parseInt(call.chainId, 16) + "…";
            return window.ethereum.request({ method: "wallet_switchEthereumChain", params: [{ chainId: call.chainId }] });
          })
          .then(function () { return window.ethereum.request({ method: "eth_requestAccounts" }); })
          .then(function (accounts) {
          out.textContent = "sending…";
          return window.ethereum.request({ method: "eth_sendTransaction", params: [{ from: accounts[0], to: call.to, data: call.data }] });
        });
      })
      .then(function (hash) { out.textContent = "sent: " + hash; out.dataset.tx = hash; })
      .catch(function (err) { out.textContent = "claim failed: " + ((err && err.message) || err); b.disabled = false; })
      .then(function () { setTimeout(function () { busy = false; }, 1500); });
  });
})();
`;

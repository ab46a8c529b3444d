/**
 * `npm run demo:attack`: an operator steals, a verifier stops it — in one
 * command, on Hardhat's in-process network.
 *
 * Deploys the rollup; an honest operator takes four users' deposits; the
 * operator then turns thief (malicious mode, BILAYER_MALICIOUS): in the next
 * batch it proposes step roots that include a withdrawal of every ETH on L2
 * to itself, and two more batches on top. A verifier comes online late,
 * rebuilds the L2 state from L1 alone, finds the wrong root, and proves it on
 * chain well inside the challenge window: the theft and every proposal after
 * it are rolled back, the theft's bond slashed (half to the verifier, half burnt;
 * the later proposals are refunded).
 * The right roots are proposed again and become final; every user claims
 * what they withdrew; the thief's forged withdrawal cannot be claimed.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import hre from "hardhat";
import pino from "pino";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { deployRollup } from "./deploy";
import { stepRootsHash } from "../src/l1/batch";
import { readBatches, readQueue } from "../src/l1/reader";
import { L2Client, signL2Transaction, transferTx, withdrawTx, type AccountView } from "../src/operator/client";
import { defaultConfig } from "../src/operator/config";
import { claimWithdrawal } from "../src/operator/l1-user";
import { MALICIOUS_ENV } from "../src/operator/malicious";
import { Operator } from "../src/operator/operator";
import { domainSeparator } from "../src/protocol/eip712";
import { initHashing, toHex } from "../src/protocol/hash";
import { L2State } from "../src/protocol/state";
import { applyBatch } from "../src/protocol/stf";
import { describeRevert } from "../src/verifier/challenger";
import { defaultVerifierConfig } from "../src/verifier/config";
import { Verifier } from "../src/verifier/verifier";
import { formatAmount, operatorWallet } from "../tasks/lib";

const ETH = 10n ** 18n;
const BOND = ETH;
const CHALLENGE_WINDOW = 3600n;
const NAMES = ["alice", "bob", "carol", "dave"] as const;

const t0 = Date.now();
function say(message: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  console.log(`[${s}s] ${message}`);
}

function chapter(title: string): void {
  console.log(`\n=== ${title} ===`);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const short = (hex: string): string => `${hex.slice(0, 10)}…`;

/** A pino logger that prints the lines of `who` at `level` and above, readably, and keeps them. */
function narrator(who: string, level: string, keep: Record<string, unknown>[]): pino.Logger {
  const skip = new Set(["level", "time", "pid", "hostname", "name", "msg"]);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        const rec = JSON.parse(line) as Record<string, unknown>;
        keep.push(rec);
        const fields = Object.entries(rec)
          .filter(([k]) => !skip.has(k))
          .map(([k, v]) => `${k}=${typeof v === "string" && /^0x[0-9a-f]{64}$/i.test(v) ? short(v) : String(v)}`)
          .join(" ");
        console.log(`        [${who}] ${String(rec.msg)}${fields ? `  (${fields})` : ""}`);
      }
      done();
    },
  });
  return pino({ level }, sink);
}

async function main(): Promise<void> {
  await initHashing();
  const provider = hre.ethers.provider as unknown as Provider;
  const signers = await hre.ethers.getSigners();
  const thief = await operatorWallet(hre, provider, 0);
  const challenger = signers[9];
  const accounts = hre.network.config.accounts as { mnemonic: string; path: string };
  const users: Wallet[] = NAMES.map(
    (_n, i) =>
      HDNodeWallet.fromPhrase(accounts.mnemonic, undefined, `${accounts.path}/${i + 1}`).connect(
        provider,
      ) as unknown as Wallet,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-demo-attack-"));
  let operator: Operator | undefined;
  let verifier: Verifier | undefined;
  let client: L2Client | undefined;
  try {
    chapter("1. The rollup");
    const dep = await deployRollup(
      signers[0],
      {
        challengeWindowSeconds: CHALLENGE_WINDOW,
        forcedInclusionDelaySeconds: 86_400n,
        proposerBond: BOND,
        sequencer: thief.address,
      },
      { write: false, network: hre.network.name },
    );
    const { bridge, stateCommitmentChain: chain, fraudVerifier } = dep.handles;
    say(
      `deployed: inbox ${dep.contracts.rollupInbox}, challenge window ${CHALLENGE_WINDOW} s, bond ${formatAmount(BOND)} ETH`,
    );
    say(`the operator (sequencer and proposer) is ${thief.address}`);

    const config = defaultConfig(dep.chainId, path.join(dir, "operator"));
    config.port = 0;
    config.pollMs = 50;
    config.batch.maxAgeMs = 400;
    const operatorLines: Record<string, unknown>[] = [];
    const startOperator = async (): Promise<Operator> =>
      Operator.start({
        config,
        provider,
        wallet: thief,
        deployment: dep,
        logger: narrator("operator", "warn", operatorLines),
      });
    operator = await startOperator();
    client = new L2Client(operator.url);
    say(`an honest operator serves JSON-RPC on ${operator.url}`);

    chapter("2. Honest users deposit");
    for (const [i, u] of users.entries()) {
      await (await bridge.connect(u).depositEth(u.address, 0, { value: 10n * ETH })).wait();
      say(`${NAMES[i]} deposits 10 ETH`);
    }
    const l2: AccountView[] = [];
    for (const u of users) {
      l2.push(
        await until("a deposit", async () =>
          (await (client as L2Client).getAccountsOf(u.address)).find((a) => a.balance === 10n * ETH),
        ),
      );
    }
    await client.waitForStatus(
      (s) =>
        s.queue.backlog === "0" &&
        s.heads.appended > 0 &&
        s.heads.proposed === s.heads.appended &&
        s.batches.open === undefined,
    );
    const lieBatch = Number(await dep.handles.inbox.batchCount());
    say(
      `L2 accounts ${l2.map((a) => a.index).join(", ")} credited; ${lieBatch} batch(es) appended and honestly proposed`,
    );

    chapter("3. The operator turns thief");
    await operator.stop();
    process.env[MALICIOUS_ENV] = `forged-withdrawal:${lieBatch}:0`;
    operator = await startOperator();
    delete process.env[MALICIOUS_ENV];
    client.close();
    client = new L2Client(operator.url);
    const nonces = l2.map((a) => a.nonce);
    const sign = (u: number, tx: ReturnType<typeof transferTx>): Promise<string> =>
      signL2Transaction(users[u], tx, {
        chainId: dep.chainId,
        inbox: dep.contracts.rollupInbox,
        tokenId: 0,
        nonce: nonces[u]++,
      });
    const withdrawals: { index: number; user: number; amount: bigint }[] = [];
    const send = async (u: number, tx: ReturnType<typeof transferTx>, label: string): Promise<void> => {
      const { hash } = await (client as L2Client).sendTransaction(await sign(u, tx));
      const receipt = await (client as L2Client).getReceipt(hash);
      if (receipt?.withdrawalIndex !== undefined)
        withdrawals.push({ index: receipt.withdrawalIndex, user: u, amount: "amount" in tx ? tx.amount : 0n });
      say(`${NAMES[u]}: ${label}`);
    };
    await send(0, transferTx(l2[0].index, l2[1].index, 2n * ETH), "transfers 2 ETH to bob");
    await send(1, withdrawTx(l2[1].index, 3n * ETH), "withdraws 3 ETH to L1");
    await send(2, transferTx(l2[2].index, l2[3].index, ETH), "transfers 1 ETH to dave");
    await send(3, withdrawTx(l2[3].index, 5n * ETH), "withdraws 5 ETH to L1");
    await until("the theft", async () => (Number(await chain.proposalCount()) > lieBatch ? true : undefined));
    const lie = await chain.proposal(lieBatch);
    const [lieEvent] = await chain.queryFilter(chain.filters.StateProposed(lieBatch));
    const theft = operatorLines.find(
      (l) => typeof l.description === "string" && String(l.description).includes("forged withdrawal"),
    );
    const m = /forged withdrawal (\d+) of (\d+) wei/.exec(String(theft?.description));
    const theftIndex = Number(m?.[1]);
    const theftAmount = BigInt(m?.[2] ?? "0");
    say(
      `batch ${lieBatch} proposed with state root ${short(lie.stateRoot)}: it hides withdrawal ${theftIndex} of ${formatAmount(theftAmount)} ETH — every ETH on L2 — to the operator`,
    );
    await send(2, transferTx(l2[2].index, l2[0].index, ETH / 2n), "transfers 0.5 ETH to alice");
    await until("batch +1", async () => (Number(await chain.proposalCount()) > lieBatch + 1 ? true : undefined));
    await send(0, withdrawTx(l2[0].index, ETH), "withdraws 1 ETH to L1");
    await until("batch +2", async () => (Number(await chain.proposalCount()) > lieBatch + 2 ? true : undefined));
    say(`two more batches proposed on top of the theft (${lieBatch + 1}, ${lieBatch + 2}); nobody is watching yet`);

    // What the thief would claim: the honest state after the batch plus its forged withdrawal.
    const domain = domainSeparator(dep.chainId, dep.contracts.rollupInbox);
    const queue = await readQueue(bridge, { fromBlock: dep.startBlock });
    const batches = await readBatches(dep.handles.inbox, { fromBlock: dep.startBlock });
    const honest = new L2State();
    const honestRoots: string[][] = [];
    let forged: L2State | undefined;
    for (const b of batches) {
      honestRoots.push(
        applyBatch(honest, {
          queueItems: queue.slice(b.queueStart, b.queueEnd),
          chunks: b.chunks,
          feeRecipient: b.feeRecipient,
          domainSeparator: domain,
        }).stepRoots,
      );
      if (b.index === lieBatch) forged = honest.clone();
    }
    forged?.appendWithdrawal({ recipient: thief.address, tokenId: 0, amount: theftAmount });
    const theftClaim = (header: L2State) =>
      bridge
        .connect(thief)
        .claimWithdrawal.staticCall(
          lieBatch,
          header.header(),
          theftIndex,
          thief.address,
          0,
          theftAmount,
          header.withdrawalProof(theftIndex).map(toHex),
        );
    if (forged !== undefined && forged.stateRoot() === lie.stateRoot) {
      const early = await theftClaim(forged).then(() => "paid", describeRevert);
      say(`the thief tries to claim at once: ${early} — the challenge window protects everyone`);
    }

    chapter("4. A verifier comes online and trusts nothing but L1");
    const verifierLines: Record<string, unknown>[] = [];
    const vLogger = narrator("verifier", "info", verifierLines);
    verifier = await Verifier.start({
      config: { ...defaultVerifierConfig(dep.chainId, path.join(dir, "verifier")), port: 0, pollMs: 100 },
      provider,
      signer: challenger,
      deployment: dep,
      logger: vLogger,
    });
    await verifier.waitFor((s) => s.actions.some((a) => a.kind === "fraudProof"), 60_000);
    const proven = await until("the fraud proof", async () => {
      const e = await fraudVerifier.queryFilter(fraudVerifier.filters.FraudProven());
      return e.length > 0 ? e[0] : undefined;
    });
    const [rolled] = await chain.queryFilter(chain.filters.ProposalsRolledBack());
    const proofBlock = await provider.getBlock(proven.blockNumber);
    const proofReceipt = await provider.getTransactionReceipt(proven.transactionHash);
    say(
      `fraud proven: batch ${proven.args.batchIndex} step ${proven.args.stepIndex}, proposed ${short(proven.args.proposedRoot)}, true ${short(proven.args.computedRoot)} — ${Number(lieEvent.args.deadline) - (proofBlock?.timestamp ?? 0)} s before the deadline, ${proofReceipt?.gasUsed} gas`,
    );
    say(
      `proposals ${rolled.args.fromBatch}..${rolled.args.toBatch - 1n} rolled back; the theft's bond forfeited: ${formatAmount(rolled.args.reward)} ETH to the verifier, ${formatAmount(rolled.args.burnt)} ETH burnt (the later proposals' bonds are refundable)`,
    );

    chapter("5. The right roots are proposed again and become final");
    await until("the right roots", async () => {
      if (Number(await chain.proposalCount()) < lieBatch + 3) return undefined;
      for (let k = lieBatch; k < lieBatch + 3; k++)
        if ((await chain.proposal(k)).stepRootsHash !== stepRootsHash(honestRoots[k])) return undefined;
      return true;
    });
    for (let k = lieBatch; k < lieBatch + 3; k++) {
      const p = await chain.proposal(k);
      say(
        `batch ${k}: ${short(p.stateRoot)} proposed by ${p.proposer === challenger.address ? "the verifier" : "the (now honest) operator"}`,
      );
    }
    say(`moving L1 time past the ${CHALLENGE_WINDOW} s window`);
    await hre.network.provider.send("evm_increaseTime", [Number(CHALLENGE_WINDOW) + 1]);
    await hre.network.provider.send("evm_mine", []);
    await verifier.waitFor((s) => s.batches.settled === lieBatch + 3, 30_000);
    say(`every batch is final; the verifier settled ${lieBatch + 3} of ${lieBatch + 3}`);

    chapter("6. Everyone claims what they own; the thief gets nothing");
    for (const w of withdrawals) {
      const proof = await client.getWithdrawalProof(w.index);
      const before = await provider.getBalance(users[w.user].address);
      const receipt = await claimWithdrawal(users[w.user], dep.contracts.bridge, proof);
      const got = (await provider.getBalance(users[w.user].address)) - before + receipt.gasUsed * receipt.gasPrice;
      if (got !== w.amount) throw new Error(`${NAMES[w.user]} got ${got}, not ${w.amount}`);
      say(`${NAMES[w.user].padEnd(5)} claims withdrawal ${w.index}: +${formatAmount(got)} ETH on L1`);
    }
    const final = verifier.tipState;
    for (const [i, a] of l2.entries())
      say(`${NAMES[i].padEnd(5)} keeps ${formatAmount(final.getAccount(a.index)?.balance ?? 0n)} ETH on L2`);
    if (forged !== undefined) {
      const late = await theftClaim(forged).then(() => "PAID (this must not happen)", describeRevert);
      say(`the thief claims its forged withdrawal: ${late}`);
      if (late.startsWith("PAID")) throw new Error("the thief was paid");
    }
    let thiefWithdrawals = 0;
    for (let i = 0n; i < final.withdrawalCount; i++)
      if (final.withdrawal(i)?.recipient === thief.address.toLowerCase()) thiefWithdrawals++;
    say(
      `withdrawals to the thief in the final state: ${thiefWithdrawals}; bonds it lost: ${formatAmount(rolled.args.reward + rolled.args.burnt)} ETH`,
    );

    chapter("summary");
    const status = verifier.status();
    console.log(`  batches replayed from L1 by the verifier   ${status.batches.replayed}`);
    console.log(
      `  proposals judged wrong / right              ${verifierLines.filter((l) => String(l.msg).startsWith("WRONG PROPOSAL")).length} / ${verifierLines.filter((l) => l.msg === "proposal checked: every step root is right").length}`,
    );
    console.log(
      `  verifier actions                            ${status.actions.map((a) => `${a.kind}(${a.batchIndex}):${a.result}`).join(", ")}`,
    );
    console.log(`  status and metrics                          ${verifier.url}/status, ${verifier.url}/metrics`);
    say("done: the theft was caught, undone and punished; no user lost a wei");
  } finally {
    client?.close();
    await verifier?.stop();
    await operator?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });

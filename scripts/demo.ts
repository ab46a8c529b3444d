/**
 * `npm run demo`: the rollup end to end, in one command, on Hardhat's
 * in-process network.
 *
 * Deploys the contracts, starts the operator in this process (its JSON-RPC
 * API on a free local port), deposits from several wallets, sends a few
 * hundred signed L2 transfers through the API, registers a BLS key derived
 * from each wallet and sends a few hundred BLS transfers (in batches of their
 * own, so each kind's cost is read from the chain), then some withdrawals;
 * waits for the batches and their proposals, moves L1 time past the challenge
 * window, claims the withdrawals on L1, and prints what it cost: L1 gas per
 * signed and per BLS transfer next to a plain L1 ETH transfer, the batches,
 * final balances.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import hre from "hardhat";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { deployRollup } from "./deploy";
import { exploreDemo, screenshotExplorer } from "./demo-explore";
import { BondState } from "../src/operator/bonds";
import { defaultConfig } from "../src/operator/config";
import {
  L2Client,
  registerKeyTx,
  signBlsTransfer,
  signL2Transaction,
  transferTx,
  withdrawTx,
  type AccountView,
} from "../src/operator/client";
import { deriveBlsKey, type BlsKeyPair } from "../src/protocol/bls";
import { eip712Domain } from "../src/protocol/eip712";
import { claimWithdrawal } from "../src/operator/l1-user";
import { createLogger } from "../src/operator/log";
import { Operator } from "../src/operator/operator";
import { formatAmount, operatorWallet } from "../tasks/lib";

const USERS = 6;
const TRANSFERS = 300;
const BLS_TRANSFERS = 400;
const WITHDRAWALS_PER_USER = 1;
const DEPOSIT = 10n ** 19n; // 10 ETH
const FEE = 10n ** 12n; // 0.000001 ETH per L2 transaction, to the operator's account
const CHALLENGE_WINDOW = 3600n;

const t0 = Date.now();
function step(message: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
  console.log(`[${s}s] ${message}`);
}

function progress(label: string, done: number, total: number): void {
  if (!process.stdout.isTTY) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stdout.write(`\r        ${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stdout.write("\n");
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The demo; with `explore`, its chain, operator and the explorer are left running until Ctrl-C; with `screenshots`,
 * the explorer's overview and risks pages are saved there as PNG.
 */
export async function runDemo(opts: { explore?: boolean; screenshots?: string } = {}): Promise<void> {
  const provider = hre.ethers.provider as unknown as Provider;
  const signers = await hre.ethers.getSigners();
  // The operator has a key of its own (the last development account): nobody else spends its nonces.
  const operatorKey = await operatorWallet(hre, provider, 19);
  // The users' wallets sign L2 transactions with EIP-712, as a browser wallet would.
  const accounts = hre.network.config.accounts as { mnemonic: string; path: string };
  const users: Wallet[] = [];
  for (let i = 1; i <= USERS; i++) {
    const hd = HDNodeWallet.fromPhrase(accounts.mnemonic, undefined, `${accounts.path}/${i}`);
    users.push(hd.connect(provider) as unknown as Wallet);
  }

  step("deploying the rollup (Bridge, RollupInbox, StateCommitmentChain, FraudVerifier)");
  const dep = await deployRollup(
    signers[0],
    {
      challengeWindowSeconds: CHALLENGE_WINDOW,
      forcedInclusionDelaySeconds: 86_400n,
      proposerBond: 10n ** 18n,
      sequencer: operatorKey.address,
    },
    { write: false, network: hre.network.name },
  );
  for (const [name, address] of Object.entries(dep.contracts)) console.log(`        ${name.padEnd(21)} ${address}`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-demo-"));
  const config = defaultConfig(dep.chainId, dataDir);
  config.port = 0;
  config.pollMs = 50;
  config.batch.maxAgeMs = 400;
  config.feeRecipient = 1; // the operator's own account, created by its deposit below (queue item 0)
  const operator = await Operator.start({
    config,
    provider,
    wallet: operatorKey,
    deployment: dep,
    logger: createLogger({ level: process.env.LOG_LEVEL ?? "warn" }),
  });
  const client = new L2Client(operator.url, { maxSockets: 32 });
  step(`operator started: JSON-RPC on ${operator.url}, store in ${dataDir}`);

  try {
    step(
      `depositing: 0.01 ETH for the operator's fee account, ${formatAmount(DEPOSIT)} ETH from each of ${USERS} wallets`,
    );
    await (
      await dep.handles.bridge.connect(signers[0]).depositEth(operatorKey.address, 0, { value: 10n ** 16n })
    ).wait();
    for (const u of users)
      await (await dep.handles.bridge.connect(signers[0]).depositEth(u.address, 0, { value: DEPOSIT })).wait();
    const l2: AccountView[] = [];
    for (const u of users) {
      l2.push(
        await waitFor(
          `the deposit of ${u.address}`,
          async () => (await client.getAccountsOf(u.address).catch(() => []))[0],
        ),
      );
    }
    step(`deposits credited on L2: accounts ${l2.map((a) => a.index).join(", ")}`);

    step(`sending ${TRANSFERS} signed L2 transfers through l2_sendTransaction`);
    const nonces = l2.map((a) => a.nonce);
    let sent = 0;
    const hashes: string[] = [];
    const sendOne = async (u: number, to: number, amount: bigint): Promise<void> => {
      const tx = await signL2Transaction(users[u], transferTx(l2[u].index, to, amount, FEE), {
        chainId: dep.chainId,
        inbox: dep.contracts.rollupInbox,
        tokenId: 0,
        nonce: nonces[u]++,
      });
      hashes.push((await client.sendTransaction(tx)).hash);
      progress("transfers", ++sent, TRANSFERS);
    };
    // Each wallet sends its own transfers in nonce order; the wallets send concurrently.
    await Promise.all(
      users.map(async (_u, u) => {
        for (let i = u; i < TRANSFERS; i += USERS) {
          const to = l2[(u + 1 + (i % (USERS - 1))) % USERS].index;
          await sendOne(u, to, 10n ** 15n * BigInt(1 + (i % 7)));
        }
      }),
    );

    step("registering a BLS key for each account: derived from its wallet's signature, authorized by its wallet");
    const ctxOf = (u: number) => ({
      chainId: dep.chainId,
      inbox: dep.contracts.rollupInbox,
      tokenId: 0,
      nonce: nonces[u]++,
    });
    const blsKeys: BlsKeyPair[] = [];
    for (let u = 0; u < USERS; u++) {
      blsKeys.push(await deriveBlsKey(users[u], eip712Domain(dep.chainId, dep.contracts.rollupInbox)));
      const tx = await signL2Transaction(users[u], registerKeyTx(l2[u].index, blsKeys[u], FEE), ctxOf(u));
      hashes.push((await client.sendTransaction(tx)).hash);
    }
    // The signed transactions close their batches here, so the BLS transfers' batches hold nothing else.
    await operator.closeBatch();
    const firstBlsBatch = (await client.getStatus()).batches.closed;

    step(`sending ${BLS_TRANSFERS} BLS transfers (no signature of their own on L1: one aggregate per chunk)`);
    sent = 0;
    await Promise.all(
      users.map(async (_u, u) => {
        for (let i = u; i < BLS_TRANSFERS; i += USERS) {
          const to = l2[(u + 1 + (i % (USERS - 1))) % USERS].index;
          const envelope = signBlsTransfer(
            blsKeys[u],
            { from: l2[u].index, to, amount: 10n ** 15n * BigInt(1 + (i % 7)), fee: FEE },
            ctxOf(u),
          );
          hashes.push((await client.sendTransaction(envelope)).hash);
          progress("BLS transfers", ++sent, BLS_TRANSFERS);
        }
      }),
    );
    await operator.closeBatch();
    const endBlsBatch = (await client.getStatus()).batches.closed;

    step(`sending ${USERS * WITHDRAWALS_PER_USER} withdrawals of 1 ETH`);
    const withdrawals: { index: number; recipient: string }[] = [];
    for (let u = 0; u < USERS; u++) {
      const tx = await signL2Transaction(users[u], withdrawTx(l2[u].index, 10n ** 18n, FEE), {
        chainId: dep.chainId,
        inbox: dep.contracts.rollupInbox,
        tokenId: 0,
        nonce: nonces[u]++,
      });
      const { hash } = await client.sendTransaction(tx);
      hashes.push(hash);
      const receipt = await client.getReceipt(hash);
      if (receipt?.withdrawalIndex === undefined) throw new Error(`withdrawal ${hash} has no index`);
      withdrawals.push({ index: receipt.withdrawalIndex, recipient: users[u].address });
    }

    step("waiting for the batches to be appended to the inbox and their step roots proposed");
    await operator.closeBatch();
    const last = hashes[hashes.length - 1];
    await waitFor("the last transaction to be proposed", async () => {
      const r = await client.getReceipt(last);
      return r?.status === "proposed" ? r : undefined;
    });
    let status = await client.getStatus();
    step(
      `${status.heads.appended} batches appended, ${status.heads.proposed} proposed; ${status.openProposals.length} proposals in their challenge window`,
    );

    step(`moving L1 time past the ${CHALLENGE_WINDOW} s challenge window (evm_increaseTime)`);
    await hre.network.provider.send("evm_increaseTime", [Number(CHALLENGE_WINDOW) + 1]);
    await hre.network.provider.send("evm_mine", []);
    status = await client.waitForStatus((s) => s.heads.final === s.heads.proposed && s.heads.final > 0);
    step(`${status.heads.final} batches final`);

    step(`claiming ${withdrawals.length} withdrawals on L1 against the final state root`);
    const l1Before = await Promise.all(users.map((u) => provider.getBalance(u.address)));
    for (const w of withdrawals) {
      const proof = await client.getWithdrawalProof(w.index);
      await claimWithdrawal(signers[0], dep.contracts.bridge, proof);
    }
    const l1After = await Promise.all(users.map((u) => provider.getBalance(u.address)));
    await waitFor("the bonds to be returned", async () => {
      const count = Number(await dep.handles.stateCommitmentChain.proposalCount());
      for (let k = 0; k < count; k++)
        if ((await dep.handles.stateCommitmentChain.proposal(k)).bond !== BondState.Returned) return undefined;
      return true;
    });
    step("bonds returned to the proposer");

    // What it cost on L1: every appendBatch and propose of the operator, from the chain itself.
    const appended = await dep.handles.inbox.queryFilter(dep.handles.inbox.filters.BatchAppended());
    const proposed = await dep.handles.stateCommitmentChain.queryFilter(
      dep.handles.stateCommitmentChain.filters.StateProposed(),
    );
    let appendGas = 0n;
    let proposeGas = 0n;
    // Each kind's batches: their appendBatch and propose gas over their transactions.
    const kinds = { signed: { gas: 0n, txs: 0 }, bls: { gas: 0n, txs: 0 } };
    // Batches of deposits alone (no transaction) count for neither kind.
    const txsOf = new Map<number, number>();
    for (const e of appended) {
      const k = Number(e.args.batchIndex);
      txsOf.set(k, Number((await client.getBatch(k))?.transactionCount ?? 0));
    }
    const kindOf = (batch: number) =>
      (txsOf.get(batch) ?? 0) === 0
        ? undefined
        : batch >= firstBlsBatch && batch < endBlsBatch
          ? kinds.bls
          : kinds.signed;
    for (const e of appended) {
      const gas = (await provider.getTransactionReceipt(e.transactionHash))?.gasUsed ?? 0n;
      appendGas += gas;
      const k = kindOf(Number(e.args.batchIndex));
      if (!k) continue;
      k.gas += gas;
      k.txs += txsOf.get(Number(e.args.batchIndex)) ?? 0;
    }
    for (const e of proposed) {
      const gas = (await provider.getTransactionReceipt(e.transactionHash))?.gasUsed ?? 0n;
      proposeGas += gas;
      const k = kindOf(Number(e.args.batchIndex));
      if (k) k.gas += gas;
    }
    const l2Txs = hashes.length;
    const plain = await (await signers[0].sendTransaction({ to: signers[1].address, value: 1n })).wait();
    const plainGas = plain?.gasUsed ?? 0n;

    console.log("\n=== summary ===");
    console.log(
      `L2 transactions          ${l2Txs} (${TRANSFERS} signed transfers, ${USERS} key registrations, ${BLS_TRANSFERS} BLS transfers, ${withdrawals.length} withdrawals)`,
    );
    console.log(
      `batches                  ${appended.length} appended, ${proposed.length} proposed, ${status.heads.final} final`,
    );
    for (const e of appended) {
      const b = await client.getBatch(Number(e.args.batchIndex));
      console.log(
        `  batch ${String(e.args.batchIndex).padEnd(3)} ${String(b?.transactionCount).padStart(4)} txs  ${String((b?.queueEnd as number) - (b?.queueStart as number)).padStart(2)} queue items  ${String(b?.stepCount).padStart(3)} steps  root ${String(b?.stateRoot).slice(0, 18)}…`,
      );
    }
    console.log(`L1 gas, appendBatch      ${appendGas}`);
    console.log(`L1 gas, propose          ${proposeGas}`);
    console.log(
      `L1 gas per L2 tx         ${(appendGas + proposeGas) / BigInt(l2Txs)}  (batches of this demo's size; full batches amortize further)`,
    );
    console.log(
      `L1 gas, plain ETH send   ${plainGas}  (an L2 transaction here costs ${(Number(plainGas) / (Number(appendGas + proposeGas) / l2Txs)).toFixed(1)}x less L1 gas)`,
    );
    for (const [name, k] of [
      ["signed (ECDSA)", kinds.signed],
      ["BLS", kinds.bls],
    ] as const) {
      const per = k.txs === 0 ? 0 : Number(k.gas) / k.txs;
      console.log(
        `  per ${name.padEnd(15)} ${per.toFixed(0).padStart(6)} L1 gas  (${k.txs} txs in their own batches; ${(Number(plainGas) / per).toFixed(1)}x less than a plain send)`,
      );
    }
    console.log("final balances:");
    for (let u = 0; u < USERS; u++) {
      const a = await client.getAccount(l2[u].index);
      console.log(
        `  ${users[u].address}  L2 account ${String(a.index).padEnd(2)} ${formatAmount(a.balance).padEnd(22)} ETH  claimed on L1 +${formatAmount(l1After[u] - l1Before[u])} ETH`,
      );
    }
    const fees = await client.getAccount(1);
    console.log(`  operator fee account 1 ${formatAmount(fees.balance)} ETH`);
    step("done");
    if (opts.screenshots) {
      for (const f of await screenshotExplorer(provider, dep, operator.url, opts.screenshots)) step(`wrote ${f}`);
    }
    if (opts.explore) await exploreDemo(hre.network.provider, provider, dep, operator.url);
  } finally {
    client.close();
    await operator.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

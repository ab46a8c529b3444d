/**
 * The verifier end to end, with real processes: a `hardhat node`, the rollup
 * deployed by the `deploy` task, the operator task turned malicious
 * (BILAYER_MALICIOUS), and the honest verifier (scripts/verifier/run.ts) as
 * child processes. The operator proposes a theft — a forged withdrawal of all
 * the ETH on L2 to itself — and two honest batches on top of it; the verifier,
 * started late, catches up from L1 alone, proves the theft inside the window,
 * the three proposals are rolled back and the theft's bond is slashed (the two
 * honest successors are refunded), the right roots are proposed again and
 * finalized, every user claims exactly what they own, and the thief gets
 * nothing but its own bonds back.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { HDNodeWallet, JsonRpcProvider, type Wallet } from "ethers";
import { connectRollup, type RollupContracts } from "../../src/l1/contracts";
import { readRollupDeployment, type RollupDeployment } from "../../src/l1/deployments";
import { readBatches, readQueue } from "../../src/l1/reader";
import { stepRootsHash } from "../../src/l1/batch";
import { L2Client, signL2Transaction, transferTx, withdrawTx, type AccountView } from "../../src/operator/client";
import { claimWithdrawal } from "../../src/operator/l1-user";
import { domainSeparator } from "../../src/protocol/eip712";
import { initHashing, toHex } from "../../src/protocol/hash";
import { L2State } from "../../src/protocol/state";
import { applyBatch } from "../../src/protocol/stf";
import { freePort, runTask, startL1, startOperator, startVerifier, stop, type Proc } from "./processes";

const MNEMONIC = "test test test test test test test test test test test junk";
const CHALLENGE_WINDOW = 600;
const ETH = 10n ** 18n;
const BOND = ETH / 10n;

function devWallet(index: number, provider: JsonRpcProvider): Wallet {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider) as unknown as Wallet;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The honest state and step roots of every batch L1 holds, rebuilt here with src/protocol (not the verifier). */
async function honestFromL1(
  contracts: RollupContracts,
  deployment: RollupDeployment,
): Promise<{ roots: string[][]; states: L2State[] }> {
  const from = { fromBlock: deployment.startBlock };
  const queue = await readQueue(contracts.bridge, from);
  const batches = await readBatches(contracts.inbox, from);
  const separator = domainSeparator(deployment.chainId, deployment.contracts.rollupInbox);
  const state = new L2State();
  const roots: string[][] = [];
  const states: L2State[] = [];
  for (const b of batches) {
    roots.push(
      applyBatch(state, {
        queueItems: queue.slice(b.queueStart, b.queueEnd),
        chunks: b.chunks,
        feeRecipient: b.feeRecipient,
        domainSeparator: separator,
      }).stepRoots,
    );
    states.push(state.clone());
  }
  return { roots, states };
}

describe("verifier end to end (real processes)", function () {
  this.timeout(300_000);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-verifier-e2e-"));
  const env: NodeJS.ProcessEnv = { BILAYER_DEPLOYMENTS_DIR: path.join(dir, "deployments"), LOG_LEVEL: "info" };
  const procs: (Proc | undefined)[] = [];
  let provider: JsonRpcProvider | undefined;
  let client: L2Client | undefined;

  after(async () => {
    client?.close();
    // Every child, by its PID (SIGKILL after a grace period).
    for (const p of procs.reverse()) await stop(p);
    provider?.destroy();
    if (process.env.KEEP_E2E_LOGS === undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a theft by the operator is proven inside the window, rolled back with its successors and its bond slashed; the right roots are finalized, every user claims what they own and the thief gets nothing", async function () {
    await initHashing();
    const l1 = await startL1("hardhat", dir);
    procs.push(l1.proc);
    env.L1_RPC_URL = l1.url;
    provider = new JsonRpcProvider(l1.url, undefined, { cacheTimeout: -1, pollingInterval: 100 });
    await runTask(
      ["deploy", "--network", "localhost", "--challenge-window", String(CHALLENGE_WINDOW), "--bond", String(BOND)],
      env,
      dir,
    );
    const deployment = readRollupDeployment("localhost", env.BILAYER_DEPLOYMENTS_DIR);
    const contracts = connectRollup(deployment.contracts, provider);
    const chain = contracts.stateCommitmentChain;
    const thief = devWallet(0, provider); // the operator's key: sequencer and proposer
    const users = [1, 2, 3].map((i) => devWallet(i, provider as JsonRpcProvider));
    const challengerAddress = devWallet(9, provider).address;

    // 1. An honest operator takes the deposits.
    const opPort = await freePort();
    const opArgs = [
      "--network",
      "localhost",
      "--data-dir",
      path.join(dir, "operator-data"),
      "--batch-age",
      "300",
      "--poll",
      "100",
    ];
    let operator = await startOperator(opArgs, env, dir, opPort);
    procs.push(operator);
    client = new L2Client(`http://127.0.0.1:${opPort}`);
    for (const u of users)
      await (await contracts.bridge.connect(u).depositEth(u.address, 0, { value: 10n * ETH })).wait();
    const accounts: AccountView[] = [];
    for (const u of users) {
      accounts.push(
        await until(`the L2 account of ${u.address}`, async () =>
          (await (client as L2Client).getAccountsOf(u.address)).find((a) => a.balance === 10n * ETH),
        ),
      );
    }
    await client.waitForStatus(
      (s) =>
        s.queue.backlog === "0" &&
        s.heads.appended > 0 &&
        s.heads.proposed === s.heads.appended &&
        s.batches.closed === s.heads.appended &&
        s.batches.open === undefined,
      30_000,
    );
    const lieBatch = Number(await contracts.inbox.batchCount());
    expect(lieBatch).to.be.greaterThan(0);

    // 2. It turns thief: restarted with BILAYER_MALICIOUS, it will forge a withdrawal in the next batch.
    await stop(operator);
    operator = await startOperator(
      opArgs,
      { ...env, BILAYER_MALICIOUS: `forged-withdrawal:${lieBatch}:0` },
      dir,
      opPort,
    );
    procs.push(operator);
    expect(fs.readFileSync(operator.log, "utf8")).to.contain("MALICIOUS MODE ON");

    const nonces = accounts.map((a) => a.nonce);
    const expected = new Map<number, bigint>(accounts.map((a) => [a.index, a.balance]));
    const send = async (u: number, tx: ReturnType<typeof transferTx>): Promise<string> => {
      const signed = await signL2Transaction(users[u], tx, {
        chainId: deployment.chainId,
        inbox: deployment.contracts.rollupInbox,
        tokenId: 0,
        nonce: nonces[u]++,
      });
      return (await (client as L2Client).sendTransaction(signed)).hash;
    };
    const transfer = async (u: number, to: number, amount: bigint): Promise<void> => {
      await send(u, transferTx(accounts[u].index, accounts[to].index, amount));
      expected.set(accounts[u].index, (expected.get(accounts[u].index) as bigint) - amount);
      expected.set(accounts[to].index, (expected.get(accounts[to].index) as bigint) + amount);
    };
    const withdrawals: { index: number; wallet: Wallet; amount: bigint }[] = [];
    const withdraw = async (u: number, amount: bigint): Promise<void> => {
      const hash = await send(u, withdrawTx(accounts[u].index, amount));
      expected.set(accounts[u].index, (expected.get(accounts[u].index) as bigint) - amount);
      const receipt = await (client as L2Client).getReceipt(hash);
      withdrawals.push({ index: receipt?.withdrawalIndex as number, wallet: users[u], amount });
    };
    const waitProposed = (count: number): Promise<boolean> =>
      until(`${count} proposals`, async () => (Number(await chain.proposalCount()) >= count ? true : undefined));

    // The batch of the theft: transfers and two withdrawals.
    await transfer(0, 1, ETH);
    await transfer(1, 2, 2n * ETH);
    await withdraw(0, 3n * ETH);
    await withdraw(2, ETH);
    await waitProposed(lieBatch + 1);
    // Two more honest batches on top of it, before anyone checks.
    await transfer(2, 0, ETH / 2n);
    await withdraw(1, 4n * ETH);
    await waitProposed(lieBatch + 2);
    await transfer(0, 2, ETH / 4n);
    await waitProposed(lieBatch + 3);
    await until("no batch in flight", async () =>
      (await (client as L2Client).getStatus()).batches.closed === lieBatch + 3 ? true : undefined,
    );

    const honest = await honestFromL1(contracts, deployment);
    const lie = await chain.proposal(lieBatch);
    expect(lie.stepRootsHash).to.not.equal(stepRootsHash(honest.roots[lieBatch]), "the operator proposed a lie");
    const [lieEvent] = await chain.queryFilter(chain.filters.StateProposed(lieBatch));
    const lieDeadline = Number(lieEvent.args.deadline);

    // 3. The honest verifier starts late, catches up from L1 alone, and proves the theft.
    const vPort = await freePort();
    const verifier = await startVerifier(
      [
        "--rpc",
        l1.url,
        "--network",
        "localhost",
        "--data-dir",
        path.join(dir, "verifier-data"),
        "--poll",
        "100",
        "--account",
        "9",
      ],
      env,
      dir,
      vPort,
    );
    procs.push(verifier);
    const proven = await until("the fraud proof", async () => {
      const events = await contracts.fraudVerifier.queryFilter(contracts.fraudVerifier.filters.FraudProven());
      return events.length > 0 ? events : undefined;
    });
    expect(proven).to.have.length(1);
    expect(proven[0].args.batchIndex).to.equal(BigInt(lieBatch));
    expect(proven[0].args.stepIndex).to.equal(0n);
    expect(proven[0].args.challenger).to.equal(challengerAddress);
    expect(proven[0].args.computedRoot).to.equal(honest.roots[lieBatch][0]);
    expect((await provider.getBlock(proven[0].blockNumber))?.timestamp).to.be.below(lieDeadline);
    const [rollback] = await chain.queryFilter(chain.filters.ProposalsRolledBack());
    expect([rollback.args.fromBatch, rollback.args.toBatch, rollback.args.challenger]).to.deep.equal([
      BigInt(lieBatch),
      BigInt(lieBatch + 3),
      challengerAddress,
    ]);
    // Only the lie's bond is forfeited; the two successors removed with it are refundable.
    expect(rollback.args.reward).to.equal(BOND / 2n);
    expect(rollback.args.burnt).to.equal(BOND - BOND / 2n);

    // 4. The right roots are proposed again (by the verifier or the operator, whichever is first) and finalized.
    await until("the right roots proposed again", async () => {
      if (Number(await chain.proposalCount()) < lieBatch + 3) return undefined;
      for (let k = lieBatch; k < lieBatch + 3; k++) {
        if ((await chain.proposal(k)).stepRootsHash !== stepRootsHash(honest.roots[k])) return undefined;
      }
      return true;
    });
    const reproposedBy = await Promise.all([0, 1, 2].map(async (i) => (await chain.proposal(lieBatch + i)).proposer));
    for (const who of reproposedBy) expect([challengerAddress, thief.address]).to.include(who);
    await provider.send("evm_increaseTime", [CHALLENGE_WINDOW + 1]);
    await provider.send("evm_mine", []);
    expect(await chain.isFinal(lieBatch + 2)).to.equal(true);

    // The verifier's own account of it.
    const status = await until("the verifier to settle every batch", async () => {
      const s = (await (await fetch(`http://127.0.0.1:${vPort}/status`)).json()) as {
        batches: { replayed: number; settled: number };
        actions: { kind: string; batchIndex: number; stepIndex?: number; result: string; transactionHash?: string }[];
        halted: string | null;
      };
      return s.batches.settled === lieBatch + 3 ? s : undefined;
    });
    expect(status.halted).to.equal(null);
    expect(
      status.actions
        .filter((a) => a.kind === "fraudProof")
        .map((a) => [a.batchIndex, a.stepIndex, a.result, a.transactionHash]),
    ).to.deep.equal([[lieBatch, 0, "succeeded", proven[0].transactionHash]]);
    const metrics = await (await fetch(`http://127.0.0.1:${vPort}/metrics`)).text();
    expect(metrics).to.match(/bilayer_verifier_fraud_proofs_total\{result="succeeded"\} 1/);
    expect(metrics).to.match(/bilayer_verifier_proposals_checked_total\{verdict="wrong"\} 1/);

    // 5. Every user claims exactly what they withdrew; their L2 balances are what they own. (The proofs come from
    // the operator, so it must have seen the finality too.)
    await client.waitForStatus((s) => s.heads.final >= lieBatch + 3, 30_000);
    const final = honest.states[lieBatch + 2];
    for (const { index, wallet, amount } of withdrawals) {
      const proof = await client.getWithdrawalProof(index);
      expect(proof.final).to.equal(true);
      expect([proof.recipient, proof.amount]).to.deep.equal([wallet.address, amount]);
      const before = await provider.getBalance(wallet.address);
      const receipt = await claimWithdrawal(wallet, deployment.contracts.bridge, proof);
      expect((await provider.getBalance(wallet.address)) - before + receipt.gasUsed * receipt.gasPrice).to.equal(
        amount,
      );
    }
    for (const [index, balance] of expected)
      expect(final.getAccount(index)?.balance, `account ${index}`).to.equal(balance);

    // 6. The thief gets nothing: no withdrawal of its in the final state, and its forged one cannot be claimed.
    const thiefAddress = thief.address.toLowerCase();
    for (let i = 0n; i < final.withdrawalCount; i++) expect(final.withdrawal(i)?.recipient).to.not.equal(thiefAddress);
    const theft = /forged withdrawal (\d+) of (\d+) wei to (0x[0-9a-f]{40})/.exec(
      fs.readFileSync(operator.log, "utf8"),
    );
    expect(theft, "the operator logged its lie").to.not.equal(null);
    const [, theftIndex, theftAmount, theftTo] = theft as RegExpExecArray;
    expect(theftTo).to.equal(thiefAddress);
    expect(BigInt(theftAmount)).to.be.greaterThan(20n * ETH);
    // Its forged state (the lie covers the batch's only step): the honest one plus that withdrawal.
    expect(honest.roots[lieBatch]).to.have.length(1);
    const forged = honest.states[lieBatch].clone();
    forged.appendWithdrawal({ recipient: thiefAddress, tokenId: 0, amount: BigInt(theftAmount) });
    expect(forged.stateRoot()).to.equal(lie.stateRoot);
    await expect(
      contracts.bridge
        .connect(thief)
        .claimWithdrawal(
          lieBatch,
          forged.header(),
          Number(theftIndex),
          thiefAddress,
          0,
          BigInt(theftAmount),
          forged.withdrawalProof(Number(theftIndex)).map(toHex),
        ),
    )
      .to.be.revertedWithCustomError(contracts.bridge, "BridgeStateRootMismatch")
      .withArgs(lieBatch, await chain.stateRoot(lieBatch), lie.stateRoot);
  });
});

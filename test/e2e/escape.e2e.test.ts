/**
 * The escape hatch end to end, with real processes: a `hardhat node`, the
 * rollup deployed by the `deploy` task, the operator task, and users who run
 * nothing but `npx hardhat escape` (and, for one, `exit`, `balance` and
 * `claim` against a verifier's server). Once with the operator killed, once
 * with it alive and censoring forced exits while it also lies about a batch:
 * each user gets every L2 balance out to L1, ETH to the wei less the gas they
 * paid, tokens exactly, and every bond they posted back.
 */
import { expect } from "chai";
import { type JsonRpcProvider, type Wallet } from "ethers";
import { signL2Transaction, transferTx, type AccountView } from "../../src/operator/client";
import { MockERC20__factory } from "../../typechain-types";
import { freePort, runTask, startTask, stop, stopAll, waitForLog, type Proc } from "./processes";
import { CHALLENGE_WINDOW, devWallet, ETH, Stack, until } from "./stack";

const DELAY = 3_600;
const BOND = ETH / 10n;

/** L1 time forward by `seconds`, and a block at it. */
async function travel(provider: JsonRpcProvider, seconds: number): Promise<void> {
  await provider.send("evm_increaseTime", [seconds]);
  await provider.send("evm_mine", []);
}

/** What `address` paid in L1 gas in blocks `from`..head. */
async function gasPaidBy(provider: JsonRpcProvider, address: string, from: number): Promise<bigint> {
  let paid = 0n;
  const head = await provider.getBlockNumber();
  for (let n = from; n <= head; n++) {
    const block = await provider.getBlock(n, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      if (tx.from.toLowerCase() !== address.toLowerCase()) continue;
      const receipt = await provider.getTransactionReceipt(tx.hash);
      if (receipt) paid += receipt.gasUsed * receipt.gasPrice;
    }
  }
  return paid;
}

/** Fraud proofs `address` made (each pays half the wrong proposal's bond). */
async function proofsBy(stack: Stack, address: string): Promise<number> {
  const fv = stack.contracts.fraudVerifier;
  return (await fv.queryFilter(fv.filters.FraudProven(undefined, undefined, address), stack.deployment.startBlock))
    .length;
}

/**
 * Two users with L2 money: `eth` deposits 2 ETH and pays 0.25 ETH to a third
 * (`other`, a new account); `token` deposits 1,000 units of an ERC-20 and moves
 * 400 of them to a second account of its own. Returns their accounts once L1
 * carries all of it.
 */
async function fund(stack: Stack, eth: Wallet, token: Wallet, other: Wallet): Promise<{ tokenAddress: string }> {
  const deployer = devWallet(0, stack.provider);
  const erc20 = await (await new MockERC20__factory(deployer).deploy("Escape token", "ESC")).waitForDeployment();
  const tokenAddress = await erc20.getAddress();
  await (await erc20.mint(token.address, 1_000n)).wait();
  // The documented command: it registers the token on the bridge (its first deposit), approves and deposits.
  const signer = (await stack.provider.listAccounts()).findIndex((a) => a.address === token.address);
  const deposited = await runTask(
    [
      "deposit",
      "--network",
      "localhost",
      "--token",
      tokenAddress,
      "--amount",
      "0.000000000000001",
      "--signer",
      String(signer),
    ],
    stack.env,
    stack.dir,
    "deposit-token",
  );
  expect(deposited).to.match(/registered 0x[0-9a-fA-F]{40} on the bridge as token \d+/);
  expect(deposited).to.contain("deposited 0.000000000000001 ESC");
  const tokenId = Number(await stack.contracts.bridge.tokenIdOf(tokenAddress));
  expect(tokenId).to.be.greaterThan(0);
  const [e] = await stack.deposit([eth], 2n * ETH);
  const t = await until("the token account", async () =>
    (await stack.client.getAccountsOf(token.address)).find((a) => a.tokenId === tokenId),
  );
  const ctx = (a: AccountView): { chainId: bigint; inbox: string; tokenId: number; nonce: number } => ({
    chainId: stack.deployment.chainId,
    inbox: stack.deployment.contracts.rollupInbox,
    tokenId: a.tokenId,
    nonce: a.nonce,
  });
  const hashes: string[] = [];
  const tx1 = await signL2Transaction(eth, transferTx(e.index, other.address, ETH / 4n), ctx(e));
  hashes.push((await stack.client.sendTransaction(tx1)).hash);
  const tx2 = await signL2Transaction(token, transferTx(t.index, token.address, 400n), ctx(t));
  hashes.push((await stack.client.sendTransaction(tx2)).hash);
  await stack.waitProposed(hashes);
  return { tokenAddress };
}

describe("escape hatch end to end (real processes)", function () {
  this.timeout(600_000);

  after(async () => {
    await stopAll();
  });

  describe("the operator killed: users run only `escape` (and `exit`, `balance`, `claim` at a verifier)", () => {
    const stack = new Stack("hardhat", { deployArgs: ["--forced-inclusion-delay", String(DELAY)] });
    let verifier: Proc | undefined;

    before(async () => {
      await stack.start();
    });

    after(async function () {
      await stop(verifier);
      await stack.stop(this.test?.parent?.tests.some((t) => t.state === "failed") ?? true);
    });

    it("gets every ETH and token balance out to L1, resumably, with the operator dead", async () => {
      const provider = stack.provider;
      // On the fresh deployment (nothing on L2 yet) a dry run finds nothing to do, and sends nothing.
      const fresh = await provider.getBlockNumber();
      const empty = await runTask(
        ["escape", "--network", "localhost", "--signer", "5", "--dry-run", "--data-dir", `${stack.dir}/escape-fresh`],
        stack.env,
        stack.dir,
        "escape-fresh",
      );
      expect(empty).to.match(/0 batches rebuilt, 0 accounts/);
      expect(empty).to.contain("nothing to do");
      expect(await provider.getBlockNumber()).to.equal(fresh);

      const [eth, token, other] = [5, 6, 7].map((i) => devWallet(i, provider));
      const { tokenAddress } = await fund(stack, eth, token, other);
      const erc20 = MockERC20__factory.connect(tokenAddress, provider);
      const otherAccount = (await stack.client.getAccountsOf(other.address))[0];
      const escape = (signer: number, ...more: string[]): string[] => [
        "escape",
        "--network",
        "localhost",
        "--signer",
        String(signer),
        "--data-dir",
        `${stack.dir}/escape-${signer}`,
        "--poll",
        "200",
        ...more,
      ];

      process.kill(stack.operator?.child.pid as number, "SIGKILL");
      await stop(stack.operator);
      const startBlock = await provider.getBlockNumber();
      const ethBefore = await provider.getBalance(eth.address);

      // A dry run sends nothing and says what it would do and cost; a user with nothing on L2 is told so.
      const head = await provider.getBlockNumber();
      const none = await runTask(escape(9, "--dry-run"), stack.env, stack.dir, "escape-9");
      expect(none).to.contain("nothing to do");
      const plan = await runTask(escape(5, "--dry-run"), stack.env, stack.dir, "escape-5-dry");
      expect(plan).to.match(/your account \d+: 1\.75 ETH/);
      expect(plan).to.match(/request a forced exit of account \d+ \(L1 tx, [\d,]+ gas\)/);
      expect(plan).to.contain("a bond of 0.1 ETH each");
      expect(await provider.getBlockNumber(), "a dry run sends nothing").to.equal(head);

      // The third user asks for its exit by hand, and reads its balance from a verifier's server.
      const exitOut = await runTask(
        ["exit", "--network", "localhost", "--account", String(otherAccount.index), "--signer", "7"],
        stack.env,
        stack.dir,
      );
      expect(exitOut).to.match(/queued as L1 queue item \d+/);
      expect(exitOut).to.contain("npx hardhat escape");
      const vport = await freePort();
      verifier = startTask(
        [
          "verifier",
          "--network",
          "localhost",
          "--port",
          String(vport),
          "--propose",
          "off",
          "--no-challenge",
          "--data-dir",
          `${stack.dir}/verifier`,
          "--poll",
          "200",
        ],
        stack.env,
        stack.dir,
      );
      await waitForLog(verifier, /verifier started/, 120_000);
      const rpc = `http://127.0.0.1:${vport}`;
      const balance = await until("the verifier's account view", async () => {
        const out = await runTask(
          ["balance", "--network", "localhost", "--address", other.address, "--rpc", rpc],
          stack.env,
          stack.dir,
        );
        return out.includes(`L2 account ${otherAccount.index}: 0.25`) ? out : undefined;
      });
      expect(balance).to.contain("(token 0)");
      // With the operator's RPC gone, the CLI says what to do instead of a stack trace.
      const refused = await runTask(["claim", "--network", "localhost", "--signer", "7"], stack.env, stack.dir).then(
        () => "",
        (err: Error) => err.message,
      );
      expect(refused).to.contain("cannot reach the L2 JSON-RPC");
      expect(refused).to.contain("npx hardhat escape");
      // One line that says what to do (Hardhat adds the stack trace only on a CI server).
      expect(refused).to.match(
        /Error in plugin bilayer: cannot reach the L2 JSON-RPC at http:\/\/127\.0\.0\.1:8547\/: ECONNREFUSED\n/,
      );

      // The ETH user's first run asks for the exit, says what it waits for and until when; stopped there.
      const first = startTask(escape(5), stack.env, stack.dir, "escape-5-a");
      const waiting = await waitForLog(first, /waiting for the forced exit of account \d+ to be overdue/, 120_000);
      expect(waiting).to.match(/requested the forced exit of account \d+/);
      expect(waiting).to.match(/at \d{4}-\d\d-\d\dT[\d:.]+Z \(L1 time\), in (59m|1h)/);
      await stop(first, "SIGTERM", 30_000);
      expect(first.child.exitCode).to.equal(0);
      // The token user's first run likewise (it finds both its accounts).
      const tFirst = startTask(escape(6), stack.env, stack.dir, "escape-6-a");
      const tWaiting = await waitForLog(
        tFirst,
        /waiting for the forced exit of account \d+, \d+ to be overdue/,
        120_000,
      );
      expect(tWaiting.match(/requested the forced exit/g)).to.have.length(2);
      await stop(tFirst, "SIGTERM", 30_000);

      // A week later, say (past the forced-inclusion delay): run again. It force-includes, proposes, waits.
      await travel(provider, DELAY + 1);
      const second = startTask(escape(5), stack.env, stack.dir, "escape-5-b");
      const w2 = await waitForLog(second, /waiting for withdrawal [\d, ]+ to be final at/, 180_000);
      expect(w2, "the earlier request is not repeated").to.not.contain("requested the forced exit");
      // The token user's exits were force-included by the ETH user's run: its own run uses that, and that proposal.
      const tSecond = startTask(escape(6), stack.env, stack.dir, "escape-6-b");
      await waitForLog(tSecond, /waiting for withdrawal [\d, ]+ to be final at/, 180_000);
      expect(Number(await stack.contracts.stateCommitmentChain.proposalCount())).to.equal(
        Number(await stack.contracts.inbox.batchCount()),
      );

      await travel(provider, CHALLENGE_WINDOW + 1);
      await waitForLog(second, /^done: /m, 180_000);
      await waitForLog(tSecond, /^done: /m, 180_000);
      await until("both escapes to exit", async () =>
        second.child.exitCode !== null && tSecond.child.exitCode !== null ? true : undefined,
      );
      expect([second.child.exitCode, tSecond.child.exitCode]).to.deep.equal([0, 0]);

      // ETH: the whole L2 balance, less what the user paid in gas, bonds back; tokens to the unit.
      const paid = await gasPaidBy(provider, eth.address, startBlock + 1);
      expect(await provider.getBalance(eth.address)).to.equal(ethBefore + (7n * ETH) / 4n - paid);
      expect(await erc20.balanceOf(token.address)).to.equal(1_000n);

      // The third user claims through the verifier's server, with the operator still down.
      const claimed = await until("the third user's withdrawal final at the verifier", async () => {
        const out = await runTask(
          ["claim", "--network", "localhost", "--signer", "7", "--rpc", rpc],
          stack.env,
          stack.dir,
        );
        return out.includes("claimed withdrawal") ? out : undefined;
      });
      expect(claimed).to.match(/claimed withdrawal \d+: 0\.25 ETH \(token 0\) to 0x/);
    });
  });

  describe("the operator alive, censoring forced exits and lying about a batch", () => {
    const stack = new Stack("hardhat", { deployArgs: ["--forced-inclusion-delay", String(DELAY)] });
    let userEnv: NodeJS.ProcessEnv;

    before(async () => {
      userEnv = { ...stack.env };
      stack.env.BILAYER_CENSOR = "forced-exits";
      stack.env.BILAYER_MALICIOUS = "wrong-root:0:0";
      await stack.start();
    });

    after(async function () {
      await stack.stop(this.test?.parent?.tests.some((t) => t.state === "failed") ?? true);
    });

    it("proves the lie, force-includes what the sequencer holds back, and gets everything out", async () => {
      const provider = stack.provider;
      userEnv.L1_RPC_URL = stack.env.L1_RPC_URL;
      const [eth, token, other] = [5, 6, 7].map((i) => devWallet(i, provider));
      const { tokenAddress } = await fund(stack, eth, token, other);
      const erc20 = MockERC20__factory.connect(tokenAddress, provider);
      const escape = (signer: number, ...more: string[]): string[] => [
        "escape",
        "--network",
        "localhost",
        "--signer",
        String(signer),
        "--data-dir",
        `${stack.dir}/escape-${signer}`,
        "--poll",
        "200",
        ...more,
      ];
      const startBlock = await provider.getBlockNumber();
      const ethBefore = await provider.getBalance(eth.address);

      // The live wrong proposal: the dry run says it will prove it, and sends nothing.
      await until("the lie about batch 0 proposed", async () =>
        Number(await stack.contracts.stateCommitmentChain.proposalCount()) >= 1 ? true : undefined,
      );
      const head = await provider.getBlockNumber();
      const plan = await runTask(escape(5, "--dry-run"), userEnv, stack.dir, "escape-5-dry");
      expect(plan).to.match(/prove the wrong proposal of batch 0 \(step 0, by 0x[0-9a-fA-F]{40}\)/);
      expect(await provider.getBlockNumber()).to.equal(head);

      const run = startTask(escape(5), userEnv, stack.dir, "escape-5");
      await waitForLog(run, /waiting for the forced exit of account \d+ to be overdue/, 180_000);
      await until("the lie proven by the escape", async () =>
        (await proofsBy(stack, eth.address)) === 1 ? true : undefined,
      );
      // The operator is alive and says it is holding the exit back.
      await waitForLog(stack.operator as Proc, /CENSOR MODE: holding back a forced exit/, 30_000);
      const tRun = startTask(escape(6), userEnv, stack.dir, "escape-6");
      await waitForLog(tRun, /waiting for the forced exit of account \d+, \d+ to be overdue/, 180_000);

      await travel(provider, DELAY + 1);
      await waitForLog(run, /waiting for withdrawal [\d, ]+ to be final at/, 180_000);
      await waitForLog(tRun, /waiting for withdrawal [\d, ]+ to be final at/, 180_000);
      // The censor follows L1 once L1 included its held items by force.
      await waitForLog(stack.operator as Proc, /CENSOR MODE: L1 included held items by force/, 30_000);
      await travel(provider, CHALLENGE_WINDOW + 1);
      await waitForLog(run, /^done: /m, 180_000);
      await waitForLog(tRun, /^done: /m, 180_000);
      await until("both escapes to exit", async () =>
        run.child.exitCode !== null && tRun.child.exitCode !== null ? true : undefined,
      );
      expect([run.child.exitCode, tRun.child.exitCode]).to.deep.equal([0, 0]);

      const paid = await gasPaidBy(provider, eth.address, startBlock + 1);
      const reward = BigInt(await proofsBy(stack, eth.address)) * (BOND / 2n);
      expect(await provider.getBalance(eth.address)).to.equal(ethBefore + (7n * ETH) / 4n - paid + reward);
      expect(await erc20.balanceOf(token.address)).to.equal(1_000n);
      // The operator followed L1 through all of it: it shows the exits applied.
      for (const a of [
        ...(await stack.client.getAccountsOf(eth.address)),
        ...(await stack.client.getAccountsOf(token.address)),
      ])
        expect(a.balance, `account ${a.index} on the operator`).to.equal(0n);
    });
  });
});

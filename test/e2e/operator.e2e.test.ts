/**
 * The operator end to end, with real processes: an L1 node (`hardhat node`,
 * then anvil — an independent EVM), the `deploy` task, the `operator` task as
 * a child process; the test drives it only through its JSON-RPC API and L1.
 */
import { expect } from "chai";
import { JsonRpcProvider, Wallet, keccak256 } from "ethers";
import { BondState } from "../../src/operator/bonds";
import { RpcCode } from "../../src/operator/errors";
import { stepRootsHash } from "../../src/l1/batch";
import { pendingTx } from "../rollup/helpers/mempool";
import { L2RpcError, transferTx, withdrawTx } from "../../src/operator/client";
import { claimWithdrawal } from "../../src/operator/l1-user";
import { runTask, stop, stopAll, tail, type Proc } from "./processes";
import { devWallet, ETH, Stack, timeTravelPastWindow, until } from "./stack";

/** The whole life cycle, driven through JSON-RPC and L1 only. */
async function lifeCycle(stack: Stack): Promise<void> {
  const { client, provider } = stack;
  const users = [1, 2, 3, 4].map((i) => devWallet(i, provider));
  const newcomer = devWallet(12, provider).address;
  const accounts = await stack.deposit(users, 5n * ETH);
  const expected = new Map<number, bigint>(accounts.map((a) => [a.index, a.balance]));
  const nonces = accounts.map((a) => a.nonce);
  const hashes: string[] = [];

  // 100 transfers, each wallet in nonce order, the four wallets concurrently.
  await Promise.all(
    users.map(async (w, u) => {
      for (let i = 0; i < 25; i++) {
        const to = accounts[(u + 1 + (i % 3)) % 4].index;
        const amount = 10n ** 15n * BigInt(1 + ((u + i) % 5));
        const { hash, status } = await client.sendTransaction(
          await stack.sign(w, transferTx(accounts[u].index, to, amount), nonces[u]++),
        );
        expect(status).to.equal("pending");
        hashes.push(hash);
        expected.set(accounts[u].index, (expected.get(accounts[u].index) ?? 0n) - amount);
        expected.set(to, (expected.get(to) ?? 0n) + amount);
      }
    }),
  );
  // A transfer to a new address creates an account.
  const toNew = await client.sendTransaction(
    await stack.sign(users[0], transferTx(accounts[0].index, newcomer, ETH / 2n), nonces[0]++),
  );
  hashes.push(toNew.hash);
  expected.set(accounts[0].index, (expected.get(accounts[0].index) ?? 0n) - ETH / 2n);
  const created = (await client.getReceipt(toNew.hash))?.createdAccount;
  expect(created).to.be.a("number");
  expected.set(created as number, ETH / 2n);

  // One withdrawal of 1 ETH per wallet.
  const withdrawals: { index: number; wallet: Wallet }[] = [];
  for (let u = 0; u < users.length; u++) {
    const { hash } = await client.sendTransaction(
      await stack.sign(users[u], withdrawTx(accounts[u].index, ETH), nonces[u]++),
    );
    hashes.push(hash);
    expected.set(accounts[u].index, (expected.get(accounts[u].index) ?? 0n) - ETH);
    const receipt = await client.getReceipt(hash);
    withdrawals.push({ index: receipt?.withdrawalIndex as number, wallet: users[u] });
  }

  await stack.waitProposed(hashes);
  // A claim before the window has passed is refused by the bridge.
  const early = await client.getWithdrawalProof(withdrawals[0].index);
  expect(early.final).to.equal(false);
  await expect(claimWithdrawal(users[0], stack.deployment.contracts.bridge, early))
    .to.be.revertedWithCustomError(stack.contracts.bridge, "BridgeBatchNotFinal")
    .withArgs(early.batchIndex);

  await timeTravelPastWindow(provider);
  await client.waitForStatus((s) => s.heads.final === s.heads.proposed && s.heads.final === s.heads.appended, 30_000);

  for (const { index, wallet } of withdrawals) {
    const proof = await client.getWithdrawalProof(index);
    expect(proof.final).to.equal(true);
    expect(proof.recipient).to.equal(wallet.address);
    const before = await provider.getBalance(wallet.address);
    const receipt = await claimWithdrawal(wallet, stack.deployment.contracts.bridge, proof);
    const after = await provider.getBalance(wallet.address);
    expect(after - before + receipt.gasUsed * receipt.gasPrice).to.equal(ETH);
    expect(await stack.contracts.bridge.isClaimed(index)).to.equal(true);
  }

  for (const [index, balance] of expected)
    expect((await client.getAccount(index)).balance, `account ${index}`).to.equal(balance);

  // L1 alone tells the same story: every transaction once, the same balances.
  const replay = await stack.replayFromL1();
  expect(new Set(replay.txHashes).size).to.equal(replay.txHashes.length);
  for (const h of hashes) expect(replay.txHashes).to.include(h);
  for (const [index, balance] of expected) expect(replay.state.getAccount(index)?.balance).to.equal(balance);

  // The operator takes its bonds back once the proposals are final.
  await until("the bonds to be returned", async () => {
    const n = Number(await stack.contracts.stateCommitmentChain.proposalCount());
    for (let k = 0; k < n; k++)
      if ((await stack.contracts.stateCommitmentChain.proposal(k)).bond !== BondState.Returned) return undefined;
    return true;
  });
}

/**
 * Clients stream transfers; the operator is killed with SIGKILL mid-stream
 * (twice) and restarted; every acknowledged transaction must be applied
 * exactly once, and L1 must carry every batch once.
 */
async function crashAndRecover(stack: Stack): Promise<void> {
  const { client, provider } = stack;
  const users = [5, 6, 7, 8].map((i) => devWallet(i, provider));
  const accounts = await stack.deposit(users, 5n * ETH);
  const acked: { hash: string; account: number; nonce: number }[] = [];
  /** Transfers sent when the operator died: each either stored (and applied) or lost, never half. */
  const unsure: { hash: string; account: number; nonce: number }[] = [];
  const nonces = accounts.map((a) => a.nonce);

  const stream = async (stopAfter: number): Promise<void> => {
    await Promise.all(
      users.map(async (w, u) => {
        for (;;) {
          if (acked.length >= stopAfter) return;
          const nonce = nonces[u];
          const to = accounts[(u + 1) % 4].index;
          const tx = await stack.sign(w, transferTx(accounts[u].index, to, 10n ** 14n), nonce);
          try {
            const r = await client.sendTransaction(tx);
            acked.push({ hash: r.hash, account: accounts[u].index, nonce });
            nonces[u]++;
          } catch (err) {
            if (err instanceof L2RpcError) throw err; // a refusal would be a bug here
            // The connection died with the operator: stored or not, we cannot know yet.
            unsure.push({ hash: keccak256(tx), account: accounts[u].index, nonce });
            return;
          }
        }
      }),
    );
  };

  for (const round of [1, 2]) {
    const target = acked.length + 60;
    const streaming = stream(target + 1_000);
    // Kill it while the clients are still sending and batches are being appended.
    await until("enough acknowledged transfers", async () => (acked.length >= target ? true : undefined), 60_000);
    process.kill(stack.operator?.child.pid as number, "SIGKILL");
    await streaming;
    await new Promise((r) => setTimeout(r, 200));
    const log = tail(stack.operator as Proc, 5);
    await stack.startOperator();
    // Every acknowledged transfer survived, applied, exactly at its nonce.
    for (const a of acked) {
      const r = await client.getReceipt(a.hash);
      expect(r, `round ${round}: ${a.hash} lost after SIGKILL\n${log}`).to.not.equal(null);
      expect(r?.outcome).to.equal("Applied");
      expect(r?.nonce).to.equal(a.nonce);
    }
    // The unacknowledged ones that were stored before the kill count as accepted: applied, at their nonce.
    for (const x of unsure.splice(0)) {
      const r = await client.getReceipt(x.hash);
      if (r !== null) {
        expect(r).to.include({ outcome: "Applied", nonce: x.nonce });
        acked.push(x);
      }
    }
    // Every account's nonce is exactly its count of applied transfers: nothing lost, nothing twice.
    for (let u = 0; u < users.length; u++) {
      const l2 = await client.getAccount(accounts[u].index);
      expect(l2.nonce, `round ${round}, account ${accounts[u].index}`).to.equal(
        acked.filter((a) => a.account === accounts[u].index).length,
      );
      nonces[u] = l2.nonce;
    }
  }

  // After the restarts it goes on as before.
  const more = acked.length + 20;
  await stream(more);
  expect(acked.length).to.be.at.least(more);
  await stack.waitProposed(acked.map((a) => a.hash));

  const status = await client.getStatus();
  const replay = await stack.replayFromL1();
  expect(replay.batches, "L1 holds each closed batch once").to.equal(status.heads.appended);
  expect(new Set(replay.txHashes).size, "no transaction appears twice on L1").to.equal(replay.txHashes.length);
  const onL1 = new Set(replay.txHashes);
  for (const a of acked) expect(onL1.has(a.hash), `${a.hash} on L1`).to.equal(true);
  for (let u = 0; u < users.length; u++) {
    expect(replay.state.getAccount(accounts[u].index)?.nonce).to.equal(
      (await client.getAccount(accounts[u].index)).nonce,
    );
  }
}

/**
 * A hostile client sends requests nested 4,000, 14,000 and 20,000 levels deep (28 KB at 14,000: under the 64 KiB
 * body limit) while two others stream signed transfers: each deep request gets a JSON-RPC error, every transfer is
 * acknowledged, and the operator serves on — a later transfer is accepted, /health is 200, the HTTP thread never
 * restarted — and a SIGTERM afterwards completes.
 */
async function hostileNesting(stack: Stack): Promise<void> {
  const { client, provider } = stack;
  const url = `http://127.0.0.1:${stack.port}`;
  const users = [13, 14].map((i) => devWallet(i, provider));
  const accounts = await stack.deposit(users, ETH);
  const nonces = accounts.map((a) => a.nonce);

  // The stream: each user sends its next transfer as soon as the last is acknowledged; any error fails the test.
  const acked: string[] = [];
  let waiters: { count: number; reached(): void }[] = [];
  let streaming = true;
  const stream = Promise.all(
    users.map(async (w, u) => {
      while (streaming) {
        const tx = await stack.sign(w, transferTx(accounts[u].index, accounts[1 - u].index, 10n ** 12n), nonces[u]);
        const r = await client.sendTransaction(tx);
        expect(r.nonce).to.equal(nonces[u]);
        nonces[u]++;
        acked.push(r.hash);
        for (const x of waiters) if (acked.length >= x.count) x.reached();
        waiters = waiters.filter((x) => acked.length < x.count);
      }
    }),
  );

  // Handled here as well as below: a stream that fails ends the waits at once.
  let streamFailed = false;
  stream.catch(() => (streamFailed = true));
  const ackedAtLeast = (count: number): Promise<void> =>
    Promise.race([
      new Promise<void>((reached) => {
        if (acked.length >= count) reached();
        else waiters.push({ count, reached });
      }),
      stream.then(() => {
        throw new Error(`the stream ended at ${acked.length} acknowledged transfers`);
      }),
    ]);

  const DEPTHS = [4_000, 14_000, 20_000];
  let rounds = 0;
  const hostile = async (depth: number, id: number): Promise<{ status: number; code?: number }> => {
    const params = "[".repeat(depth) + "]".repeat(depth);
    const body = `{"jsonrpc":"2.0","id":${id},"method":"l2_sendTransaction","params":${params}}`;
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const answer = (await res.json()) as { error?: { code: number } };
    return { status: res.status, code: answer.error?.code };
  };
  try {
    await ackedAtLeast(20);
    // Rounds of the three depths at once, for as long as the stream takes to get 150 more transfers acknowledged.
    const target = acked.length + 150;
    while (acked.length < target && !streamFailed) {
      const answers = await Promise.all(DEPTHS.map((d, i) => hostile(d, i)));
      answers.forEach((a, i) =>
        expect(a, `${DEPTHS[i]} levels`).to.deep.equal({ status: 200, code: RpcCode.InvalidRequest }),
      );
      rounds++;
    }
    await ackedAtLeast(target);
    expect(rounds, "rounds of deep requests beside the stream").to.be.at.least(3);
  } finally {
    streaming = false;
    await stream;
  }

  // It serves on: health, a later transfer, and every acknowledged transfer on record.
  expect((await fetch(`${url}/health`)).status).to.equal(200);
  const later = await client.sendTransaction(
    await stack.sign(users[0], transferTx(accounts[0].index, accounts[1].index, 10n ** 12n), nonces[0]),
  );
  expect(later.status).to.equal("pending");
  for (const hash of acked) expect(await client.getReceipt(hash), hash).to.not.equal(null);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  expect(metrics).to.match(
    new RegExp(
      String.raw`^bilayer_rpc_requests_total\{method="\(http\)",code="-32600"\} ${rounds * DEPTHS.length}$`,
      "m",
    ),
  );
  expect(metrics).to.not.match(/^bilayer_rpc_thread_(failures|restarts)_total(\{.*\})? [1-9]/m);

  // A SIGTERM completes (it does not wait on a thread that is gone), cleanly; then the operator is back for what follows.
  const operator = stack.operator as Proc;
  await stop(operator, "SIGTERM", 30_000);
  expect({ code: operator.child.exitCode, signal: operator.child.signalCode }, tail(operator)).to.deep.equal({
    code: 0,
    signal: null,
  });
  await stack.startOperator();
  expect((await client.getReceipt(later.hash))?.nonce).to.equal(nonces[0]);
}

/** What `from` paid in fees for its transactions in blocks `fromBlock` to the head. */
async function feesPaid(provider: JsonRpcProvider, from: string, fromBlock: number): Promise<bigint> {
  let fees = 0n;
  const head = await provider.getBlockNumber();
  for (let n = fromBlock; n <= head; n++) {
    const block = await provider.getBlock(n, true);
    for (const tx of block?.prefetchedTransactions ?? []) {
      if (tx.from.toLowerCase() !== from.toLowerCase()) continue;
      const receipt = await provider.getTransactionReceipt(tx.hash);
      if (receipt) fees += receipt.gasUsed * receipt.gasPrice;
    }
  }
  return fees;
}

/**
 * Another account front-runs the operator's proposal of a batch with a lie (a wrong intermediate root, the right
 * final root); the operator proves it, is paid the reward, proposes the right roots, every later batch finalizes,
 * and the operator has lost no bond.
 */
async function frontRunLie(stack: Stack): Promise<void> {
  const { client, provider } = stack;
  const scc = stack.contracts.stateCommitmentChain;
  const operator = devWallet(0, provider).address;
  const attacker = devWallet(9, provider);
  const [user, other] = [10, 11].map((i) => devWallet(i, provider));
  const [account, otherAccount] = await stack.deposit([user, other], 2n * ETH);
  const idle = async () => {
    const s = await client.getStatus();
    return s.heads.proposed === s.batches.closed && s.batches.open === undefined ? s : undefined;
  };
  const k = (await until("the operator to be idle", idle)).batches.closed;
  const bond = await scc.PROPOSER_BOND();
  const fromBlock = (await provider.getBlockNumber()) + 1;
  const operatorBefore = await provider.getBalance(operator);

  let honest: string[] = [];
  await provider.send("evm_setAutomine", [false]);
  try {
    // Batch k: a deposit (a queue step) and a transfer (a chunk step).
    await stack.contracts.bridge.connect(other).depositEth(other.address, otherAccount.index, { value: ETH });
    await provider.send("evm_mine", []);
    await until(
      "the deposit in the open batch",
      async () => ((await client.getStatus()).batches.open?.queueItems ?? 0) > 0 || undefined,
    );
    await client.sendTransaction(
      await stack.sign(user, transferTx(account.index, otherAccount.index, ETH / 10n), account.nonce),
    );
    await until("the append in the pool", () =>
      pendingTx((m, p) => provider.send(m, p), stack.deployment.contracts.rollupInbox, operator),
    );
    await provider.send("evm_mine", []);
    const mine = await until("the operator's proposal in the pool", () =>
      pendingTx((m, p) => provider.send(m, p), stack.deployment.contracts.stateCommitmentChain, operator),
    );
    honest = (await client.getBatch(k))?.stepRoots as string[];
    expect(honest).to.have.length(2);
    const lie = [keccak256("0x1234"), honest[1]];
    const gwei = 10n ** 9n;
    await scc.connect(attacker).propose(k, lie, {
      value: bond,
      gasLimit: 500_000,
      maxFeePerGas: BigInt(mine.maxFeePerGas) + gwei,
      maxPriorityFeePerGas: BigInt(mine.maxPriorityFeePerGas) + gwei,
    });
    await provider.send("evm_mine", []);
    expect((await scc.proposal(k)).proposer).to.equal(attacker.address);
  } finally {
    await provider.send("evm_setAutomine", [true]);
  }
  const lieId = (await scc.queryFilter(scc.filters.StateProposed(k, attacker.address)))[0].args.proposalId;

  const [rollback] = await until("the operator's fraud proof", async () => {
    const events = await scc.queryFilter(scc.filters.ProposalsRolledBack(k));
    return events.length > 0 ? events : undefined;
  });
  expect([rollback.args.challenger, rollback.args.proposalId, rollback.args.reward]).to.deep.equal([
    operator,
    lieId,
    bond / 2n,
  ]);
  const status = await until("the lie in the operator's status", async () => {
    const s = await client.getStatus();
    return s.proposer.liesProven.length > 0 ? s : undefined;
  });
  expect(status.proposer.liesProven[0]).to.include({ batchIndex: k, stepIndex: 0, reward: (bond / 2n).toString() });
  await until("the right roots proposed by the operator", async () => {
    const p = await scc.proposal(k).catch(() => undefined);
    return p?.proposer === operator && p.stepRootsHash === stepRootsHash(honest) ? true : undefined;
  });

  // Every later batch goes on and finalizes; every bond of the operator comes back.
  const next = await client.sendTransaction(
    await stack.sign(user, transferTx(account.index, otherAccount.index, ETH / 10n), account.nonce + 1),
  );
  await stack.waitProposed([next.hash]);
  await timeTravelPastWindow(provider);
  await client.waitForStatus((s) => s.heads.final === s.heads.appended && s.heads.final > k + 1, 30_000);
  const ours = (await scc.queryFilter(scc.filters.StateProposed(undefined, operator))).map((e) => e.args.proposalId);
  await until("every bond of the operator back", async () => {
    const states = await Promise.all(ours.map(async (id) => (await scc.bond(id)).state));
    return states.every((st) => st === BondState.Returned) ? true : undefined;
  });
  expect((await scc.bond(lieId)).state).to.equal(BondState.Forfeited);
  // Net of gas, the operator's balance moved by the reward and the bonds it posted and got back in this test.
  const gas = await feesPaid(provider, operator, fromBlock);
  const posted = (await scc.queryFilter(scc.filters.StateProposed(undefined, operator), fromBlock)).length;
  const returned = (await scc.queryFilter(scc.filters.BondReturned(undefined, undefined, operator), fromBlock)).length;
  const balance = await provider.getBalance(operator);
  expect(balance - operatorBefore + gas).to.equal(bond / 2n + BigInt(returned - posted) * bond);
}

/**
 * A user with the CLI alone: `register-key` binds the key its wallet derives, `bls-transfer` sends BLS
 * transfers (one whose amount does not pack is refused with the nearest that does); they reach L1 and are proposed.
 */
async function cliBls(stack: Stack): Promise<void> {
  const { client, provider } = stack;
  const [user, other] = [12, 13].map((i) => devWallet(i, provider));
  const [account, otherAccount] = await stack.deposit([user, other], ETH);
  const signer = String((await provider.listAccounts()).findIndex((a) => a.address === user.address));
  const cli = (args: string[], name: string) =>
    runTask(
      [...args, "--network", "localhost", "--signer", signer, "--rpc", `http://127.0.0.1:${stack.port}`],
      stack.env,
      stack.dir,
      name,
    );
  const registered = await cli(["register-key", "--from", String(account.index)], "register-key");
  expect(registered).to.match(/register-key 0x[0-9a-f]{64}: pending/);
  const key = /BLS key (0x[0-9a-f]+)/.exec(registered)?.[1];
  expect((await client.getAccount(account.index)).blsKey).to.equal(key);
  const hashes: string[] = [];
  for (const amount of ["0.1", "0.02"]) {
    const out = await cli(["bls-transfer", "--to", String(otherAccount.index), "--amount", amount], `bls-${amount}`);
    const hash = /bls-transfer (0x[0-9a-f]{64}): pending/.exec(out)?.[1];
    expect(hash, out).to.not.equal(undefined);
    hashes.push(hash as string);
  }
  const refused = await cli(
    ["bls-transfer", "--to", String(otherAccount.index), "--amount", "0.1234567"],
    "bls-odd",
  ).then(
    () => "",
    (err: Error) => err.message,
  );
  expect(refused).to.match(/does not pack into a BLS transfer's 16 bits; the nearest below is 123400000000000000/);
  await stack.waitProposed(hashes);
  expect((await client.getAccount(otherAccount.index)).balance).to.equal(ETH + (12n * ETH) / 100n);
  for (const h of hashes) expect(await client.getReceipt(h)).to.include({ outcome: "Applied" });
}

describe("operator end to end (real processes)", function () {
  this.timeout(240_000);

  after(async () => {
    await stopAll();
  });

  describe("against a hardhat node", () => {
    const stack = new Stack("hardhat");
    before(async () => {
      await stack.start();
    });
    after(async function () {
      await stack.stop(this.test?.parent?.tests.some((t) => t.state === "failed") ?? true);
    });

    it("carries deposits, transfers and withdrawals from JSON-RPC to claims on L1", async () => {
      await lifeCycle(stack);
    });

    it("applies every acknowledged transaction exactly once across SIGKILLs of the operator", async () => {
      await crashAndRecover(stack);
    });

    it("proves a lie that front-ran its proposal, proposes the right roots, and loses no bond", async () => {
      await frontRunLie(stack);
    });

    it("registers a wallet's BLS key and sends BLS transfers with the CLI alone, onto L1", async () => {
      await cliBls(stack);
    });

    it("answers requests nested 4,000 to 20,000 levels deep with errors while every concurrent transfer is acknowledged", async () => {
      await hostileNesting(stack);
    });
  });

  describe("against anvil", () => {
    const stack = new Stack("anvil");
    before(async () => {
      await stack.start();
    });
    after(async function () {
      await stack.stop(this.test?.parent?.tests.some((t) => t.state === "failed") ?? true);
    });

    it("carries deposits, transfers and withdrawals from JSON-RPC to claims on L1", async () => {
      await lifeCycle(stack);
    });
  });
});

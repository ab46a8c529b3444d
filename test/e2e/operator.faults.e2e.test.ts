/**
 * The operator against what real machines do, with real processes (a
 * `hardhat node`, the operator task as a child process): a disk that fills up
 * and frees again, an L1 key that cannot pay, an L1 node that freezes, a role
 * taken away, SIGTERM under load and with L1 frozen, a start with L1 down, and
 * an L1 wiped. Each is driven as the fault and judged by what the operator
 * answers and what L1 ends up holding.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { keccak256, type Wallet } from "ethers";
import { L2RpcError, transferTx, type AccountView, type L2Client } from "../../src/operator/client";
import { RpcCode } from "../../src/operator/errors";
import { startL1, stop, stopAll, tail, type Proc } from "./processes";
import { devWallet, ETH, Stack, until } from "./stack";

/** What `/health` answers. */
async function health(stack: Stack): Promise<{ code: number; status: string; reasons: string[] }> {
  const res = await fetch(`http://127.0.0.1:${stack.port}/health`);
  const body = (await res.json()) as { status: string; reasons: string[] };
  return { code: res.status, ...body };
}

/**
 * Senders each stream transfers in nonce order; a transfer not acknowledged is sent again, the same bytes, until
 * it is (sending again is safe: the operator answers the status of the first copy). `acked` is every transfer the
 * operator acknowledged, in order per sender. `unanswered` is each sender's transfer that was in flight when the
 * stream stopped with no answer (the operator killed mid-request): it may or may not have been stored, and either
 * is right, since nobody was told it was.
 */
class Stream {
  readonly acked: { hash: string; account: number; nonce: number }[] = [];
  readonly unanswered: { hash: string; account: number; nonce: number }[] = [];
  readonly refusals = new Map<number, number>();
  private stopping = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly stack: Stack,
    private readonly wallets: Wallet[],
    private readonly accounts: AccountView[],
    private readonly client: L2Client,
  ) {}

  start(): void {
    this.stopping = false;
    const nonces = this.accounts.map((a) => a.nonce + this.acked.filter((x) => x.account === a.index).length);
    this.running = Promise.all(
      this.wallets.map(async (w, u) => {
        while (!this.stopping) {
          const nonce = nonces[u];
          const to = this.accounts[(u + 1) % this.accounts.length].index;
          const tx = await this.stack.sign(w, transferTx(this.accounts[u].index, to, 10n ** 12n), nonce);
          for (;;) {
            try {
              const r = await this.client.sendTransaction(tx);
              this.acked.push({ hash: r.hash, account: this.accounts[u].index, nonce });
              nonces[u]++;
              break;
            } catch (err) {
              if (err instanceof L2RpcError) this.refusals.set(err.rpcCode, (this.refusals.get(err.rpcCode) ?? 0) + 1);
              if (this.stopping) {
                this.unanswered.push({ hash: keccak256(tx), account: this.accounts[u].index, nonce });
                return;
              }
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
      }),
    ).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Every acknowledged transfer is applied at its nonce, and each account's nonce is its count of them. */
  async check(what: string): Promise<void> {
    // A transfer in flight at the kill that was stored counts as sent (the next one takes the next nonce).
    for (const u of this.unanswered.splice(0)) {
      const r = await this.client.getReceipt(u.hash);
      if (r !== null) this.acked.push(u);
    }
    for (const a of this.acked) {
      const r = await this.client.getReceipt(a.hash);
      expect(r, `${what}: ${a.hash} lost`).to.not.equal(null);
      expect(r).to.include({ outcome: "Applied", nonce: a.nonce });
    }
    for (const account of this.accounts) {
      const l2 = await this.client.getAccount(account.index);
      expect(l2.nonce, `${what}: account ${account.index}`).to.equal(
        account.nonce + this.acked.filter((a) => a.account === account.index).length,
      );
    }
  }
}

/** Waits until L1 carries every acknowledged transfer, each once. */
async function onL1Once(stack: Stack, stream: Stream): Promise<void> {
  await stack.waitProposed(stream.acked.map((a) => a.hash));
  const replay = await stack.replayFromL1();
  expect(new Set(replay.txHashes).size, "no transaction twice on L1").to.equal(replay.txHashes.length);
  const onL1 = new Set(replay.txHashes);
  for (const a of stream.acked) expect(onL1.has(a.hash), `${a.hash} on L1`).to.equal(true);
}

function sigstop(proc: Proc, signal: "SIGSTOP" | "SIGCONT"): void {
  process.kill(proc.child.pid as number, signal);
}

describe("operator faults end to end (real processes)", function () {
  this.timeout(300_000);

  after(async () => {
    await stopAll();
  });

  describe("a disk that fills up, then frees again", () => {
    const mount = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-tmpfs-"));
    let mounted = false;
    let stack: Stack;

    before(async function () {
      // A small file system of its own for the data directory, so that it can be filled (needs root, as CI is).
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=48m", "tmpfs", mount]);
      mounted = true;
      stack = new Stack("hardhat", { dataDir: path.join(mount, "operator-data") });
      await stack.start();
    });

    after(async function () {
      await stack?.stop(this.test?.parent?.tests.some((t) => t.state === "failed") ?? true);
      if (mounted) execFileSync("umount", ["-l", mount]);
      fs.rmSync(mount, { recursive: true, force: true });
    });

    it("loses no acknowledged transaction: the disk fills mid-stream, frees, then the operator is SIGKILLed and restarted", async () => {
      const wallets = [5, 6].map((i) => devWallet(i, stack.provider));
      const accounts = await stack.deposit(wallets, 5n * ETH);
      const stream = new Stream(stack, wallets, accounts, stack.client);
      stream.start();
      await until("transfers flowing", async () => (stream.acked.length >= 100 ? true : undefined));

      // The disk fills: writes fail, the operator stops acknowledging and says why.
      const filler = path.join(mount, "filler");
      const fd = fs.openSync(filler, "w");
      try {
        for (const chunk = Buffer.alloc(1 << 20); ;) fs.writeSync(fd, chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).to.equal("ENOSPC");
      }
      fs.closeSync(fd);
      const full = await until("the store failure reported", async () => {
        const h = await health(stack);
        return h.reasons.some((r) => r.startsWith("store:")) ? h : undefined;
      });
      expect(full.code).to.equal(503);
      const ackedWhileFull = stream.acked.length;
      await until("refusals while the disk is full", async () =>
        (stream.refusals.get(RpcCode.StoreFailure) ?? 0) + (stream.refusals.get(RpcCode.Unavailable) ?? 0) > 0
          ? true
          : undefined,
      );

      // Freed: it reopens its store and acknowledges again.
      fs.rmSync(filler);
      await until("transfers acknowledged after the fault", async () =>
        stream.acked.length >= ackedWhileFull + 300 ? true : undefined,
      );
      expect((await health(stack)).reasons.filter((r) => r.startsWith("store:"))).to.deep.equal([]);

      // Killed mid-stream and restarted: every acknowledgement holds, before the fault and after it.
      const log = tail(stack.operator as Proc, 5);
      process.kill(stack.operator?.child.pid as number, "SIGKILL");
      await stream.stop();
      await stack.startOperator();
      await stream.check(`after the disk fault and SIGKILL\n${log}`);
      await onL1Once(stack, stream);
    });
  });

  describe("L1: a key that cannot pay, a frozen node, a revoked role, SIGTERM, a start with L1 down, a wiped chain", () => {
    // The operator's own key (development account 1), so that the deployer (account 0) can revoke its role.
    const operatorKey = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    const stack = new Stack("hardhat", {
      operatorKey,
      deployArgs: ["--sequencer", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
      operatorArgs: ["--stuck-after", "1000"],
    });
    let wallets: Wallet[];
    let accounts: AccountView[];
    let stream: Stream;

    before(async () => {
      await stack.start();
      wallets = [7, 8].map((i) => devWallet(i, stack.provider));
      accounts = await stack.deposit(wallets, 5n * ETH);
      stream = new Stream(stack, wallets, accounts, stack.client);
    });

    after(async function () {
      await stack.stop(this.test?.parent?.tests.some((t) => t.state === "failed") ?? true);
    });

    it("resumes batching without a restart once a key that could not pay is funded again", async () => {
      const operator = devWallet(1, stack.provider).address;
      const before = Number(await stack.contracts.inbox.batchCount());
      await stack.provider.send("hardhat_setBalance", [operator, "0x0"]);
      stream.start();
      await until("a closed batch the node refuses to take", async () => {
        const h = await health(stack);
        return h.code === 503 && h.reasons.some((r) => /cannot pay L1|refuses/.test(r)) ? h : undefined;
      });
      // Past --stuck-after, still acknowledging, still nothing on L1.
      const count = stream.acked.length;
      await until("more acknowledged while L1 cannot be paid", async () =>
        stream.acked.length > count + 50 ? true : undefined,
      );
      expect(Number(await stack.contracts.inbox.batchCount())).to.equal(before);
      await stack.provider.send("hardhat_setBalance", [operator, "0x" + (1000n * ETH).toString(16)]);
      await stream.stop();
      await onL1Once(stack, stream);
      await until("healthy again", async () => ((await health(stack)).code === 200 ? true : undefined));
      await stream.check("after the refill");
    });

    it("turns unhealthy while L1 is frozen, with the reason, and healthy again when it thaws", async () => {
      sigstop(stack.l1.proc, "SIGSTOP");
      try {
        const frozen = await until(
          "L1 reported unreachable",
          async () => {
            const h = await health(stack);
            return h.code === 503 && h.reasons.some((r) => /cannot reach L1|no answer from L1/.test(r)) ? h : undefined;
          },
          60_000,
        );
        expect(frozen.status).to.equal("degraded");
        // Acknowledging goes on: the transactions wait for L1 on disk.
        const tx = await stack.sign(
          wallets[0],
          transferTx(accounts[0].index, accounts[1].index, 1n),
          (await stack.client.getAccount(accounts[0].index)).nonce,
        );
        const r = await stack.client.sendTransaction(tx);
        stream.acked.push({ hash: r.hash, account: accounts[0].index, nonce: r.nonce });
      } finally {
        sigstop(stack.l1.proc, "SIGCONT");
      }
      await until(
        "healthy after the thaw",
        async () => ((await health(stack)).code === 200 ? true : undefined),
        60_000,
      );
      await onL1Once(stack, stream);
    });

    it("refuses transactions while its sequencer role is revoked, with the reason, and accepts again once re-granted", async () => {
      const admin = devWallet(0, stack.provider);
      const inbox = stack.contracts.inbox.connect(admin);
      const role = await inbox.SEQUENCER_ROLE();
      const operator = devWallet(1, stack.provider).address;
      await (await inbox.revokeRole(role, operator)).wait();
      const revoked = await until("the revocation reported", async () => {
        const h = await health(stack);
        return h.reasons.some((r) => /sequencer role/.test(r)) ? h : undefined;
      });
      expect([revoked.code, revoked.status]).to.deep.equal([503, "unhealthy"]);
      const nonce = (await stack.client.getAccount(accounts[0].index)).nonce;
      const tx = await stack.sign(wallets[0], transferTx(accounts[0].index, accounts[1].index, 1n), nonce);
      const refused = await stack.client.sendTransaction(tx).then(
        () => undefined,
        (err: unknown) => err as L2RpcError,
      );
      expect(refused?.rpcCode).to.equal(RpcCode.Unavailable);
      expect(refused?.message).to.match(/sequencer role/);
      await (await inbox.grantRole(role, operator)).wait();
      await until("healthy after the grant", async () => ((await health(stack)).code === 200 ? true : undefined));
      const r = await stack.client.sendTransaction(tx);
      stream.acked.push({ hash: r.hash, account: accounts[0].index, nonce: r.nonce });
      await onL1Once(stack, stream);
    });

    it("answers every transaction it stored when SIGTERMed under load", async () => {
      const lost: string[] = [];
      const client = stack.client;
      const before = stream.acked.length;
      const sending = Promise.all(
        wallets.map(async (w, u) => {
          let nonce = (await client.getAccount(accounts[u].index)).nonce;
          for (;;) {
            const tx = await stack.sign(w, transferTx(accounts[u].index, accounts[1 - u].index, 1n), nonce);
            try {
              const r = await client.sendTransaction(tx);
              stream.acked.push({ hash: r.hash, account: accounts[u].index, nonce });
              nonce++;
            } catch (err) {
              // Refused (stopping), or no server: either way it must not have been stored.
              if (!(err instanceof L2RpcError)) lost.push(keccak256(tx));
              else expect(err.rpcCode, err.message).to.equal(RpcCode.Unavailable);
              return;
            }
          }
        }),
      );
      await until("load", async () => (stream.acked.length > before + 100 ? true : undefined));
      await stop(stack.operator, "SIGTERM", 10_000);
      expect(stack.operator?.child.exitCode).to.equal(0);
      await sending;
      await stack.startOperator();
      await stream.check("after SIGTERM under load");
      for (const hash of lost) expect(await client.getReceipt(hash), `${hash}: stored but not answered`).to.equal(null);
    });

    it("exits within 10 s on SIGTERM while L1 is frozen, then starts with L1 down: reads served, L1 reported, accepting once it is back", async () => {
      sigstop(stack.l1.proc, "SIGSTOP");
      try {
        const started = Date.now();
        await stop(stack.operator, "SIGTERM", 15_000);
        const took = Date.now() - started;
        expect(stack.operator?.child.signalCode, "not killed").to.equal(null);
        expect(took, "stop took").to.be.below(10_000);

        await stack.startOperator(false);
        const account = await stack.client.getAccount(accounts[0].index);
        expect(account.index).to.equal(accounts[0].index);
        const down = await until("L1 reported down at start", async () => {
          const h = await health(stack);
          return h.reasons.some((r) => /L1 not reached yet/.test(r)) ? h : undefined;
        });
        expect([down.code, down.status]).to.deep.equal([503, "unhealthy"]);
        const tx = await stack.sign(wallets[0], transferTx(accounts[0].index, accounts[1].index, 1n), account.nonce);
        const refused = await stack.client.sendTransaction(tx).then(
          () => undefined,
          (err: unknown) => err as L2RpcError,
        );
        expect(refused?.rpcCode).to.equal(RpcCode.Unavailable);
      } finally {
        sigstop(stack.l1.proc, "SIGCONT");
      }
      await until(
        "healthy once L1 is back",
        async () => ((await health(stack)).code === 200 ? true : undefined),
        90_000,
      );
      const nonce = (await stack.client.getAccount(accounts[0].index)).nonce;
      const tx = await stack.sign(wallets[0], transferTx(accounts[0].index, accounts[1].index, 1n), nonce);
      const r = await stack.client.sendTransaction(tx);
      stream.acked.push({ hash: r.hash, account: accounts[0].index, nonce: r.nonce });
      await onL1Once(stack, stream);
    });

    it("stops acknowledging when L1 is wiped (a new chain without the contracts), and says so", async () => {
      const port = Number(new URL(stack.l1.url).port);
      await stop(stack.l1.proc, "SIGKILL");
      stack.l1 = await startL1("hardhat", stack.dir, port);
      const wiped = await until(
        "the wiped chain reported",
        async () => {
          const h = await health(stack);
          return h.reasons.some((r) => /not on this L1/.test(r)) ? h : undefined;
        },
        60_000,
      );
      expect([wiped.code, wiped.status]).to.deep.equal([503, "unhealthy"]);
      const account = await stack.client.getAccount(accounts[0].index);
      const tx = await stack.sign(wallets[0], transferTx(accounts[0].index, accounts[1].index, 1n), account.nonce);
      const refused = await stack.client.sendTransaction(tx).then(
        () => undefined,
        (err: unknown) => err as L2RpcError,
      );
      expect(refused?.rpcCode).to.equal(RpcCode.Unavailable);
      expect(refused?.message).to.match(/not on this L1/);
    });
  });
});

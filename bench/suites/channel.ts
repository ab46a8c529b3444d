/**
 * Channel payments per second between two processes with durable state.
 *
 * A `hardhat node` child serves as L1; the adjudicator is deployed to it and a channel opened and funded by both.
 * The payer is a channel client in this process, the payee a client process (scripts/channels/client.ts); they
 * talk over the real WebSocket transport on loopback, each with its own LevelDB store. A payment counts once it is
 * acknowledged, which happens only after both stores flushed (fsync) the state signed by both. Payments are
 * pipelined (up to `WINDOW` in flight), signed and verified with the native secp256k1 binding, and each store
 * groups the writes that arrive while it flushes into one synced batch.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { ChannelClient } from "../../src/channels/client";
import { controlCall } from "../../src/channels/rpc";
import { deployAdjudicator } from "../../scripts/channels/deploy";
import { devKey, freePort, spawnTs, startHardhatNode, type Child } from "../../scripts/channels/harness";
import { runStandalone } from "./_helpers";

export const description = "payments per second between two channel client processes, durable (fsync) on both sides";

const PAYMENTS = Number(process.env.CHANNEL_BENCH_PAYMENTS ?? 20_000);
const WARMUP = Number(process.env.CHANNEL_BENCH_WARMUP ?? Math.min(2_000, Math.ceil(PAYMENTS / 10)));
const WINDOW = Number(process.env.CHANNEL_BENCH_WINDOW ?? 2_000);

/** User plus system CPU seconds a process has used so far (Linux `/proc/<pid>/stat`; 0 elsewhere). */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime and stime, in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** Sends `count` payments of 1 wei, at most `window` in flight; resolves when all are acknowledged. */
async function pipeline(client: ChannelClient, channelId: string, count: number, window: number): Promise<void> {
  let issued = 0;
  let failed: unknown;
  await new Promise<void>((resolve, reject) => {
    let done = 0;
    const next = () => {
      while (issued < count && issued - done < window) {
        issued++;
        client.pay(channelId, 1n).then(
          () => {
            done++;
            if (done === count) resolve();
            else next();
          },
          (err: unknown) => {
            failed ??= err;
            reject(err);
          },
        );
      }
    };
    next();
  });
  if (failed) throw failed;
}

export async function run(): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-channel-bench-"));
  const children: Child[] = [];
  let payer: ChannelClient | undefined;
  let provider: JsonRpcProvider | undefined;
  try {
    const node = await startHardhatNode();
    children.push(node.child);
    provider = new JsonRpcProvider(node.url, undefined, { cacheTimeout: -1, pollingInterval: 100 });
    const deployer = new Wallet(devKey(0), provider);
    const deployment = await deployAdjudicator(deployer);
    const payee = spawnTs("payee", "scripts/channels/client.ts", [
      "--key",
      devKey(2),
      "--l1",
      node.url,
      "--adjudicator",
      deployment.adjudicator,
      "--data-dir",
      path.join(dir, "payee"),
      "--port",
      String(await freePort()),
      "--max-auto-fund",
      (10n ** 18n).toString(),
      "--poll-ms",
      "200",
      "--log-level",
      "warn",
    ]);
    children.push(payee);
    const ready = await payee.waitReady(60_000);
    payer = await ChannelClient.start({
      privateKey: devKey(1),
      dataDir: path.join(dir, "payer"),
      provider,
      adjudicator: deployment.adjudicator,
      chainId: deployment.chainId,
      port: 0,
      peers: { [String(ready.address)]: String(ready.peerUrl) },
      pollMs: 200,
    });
    const channel = await payer.openChannel({
      peer: String(ready.address),
      deposit: 10n ** 18n,
      peerDeposit: 10n ** 17n,
    });
    await pipeline(payer, channel.channelId, WARMUP, WINDOW);
    const flushesBefore = payer.storeStats.flushes;
    const started = process.hrtime.bigint();
    const cpuBefore = process.cpuUsage();
    const payeeCpuBefore = cpuSecondsOf(payee.pid);
    await pipeline(payer, channel.channelId, PAYMENTS, WINDOW);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    const payerCpu = (cpu.user + cpu.system) / 1e6;
    const payeeCpu = cpuSecondsOf(payee.pid) - payeeCpuBefore;
    const flushes = payer.storeStats.flushes - flushesBefore;
    const expectedVersion = BigInt(WARMUP + PAYMENTS);
    const mine = payer.channel(channel.channelId);
    const theirs = (await controlCall(String(ready.rpcUrl), "ch_channel", { channelId: channel.channelId })) as {
      version: string;
      balances: [string, string];
    };
    if (mine.version !== expectedVersion || BigInt(theirs.version) !== expectedVersion) {
      throw new Error(`versions disagree: payer ${mine.version}, payee ${theirs.version}, expected ${expectedVersion}`);
    }
    if (BigInt(theirs.balances[1]) !== 10n ** 17n + expectedVersion) {
      throw new Error(`the payee holds ${theirs.balances[1]}, expected ${10n ** 17n + expectedVersion}`);
    }
    return {
      paymentsPerSecond: Math.round(PAYMENTS / seconds),
      payments: PAYMENTS,
      seconds: Math.round(seconds * 1000) / 1000,
      payerFlushesPerSecond: Math.round(flushes / seconds),
      // CPU time per payment in each process: unlike the rate, it does not depend on what else the machine runs.
      payerCpuMicrosPerPayment: Math.round((payerCpu * 1e6) / PAYMENTS),
      payeeCpuMicrosPerPayment: Math.round((payeeCpu * 1e6) / PAYMENTS),
    };
  } finally {
    if (payer) await payer.stop().catch(() => undefined);
    for (const child of children.reverse()) await child.stop();
    provider?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runStandalone(run);

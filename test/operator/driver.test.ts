/**
 * The L1 driver on its own, against the in-process Hardhat network: a real sequencer, L1 sender, bond book and
 * queue follower on a memory store, wired as `Operator.start` wires them, with the test in the follower's place
 * (it hands the queue items over, or holds them back) and acting as the other parties on L1 (a forced inclusion,
 * a lying proposer, a reorg).
 */
import { expect } from "chai";
import hre from "hardhat";
import { HDNodeWallet, type Provider, type Wallet } from "ethers";
import { deployRollup, type DeployedRollup } from "../../scripts/deploy";
import { stepRootsHash } from "../../src/l1/batch";
import { MemoryStore } from "../../src/common/store";
import { domainSeparator } from "../../src/protocol/eip712";
import { initHashing } from "../../src/protocol/hash";
import { BondBook, BondState } from "../../src/operator/bonds";
import { L1Driver, type DriverView } from "../../src/operator/driver";
import { QueueFollower } from "../../src/operator/follower";
import { L1Sender } from "../../src/operator/l1-sender";
import { createLogger, silentLogger } from "../../src/operator/log";
import { OperatorMetrics } from "../../src/operator/metrics";
import { Sequencer } from "../../src/operator/sequencer";

const MNEMONIC = "test test test test test test test test test test test junk";
const provider = hre.ethers.provider as unknown as Provider;
const ETH = 10n ** 18n;
const CHALLENGE_WINDOW = 100;
const FORCED_INCLUSION_DELAY = 600;
/** `TEST_LOG=info` shows the driver's logs. */
const testLogger = () => (process.env.TEST_LOG ? createLogger({ level: process.env.TEST_LOG, fd: 2 }) : silentLogger());

function wallet(index: number): Wallet {
  return HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider) as unknown as Wallet;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Moves L1's clock on by `seconds` and mines a block. */
async function passTime(seconds: number): Promise<void> {
  await hre.network.provider.send("evm_increaseTime", [seconds]);
  await hre.network.provider.send("evm_mine", []);
}

describe("L1Driver (in-process L1)", () => {
  const operatorKey = wallet(15);
  const user = wallet(16);
  const liar = wallet(17);
  let dep: DeployedRollup;

  /** What the driver works with, wired as `Operator.start` wires it. */
  interface Rig {
    driver: L1Driver;
    seq: Sequencer;
    sender: L1Sender;
    bonds: BondBook;
    follower: QueueFollower;
    /** Hands the queue items the follower found on L1 to the sequencer (what the operator's follower loop does). */
    feedQueue(): Promise<number>;
    /** A new driver on the same sequencer, sender and bonds (a restart of the L1 side only). */
    restart(opts?: { propose?: boolean }): Promise<void>;
  }
  let rig: Rig | undefined;

  beforeEach(async () => {
    await initHashing();
    const [deployer] = await hre.ethers.getSigners();
    dep = await deployRollup(
      deployer,
      {
        challengeWindowSeconds: BigInt(CHALLENGE_WINDOW),
        forcedInclusionDelaySeconds: BigInt(FORCED_INCLUSION_DELAY),
        proposerBond: ETH,
        sequencer: operatorKey.address,
      },
      { write: false },
    );
  });

  afterEach(async () => {
    await rig?.driver.stop();
    rig = undefined;
  });

  async function start(opts: { propose?: boolean; confirmations?: number } = {}): Promise<Rig> {
    const logger = testLogger();
    const store = new MemoryStore();
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const contracts = dep.handles;
    const read = {
      inbox: contracts.inbox.connect(provider),
      stateCommitmentChain: contracts.stateCommitmentChain.connect(provider),
      fraudVerifier: contracts.fraudVerifier.connect(provider),
    };
    const separator = domainSeparator(dep.chainId, dep.contracts.rollupInbox);
    const confirmations = opts.confirmations ?? 1;
    const seq = new Sequencer({
      store,
      domainSeparator: separator,
      feeRecipient: 0,
      limits: { maxAgeMs: 60_000 },
      logger,
      metrics,
    });
    await seq.load([]);
    const follower = new QueueFollower({
      provider,
      bridge: dep.contracts.bridge,
      bridgeInterface: contracts.bridge.interface,
      store,
      startBlock: dep.startBlock,
      confirmations: 1,
      logRange: 1000,
      logger,
    });
    await follower.load(0);
    const bonds = new BondBook({
      store,
      stateCommitmentChain: read.stateCommitmentChain,
      self: operatorKey.address,
      logger,
    });
    await bonds.load();
    const sender = new L1Sender({
      provider,
      wallet: operatorKey,
      store,
      logger,
      metrics,
      onConfirmed: async (rec, receipt) => {
        if (rec.purpose.kind === "propose" && receipt.status === 1) await bonds.record(receipt);
      },
      confirmations,
      stuckAfterMs: 60_000,
      feeBumpPercent: 25,
      maxFeePerGasCap: 1000n * 10n ** 9n,
      pollMs: 20,
    });
    await sender.recover();
    const newDriver = (propose: boolean): L1Driver =>
      new L1Driver({
        provider,
        sender,
        ...read,
        sequencer: seq,
        bonds,
        domainSeparator: separator,
        logger,
        metrics,
        pollMs: 20,
        startBlock: dep.startBlock,
        chainId: dep.chainId,
        contracts: Object.values(dep.contracts),
        confirmations,
        pruneHistory: false,
        propose,
      });
    const r: Rig = {
      driver: newDriver(opts.propose ?? true),
      seq,
      sender,
      bonds,
      follower,
      feedQueue: async () => {
        const items = await follower.poll();
        if (items.length > 0) seq.addQueueItems(items);
        return items.length;
      },
      restart: async (o = {}) => {
        await r.driver.stop();
        r.driver = newDriver(o.propose ?? true);
        seq.onBatchDurable = () => r.driver.poke();
        await r.driver.start();
      },
    };
    seq.onBatchDurable = () => r.driver.poke();
    await r.driver.start();
    rig = r;
    return r;
  }

  async function deposit(amount = 2n * ETH): Promise<void> {
    await (await dep.handles.bridge.connect(user).depositEth(user.address, 0, { value: amount })).wait();
  }

  /** Closes the sequencer's open batch (the deposits handed over go in a batch of their own). */
  async function closeBatch(seq: Sequencer): Promise<void> {
    seq.tick();
    await seq.flush();
  }

  const view = (r: Rig): DriverView => r.driver.state;

  it("appends a closed batch, proposes its step roots with the bond, and takes the bond back once final", async () => {
    const r = await start();
    await deposit();
    expect(await until("the deposit on L1", async () => ((await r.feedQueue()) > 0 ? true : undefined))).to.equal(true);
    await closeBatch(r.seq);
    const ours = r.seq.batch(0);
    expect(ours, "the sequencer closed batch 0").to.not.equal(undefined);

    // Appended: the inbox holds batch 0 with the sequencer's commitment.
    await until("the append", async () => ((await dep.handles.inbox.batchCount()) === 1n ? true : undefined));
    expect((await dep.handles.inbox.batchCommitment(0)).toLowerCase()).to.equal(ours!.commitment);
    await until("the driver to see it", () => (view(r).appended === 1 ? true : undefined));
    expect(view(r).lastAppend?.batch).to.equal(0);

    // Proposed: the step roots of batch 0, by this operator, with the bond; the bond recorded once confirmed.
    await until("the proposal", async () =>
      (await dep.handles.stateCommitmentChain.proposalCount()) === 1n ? true : undefined,
    );
    const proposal = await dep.handles.stateCommitmentChain.proposal(0);
    expect(proposal.proposer).to.equal(operatorKey.address);
    expect(proposal.stepRootsHash.toLowerCase()).to.equal(stepRootsHash(ours!.stepRoots).toLowerCase());
    await until("the bond recorded", () => (view(r).bondsHeld === 1 && view(r).proposed === 1 ? true : undefined));
    expect(view(r)).to.include({ appended: 1, proposed: 1, final: 0 });
    expect(view(r).lastProposal?.batch).to.equal(0);
    expect(view(r).openProposals.map((p) => p.batchIndex)).to.deep.equal([0]);
    // Confirmed on L1, the batch enters the sequencer's snapshot.
    await until("the checkpoint", () => (r.seq.snapshotBatches === 1 ? true : undefined));
    expect(view(r).confirmed).to.equal(1);

    // Final after the window: the sequencer hears the heads and the bond comes back.
    await passTime(CHALLENGE_WINDOW + 1);
    await until("the bond returned", () => (view(r).bondsHeld === 0 ? true : undefined));
    expect((await dep.handles.stateCommitmentChain.bond(proposal.id)).state).to.equal(BondState.Returned);
    expect(view(r)).to.include({ final: 1, halted: undefined });
    expect(view(r).openProposals).to.deep.equal([]);
    expect(r.seq.l1Heads).to.deep.include({ appended: 1, proposed: 1, final: 1 });
  });

  it("follows a batch it did not append (a forced inclusion): waits for its queue items, then rebases onto it", async () => {
    const r = await start();
    await deposit();
    // Nobody hands the deposit to the sequencer; once it is overdue, anyone appends it.
    await passTime(FORCED_INCLUSION_DELAY + 1);
    await (await dep.handles.inbox.connect(user).forceInclude(1)).wait();
    const onChain = (await dep.handles.inbox.batchCommitment(0)).toLowerCase();

    // L1 holds a batch the sequencer lacks, of a queue item it does not know yet: the driver waits, halts nothing.
    await sleep(300);
    expect(view(r).appended).to.equal(0);
    expect(view(r).halted).to.equal(undefined);
    expect(r.seq.batchCount).to.equal(0);

    // The queue item reaches the sequencer: the driver has it adopt L1's batch 0.
    expect(await until("the deposit on L1", async () => ((await r.feedQueue()) > 0 ? true : undefined))).to.equal(true);
    r.driver.poke();
    await until("the rebase", () => (view(r).appended === 1 ? true : undefined));
    const adopted = await r.seq.closedBatch(0);
    expect(adopted?.commitment).to.equal(onChain);
    expect(r.seq.getAccount(1)?.owner).to.equal(user.address.toLowerCase());
    expect(r.seq.getAccount(1)?.balance).to.equal(2n * ETH);

    // Then it goes on as usual: it proposes the roots of the adopted batch, and appends nothing of its own.
    await until("the proposal", async () =>
      (await dep.handles.stateCommitmentChain.proposalCount()) === 1n ? true : undefined,
    );
    const proposal = await dep.handles.stateCommitmentChain.proposal(0);
    expect(proposal.stepRootsHash.toLowerCase()).to.equal(stepRootsHash(adopted!.stepRoots).toLowerCase());
    expect(await dep.handles.inbox.batchCount()).to.equal(1n);
    expect(view(r).halted).to.equal(undefined);
  });

  it("proves a lie in a live proposal before it proposes, then proposes the right roots after the rollback", async () => {
    const r = await start({ propose: false });
    await deposit();
    await until("the deposit on L1", async () => ((await r.feedQueue()) > 0 ? true : undefined));
    await closeBatch(r.seq);
    await until("the append", () => (view(r).appended === 1 ? true : undefined));
    const ours = (await r.seq.closedBatch(0))!;

    // Someone else proposes batch 0 with a wrong root.
    const wrong = ours.stepRoots.map((root, i) => (i === 0 ? "0x" + "66".repeat(32) : root));
    await (await dep.handles.stateCommitmentChain.connect(liar).propose(0, wrong, { value: ETH })).wait();
    expect(await dep.handles.stateCommitmentChain.proposalCount()).to.equal(1n);

    // The proposer side starts: it proves the wrong step, the lie is rolled back, and its own roots go up.
    await r.restart({ propose: true });
    const lie = await until("the lie proven", () => view(r).lies[0]);
    expect(lie).to.include({ batchIndex: 0, stepIndex: 0, proposer: liar.address });
    expect(lie.proposedRoot.toLowerCase()).to.equal(wrong[0]);
    expect(lie.computedRoot.toLowerCase()).to.equal(ours.stepRoots[0]);
    expect(BigInt(lie.reward)).to.be.greaterThan(0n);
    await until("the right proposal", async () => {
      if ((await dep.handles.stateCommitmentChain.proposalCount()) !== 1n) return undefined;
      const p = await dep.handles.stateCommitmentChain.proposal(0);
      return p.proposer === operatorKey.address ? p : undefined;
    }).then((p) => expect(p.stepRootsHash.toLowerCase()).to.equal(stepRootsHash(ours.stepRoots).toLowerCase()));
    expect(view(r).halted).to.equal(undefined);
  });

  it("appends its batch again after an L1 reorg took the append out of the chain", async () => {
    // Two confirmations: the append stays in the sender's records until a block is mined on top of it.
    const r = await start({ propose: false, confirmations: 2 });
    await deposit();
    await until("the deposit on L1", async () => ((await r.feedQueue()) > 0 ? true : undefined));
    const beforeAppend = (await hre.network.provider.send("evm_snapshot", [])) as string;
    await closeBatch(r.seq);
    await until("the append", () => (view(r).appended === 1 ? true : undefined));
    const ours = (await r.seq.closedBatch(0))!;

    // A reorg takes the block with the append away (as if it never was).
    await hre.network.provider.send("evm_revert", [beforeAppend]);
    expect(await dep.handles.inbox.batchCount()).to.equal(0n);

    // The driver notices and brings batch 0 back on L1, with the same commitment.
    await until("batch 0 back on L1", async () => ((await dep.handles.inbox.batchCount()) === 1n ? true : undefined));
    expect((await dep.handles.inbox.batchCommitment(0)).toLowerCase()).to.equal(ours.commitment);
    await until("the driver to see it", () => (view(r).appended === 1 ? true : undefined));
    expect(view(r).halted).to.equal(undefined);
    expect(r.seq.batchCount).to.equal(1);
  });
});

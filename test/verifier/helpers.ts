// The verifier's test world: the rollup deployed by `deployRollup`, a sequencer that appends batches built with
// src/protocol straight to the inbox, an honest proposer and a liar, funded users whose keys sign L2 transactions,
// and an honest mirror of the L2 state that every assertion is checked against.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { ethers, network } from "hardhat";
import pino from "pino";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { keccak256, toUtf8Bytes, Wallet, type Provider, type Signer } from "ethers";
import { deployRollup, type DeployedRollup } from "../../scripts/deploy";
import { readQueue } from "../../src/l1/reader";
import { encodeChunk, type L2Tx, type UnsignedTx } from "../../src/protocol/codec";
import { signTxWithKey } from "../../src/protocol/eip712";
import { initHashing } from "../../src/protocol/hash";
import type { QueueItem } from "../../src/protocol/queue";
import { L2State } from "../../src/protocol/state";
import { applyBatch, applyQueueStep, type BatchInput } from "../../src/protocol/stf";
import { defaultVerifierConfig, type VerifierConfig } from "../../src/verifier/config";
import type { Logger } from "../../src/verifier/log";
import { Verifier } from "../../src/verifier/verifier";

export const ETH = 10n ** 18n;
export const FEE = 10n ** 15n;
export const CHALLENGE_WINDOW_SECONDS = 3600n;
export const FORCED_INCLUSION_DELAY_SECONDS = 600n;
export const PROPOSER_BOND = ETH;

/** A deterministic wallet, funded on the test network. */
export async function fundedWallet(label: string, provider: Provider = ethers.provider): Promise<Wallet> {
  const wallet = new Wallet(keccak256(toUtf8Bytes(`bilayer verifier test ${label}`)), provider);
  await network.provider.send("hardhat_setBalance", [wallet.address, ethers.toQuantity(1000n * ETH)]);
  return wallet;
}

/**
 * The honest L2 state after every batch, rebuilt from what the test appends (the same inputs the verifier reads
 * back from L1), and the batches' honest step roots.
 */
export class Mirror {
  readonly queue: QueueItem[] = [];
  readonly batches: BatchInput[] = [];
  readonly roots: string[][] = [];
  private readonly states: L2State[] = [];

  constructor(
    readonly deployment: DeployedRollup,
    readonly domain: string,
  ) {}

  async syncQueue(): Promise<void> {
    for (const item of await readQueue(this.deployment.handles.bridge)) {
      if (item.index < this.queue.length) continue;
      const { kind, addr, tokenId, amount, account, timestamp } = item;
      this.queue.push({ kind, addr: addr.toLowerCase(), tokenId, amount, account, timestamp });
    }
  }

  /** An independent copy (a fixture's mirror is shared by the tests that load it). */
  clone(): Mirror {
    const copy = new Mirror(this.deployment, this.domain);
    copy.queue.push(...this.queue);
    copy.batches.push(...this.batches);
    copy.roots.push(...this.roots);
    copy.states.push(...this.states);
    return copy;
  }

  /** The honest state after batch `k` (genesis for −1), as a fresh copy. */
  stateAfter(k: number): L2State {
    return k < 0 ? new L2State() : this.states[k].clone();
  }

  /** The state after every batch appended so far (a fresh copy). */
  tip(): L2State {
    return this.stateAfter(this.batches.length - 1);
  }

  /** Appends a batch from `sequencer` and records its honest roots. */
  async append(sequencer: Signer, chunks: Uint8Array[], queueCount: number, feeRecipient: number): Promise<number> {
    await this.syncQueue();
    const inbox = this.deployment.handles.inbox.connect(sequencer);
    const queueStart = Number(await inbox.queueConsumed());
    await (await inbox.appendBatch(chunks, queueCount, feeRecipient)).wait();
    return this.record(chunks, queueStart, queueCount, feeRecipient);
  }

  /** Appends a queue-only batch through `forceInclude` (anyone, once an item is overdue). */
  async forceInclude(caller: Signer, queueCount: number): Promise<number> {
    await this.syncQueue();
    const inbox = this.deployment.handles.inbox.connect(caller);
    const queueStart = Number(await inbox.queueConsumed());
    await (await inbox.forceInclude(queueCount)).wait();
    return this.record([], queueStart, queueCount, 0);
  }

  private record(chunks: Uint8Array[], queueStart: number, queueCount: number, feeRecipient: number): number {
    const input: BatchInput = {
      queueItems: this.queue.slice(queueStart, queueStart + queueCount),
      chunks,
      feeRecipient,
      domainSeparator: this.domain,
    };
    const state = this.tip();
    const { stepRoots } = applyBatch(state, input);
    this.batches.push(input);
    this.roots.push(stepRoots);
    this.states.push(state);
    return this.batches.length - 1;
  }

  /** Proposes `roots` (the honest ones by default) for batch `k` with the bond. */
  async propose(proposer: Signer, k: number, roots: string[] = this.roots[k]): Promise<void> {
    const chain = this.deployment.handles.stateCommitmentChain.connect(proposer);
    await (await chain.propose(k, roots, { value: PROPOSER_BOND })).wait();
  }
}

/** Signs transactions over the nonces they will have when applied in order from `base`. */
export class ChunkMaker {
  private readonly nonces = new Map<number, number>();
  private txs: L2Tx[] = [];

  constructor(
    private readonly base: L2State,
    private readonly domain: string,
  ) {}

  /** Adds `tx` signed by `key` (a wrong key makes a BadSignature transaction that does not advance the nonce). */
  add(key: Wallet, tx: UnsignedTx): this {
    const account = this.base.getAccount(tx.from);
    const nonce = this.nonces.get(tx.from) ?? account?.nonce ?? 0;
    const valid = account !== undefined && account.owner === key.address.toLowerCase();
    if (valid) this.nonces.set(tx.from, nonce + 1);
    const signature = signTxWithKey(key.privateKey, this.domain, tx, account?.tokenId ?? 0, nonce);
    this.txs.push({ ...tx, signature } as L2Tx);
    return this;
  }

  /** The chunk so far; later transactions start a new chunk with the nonces carried on. */
  cut(): Uint8Array {
    const chunk = encodeChunk(this.txs);
    this.txs = [];
    return chunk;
  }
}

/** Account indices created by batch 0 of {@link buildWorld}. */
export const ACCOUNTS = { fees: 1, alice: 2, bob: 3, carol: 4, mallory: 5, dave: 6, erin: 7 } as const;

export interface World {
  deployment: DeployedRollup;
  mirror: Mirror;
  sequencer: HardhatEthersSigner;
  proposer: HardhatEthersSigner;
  mallory: HardhatEthersSigner;
  challenger: HardhatEthersSigner;
  outsider: HardhatEthersSigner;
  users: { alice: Wallet; bob: Wallet; carol: Wallet; dave: Wallet; erin: Wallet; malloryKey: Wallet };
}

/**
 * Deploys the rollup and appends batch 0: deposits that create accounts 1 (the sequencer's fee account), 2 Alice
 * 10 ETH, 3 Bob 5 ETH, 4 Carol 2 ETH, 5 Mallory 1 ETH (owned by the liar's L1 address).
 */
export async function buildWorld(): Promise<World> {
  await initHashing();
  const [deployer, sequencer, proposer, mallory, challenger, outsider] = await ethers.getSigners();
  const deployment = await deployRollup(
    deployer,
    {
      challengeWindowSeconds: CHALLENGE_WINDOW_SECONDS,
      forcedInclusionDelaySeconds: FORCED_INCLUSION_DELAY_SECONDS,
      proposerBond: PROPOSER_BOND,
      sequencer: sequencer.address,
    },
    { write: false, network: network.name },
  );
  const users = {
    alice: await fundedWallet("alice"),
    bob: await fundedWallet("bob"),
    carol: await fundedWallet("carol"),
    dave: await fundedWallet("dave"),
    erin: await fundedWallet("erin"),
    malloryKey: await fundedWallet("mallory"),
  };
  const domain = (await deployment.handles.inbox.domainSeparator()).toLowerCase();
  const mirror = new Mirror(deployment, domain);
  const bridge = deployment.handles.bridge;
  await (await bridge.connect(sequencer).depositEth(sequencer.address, 0, { value: ETH / 100n })).wait();
  await (await bridge.connect(users.alice).depositEth(users.alice.address, 0, { value: 10n * ETH })).wait();
  await (await bridge.connect(users.bob).depositEth(users.bob.address, 0, { value: 5n * ETH })).wait();
  await (await bridge.connect(users.carol).depositEth(users.carol.address, 0, { value: 2n * ETH })).wait();
  await (await bridge.connect(mallory).depositEth(mallory.address, 0, { value: ETH })).wait();
  await mirror.append(sequencer, [], 5, 0);
  return { deployment, mirror, sequencer, proposer, mallory, challenger, outsider, users };
}

/**
 * Appends batch 1, whose steps give every lie something to bend (fee recipient: account 1):
 *  - step 0 (queue): Dave deposits 1 ETH (creates account 6); Carol force-exits account 4 (2 ETH → withdrawal 0).
 *  - step 1 (chunk): Alice → Bob 1 ETH; Bob withdraws 0.5 ETH (withdrawal 1); Alice → Erin's new account 7, 2 ETH;
 *    Alice → Mallory 3 ETH signed by Mallory (BadSignature, skipped). Each of the first three pays FEE.
 *  - step 2 (chunk): Bob → Alice 0.25 ETH, no fee.
 */
export async function appendBatchOne(w: World): Promise<number> {
  const { alice, bob, carol, dave, erin, malloryKey } = w.users;
  const bridge = w.deployment.handles.bridge;
  await (await bridge.connect(dave).depositEth(dave.address, 0, { value: ETH })).wait();
  await (await bridge.connect(carol).requestForcedExit(ACCOUNTS.carol)).wait();
  await w.mirror.syncQueue();
  // Chunks are signed against the state they run on: batch 0's state after batch 1's queue step.
  const base = w.mirror.tip();
  applyQueueStep(base, w.mirror.queue.slice(5, 7));
  const maker = new ChunkMaker(base, w.mirror.domain);
  const { alice: a, bob: b, mallory: m } = ACCOUNTS;
  maker.add(alice, { type: 1, from: a, to: b, amount: ETH, fee: FEE });
  maker.add(bob, { type: 2, from: b, amount: ETH / 2n, fee: FEE });
  maker.add(alice, { type: 3, from: a, to: erin.address.toLowerCase(), amount: 2n * ETH, fee: FEE });
  maker.add(malloryKey, { type: 1, from: a, to: m, amount: 3n * ETH, fee: 0n });
  const chunkA = maker.cut();
  maker.add(bob, { type: 1, from: b, to: a, amount: ETH / 4n, fee: 0n });
  const chunkB = maker.cut();
  return w.mirror.append(w.sequencer, [chunkA, chunkB], 2, ACCOUNTS.fees);
}

/** Appends a batch of `count` transfers Alice ↔ Bob (one chunk per 32). */
export async function appendTransfers(w: World, count: number, amount = ETH / 1000n): Promise<number> {
  const maker = new ChunkMaker(w.mirror.tip(), w.mirror.domain);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) maker.add(w.users.alice, { type: 1, from: ACCOUNTS.alice, to: ACCOUNTS.bob, amount, fee: FEE });
    else maker.add(w.users.bob, { type: 1, from: ACCOUNTS.bob, to: ACCOUNTS.alice, amount, fee: FEE });
    if (i % 32 === 31 || i === count - 1) chunks.push(maker.cut());
  }
  return w.mirror.append(w.sequencer, chunks, 0, ACCOUNTS.fees);
}

/** Lines written by a pino logger, parsed. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly logger: Logger;

  constructor(level = "debug") {
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString("utf8").split("\n"))
          if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    this.logger = pino({ level }, sink);
  }

  messages(): string[] {
    return this.lines.map((l) => String(l.msg));
  }
}

const dirs: string[] = [];

/** A fresh data directory, removed by {@link removeDataDirs}. */
export function dataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-verifier-test-"));
  dirs.push(dir);
  return dir;
}

export function removeDataDirs(): void {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** A verifier on the in-process network, without a status server; `config` overrides the defaults. */
export async function makeVerifier(
  w: World,
  opts: { dir?: string; signer?: Signer | null; config?: Partial<VerifierConfig>; logger?: Logger } = {},
): Promise<Verifier> {
  const config: VerifierConfig = {
    ...defaultVerifierConfig(w.deployment.chainId, opts.dir ?? dataDir()),
    port: -1,
    ...opts.config,
  };
  return Verifier.create({
    config,
    provider: ethers.provider as unknown as Provider,
    signer: opts.signer === null ? undefined : (opts.signer ?? w.challenger),
    deployment: w.deployment,
    logger: opts.logger ?? new LogCapture("silent").logger,
  });
}

import { ZERO_HASH } from "./helpers/encoding";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { concat, getBytes, type TransactionResponse, TypedDataEncoder, type TypedDataDomain } from "ethers";
import { bilayerDomain, type QueueItem, stateRoot } from "./helpers/encoding";
import { MAX_ACCOUNT_INDEX, ModelState, O, runChunk, runQueue } from "./helpers/model";
import { signedTx, wallets } from "./helpers/txs";

// A fraud proof must re-execute one step in one L1 transaction; this is the budget for the worst step.
const STEP_GAS_BUDGET = 8_000_000n;

const TOKEN = (1n << 32n) - 1n;
const NONCE = (1n << 32n) - 16n;
const senders = wallets(32, "gas-sender");
const others = wallets(32, "gas-other");

interface Measured {
  gasUsed: bigint;
  executionGas: bigint;
  calldataBytes: number;
  nonZeroBytes: number;
  floorGas: bigint;
}

async function measure(response: TransactionResponse, expectedRoot: string): Promise<Measured> {
  const receipt = await response.wait();
  if (receipt === null) throw new Error("no receipt");
  const harness = await ethers.getContractAt("StepExecutorHarness", receipt.to as string);
  const event = receipt.logs.map((l) => harness.interface.parseLog(l)).find((e) => e?.name === "StepMeasured");
  expect(event?.args.postRoot).to.equal(expectedRoot);
  const data = getBytes(response.data);
  const nonZeroBytes = data.filter((b) => b !== 0).length;
  return {
    gasUsed: receipt.gasUsed,
    executionGas: event?.args.executionGas as bigint,
    calldataBytes: data.length,
    nonZeroBytes,
    // EIP-7623: 21000 + 10 per zero byte + 40 per non-zero byte.
    floorGas: 21_000n + 10n * BigInt(data.length - nonZeroBytes) + 40n * BigInt(nonZeroBytes),
  };
}

function report(name: string, m: Measured): void {
  console.log(
    `      ${name}: gasUsed ${m.gasUsed.toLocaleString("en")} ` +
      `(executor ${m.executionGas.toLocaleString("en")}, calldata ${m.calldataBytes.toLocaleString("en")} B ` +
      `of which ${m.nonZeroBytes.toLocaleString("en")} non-zero, EIP-7623 floor ${m.floorGas.toLocaleString("en")})`,
  );
}

/** Puts a filler account next to `index` so that even the path's lowest sibling is a non-empty word. */
function putWithNeighbour(s: ModelState, index: bigint, owner: string, balance: bigint): void {
  s.put(index, { owner, tokenId: TOKEN, balance, nonce: NONCE, blsKeyHash: ZERO_HASH });
  if (!s.data.has(index ^ 1n))
    s.put(index ^ 1n, { owner, tokenId: TOKEN, balance: 1n, nonce: 1n, blsKeyHash: ZERO_HASH });
}

describe("StepExecutor gas", function () {
  async function deploy() {
    const harness = await ethers.deployContract("StepExecutorHarness");
    const { chainId } = await ethers.provider.getNetwork();
    const domain = bilayerDomain(chainId, await harness.getAddress());
    return { harness, domain, ds: TypedDataEncoder.hashDomain(domain) };
  }

  async function transfers(
    domain: TypedDataDomain,
    pairs: { from: bigint; to: bigint; signer: (typeof senders)[number] }[],
    pre: ModelState,
  ): Promise<string> {
    const txs = [];
    for (const { from, to, signer } of pairs) {
      const { tokenId, nonce } = pre.data.get(from) ?? { tokenId: 0n, nonce: 0n };
      // Amount and fee with long mantissas and exponents, so every byte is non-zero.
      const spec = {
        type: "transfer" as const,
        from,
        to,
        amount: 34_359_738_367n * 10n ** 9n,
        fee: 2_047n * 10n ** 9n,
      };
      txs.push(await signedTx(domain, signer, { ...spec, tokenId, nonce }));
    }
    return concat(txs);
  }

  it("re-executes the worst chunk (32 transfers, 64 far-apart accounts, every sibling non-empty) under 8M gas", async function () {
    const { harness, domain, ds } = await loadFixture(deploy);
    const pre = new ModelState();
    pre.accountCount = MAX_ACCOUNT_INDEX - 1n;
    // Sender k and recipient k differ in bit 31, so the second write of each transfer climbs the full path before
    // the fix-up; 32 senders are spread over the low half.
    const pairs = senders.map((signer, k) => {
      const from = (BigInt(k) << 26n) | 0x2aaaaaan;
      return { from, to: from | (1n << 31n), signer };
    });
    for (const [k, { from, to, signer }] of pairs.entries()) {
      putWithNeighbour(pre, from, signer.address, (1n << 127n) + BigInt(k));
      putWithNeighbour(pre, to, others[k].address, (1n << 126n) + BigInt(k));
    }
    const feeRecipient = (1n << 31n) - 2n;
    putWithNeighbour(pre, feeRecipient, others[0].address, 1n << 100n);
    const chunk = await transfers(domain, pairs, pre);

    const post = pre.clone();
    const { witness, outcomes } = runChunk(post, chunk, ds, feeRecipient);
    expect(outcomes).to.deep.equal(Array<number>(32).fill(O.Applied));
    expect(witness.accounts.length).to.equal(66);
    expect(witness.accounts.every((a) => a.siblings.every((s) => BigInt(s) !== 0n))).to.equal(true);

    const m = await measure(
      await harness.measureChunk(pre.header(), ds, feeRecipient, chunk, witness),
      stateRoot(post.header()),
    );
    report("worst chunk", m);
    expect(m.gasUsed).to.be.lessThan(STEP_GAS_BUDGET);
  });

  it("re-executes 32 TransferToNew (the longest transaction, 2 entries each) under 8M gas", async function () {
    const { harness, domain, ds } = await loadFixture(deploy);
    const pre = new ModelState();
    pre.accountCount = 0xf0000001n;
    putWithNeighbour(pre, pre.accountCount, others[0].address, 1n);
    const txs = [];
    for (const [k, signer] of senders.entries()) {
      const from = (BigInt(k) << 26n) | 0x2aaaaaan;
      putWithNeighbour(pre, from, signer.address, (1n << 127n) + BigInt(k));
      const spec = { from, toAddress: others[k].address, amount: 34_359_738_367n * 10n ** 9n, fee: 2_047n * 10n ** 9n };
      txs.push(await signedTx(domain, signer, { type: "transferToNew", ...spec, tokenId: TOKEN, nonce: NONCE }));
    }
    const feeRecipient = 0x7ffffffen;
    putWithNeighbour(pre, feeRecipient, others[0].address, 1n << 100n);
    const chunk = concat(txs);
    const post = pre.clone();
    const { witness, outcomes } = runChunk(post, chunk, ds, feeRecipient);
    expect(outcomes).to.deep.equal(Array<number>(32).fill(O.Applied));
    expect(witness.accounts.length).to.equal(66);

    const m = await measure(
      await harness.measureChunk(pre.header(), ds, feeRecipient, chunk, witness),
      stateRoot(post.header()),
    );
    report("32 TransferToNew", m);
    expect(m.gasUsed).to.be.lessThan(STEP_GAS_BUDGET);
  });

  it("re-executes the worst queue step (32 deposits, each reading a mismatched hint and creating an account) under 8M gas", async function () {
    const { harness } = await loadFixture(deploy);
    const pre = new ModelState();
    pre.accountCount = 0xf0000001n;
    // The slot before the first new account is taken, so the first creation's lowest sibling is non-empty.
    putWithNeighbour(pre, pre.accountCount, others[0].address, 1n);
    const items: QueueItem[] = senders.map((depositor, k) => {
      const hint = (BigInt(k) << 26n) | 0x2aaaaaan;
      putWithNeighbour(pre, hint, others[k].address, 1n << 120n);
      return {
        kind: 0,
        addr: depositor.address,
        tokenId: TOKEN,
        amount: (1n << 127n) + BigInt(k),
        account: hint,
        timestamp: 0xfffffffffn,
      };
    });
    const post = pre.clone();
    const { witness, outcomes } = runQueue(post, items);
    expect(outcomes).to.deep.equal(Array<number>(32).fill(O.Created));
    expect(witness.accounts.length).to.equal(64);

    const m = await measure(await harness.measureQueue(pre.header(), items, witness), stateRoot(post.header()));
    report("worst queue step", m);
    expect(m.gasUsed).to.be.lessThan(STEP_GAS_BUDGET);
  });

  it("re-executes a typical chunk (32 transfers among 1,024 accounts) under 8M gas", async function () {
    const { harness, domain, ds } = await loadFixture(deploy);
    const pre = new ModelState();
    const owners = wallets(64, "typical");
    for (let i = 0; i < 1024; i++) {
      pre.addAccount({
        owner: owners[i % 64].address,
        tokenId: 0n,
        balance: 10n ** 24n,
        nonce: BigInt(i % 7),
        blsKeyHash: ZERO_HASH,
      });
    }
    // Deterministic pseudo-random pairs (xorshift), distinct senders so each signs over its stored nonce.
    let x = 0x9e3779b9;
    const next = (): bigint => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return BigInt((x >>> 0) % 1024) + 1n;
    };
    const pairs = [];
    const used = new Set<bigint>();
    while (pairs.length < 32) {
      const from = next();
      const to = next();
      if (used.has(from) || from === to) continue;
      used.add(from);
      pairs.push({ from, to, signer: owners[Number(from - 1n) % 64] });
    }
    const chunk = await transfers(domain, pairs, pre);
    const post = pre.clone();
    const { witness, outcomes } = runChunk(post, chunk, ds, 1n);
    expect(outcomes).to.deep.equal(Array<number>(32).fill(O.Applied));

    const m = await measure(await harness.measureChunk(pre.header(), ds, 1n, chunk, witness), stateRoot(post.header()));
    report("typical chunk", m);
    expect(m.gasUsed).to.be.lessThan(STEP_GAS_BUDGET);
  });
});

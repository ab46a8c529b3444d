import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { getBytes, TypedDataEncoder } from "ethers";
import { L2State, Outcome, applyChunk, toHex, type Account } from "../../src/protocol";
import { buildBlsChunk, vectorBlsKey, VECTOR_ADDRESSES } from "../../src/protocol/testing";
import { bilayerDomain } from "./helpers/encoding";

// A BLS chunk's fraud proof re-executes 40 transfers and checks one aggregate of 40 distinct messages (40 hashes to
// G2 and a pairing of 41) in one L1 transaction: the budget is 8M gas and a 128 KiB transaction.
const BLS_STEP_GAS_BUDGET = 8_000_000n;
const MAX_L1_TX_BYTES = 131_072;

const TOKEN = 2 ** 32 - 1;
const NONCE = 2 ** 32 - 16;

describe("BlsChunkExecutor gas", function () {
  async function deploy() {
    const harness = await ethers.deployContract("StepExecutorHarness");
    const { chainId } = await ethers.provider.getNetwork();
    const ds = TypedDataEncoder.hashDomain(bilayerDomain(chainId, await harness.getAddress()));
    return { harness, ds };
  }

  it("re-executes the worst BLS chunk (40 transfers, 80 far-apart accounts, every sibling non-empty, 40 keys) under 8M gas", async function () {
    const { harness, ds } = await loadFixture(deploy);
    const accounts: [number, Account][] = [];
    const put = (index: number, account: Account): void => {
      accounts.push([index, account]);
      // A neighbour, so that even the lowest sibling of the path is a non-empty word.
      accounts.push([
        index % 2 === 0 ? index + 1 : index - 1,
        { owner: account.owner, tokenId: TOKEN, balance: 1n, nonce: 1 },
      ]);
    };
    // Sender k and recipient k differ in bit 31, so the second write climbs the full path before the fix-up.
    const pairs = Array.from({ length: 40 }, (_, k) => {
      const from = k * 2 ** 25 + 0x2aaaaaa;
      return { from, to: from + 2 ** 31, amount: 2047n * 10n ** 20n };
    });
    for (const [k, { from, to }] of pairs.entries()) {
      const owner = VECTOR_ADDRESSES[k % VECTOR_ADDRESSES.length];
      put(from, {
        owner,
        tokenId: TOKEN,
        balance: (1n << 127n) + BigInt(k),
        nonce: NONCE,
        blsKey: toHex(vectorBlsKey(k).raw),
      });
      put(to, { owner, tokenId: TOKEN, balance: (1n << 126n) + BigInt(k), nonce: 7 });
    }
    const feeRecipient = 2 ** 31 - 2;
    put(feeRecipient, { owner: VECTOR_ADDRESSES[0], tokenId: TOKEN, balance: 1n << 100n, nonce: 0 });
    const pre = L2State.fromSparse({ accountCount: 2 ** 32 - 2, accounts });
    const fee = 2047n * 10n ** 20n;
    const chunk = buildBlsChunk(pre, ds, feeRecipient, fee, pairs, { width: 4 });

    const post = pre.clone();
    const result = applyChunk(post, chunk, { domainSeparator: ds, feeRecipient }, { witness: true });
    expect(result.outcomes.map((o) => o.code)).to.deep.equal(Array<number>(40).fill(Outcome.Applied));
    const witness = result.witness!;
    expect(witness.accounts.length).to.equal(82);
    expect(witness.accounts.every((a) => a.siblings.every((s) => BigInt(s) !== 0n))).to.equal(true);

    const response = await harness.measureChunk(pre.header(), ds, feeRecipient, chunk, witness);
    const receipt = (await response.wait())!;
    const event = receipt.logs.map((l) => harness.interface.parseLog(l)).find((e) => e?.name === "StepMeasured");
    expect(event?.args.postRoot).to.equal(result.postRoot);
    const data = getBytes(response.data);
    const nonZero = data.filter((b) => b !== 0).length;
    const floor = 21_000n + 10n * BigInt(data.length - nonZero) + 40n * BigInt(nonZero);
    console.log(
      `      worst BLS chunk: gasUsed ${receipt.gasUsed.toLocaleString("en")} (executor ` +
        `${(event?.args.executionGas as bigint).toLocaleString("en")}, calldata ${data.length.toLocaleString("en")} B, ` +
        `EIP-7623 floor ${floor.toLocaleString("en")}); chunk ${chunk.length} B`,
    );
    expect(receipt.gasUsed).to.be.lessThan(BLS_STEP_GAS_BUDGET);
    expect(data.length).to.be.lessThan(MAX_L1_TX_BYTES);
  });
});

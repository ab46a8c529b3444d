import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { AbiCoder, keccak256, MaxUint256, Wallet, ZeroAddress, ZeroHash } from "ethers";
import { type QueueItem } from "./helpers/encoding";

const abi = AbiCoder.defaultAbiCoder();

function expectedItemHash(item: QueueItem): string {
  return keccak256(
    abi.encode(
      ["uint256", "address", "uint256", "uint256", "uint256", "uint256"],
      [item.kind, item.addr, item.tokenId, item.amount, item.account, item.timestamp],
    ),
  );
}

const ITEMS: QueueItem[] = [
  { kind: 0, addr: ZeroAddress, tokenId: 0n, amount: 0n, account: 0n, timestamp: 0n },
  {
    kind: 0,
    addr: Wallet.createRandom().address,
    tokenId: 2n,
    amount: 10n ** 18n,
    account: 5n,
    timestamp: 1_700_000_000n,
  },
  { kind: 1, addr: Wallet.createRandom().address, tokenId: 0n, amount: 0n, account: 9n, timestamp: 1_700_000_012n },
  {
    kind: 255,
    addr: "0x" + "ff".repeat(20),
    tokenId: (1n << 32n) - 1n,
    amount: MaxUint256,
    account: (1n << 32n) - 1n,
    timestamp: (1n << 64n) - 1n,
  },
];

describe("QueueLib", function () {
  async function deploy() {
    return { queue: await ethers.deployContract("QueueLibHarness") };
  }

  it("hashes an item as keccak(abi.encode(kind, addr, tokenId, amount, account, timestamp))", async function () {
    const { queue } = await loadFixture(deploy);
    for (const item of ITEMS) {
      expect(await queue.itemHash(item)).to.equal(expectedItemHash(item));
      expect(await queue.itemHashCalldata(item)).to.equal(expectedItemHash(item));
    }
  });

  it("chains as keccak(abi.encode(acc, itemHash)) from a zero accumulator", async function () {
    const { queue } = await loadFixture(deploy);
    let acc = ZeroHash;
    for (const item of ITEMS) {
      const next = keccak256(abi.encode(["bytes32", "bytes32"], [acc, expectedItemHash(item)]));
      expect(await queue.chain(acc, expectedItemHash(item))).to.equal(next);
      acc = next;
    }
    expect(await queue.accumulate(ITEMS)).to.equal(acc);
    expect(await queue.accumulate([])).to.equal(ZeroHash);
  });
});

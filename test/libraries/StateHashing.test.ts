import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { AbiCoder, hexlify, keccak256, MaxUint256, randomBytes, Wallet, ZeroAddress, ZeroHash } from "ethers";
import { accountLeaf, type Account, stateRoot, type StateHeader, withdrawalLeaf, ZERO_HASH } from "./helpers/encoding";
import { ZERO_HASHES } from "./helpers/tree";

const abi = AbiCoder.defaultAbiCoder();
const U32_MAX = (1n << 32n) - 1n;

describe("StateHashing", function () {
  async function deploy() {
    return { hashing: await ethers.deployContract("StateHashingHarness") };
  }

  it("hashes an account as keccak(abi.encode(owner, tokenId, balance, nonce))", async function () {
    const { hashing } = await loadFixture(deploy);
    const accounts: Account[] = [
      { owner: ZeroAddress, tokenId: 0n, balance: 0n, nonce: 0n, blsKeyHash: ZERO_HASH },
      { owner: Wallet.createRandom().address, tokenId: 3n, balance: 10n ** 18n, nonce: 7n, blsKeyHash: ZERO_HASH },
      { owner: "0x" + "ff".repeat(20), tokenId: U32_MAX, balance: MaxUint256, nonce: U32_MAX, blsKeyHash: ZERO_HASH },
    ];
    for (const a of accounts) {
      const expected = keccak256(
        abi.encode(["address", "uint256", "uint256", "uint256"], [a.owner, a.tokenId, a.balance, a.nonce]),
      );
      expect(accountLeaf(a)).to.equal(expected);
      expect(await hashing.accountLeaf(a)).to.equal(expected);
    }
    // Even the all-zero account is not the empty leaf.
    expect(await hashing.accountLeaf(accounts[0])).to.not.equal(ZeroHash);
  });

  it("hashes a withdrawal as keccak(abi.encode(recipient, tokenId, amount))", async function () {
    const { hashing } = await loadFixture(deploy);
    for (const [recipient, tokenId, amount] of [
      [ZeroAddress, 0n, 0n],
      [Wallet.createRandom().address, 12n, 5n * 10n ** 17n],
      ["0x" + "ff".repeat(20), MaxUint256, MaxUint256],
    ] as const) {
      const expected = keccak256(abi.encode(["address", "uint256", "uint256"], [recipient, tokenId, amount]));
      expect(withdrawalLeaf(recipient, tokenId, amount)).to.equal(expected);
      expect(await hashing.withdrawalLeaf(recipient, tokenId, amount)).to.equal(expected);
    }
  });

  it("hashes the state root over the four fields, each widened to a word", async function () {
    const { hashing } = await loadFixture(deploy);
    const headers: StateHeader[] = [
      { accountsRoot: ZERO_HASHES[32], accountCount: 0n, withdrawalsRoot: ZERO_HASHES[32], withdrawalCount: 0n },
      {
        accountsRoot: hexlify(randomBytes(32)),
        accountCount: U32_MAX,
        withdrawalsRoot: hexlify(randomBytes(32)),
        withdrawalCount: (1n << 64n) - 1n,
      },
    ];
    for (const h of headers) {
      const expected = keccak256(
        abi.encode(
          ["bytes32", "uint256", "bytes32", "uint256"],
          [h.accountsRoot, h.accountCount, h.withdrawalsRoot, h.withdrawalCount],
        ),
      );
      expect(stateRoot(h)).to.equal(expected);
      expect(await hashing.stateRoot(h)).to.equal(expected);
    }
  });
});

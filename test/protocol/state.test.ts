import { expect } from "chai";
import { AbiCoder, keccak256 as ethersKeccak } from "ethers";
import {
  accountLeaf,
  BilayerError,
  GENESIS_STATE_ROOT,
  initHashing,
  L2State,
  MAX_ACCOUNT_COUNT,
  MAX_WITHDRAWAL_COUNT,
  SparseMerkleTree,
  stateRootOf,
  toHex,
  withdrawalLeaf,
  ZERO_HASHES,
  type Account,
} from "../../src/protocol";

const abi = AbiCoder.defaultAbiCoder();
const OWNER = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const Z32 = toHex(ZERO_HASHES[32]);

const account = (balance: bigint, nonce = 0): Account => ({ owner: OWNER, tokenId: 3, balance, nonce });

describe("protocol/state", () => {
  before(async () => {
    await initHashing();
  });

  it("hashes account and withdrawal leaves as keccak(abi.encode(...))", () => {
    const a = { owner: OWNER, tokenId: 4_000_000_000, balance: 2n ** 200n + 5n, nonce: 2 ** 32 - 1 };
    expect(toHex(accountLeaf(a))).to.equal(
      ethersKeccak(abi.encode(["address", "uint256", "uint256", "uint256"], [a.owner, a.tokenId, a.balance, a.nonce])),
    );
    const w = { recipient: OWNER, tokenId: 7, amount: 10n ** 30n };
    expect(toHex(withdrawalLeaf(w))).to.equal(
      ethersKeccak(abi.encode(["address", "uint256", "uint256"], [w.recipient, w.tokenId, w.amount])),
    );
  });

  it("computes the state root as keccak(abi.encode(accountsRoot, accountCount, withdrawalsRoot, withdrawalCount))", () => {
    const header = {
      accountsRoot: "0x" + "11".repeat(32),
      accountCount: 9,
      withdrawalsRoot: Z32,
      withdrawalCount: 2n ** 32n,
    };
    expect(stateRootOf(header)).to.equal(
      ethersKeccak(
        abi.encode(
          ["bytes32", "uint256", "bytes32", "uint256"],
          [header.accountsRoot, header.accountCount, header.withdrawalsRoot, header.withdrawalCount],
        ),
      ),
    );
    expect(GENESIS_STATE_ROOT).to.equal(
      ethersKeccak(abi.encode(["bytes32", "uint256", "bytes32", "uint256"], [Z32, 0, Z32, 0])),
    );
    expect(new L2State().stateRoot()).to.equal(GENESIS_STATE_ROOT);
  });

  it("places accounts at 1..n, keeps index 0 empty and proves every slot against the header's root", () => {
    const state = L2State.fromAccounts(
      [account(1n), account(2n), account(3n)],
      [{ recipient: OWNER, tokenId: 0, amount: 5n }],
    );
    const header = state.header();
    expect(header.accountCount).to.equal(3);
    expect(header.withdrawalCount).to.equal(1n);
    expect(state.getAccount(0)).to.equal(undefined);
    expect(state.getAccount(2)).to.deep.equal(account(2n));
    const root = state.accountsRoot();
    expect(toHex(root)).to.equal(header.accountsRoot);
    expect(SparseMerkleTree.verify(root, ZERO_HASHES[0], 0, state.accountProof(0))).to.equal(true);
    for (let i = 1; i <= 3; i++) {
      expect(SparseMerkleTree.verify(root, accountLeaf(account(BigInt(i))), i, state.accountProof(i))).to.equal(true);
    }
    expect(
      SparseMerkleTree.verify(
        state.withdrawalsRoot(),
        withdrawalLeaf({ recipient: OWNER, tokenId: 0, amount: 5n }),
        0,
        state.withdrawalProof(0),
      ),
    ).to.equal(true);
  });

  it("builds sparse states up to account 2^32 − 1 and withdrawal count 2^32", () => {
    const state = L2State.fromSparse({
      accountCount: MAX_ACCOUNT_COUNT,
      accounts: [
        [1, account(1n)],
        [MAX_ACCOUNT_COUNT, account(9n)],
      ],
      withdrawalCount: MAX_WITHDRAWAL_COUNT,
      withdrawals: [[2 ** 32 - 1, { recipient: OWNER, tokenId: 1, amount: 1n }]],
    });
    expect(state.header().accountCount).to.equal(MAX_ACCOUNT_COUNT);
    expect(state.withdrawalCount).to.equal(2n ** 32n);
    expect(
      SparseMerkleTree.verify(
        state.accountsRoot(),
        accountLeaf(account(9n)),
        MAX_ACCOUNT_COUNT,
        state.accountProof(MAX_ACCOUNT_COUNT),
      ),
    ).to.equal(true);
    expect(() => state.createAccount(account(1n))).to.throw(BilayerError, /full/);
    expect(() => state.appendWithdrawal({ recipient: OWNER, tokenId: 0, amount: 1n })).to.throw(BilayerError, /full/);
    expect(() => L2State.fromSparse({ accountCount: 2, accounts: [[3, account(1n)]] })).to.throw(BilayerError);
    expect(() => L2State.fromSparse({ accountCount: 2 ** 32 })).to.throw(BilayerError);
    expect(() =>
      L2State.fromSparse({
        accountCount: 0,
        withdrawalCount: 1n,
        withdrawals: [[1, { recipient: OWNER, tokenId: 0, amount: 0n }]],
      }),
    ).to.throw(BilayerError);
  });

  it("changes the root on every write and not on a clone's writes", () => {
    const state = L2State.fromAccounts([account(1n)]);
    const before = state.stateRoot();
    const copy = state.clone();
    copy.putAccount(1, account(2n));
    copy.createAccount(account(3n));
    expect(state.stateRoot()).to.equal(before);
    expect(copy.stateRoot()).to.not.equal(before);
    state.putAccount(1, account(2n));
    state.createAccount(account(3n));
    expect(state.stateRoot()).to.equal(copy.stateRoot());
    state.putAccount(1, account(2n, 1));
    expect(state.stateRoot()).to.not.equal(copy.stateRoot());
  });

  it("normalises owners to lowercase and validates every field", () => {
    const state = L2State.fromAccounts([{ ...account(1n), owner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" }]);
    expect(state.getAccount(1)?.owner).to.equal(OWNER);
    expect(() => state.putAccount(0, account(1n))).to.throw(BilayerError);
    expect(() => state.putAccount(2, account(1n))).to.throw(BilayerError);
    expect(() => state.putAccount(1, { ...account(1n), owner: "0x1234" })).to.throw(BilayerError);
    expect(() => state.putAccount(1, { ...account(1n), tokenId: 2 ** 32 })).to.throw(BilayerError);
    expect(() => state.putAccount(1, { ...account(1n), nonce: -1 })).to.throw(BilayerError);
    expect(() => state.putAccount(1, account(-1n))).to.throw(BilayerError);
    expect(() => state.putAccount(1, account(2n ** 256n))).to.throw(BilayerError);
    expect(() => stateRootOf({ ...state.header(), accountsRoot: "0x12" })).to.throw(BilayerError);
  });
});

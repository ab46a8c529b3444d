import { ZERO_HASH, emptyWitness } from "./helpers/encoding";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { concat, dataSlice, keccak256, TypedDataEncoder, type TypedDataDomain, Wallet, ZeroAddress } from "ethers";
import { bilayerDomain, type QueueItem, withdrawalLeaf } from "./helpers/encoding";
import { checkChunk, checkQueue } from "./helpers/harness";
import { MAX_ACCOUNT_INDEX, MAX_NONCE, MAX_WITHDRAWALS, ModelState, O } from "./helpers/model";
import { signedTx, type TxSpec, wallets } from "./helpers/txs";

const ETH = 10n ** 18n;

/** A TxSpec whose token and nonce default to the sender's. */
type LooseTx = TxSpec extends infer T
  ? T extends TxSpec
    ? Omit<T, "tokenId" | "nonce"> & { tokenId?: bigint; nonce?: bigint }
    : never
  : never;
const [alice, bob, carol, fees0, fees1, dave] = wallets(6);

/** Accounts 1..5: alice (token 0), bob (token 0), carol (token 1), fees0 (token 0), fees1 (token 1); 2 withdrawals. */
function baseState(): ModelState {
  const s = new ModelState();
  s.addAccount({ owner: alice.address, tokenId: 0n, balance: 100n * ETH, nonce: 0n, blsKeyHash: ZERO_HASH });
  s.addAccount({ owner: bob.address, tokenId: 0n, balance: 5n * ETH, nonce: 3n, blsKeyHash: ZERO_HASH });
  s.addAccount({ owner: carol.address, tokenId: 1n, balance: 7n * ETH, nonce: 0n, blsKeyHash: ZERO_HASH });
  s.addAccount({ owner: fees0.address, tokenId: 0n, balance: 0n, nonce: 0n, blsKeyHash: ZERO_HASH });
  s.addAccount({ owner: fees1.address, tokenId: 1n, balance: 0n, nonce: 0n, blsKeyHash: ZERO_HASH });
  s.addWithdrawal(dave.address, 0n, ETH);
  s.addWithdrawal(dave.address, 1n, ETH);
  return s;
}

describe("StepExecutor", function () {
  async function deploy() {
    const harness = await ethers.deployContract("StepExecutorHarness");
    const { chainId } = await ethers.provider.getNetwork();
    const domain = bilayerDomain(chainId, await harness.getAddress());
    const ds = TypedDataEncoder.hashDomain(domain);
    return { harness, domain, ds, chainId };
  }

  /** Signs `spec` with `signer`, taking the sender's token and nonce from `state` unless given. */
  async function tx(domain: TypedDataDomain, state: ModelState, signer: Wallet, spec: LooseTx): Promise<string> {
    const account = state.data.get(spec.from);
    const tokenId = spec.tokenId ?? account?.tokenId ?? 0n;
    const nonce = spec.nonce ?? account?.nonce ?? 0n;
    return signedTx(domain, signer, { ...spec, tokenId, nonce } as TxSpec);
  }

  describe("chunk step", function () {
    it("changes nothing for an empty chunk but still reads the fee recipient", async function () {
      const { harness, ds } = await loadFixture(deploy);
      const pre = baseState();
      const withFees = await checkChunk(harness, pre, "0x", ds, 4n, []);
      expect(withFees.witness.accounts.length).to.equal(1);
      expect(withFees.post.header()).to.deep.equal(pre.header());
      const without = await checkChunk(harness, pre, "0x", ds, 0n, []);
      expect(without.witness.accounts.length).to.equal(0);
    });

    it("applies a transfer and credits the fee recipient once, after the last transaction", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const chunk = concat([
        await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 10n ** 15n }),
        await tx(domain, pre, bob, { type: "transfer", from: 2n, to: 1n, amount: 2n * ETH, fee: 10n ** 14n }),
      ]);
      const { post, witness } = await checkChunk(harness, pre, chunk, ds, 4n, [O.Applied, O.Applied]);
      expect(post.data.get(1n)).to.deep.include({ balance: 101n * ETH - 10n ** 15n, nonce: 1n });
      expect(post.data.get(2n)).to.deep.include({ balance: 4n * ETH - 10n ** 14n, nonce: 4n });
      expect(post.data.get(4n)).to.deep.include({ balance: 11n * 10n ** 14n, nonce: 0n });
      // fee recipient, 2 × (sender, recipient), fee recipient again
      expect(witness.accounts.length).to.equal(6);
    });

    it("charges only the fee for a transfer to oneself, reading the account once", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const chunk = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 1n, amount: ETH, fee: 10n ** 15n });
      const { post, witness } = await checkChunk(harness, pre, chunk, ds, 4n, [O.Applied]);
      expect(post.data.get(1n)).to.deep.include({ balance: 100n * ETH - 10n ** 15n, nonce: 1n });
      expect(witness.accounts.length).to.equal(3);
    });

    it("skips missing senders and recipients, and token mismatches", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const t = (from: bigint, to: bigint): Promise<string> =>
        tx(domain, pre, alice, { type: "transfer", from, to, amount: 1n, fee: 0n });
      const chunk = concat([await t(0n, 2n), await t(6n, 2n), await t(1n, 0n), await t(1n, 6n), await t(1n, 3n)]);
      const expected = [O.SenderMissing, O.SenderMissing, O.RecipientMissing, O.RecipientMissing, O.TokenMismatch];
      const { post, witness } = await checkChunk(harness, pre, chunk, ds, 0n, expected);
      expect(post.header()).to.deep.equal(pre.header());
      // Sender entries once SenderMissing passed, the recipient's once RecipientMissing passed.
      expect(witness.accounts.length).to.equal(4);
    });

    it("refuses a fee when fees are disabled or in another token, and allows a zero fee", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const paying = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 1n });
      const free = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 0n });
      // No fee recipient, one past the last account, and a token-1 recipient for a token-0 sender.
      for (const feeRecipient of [0n, 6n, 5n]) {
        await checkChunk(harness, pre, paying, ds, feeRecipient, [O.FeeRecipientMismatch]);
        await checkChunk(harness, pre, free, ds, feeRecipient, [O.Applied]);
      }
      // A fee recipient created in the chunk itself does not enable fees for that chunk.
      const create = await tx(domain, pre, alice, {
        type: "transferToNew",
        from: 1n,
        toAddress: dave.address,
        amount: ETH,
        fee: 0n,
      });
      const paying2 = await tx(domain, pre, alice, {
        type: "transfer",
        from: 1n,
        to: 2n,
        amount: ETH,
        fee: 1n,
        nonce: 1n,
      });
      await checkChunk(harness, pre, concat([create, paying2]), ds, 6n, [O.Applied, O.FeeRecipientMismatch]);
    });

    it("refuses to overdraw by one unit and allows spending the whole balance", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      pre.put(2n, { owner: bob.address, tokenId: 0n, balance: 5n * ETH + 1n, nonce: 3n, blsKeyHash: ZERO_HASH });
      const over = await tx(domain, pre, bob, { type: "transfer", from: 2n, to: 1n, amount: 5n * ETH, fee: 2n });
      await checkChunk(harness, pre, over, ds, 4n, [O.InsufficientBalance]);
      const all = await tx(domain, pre, bob, { type: "transfer", from: 2n, to: 1n, amount: 5n * ETH, fee: 1n });
      const { post } = await checkChunk(harness, pre, all, ds, 4n, [O.Applied]);
      expect(post.data.get(2n)?.balance).to.equal(0n);
      expect(post.data.get(4n)?.balance).to.equal(1n);
    });

    it("refuses a sender whose nonce is exhausted, even with a valid signature", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      pre.put(1n, { owner: alice.address, tokenId: 0n, balance: ETH, nonce: MAX_NONCE, blsKeyHash: ZERO_HASH });
      const t = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: 1n, fee: 0n });
      await checkChunk(harness, pre, t, ds, 4n, [O.NonceExhausted]);
      pre.put(1n, { owner: alice.address, tokenId: 0n, balance: ETH, nonce: MAX_NONCE - 1n, blsKeyHash: ZERO_HASH });
      const last = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: 1n, fee: 0n });
      const { post } = await checkChunk(harness, pre, last, ds, 4n, [O.Applied]);
      expect(post.data.get(1n)?.nonce).to.equal(MAX_NONCE);
    });

    it("refuses a signature by another key, over another nonce or token, or for another domain", async function () {
      const { harness, domain, ds, chainId } = await loadFixture(deploy);
      const pre = baseState();
      const base = { type: "transfer" as const, from: 1n, to: 2n, amount: ETH, fee: 0n };
      const chunk = concat([
        await tx(domain, pre, bob, base),
        await tx(domain, pre, alice, { ...base, nonce: 1n }),
        await tx(domain, pre, alice, { ...base, tokenId: 1n }),
        await tx(bilayerDomain(chainId + 1n, domain.verifyingContract as string), pre, alice, base),
        await tx(bilayerDomain(chainId, Wallet.createRandom().address), pre, alice, base),
        await tx(domain, pre, alice, base),
      ]);
      const bad = O.BadSignature;
      await checkChunk(harness, pre, chunk, ds, 0n, [bad, bad, bad, bad, bad, O.Applied]);
    });

    it("refuses a high-s or zero signature", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const good = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 0n });
      const header = dataSlice(good, 0, 16);
      const r = dataSlice(good, 16, 48);
      const highS = "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1";
      const chunk = concat([concat([header, r, highS]), concat([header, "0x" + "00".repeat(64)])]);
      await checkChunk(harness, pre, chunk, ds, 0n, [O.BadSignature, O.BadSignature]);
    });

    it("applies a withdrawal, appending (owner, token, amount) to the withdrawal tree", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const t = await tx(domain, pre, carol, { type: "withdraw", from: 3n, amount: 2n * ETH, fee: 10n ** 16n });
      const { post, witness } = await checkChunk(harness, pre, t, ds, 5n, [O.Applied]);
      expect(post.withdrawalCount).to.equal(3n);
      expect(post.withdrawals.leaf(2n)).to.equal(withdrawalLeaf(carol.address, 1n, 2n * ETH));
      expect(post.data.get(3n)).to.deep.include({ balance: 5n * ETH - 10n ** 16n, nonce: 1n });
      expect(post.data.get(5n)?.balance).to.equal(10n ** 16n);
      expect(witness.withdrawals.length).to.equal(1);
    });

    it("refuses a withdrawal when the withdrawal tree is full, before checking the signature", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      pre.withdrawalCount = MAX_WITHDRAWALS;
      const forged = await tx(domain, pre, bob, { type: "withdraw", from: 3n, amount: ETH, fee: 0n });
      await checkChunk(harness, pre, forged, ds, 5n, [O.WithdrawalLimit]);
    });

    it("creates an account with TransferToNew and lets it send in the same chunk", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const chunk = concat([
        await tx(domain, pre, alice, {
          type: "transferToNew",
          from: 1n,
          toAddress: dave.address,
          amount: 3n * ETH,
          fee: 10n ** 15n,
        }),
        await tx(domain, pre, dave, {
          type: "transfer",
          from: 6n,
          to: 1n,
          amount: ETH,
          fee: 0n,
          tokenId: 0n,
          nonce: 0n,
        }),
        await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 6n, amount: ETH, fee: 0n, nonce: 1n }),
      ]);
      const { post } = await checkChunk(harness, pre, chunk, ds, 4n, [O.Applied, O.Applied, O.Applied]);
      expect(post.accountCount).to.equal(6n);
      expect(post.data.get(6n)).to.deep.equal({
        owner: dave.address,
        tokenId: 0n,
        balance: 3n * ETH,
        nonce: 1n,
        blsKeyHash: ZERO_HASH,
      });
      expect(post.data.get(1n)).to.deep.include({ balance: 97n * ETH - 10n ** 15n, nonce: 2n });
    });

    it("refuses TransferToNew to address zero or into a full account tree", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const toZero = await tx(domain, pre, alice, {
        type: "transferToNew",
        from: 1n,
        toAddress: ZeroAddress,
        amount: 1n,
        fee: 0n,
      });
      await checkChunk(harness, pre, toZero, ds, 4n, [O.InvalidRecipient]);
      const full = baseState();
      full.accountCount = MAX_ACCOUNT_INDEX;
      const toDave = await tx(domain, full, alice, {
        type: "transferToNew",
        from: 1n,
        toAddress: dave.address,
        amount: 1n,
        fee: 0n,
      });
      await checkChunk(harness, full, toDave, ds, 4n, [O.AccountLimit]);
    });

    it("writes two leaves that part at every height, up to indices 2^31 + 1 and 2^32 − 1", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      pre.accountCount = MAX_ACCOUNT_INDEX;
      const far = [1n << 31n, (1n << 31n) + 1n, MAX_ACCOUNT_INDEX - 1n, MAX_ACCOUNT_INDEX];
      far.forEach((i, k) =>
        pre.put(i, {
          owner: [bob, carol, dave, alice][k].address,
          tokenId: 0n,
          balance: ETH,
          nonce: 0n,
          blsKeyHash: ZERO_HASH,
        }),
      );
      const chunk = concat([
        await tx(domain, pre, alice, { type: "transfer", from: 1n, to: (1n << 31n) + 1n, amount: 1n, fee: 1n }),
        await tx(domain, pre, alice, { type: "transfer", from: MAX_ACCOUNT_INDEX, to: 1n, amount: 2n, fee: 1n }),
        await tx(domain, pre, dave, {
          type: "transfer",
          from: MAX_ACCOUNT_INDEX - 1n,
          to: MAX_ACCOUNT_INDEX,
          amount: 3n,
          fee: 0n,
        }),
        await tx(domain, pre, bob, { type: "transfer", from: 1n << 31n, to: 2n, amount: 4n, fee: 0n }),
      ]);
      await checkChunk(harness, pre, chunk, ds, MAX_ACCOUNT_INDEX, [O.Applied, O.Applied, O.Applied, O.Applied]);
    });

    it("credits fees to a fee recipient that also sent in the chunk", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const chunk = concat([
        await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 5n }),
        await tx(domain, pre, bob, { type: "withdraw", from: 2n, amount: ETH, fee: 7n }),
      ]);
      const { post } = await checkChunk(harness, pre, chunk, ds, 1n, [O.Applied, O.Applied]);
      expect(post.data.get(1n)?.balance).to.equal(99n * ETH - 5n + 12n);
    });

    it("ends parsing at an unknown type or a truncated transaction", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const t = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 0n });
      const t2 = await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 0n, nonce: 1n });
      await checkChunk(harness, pre, concat([t, "0x00", t2]), ds, 0n, [O.Applied, O.UnknownType]);
      await checkChunk(harness, pre, concat([t, "0x05"]), ds, 0n, [O.Applied, O.UnknownType]);
      await checkChunk(harness, pre, concat([t, dataSlice(t2, 0, 79)]), ds, 0n, [O.Applied, O.Truncated]);
      await checkChunk(harness, pre, "0x02", ds, 0n, [O.Truncated]);
    });

    it("reads 32 transactions and ignores what follows as Trailing", async function () {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const txs = [];
      for (let n = 0n; n < 33n; n++) {
        txs.push(await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: 1n, fee: 1n, nonce: n }));
      }
      const applied = Array<number>(32).fill(O.Applied);
      const exact = await checkChunk(harness, pre, concat(txs.slice(0, 32)), ds, 4n, applied);
      expect(exact.post.data.get(4n)?.balance).to.equal(32n);
      const more = await checkChunk(harness, pre, concat(txs), ds, 4n, [...applied, O.Trailing]);
      expect(more.post.header()).to.deep.equal(exact.post.header());
      await checkChunk(harness, pre, concat([...txs.slice(0, 32), "0xff"]), ds, 4n, [...applied, O.Trailing]);
    });
  });

  describe("queue step", function () {
    const deposit = (addr: string, tokenId: bigint, amount: bigint, account: bigint): QueueItem => ({
      kind: 0,
      addr,
      tokenId,
      amount,
      account,
      timestamp: 1_700_000_000n,
    });
    const exit = (addr: string, account: bigint): QueueItem => ({
      kind: 1,
      addr,
      tokenId: 0n,
      amount: 0n,
      account,
      timestamp: 1_700_000_000n,
    });

    it("credits a deposit whose hint matches and creates an account otherwise", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      const items = [
        deposit(alice.address, 0n, ETH, 1n), // credited
        deposit(alice.address, 0n, ETH, 2n), // wrong owner: created as 6
        deposit(alice.address, 1n, ETH, 1n), // wrong token: created as 7
        deposit(dave.address, 0n, ETH, 0n), // no hint: created as 8
        deposit(dave.address, 0n, ETH, 99n), // hint out of range: created as 9
        deposit(dave.address, 0n, 2n * ETH, 8n), // hint to an account created in this step: credited
      ];
      const { C, R } = { C: O.Credited, R: O.Created };
      const { post, witness } = await checkQueue(harness, pre, items, [C, R, R, R, R, C]);
      expect(post.accountCount).to.equal(9n);
      expect(post.data.get(1n)?.balance).to.equal(101n * ETH);
      expect(post.data.get(7n)).to.deep.equal({
        owner: alice.address,
        tokenId: 1n,
        balance: ETH,
        nonce: 0n,
        blsKeyHash: ZERO_HASH,
      });
      expect(post.data.get(8n)?.balance).to.equal(3n * ETH);
      expect(witness.accounts.length).to.equal(1 + 2 + 2 + 1 + 1 + 1);
    });

    it("refunds a deposit when the account tree is full and drops it when both trees are", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      pre.accountCount = MAX_ACCOUNT_INDEX;
      const items = [deposit(dave.address, 3n, ETH, 0n), deposit(alice.address, 0n, ETH, 1n)];
      const { post } = await checkQueue(harness, pre, items, [O.Refunded, O.Credited]);
      expect(post.withdrawals.leaf(2n)).to.equal(withdrawalLeaf(dave.address, 3n, ETH));
      pre.withdrawalCount = MAX_WITHDRAWALS;
      await checkQueue(harness, pre, items, [O.Dropped, O.Credited]);
    });

    it("exits an account's whole balance to its owner, once", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      pre.put(3n, { owner: carol.address, tokenId: 1n, balance: 7n * ETH, nonce: 9n, blsKeyHash: ZERO_HASH });
      const items = [
        exit(carol.address, 3n),
        exit(carol.address, 3n),
        exit(alice.address, 3n),
        exit(alice.address, 0n),
        exit(alice.address, 6n),
        exit(alice.address, 4n),
      ];
      const expected = [O.Exited, O.EmptyBalance, O.NotOwner, O.AccountMissing, O.AccountMissing, O.NotOwner];
      const { post } = await checkQueue(harness, pre, items, expected);
      expect(post.data.get(3n)).to.deep.equal({
        owner: carol.address,
        tokenId: 1n,
        balance: 0n,
        nonce: 9n,
        blsKeyHash: ZERO_HASH,
      });
      expect(post.withdrawals.leaf(2n)).to.equal(withdrawalLeaf(carol.address, 1n, 7n * ETH));
      expect(post.withdrawalCount).to.equal(3n);
    });

    it("refuses an exit when the withdrawal tree is full", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      pre.withdrawalCount = MAX_WITHDRAWALS;
      await checkQueue(harness, pre, [exit(alice.address, 1n)], [O.WithdrawalLimit]);
    });

    it("skips unknown kinds and accepts an empty step", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      const odd = [2, 255].map((kind) => ({ ...deposit(alice.address, 0n, ETH, 1n), kind }));
      const { witness } = await checkQueue(harness, pre, odd, [O.UnknownKind, O.UnknownKind]);
      expect(witness.accounts.length).to.equal(0);
      await checkQueue(harness, pre, [], []);
    });

    it("refuses a step of more than 32 items", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      const items = Array.from({ length: 33 }, () => deposit(alice.address, 0n, 1n, 1n));
      await expect(harness.executeQueue(pre.header(), items, emptyWitness()))
        .to.be.revertedWithCustomError(harness, "StepExecutorTooManyItems")
        .withArgs(33, 32);
      await checkQueue(harness, pre, items.slice(0, 32), Array<number>(32).fill(O.Credited));
    });
  });

  describe("witness", function () {
    /** A chunk consuming 5 account entries (fee recipient, sender, recipient, sender, fee recipient) and 1 withdrawal. */
    async function step() {
      const { harness, domain, ds } = await loadFixture(deploy);
      const pre = baseState();
      const chunk = concat([
        await tx(domain, pre, alice, { type: "transfer", from: 1n, to: 2n, amount: ETH, fee: 1n }),
        await tx(domain, pre, bob, { type: "withdraw", from: 2n, amount: ETH, fee: 1n }),
      ]);
      const { witness } = await checkChunk(harness, pre, chunk, ds, 4n, [O.Applied, O.Applied]);
      expect(witness.accounts.length).to.equal(5);
      const run = (w: typeof witness, header = pre.header()) => harness.executeChunk(header, ds, 4n, chunk, w);
      return { harness, witness, run, pre };
    }

    it("reverts on a tampered sibling or account field, naming the entry and index", async function () {
      const { harness, witness, run } = await step();
      const sibling = structuredClone(witness);
      sibling.accounts[2].siblings[17] = keccak256(sibling.accounts[2].siblings[17]);
      await expect(run(sibling)).to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness").withArgs(2, 2);
      const balance = structuredClone(witness);
      balance.accounts[0].account.balance += 1n;
      await expect(run(balance)).to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness").withArgs(0, 4);
      const withdrawal = structuredClone(witness);
      withdrawal.withdrawals[0][0] = keccak256(withdrawal.withdrawals[0][0]);
      await expect(run(withdrawal))
        .to.be.revertedWithCustomError(harness, "StepExecutorInvalidWithdrawalWitness")
        .withArgs(0, 2);
    });

    it("reverts on entries out of order or against another pre-state", async function () {
      const { harness, witness, run, pre } = await step();
      const swapped = structuredClone(witness);
      [swapped.accounts[1], swapped.accounts[2]] = [swapped.accounts[2], swapped.accounts[1]];
      await expect(run(swapped)).to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness").withArgs(1, 1);
      const other = pre.clone();
      other.put(5n, { owner: dave.address, tokenId: 1n, balance: 1n, nonce: 0n, blsKeyHash: ZERO_HASH });
      await expect(run(witness, other.header()))
        .to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness")
        .withArgs(0, 4);
    });

    it("reverts on a missing entry of either kind", async function () {
      const { harness, witness, run } = await step();
      await expect(run({ ...witness, accounts: witness.accounts.slice(0, 4) })).to.be.revertedWithCustomError(
        harness,
        "StepExecutorWitnessExhausted",
      );
      await expect(run({ ...witness, withdrawals: [] })).to.be.revertedWithCustomError(
        harness,
        "StepExecutorWitnessExhausted",
      );
    });

    it("reverts on an extra entry of either kind", async function () {
      const { harness, witness, run } = await step();
      await expect(run({ ...witness, accounts: [...witness.accounts, witness.accounts[0]] }))
        .to.be.revertedWithCustomError(harness, "StepExecutorWitnessUnused")
        .withArgs(1, 0);
      await expect(run({ ...witness, withdrawals: [...witness.withdrawals, witness.withdrawals[0]] }))
        .to.be.revertedWithCustomError(harness, "StepExecutorWitnessUnused")
        .withArgs(0, 1);
    });

    it("reverts on an empty-slot entry with non-zero fields", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      const items: QueueItem[] = [{ kind: 0, addr: dave.address, tokenId: 0n, amount: 1n, account: 0n, timestamp: 0n }];
      const { witness } = await checkQueue(harness, pre, items, [O.Created]);
      for (const field of ["owner", "tokenId", "balance", "nonce"] as const) {
        const bad = structuredClone(witness);
        const account = bad.accounts[0].account;
        if (field === "owner") account.owner = dave.address;
        else account[field] = 1n;
        await expect(harness.executeQueue(pre.header(), items, bad))
          .to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness")
          .withArgs(0, 6);
      }
      // A queue step with a missing entry fails the same way as a chunk.
      await expect(harness.executeQueue(pre.header(), items, emptyWitness())).to.be.revertedWithCustomError(
        harness,
        "StepExecutorWitnessExhausted",
      );
    });

    it("reverts on an empty-slot entry with zero fields whose path does not lead to the pre-state root", async function () {
      const { harness } = await loadFixture(deploy);
      const pre = baseState();
      const items: QueueItem[] = [{ kind: 0, addr: dave.address, tokenId: 0n, amount: 1n, account: 0n, timestamp: 0n }];
      const { witness } = await checkQueue(harness, pre, items, [O.Created]);
      for (const height of [0, 2, 31]) {
        const bad = structuredClone(witness);
        bad.accounts[0].siblings[height] = keccak256(bad.accounts[0].siblings[height]);
        await expect(harness.executeQueue(pre.header(), items, bad))
          .to.be.revertedWithCustomError(harness, "StepExecutorInvalidWitness")
          .withArgs(0, 6);
      }
    });
  });
});

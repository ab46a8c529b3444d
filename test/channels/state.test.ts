import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { hexlify, TypedDataEncoder, Wallet, ZeroAddress } from "ethers";
import {
  CHANNEL_TYPES,
  channelDomain,
  channelDomainSeparator,
  channelId,
  FUNDING_TYPES,
  fundingDigest,
  fundingStructHash,
  hashlockOf,
  lockedTotalOf,
  lockLeaf,
  lockProof,
  lockRootFromProof,
  locksRoot,
  recoverStateSigner,
  recoverWithdrawalSigner,
  signFunding,
  signFundingWithKey,
  signState,
  signStateWithKey,
  signTopUp,
  signTopUpWithKey,
  signWithdrawal,
  signWithdrawalWithKey,
  stateCommitsToLocks,
  stateDigest,
  stateStructHash,
  TOP_UP_TYPES,
  topUpDigest,
  topUpStructHash,
  verifyFundingSignature,
  verifyStateSignature,
  verifyStateSignatures,
  verifyTopUpSignature,
  verifyWithdrawalSignature,
  WITHDRAWAL_TYPES,
  withdrawalDigest,
  withdrawalStructHash,
  ZERO_BYTES32,
  type ChannelParams,
  type ChannelState,
  type CompactSignature,
  type Funding,
  type Lock,
  type TopUp,
  type Withdrawal,
} from "../../src/channels/state";
import { deployChannelsFixture, openFunded } from "./helpers";

/* The TypeScript twin (src/channels/state.ts) against the Solidity side, on random inputs. */

const RUNS = 40;
const U64 = (1n << 64n) - 1n;
const U256 = (1n << 256n) - 1n;
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b));
const address = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((b) => ethers.getAddress(hexlify(b)));
const u256 = fc.bigInt({ min: 0n, max: U256 });
const u64 = fc.bigInt({ min: 0n, max: U64 });
const amount = fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 24n }), u256);
const index = fc.constantFrom<0 | 1>(0, 1);

const paramsArb: fc.Arbitrary<ChannelParams> = fc.record({
  participants: fc.tuple(address, address),
  asset: fc.oneof(fc.constant(ZeroAddress), address),
  challengeDuration: u64,
  salt: bytes32,
});
const stateArb: fc.Arbitrary<ChannelState> = fc.record({
  channelId: bytes32,
  version: u64,
  balances: fc.tuple(amount, amount),
  locksRoot: fc.oneof(fc.constant(ZERO_BYTES32), bytes32),
  lockedTotal: amount,
  isFinal: fc.boolean(),
});
const withdrawalArb: fc.Arbitrary<Withdrawal> = fc.record({
  channelId: bytes32,
  version: u64,
  participant: index,
  amount,
  expiry: u64,
});
const topUpArb: fc.Arbitrary<TopUp> = fc.record({ state: stateArb, expiry: u64 });
const fundingArb: fc.Arbitrary<Funding> = fc.record({ channelId: bytes32, participant: index, amount, expiry: u64 });
const lockArb: fc.Arbitrary<Lock> = fc.record({
  sender: index,
  receiver: index,
  amount,
  hashlock: bytes32,
  expiry: u64,
});

async function twinFixture() {
  const fx = await deployChannelsFixture();
  const harness = await ethers.deployContract("ChannelHashingHarness");
  return { ...fx, harness, adjudicatorAddress: await fx.adjudicator.getAddress() };
}

describe("channel state twin (src/channels/state.ts)", function () {
  it("computes the channel id as the contract does", async function () {
    const { harness, adjudicator, chainId, adjudicatorAddress } = await loadFixture(twinFixture);
    await fc.assert(
      fc.asyncProperty(paramsArb, fc.bigInt({ min: 0n, max: U256 }), address, async (params, chain, adj) => {
        expect(channelId(params, chain, adj)).to.equal(await harness.channelId(params, chain, adj));
        expect(channelId(params, chainId, adjudicatorAddress)).to.equal(await adjudicator.channelIdOf(params));
      }),
      { numRuns: RUNS },
    );
  });

  it("hashes and digests a state as the contract and ethers' EIP-712 do", async function () {
    const { harness, adjudicator, chainId, adjudicatorAddress } = await loadFixture(twinFixture);
    const domain = channelDomain(chainId, adjudicatorAddress);
    expect(channelDomainSeparator(chainId, adjudicatorAddress)).to.equal(TypedDataEncoder.hashDomain(domain));
    await fc.assert(
      fc.asyncProperty(stateArb, async (state) => {
        expect(stateStructHash(state)).to.equal(await harness.stateStructHash(state));
        expect(stateStructHash(state)).to.equal(TypedDataEncoder.hashStruct("ChannelState", CHANNEL_TYPES, state));
        const digest = stateDigest(state, chainId, adjudicatorAddress);
        expect(digest).to.equal(await adjudicator.stateDigest(state));
        expect(digest).to.equal(TypedDataEncoder.hash(domain, CHANNEL_TYPES, state));
      }),
      { numRuns: RUNS },
    );
  });

  it("hashes and digests a withdrawal as the contract and ethers' EIP-712 do", async function () {
    const { harness, adjudicator, chainId, adjudicatorAddress } = await loadFixture(twinFixture);
    const domain = channelDomain(chainId, adjudicatorAddress);
    await fc.assert(
      fc.asyncProperty(withdrawalArb, async (w) => {
        expect(withdrawalStructHash(w)).to.equal(await harness.withdrawalStructHash(w));
        const digest = withdrawalDigest(w, chainId, adjudicatorAddress);
        expect(digest).to.equal(await adjudicator.withdrawalDigest(w));
        expect(digest).to.equal(TypedDataEncoder.hash(domain, WITHDRAWAL_TYPES, w));
      }),
      { numRuns: RUNS },
    );
  });

  it("hashes and digests a top-up and a funding consent as the contract and ethers' EIP-712 do", async function () {
    const { harness, adjudicator, chainId, adjudicatorAddress } = await loadFixture(twinFixture);
    const domain = channelDomain(chainId, adjudicatorAddress);
    await fc.assert(
      fc.asyncProperty(topUpArb, fundingArb, async (top, funding) => {
        expect(topUpStructHash(top)).to.equal(await harness.topUpStructHash(top));
        expect(topUpStructHash(top)).to.equal(TypedDataEncoder.hashStruct("TopUp", TOP_UP_TYPES, top));
        expect(topUpDigest(top, chainId, adjudicatorAddress)).to.equal(await adjudicator.topUpDigest(top));
        expect(topUpDigest(top, chainId, adjudicatorAddress)).to.equal(
          TypedDataEncoder.hash(domain, TOP_UP_TYPES, top),
        );
        expect(fundingStructHash(funding)).to.equal(await harness.fundingStructHash(funding));
        const digest = fundingDigest(funding, chainId, adjudicatorAddress);
        expect(digest).to.equal(await adjudicator.fundingDigest(funding));
        expect(digest).to.equal(TypedDataEncoder.hash(domain, FUNDING_TYPES, funding));
      }),
      { numRuns: RUNS },
    );
  });

  it("hashes a lock leaf and a secret as the contract does", async function () {
    const { harness } = await loadFixture(twinFixture);
    await fc.assert(
      fc.asyncProperty(lockArb, bytes32, async (lock, secret) => {
        expect(lockLeaf(lock)).to.equal(await harness.lockLeaf(lock));
        expect(hashlockOf(secret)).to.equal(await harness.hashlock(secret));
      }),
      { numRuns: RUNS },
    );
  });

  it("builds lock trees and proofs the contract verifies", async function () {
    const { harness } = await loadFixture(twinFixture);
    await fc.assert(
      fc.asyncProperty(fc.array(lockArb, { minLength: 0, maxLength: 11 }), fc.nat(), async (locks, pick) => {
        const root = locksRoot(locks);
        expect(root).to.equal(await harness.root(locks.map(lockLeaf)));
        if (locks.length === 0) {
          expect(root).to.equal(ZERO_BYTES32);
          return;
        }
        const i = pick % locks.length;
        const proof = lockProof(locks, i);
        expect(proof.length).to.equal(locks.length === 1 ? 0 : Math.ceil(Math.log2(locks.length)));
        expect(lockRootFromProof(locks[i], BigInt(i), proof)).to.equal(root);
        expect(await harness.rootFromProof(lockLeaf(locks[i]), i, proof)).to.equal(root);
        // An index that does not fit in the proof's depth reaches no root, on either side.
        const outside = BigInt(i) + (1n << BigInt(proof.length));
        expect(lockRootFromProof(locks[i], outside, proof)).to.equal(ZERO_BYTES32);
        expect(await harness.rootFromProof(lockLeaf(locks[i]), outside, proof)).to.equal(ZERO_BYTES32);
      }),
      { numRuns: RUNS },
    );
  });

  it("defines the root of one lock as its leaf and pads with zero leaves", function () {
    const lock: Lock = { sender: 0, receiver: 1, amount: 5n, hashlock: hashlockOf(ZERO_BYTES32), expiry: 9n };
    expect(locksRoot([lock])).to.equal(lockLeaf(lock));
    const three = [lock, { ...lock, amount: 6n }, { ...lock, amount: 7n }];
    const h = (a: string, b: string) => ethers.keccak256(ethers.concat([a, b]));
    const expected = h(h(lockLeaf(three[0]), lockLeaf(three[1])), h(lockLeaf(three[2]), ZERO_BYTES32));
    expect(locksRoot(three)).to.equal(expected);
    expect(lockedTotalOf(three)).to.equal(18n);
    const state: ChannelState = {
      channelId: ZERO_BYTES32,
      version: 1n,
      balances: [0n, 0n],
      locksRoot: expected,
      lockedTotal: 18n,
      isFinal: false,
    };
    expect(stateCommitsToLocks(state, three)).to.equal(true);
    expect(stateCommitsToLocks({ ...state, lockedTotal: 17n }, three)).to.equal(false);
  });

  it("signs with a raw key exactly as an ethers signer does, and recovers the signer", async function () {
    const { chainId, adjudicatorAddress } = await loadFixture(twinFixture);
    await fc.assert(
      fc.asyncProperty(stateArb, withdrawalArb, bytes32, async (state, w, seed) => {
        const key = ethers.keccak256(seed); // a valid key with overwhelming probability
        const wallet = new Wallet(key);
        const fast = signStateWithKey(key, state, chainId, adjudicatorAddress);
        expect(await signState(wallet, state, chainId, adjudicatorAddress)).to.deep.equal(fast);
        expect(recoverStateSigner(state, fast, chainId, adjudicatorAddress)).to.equal(wallet.address);
        expect(verifyStateSignature(state, fast, wallet.address, chainId, adjudicatorAddress)).to.equal(true);
        expect(verifyStateSignature(state, fast, ZeroAddress, chainId, adjudicatorAddress)).to.equal(false);
        expect(
          verifyStateSignature(
            { ...state, isFinal: !state.isFinal },
            fast,
            wallet.address,
            chainId,
            adjudicatorAddress,
          ),
        ).to.equal(false);
        expect(verifyStateSignature(state, fast, wallet.address, chainId + 1n, adjudicatorAddress)).to.equal(false);

        const wFast = signWithdrawalWithKey(key, w, chainId, adjudicatorAddress);
        expect(await signWithdrawal(wallet, w, chainId, adjudicatorAddress)).to.deep.equal(wFast);
        expect(recoverWithdrawalSigner(w, wFast, chainId, adjudicatorAddress)).to.equal(wallet.address);
        expect(verifyWithdrawalSignature(w, wFast, wallet.address, chainId, adjudicatorAddress)).to.equal(true);

        const top: TopUp = { state, expiry: w.expiry };
        const tFast = signTopUpWithKey(key, top, chainId, adjudicatorAddress);
        expect(await signTopUp(wallet, top, chainId, adjudicatorAddress)).to.deep.equal(tFast);
        expect(verifyTopUpSignature(top, tFast, wallet.address, chainId, adjudicatorAddress)).to.equal(true);
        // A top-up signature is not a state signature, nor the other way round.
        expect(verifyStateSignature(state, tFast, wallet.address, chainId, adjudicatorAddress)).to.equal(false);
        expect(verifyTopUpSignature(top, fast, wallet.address, chainId, adjudicatorAddress)).to.equal(false);
        const funding: Funding = {
          channelId: state.channelId,
          participant: w.participant,
          amount: w.amount,
          expiry: w.expiry,
        };
        const fFast = signFundingWithKey(key, funding, chainId, adjudicatorAddress);
        expect(await signFunding(wallet, funding, chainId, adjudicatorAddress)).to.deep.equal(fFast);
        expect(verifyFundingSignature(funding, fFast, wallet.address, chainId, adjudicatorAddress)).to.equal(true);
      }),
      { numRuns: 20 },
    );
  });

  it("accepts and rejects signatures exactly as the adjudicator does", async function () {
    const { adjudicator, alice, bob, chainId, adjudicatorAddress, ...fx } = await loadFixture(twinFixture);
    const ch = await openFunded({ adjudicator, alice, bob, chainId, ...fx }, [1000n, 1000n]);
    const state = ch.state(1n, [1500n, 500n]);
    const good = ch.sign(state);
    const word = (v: bigint) => ethers.toBeHex(v, 32);
    const s0 = BigInt(good[0].vs) & ((1n << 255n) - 1n);
    const parity0 = BigInt(good[0].vs) >> 255n;
    const mutations: fc.Arbitrary<CompactSignature> = fc.oneof(
      fc.constant(good[0]),
      fc.record({ r: bytes32, vs: bytes32 }),
      fc.constant({ r: word(0n), vs: good[0].vs }),
      fc.constant({ r: word(N), vs: good[0].vs }),
      fc.constant({ r: word(N + 1n), vs: good[0].vs }),
      fc.constant({ r: good[0].r, vs: word(parity0 << 255n) }), // s = 0
      fc.constant({ r: good[0].r, vs: word((parity0 << 255n) | (N >> 1n)) }), // s = n/2: the largest accepted
      fc.constant({ r: good[0].r, vs: word((parity0 << 255n) | ((N >> 1n) + 1n)) }), // s = n/2 + 1
      fc.constant({ r: good[0].r, vs: word(((1n - parity0) << 255n) | s0) }), // the other parity
      fc.nat({ max: 511 }).map((bit) => {
        const r = BigInt(good[0].r);
        const vs = BigInt(good[0].vs);
        return bit < 256
          ? { r: word(r ^ (1n << BigInt(bit))), vs: good[0].vs }
          : { r: good[0].r, vs: word(vs ^ (1n << BigInt(bit - 256))) };
      }),
    );
    await fc.assert(
      fc.asyncProperty(mutations, async (sig) => {
        const recovered = recoverStateSigner(state, sig, chainId, adjudicatorAddress);
        const tsAccepts = verifyStateSignatures(
          state,
          [sig, good[1]],
          [alice.address, bob.address],
          chainId,
          adjudicatorAddress,
        );
        let chainRecovered: string | null = null;
        let chainAccepts = true;
        try {
          await adjudicator.register.staticCall(ch.params, state, [sig, good[1]], []);
        } catch (error) {
          chainAccepts = false;
          const parsed = adjudicator.interface.parseError((error as { data: string }).data);
          expect(parsed?.name).to.equal("ChannelAdjudicatorInvalidSignature");
          expect(parsed?.args[1]).to.equal(0n);
          chainRecovered = parsed?.args[2] as string;
        }
        expect(tsAccepts).to.equal(chainAccepts);
        if (chainAccepts) expect(recovered).to.equal(alice.address);
        else expect(recovered ?? ZeroAddress).to.equal(chainRecovered);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses out-of-range fields instead of truncating them", function () {
    const state: ChannelState = {
      channelId: ZERO_BYTES32,
      version: 1n << 64n,
      balances: [0n, 0n],
      locksRoot: ZERO_BYTES32,
      lockedTotal: 0n,
      isFinal: false,
    };
    expect(() => stateStructHash(state)).to.throw(/version out of range/);
    expect(() => stateStructHash({ ...state, version: 1n, balances: [-1n, 0n] })).to.throw(
      /balances\[0\] out of range/,
    );
    expect(() => stateStructHash({ ...state, version: 1n, channelId: "0x1234" })).to.throw(
      /channelId must be 32 bytes/,
    );
    expect(() => lockProof([], 0)).to.throw(/out of range/);
  });
});

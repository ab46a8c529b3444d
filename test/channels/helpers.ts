import { ethers, network } from "hardhat";
import { keccak256, toUtf8Bytes, Wallet, ZeroAddress } from "ethers";
import type { ContractTransactionResponse } from "ethers";
import type { ChannelAdjudicator, ChannelTestToken } from "../../typechain-types";
import {
  channelId,
  lockedTotalOf,
  locksRoot,
  signFundingWithKey,
  signStateWithKey,
  signTopUpWithKey,
  signWithdrawalWithKey,
  ZERO_BYTES32,
  type ChannelParams,
  type ChannelState,
  type CompactSignature,
  type Funding,
  type Lock,
  type TopUp,
  type Withdrawal,
} from "../../src/channels/state";

/** A participant with a known private key (states are signed with the native binding). */
export interface Party {
  wallet: Wallet;
  key: string;
  address: string;
}

/** A deterministic, funded wallet named `name`. */
export async function party(name: string): Promise<Party> {
  const key = keccak256(toUtf8Bytes(`bilayer channels test ${name}`));
  const wallet = new Wallet(key, ethers.provider);
  await network.provider.send("hardhat_setBalance", [wallet.address, "0x" + (10n ** 24n).toString(16)]);
  return { wallet, key, address: wallet.address };
}

export async function deployChannelsFixture() {
  const [deployer, outsider] = await ethers.getSigners();
  const adjudicator = await ethers.deployContract("ChannelAdjudicator");
  const token = await ethers.deployContract("ChannelTestToken", ["Test", "TST"]);
  const alice = await party("alice");
  const bob = await party("bob");
  const mallory = await party("mallory");
  for (const p of [alice, bob, mallory]) {
    await token.mint(p.address, 10n ** 30n);
    await token.connect(p.wallet).approve(await adjudicator.getAddress(), ethers.MaxUint256);
  }
  const chainId = (await ethers.provider.getNetwork()).chainId;
  return { deployer, outsider, adjudicator, token, alice, bob, mallory, chainId };
}

export type ChannelsFixture = Awaited<ReturnType<typeof deployChannelsFixture>>;

let saltCounter = 0n;

/** Channel parameters between `a` and `b` (a fresh salt unless given). */
export function makeParams(a: Party, b: Party, asset = ZeroAddress, challengeDuration = 3600n, salt?: string) {
  saltCounter += 1n;
  const params: ChannelParams = {
    participants: [a.address, b.address],
    asset,
    challengeDuration,
    salt: salt ?? ethers.zeroPadValue(ethers.toBeHex(saltCounter), 32),
  };
  return params;
}

/**
 * One channel seen from the test: its parameters, id and parties, and shorthands to build and co-sign states for it.
 */
export class TestChannel {
  readonly id: string;
  /** The locks each state made by `state()` commits to, so `register` and `refute` can pass them along. */
  private readonly locksOf = new WeakMap<ChannelState, readonly Lock[]>();
  constructor(
    readonly adjudicator: ChannelAdjudicator,
    readonly params: ChannelParams,
    readonly parties: [Party, Party],
    readonly chainId: bigint,
    readonly adjudicatorAddress: string,
  ) {
    this.id = channelId(params, chainId, adjudicatorAddress);
  }

  static async create(fx: ChannelsFixture, params: ChannelParams, parties: [Party, Party]): Promise<TestChannel> {
    return new TestChannel(fx.adjudicator, params, parties, fx.chainId, await fx.adjudicator.getAddress());
  }

  get isEth(): boolean {
    return this.params.asset === ZeroAddress;
  }

  /** A state of this channel. */
  state(version: bigint, balances: [bigint, bigint], locks: readonly Lock[] = [], isFinal = false): ChannelState {
    const state: ChannelState = {
      channelId: this.id,
      version,
      balances,
      locksRoot: locks.length === 0 ? ZERO_BYTES32 : locksRoot(locks),
      lockedTotal: lockedTotalOf(locks),
      isFinal,
    };
    this.locksOf.set(state, locks);
    return state;
  }

  /** The locks `state` was made with (none for a state not made by `state()`). */
  locks(state: ChannelState): Lock[] {
    return [...(this.locksOf.get(state) ?? [])];
  }

  /** Both participants' signatures over `state`. */
  sign(state: ChannelState, signers: [Party, Party] = this.parties): [CompactSignature, CompactSignature] {
    return [
      signStateWithKey(signers[0].key, state, this.chainId, this.adjudicatorAddress),
      signStateWithKey(signers[1].key, state, this.chainId, this.adjudicatorAddress),
    ];
  }

  signTopUp(top: TopUp): [CompactSignature, CompactSignature] {
    return [
      signTopUpWithKey(this.parties[0].key, top, this.chainId, this.adjudicatorAddress),
      signTopUpWithKey(this.parties[1].key, top, this.chainId, this.adjudicatorAddress),
    ];
  }

  /** Participant `by`'s consent to have `amount` pulled into this channel by the other's `openFunded`. */
  funding(by: 0 | 1, amount: bigint, expiry: bigint): { funding: Funding; sig: CompactSignature } {
    const funding: Funding = { channelId: this.id, participant: by, amount, expiry };
    return { funding, sig: signFundingWithKey(this.parties[by].key, funding, this.chainId, this.adjudicatorAddress) };
  }

  signWithdrawal(w: Withdrawal): [CompactSignature, CompactSignature] {
    return [
      signWithdrawalWithKey(this.parties[0].key, w, this.chainId, this.adjudicatorAddress),
      signWithdrawalWithKey(this.parties[1].key, w, this.chainId, this.adjudicatorAddress),
    ];
  }

  /** ETH value to send with a deposit of `amount`. */
  value(amount: bigint): bigint {
    return this.isEth ? amount : 0n;
  }

  open(by: 0 | 1, amount: bigint): Promise<ContractTransactionResponse> {
    return this.adjudicator.connect(this.parties[by].wallet).open(this.params, amount, { value: this.value(amount) });
  }

  fund(by: 0 | 1, amount: bigint): Promise<ContractTransactionResponse> {
    return this.adjudicator.connect(this.parties[by].wallet).fund(this.params, amount, { value: this.value(amount) });
  }

  /** A co-signed top-up to `state` executed by `by` (expiring an hour from the latest block unless given). */
  async topUp(
    state: ChannelState,
    amount: bigint,
    by: 0 | 1 = 0,
    expiry?: bigint,
  ): Promise<ContractTransactionResponse> {
    const top: TopUp = {
      state,
      expiry: expiry ?? BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 3600n,
    };
    return this.adjudicator
      .connect(this.parties[by].wallet)
      .topUp(this.params, top, this.signTopUp(top), amount, { value: this.value(amount) });
  }

  register(state: ChannelState, locks: readonly Lock[] = this.locks(state)): Promise<ContractTransactionResponse> {
    return this.adjudicator.register(this.params, state, this.sign(state), [...locks]);
  }

  refute(state: ChannelState, locks: readonly Lock[] = this.locks(state)): Promise<ContractTransactionResponse> {
    return this.adjudicator.refute(this.params, state, this.sign(state), [...locks]);
  }

  close(state: ChannelState): Promise<ContractTransactionResponse> {
    return this.adjudicator.close(this.params, state, this.sign(state));
  }

  conclude(): Promise<ContractTransactionResponse> {
    return this.adjudicator.conclude(this.params);
  }

  withdraw(participant: 0 | 1): Promise<ContractTransactionResponse> {
    return this.adjudicator.withdraw(this.params, participant);
  }

  info() {
    return this.adjudicator.getChannel(this.id);
  }
}

/** Opens an ETH or token channel between alice and bob funded with `deposits`. */
export async function openFunded(
  fx: ChannelsFixture,
  deposits: [bigint, bigint],
  asset: string = ZeroAddress,
  challengeDuration = 3600n,
): Promise<TestChannel> {
  const ch = await TestChannel.create(fx, makeParams(fx.alice, fx.bob, asset, challengeDuration), [fx.alice, fx.bob]);
  await ch.open(0, deposits[0]);
  if (deposits[1] > 0n) await ch.fund(1, deposits[1]);
  return ch;
}

/** The timestamp of the latest block. */
export async function latestTimestamp(): Promise<bigint> {
  return BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
}

/** A random-looking but deterministic 32-byte secret. */
export function secret(label: string): string {
  return keccak256(toUtf8Bytes(`secret ${label}`));
}

export type { ChannelTestToken };

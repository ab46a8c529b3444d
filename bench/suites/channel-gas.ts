/**
 * Gas of the channel adjudicator's operations, measured from real transaction
 * receipts (`receipt.gasUsed`) on the in-process Hardhat network (hardfork
 * osaka).
 *
 *   run()                       compiles, then measures on `hre.ethers` (for bench/run.ts)
 *   measureChannelGas(ethers)   measures on any Hardhat ethers (the gas test calls it)
 *
 * Happy path: open (+ fund by participant 0, same transaction), fund by
 * participant 1, cooperative close paying both. Dispute path: register, refute
 * with a newer state, conclude. Everything is ETH unless the key says ERC-20.
 *
 * ERC-20 figures use a plain OpenZeppelin token (`ChannelPlainToken`) in an
 * adjudicator that already holds that token for other channels, the steady
 * state; `erc20FirstChannel*` is the first channel of a token, which creates
 * the adjudicator's balance slot (and refunds part of it when it empties). The
 * ERC-20 happy path opens funded by both (`openFunded`, the peer's deposit
 * pulled with its signed consent) and closes; `erc20ThreeStepGas` is open,
 * fund and close as for ETH.
 */
import { keccak256, toUtf8Bytes, Wallet, ZeroAddress } from "ethers";
import type { ContractTransactionResponse } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import {
  channelId,
  hashlockOf,
  lockedTotalOf,
  lockProof,
  locksRoot,
  signFundingWithKey,
  signStateWithKey,
  signTopUpWithKey,
  signWithdrawalWithKey,
  ZERO_BYTES32,
  type ChannelParams,
  type ChannelState,
  type CompactSignature,
  type Lock,
} from "../../src/channels/state";
import type { ChannelAdjudicator, ChannelPlainToken } from "../../typechain-types";

type HardhatEthers = HardhatRuntimeEnvironment["ethers"];

/** Printed by bench/run.ts before the suite runs. */
export const description =
  "Channel adjudicator gas from receipts (in-process Hardhat, osaka): happy path (open+fund, fund, cooperative close) " +
  "and dispute path (register, refute, conclude), targets < 180,000 and < 250,000; ERC-20 life cycle ≤ 180,000";

/** Gas per operation, and the two life-cycle totals the targets are set on. */
export interface ChannelGasReport extends Record<string, number> {
  happyPathGas: number;
  disputePathGas: number;
  openGas: number;
  fundGas: number;
  topUpGas: number;
  cooperativeCloseGas: number;
  registerGas: number;
  refuteGas: number;
  concludeGas: number;
  withdrawGas: number;
  unlockGas: number;
  partialWithdrawGas: number;
  registerDepositsGas: number;
  revealSecretGas: number;
  lastWithdrawGas: number;
  registerWithLocksGas: number;
  erc20OpenGas: number;
  erc20FundGas: number;
  erc20CooperativeCloseGas: number;
  erc20ThreeStepGas: number;
  erc20OpenFundedGas: number;
  erc20HappyPathGas: number;
  erc20FirstChannelHappyPathGas: number;
}

/** The targets of issue 6 (ahead of statechannels Nitro ≈ 187,000 and Perun ≈ 265,000). */
export const HAPPY_PATH_GAS_TARGET = 180_000;
export const DISPUTE_PATH_GAS_TARGET = 250_000;
/** The target of issue 13: an ERC-20 channel's whole life cycle on L1. */
export const ERC20_HAPPY_PATH_GAS_TARGET = 180_000;

const ETH = 10n ** 18n;

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await tx).wait();
  if (receipt === null) throw new Error("transaction dropped");
  return Number(receipt.gasUsed);
}

interface Party {
  wallet: Wallet;
  key: string;
}

/** Measures every operation on a fresh adjudicator deployed with `ethers`. */
export async function measureChannelGas(ethers: HardhatEthers): Promise<ChannelGasReport> {
  const provider = ethers.provider;
  const parties: Party[] = [];
  for (const name of ["alice", "bob", "relayer"]) {
    const key = keccak256(toUtf8Bytes(`bilayer channel-gas bench ${name}`));
    const wallet = new Wallet(key, provider);
    await provider.send("hardhat_setBalance", [wallet.address, "0x" + (10n ** 24n).toString(16)]);
    parties.push({ wallet, key });
  }
  const [alice, bob, relayer] = parties;
  const [deployer] = await ethers.getSigners();
  const adjudicator = (await ethers.deployContract("ChannelAdjudicator", deployer)) as unknown as ChannelAdjudicator;
  const token = (await ethers.deployContract(
    "ChannelPlainToken",
    ["Bench", "BNC"],
    deployer,
  )) as unknown as ChannelPlainToken;
  const adjudicatorAddress = await adjudicator.getAddress();
  const tokenAddress = await token.getAddress();
  const chainId = (await provider.getNetwork()).chainId;
  for (const p of [alice, bob]) {
    await token.mint(p.wallet.address, 10n ** 24n);
    await token.connect(p.wallet).approve(adjudicatorAddress, ethers.MaxUint256);
  }

  let salt = BigInt(keccak256(toUtf8Bytes(`salt ${Date.now()}`)));
  const newParams = (asset: string): ChannelParams => {
    salt += 1n;
    return {
      participants: [alice.wallet.address, bob.wallet.address],
      asset,
      challengeDuration: 3600n,
      salt: ethers.zeroPadValue(ethers.toBeHex(salt), 32),
    };
  };
  const stateOf = (
    params: ChannelParams,
    version: bigint,
    balances: [bigint, bigint],
    locks: Lock[] = [],
    isFinal = false,
  ): ChannelState => ({
    channelId: channelId(params, chainId, adjudicatorAddress),
    version,
    balances,
    locksRoot: locks.length === 0 ? ZERO_BYTES32 : locksRoot(locks),
    lockedTotal: lockedTotalOf(locks),
    isFinal,
  });
  const sign = (state: ChannelState): [CompactSignature, CompactSignature] => [
    signStateWithKey(alice.key, state, chainId, adjudicatorAddress),
    signStateWithKey(bob.key, state, chainId, adjudicatorAddress),
  ];
  const asAlice = adjudicator.connect(alice.wallet);
  const asBob = adjudicator.connect(bob.wallet);
  const asRelayer = adjudicator.connect(relayer.wallet);
  const increaseTime = async (seconds: bigint) => {
    await provider.send("evm_increaseTime", [Number(seconds)]);
  };

  // Happy path (ETH): open + fund by alice, fund by bob, cooperative close paying both.
  const happy = newParams(ZeroAddress);
  const openGas = await gasOf(asAlice.open(happy, ETH, { value: ETH }));
  const fundGas = await gasOf(asBob.fund(happy, ETH, { value: ETH }));
  const final = stateOf(happy, 42n, [ETH / 4n, (7n * ETH) / 4n], [], true);
  const cooperativeCloseGas = await gasOf(asAlice.close(happy, final, sign(final)));

  // ERC-20: the first channel of the token, opened funded by both and closed.
  const fundingOf = async (params: ChannelParams, amount: bigint) => {
    const funding = {
      channelId: channelId(params, chainId, adjudicatorAddress),
      participant: 1 as const,
      amount,
      expiry: BigInt((await provider.getBlock("latest"))!.timestamp) + 3600n,
    };
    return { funding, sig: signFundingWithKey(bob.key, funding, chainId, adjudicatorAddress) };
  };
  const closeBoth = (params: ChannelParams) => {
    const final = stateOf(params, 42n, [ETH / 4n, (7n * ETH) / 4n], [], true);
    return asAlice.close(params, final, sign(final));
  };
  const first = newParams(tokenAddress);
  const firstConsent = await fundingOf(first, ETH);
  const erc20FirstChannelHappyPathGas =
    (await gasOf(asAlice.openFunded(first, ETH, firstConsent.funding, firstConsent.sig))) +
    (await gasOf(closeBoth(first)));
  // Another channel keeps a balance of the token in the adjudicator from here on: the steady state.
  await asAlice.open(newParams(tokenAddress), 1n);
  const dual = newParams(tokenAddress);
  const dualConsent = await fundingOf(dual, ETH);
  const erc20OpenFundedGas = await gasOf(asAlice.openFunded(dual, ETH, dualConsent.funding, dualConsent.sig));
  const erc20DualCloseGas = await gasOf(closeBoth(dual));
  const happyToken = newParams(tokenAddress);
  const erc20OpenGas = await gasOf(asAlice.open(happyToken, ETH));
  const erc20FundGas = await gasOf(asBob.fund(happyToken, ETH));
  const erc20CooperativeCloseGas = await gasOf(closeBoth(happyToken));

  // Top-up and partial withdrawal while open.
  const open = newParams(ZeroAddress);
  await asAlice.open(open, ETH, { value: ETH });
  await asBob.fund(open, ETH, { value: ETH });
  const toppedUp = stateOf(open, 10n, [2n * ETH, ETH]);
  const top = { state: toppedUp, expiry: BigInt((await provider.getBlock("latest"))!.timestamp) + 3600n };
  const topSigs: [CompactSignature, CompactSignature] = [
    signTopUpWithKey(alice.key, top, chainId, adjudicatorAddress),
    signTopUpWithKey(bob.key, top, chainId, adjudicatorAddress),
  ];
  const topUpGas = await gasOf(asAlice.topUp(open, top, topSigs, ETH, { value: ETH }));
  const withdrawal = {
    channelId: toppedUp.channelId,
    version: 11n,
    participant: 1 as const,
    amount: ETH / 2n,
    expiry: BigInt((await provider.getBlock("latest"))!.timestamp) + 3600n,
  };
  const withdrawalSigs: [CompactSignature, CompactSignature] = [
    signWithdrawalWithKey(alice.key, withdrawal, chainId, adjudicatorAddress),
    signWithdrawalWithKey(bob.key, withdrawal, chainId, adjudicatorAddress),
  ];
  const partialWithdrawGas = await gasOf(asBob.partialWithdraw(open, withdrawal, withdrawalSigs));

  // Dispute path (ETH): a stale state is registered, a watchtower refutes it, anyone concludes.
  const disputed = newParams(ZeroAddress);
  await asAlice.open(disputed, ETH, { value: ETH });
  await asBob.fund(disputed, ETH, { value: ETH });
  const stale = stateOf(disputed, 5n, [(3n * ETH) / 2n, ETH / 2n]);
  const registerGas = await gasOf(asAlice.register(disputed, stale, sign(stale), []));
  const newer = stateOf(disputed, 9n, [ETH / 2n, (3n * ETH) / 2n]);
  const refuteGas = await gasOf(asRelayer.refute(disputed, newer, sign(newer), []));
  await increaseTime(3600n);
  const concludeGas = await gasOf(asBob.conclude(disputed));
  const withdrawGas = await gasOf(asBob.withdraw(disputed, 1));
  const lastWithdrawGas = await gasOf(asAlice.withdraw(disputed, 0));

  // The deposit state, for when nothing was ever signed.
  const unsigned = newParams(ZeroAddress);
  await asAlice.open(unsigned, ETH, { value: ETH });
  const registerDepositsGas = await gasOf(asAlice.registerDeposits(unsigned));

  // A lock resolved after a dispute.
  const locked = newParams(ZeroAddress);
  await asAlice.open(locked, ETH, { value: ETH });
  await asBob.fund(locked, ETH, { value: ETH });
  const secret = keccak256(toUtf8Bytes(`secret ${salt}`));
  const now = BigInt((await provider.getBlock("latest"))!.timestamp);
  const locks: Lock[] = [
    { sender: 0, receiver: 1, amount: ETH / 10n, hashlock: hashlockOf(secret), expiry: now + 100_000n },
    { sender: 1, receiver: 0, amount: ETH / 5n, hashlock: keccak256(toUtf8Bytes("other")), expiry: now + 100_000n },
  ];
  const withLocks = stateOf(locked, 3n, [ETH - ETH / 10n, ETH - ETH / 5n], locks);
  const registerWithLocksGas = await gasOf(asAlice.register(locked, withLocks, sign(withLocks), locks));
  await increaseTime(3600n);
  await asAlice.conclude(locked);
  const revealSecretGas = await gasOf(asBob.revealSecret(secret));
  const unlockGas = await gasOf(asBob.unlock(locked, locks[0], 0, lockProof(locks, 0)));

  return {
    happyPathGas: openGas + fundGas + cooperativeCloseGas,
    disputePathGas: registerGas + refuteGas + concludeGas,
    openGas,
    fundGas,
    topUpGas,
    cooperativeCloseGas,
    registerGas,
    refuteGas,
    concludeGas,
    withdrawGas,
    unlockGas,
    partialWithdrawGas,
    registerDepositsGas,
    revealSecretGas,
    lastWithdrawGas,
    registerWithLocksGas,
    erc20OpenGas,
    erc20FundGas,
    erc20CooperativeCloseGas,
    erc20ThreeStepGas: erc20OpenGas + erc20FundGas + erc20CooperativeCloseGas,
    erc20OpenFundedGas,
    erc20HappyPathGas: erc20OpenFundedGas + erc20DualCloseGas,
    erc20FirstChannelHappyPathGas,
  };
}

/** The suite entry point for bench/run.ts: compiles, then measures on the in-process Hardhat network. */
export async function run(): Promise<Record<string, number>> {
  // Loaded lazily so that importing this module (from a Hardhat test) does not re-enter Hardhat's initialisation.
  const hre = (await import("hardhat")).default;
  await hre.run("compile", { quiet: true });
  return measureChannelGas(hre.ethers);
}

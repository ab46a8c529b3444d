// The rollup fixture: the contracts deployed by the same `deployRollup` the deploy script uses, a registered
// ERC-20, and funded L1/L2 users whose private keys sign L2 transactions.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { Signer } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";
import { deployRollup } from "../../../scripts/deploy";
import type { DeployedRollup } from "../../../scripts/deploy";
import { MockERC20__factory, QueueFiller__factory } from "../../../typechain-types";
import type { MockERC20 } from "../../../typechain-types";
import { initHashing } from "../../../src/protocol/hash";
import { RollupModel } from "./model";

export const CHALLENGE_WINDOW_SECONDS = 3600n;
export const FORCED_INCLUSION_DELAY_SECONDS = 600n;
export const PROPOSER_BOND = ethers.parseEther("1");
export const USER_ETH = ethers.parseEther("1000");
export const USER_TOKENS = 10n ** 24n;

/** A deterministic wallet on the test network, funded with `USER_ETH`. */
async function fundedWallet(label: string): Promise<Wallet> {
  const wallet = new Wallet(keccak256(toUtf8Bytes(`bilayer test user ${label}`)), ethers.provider);
  await network.provider.send("hardhat_setBalance", [wallet.address, ethers.toQuantity(USER_ETH)]);
  return wallet;
}

export interface RollupFixture {
  deployment: DeployedRollup;
  deploymentsDir: string;
  deployer: HardhatEthersSigner;
  sequencer: HardhatEthersSigner;
  proposer: HardhatEthersSigner;
  challenger: HardhatEthersSigner;
  outsider: HardhatEthersSigner;
  alice: Wallet;
  bob: Wallet;
  carol: Wallet;
  mallory: Wallet;
  token: MockERC20;
  tokenId: number;
}

/** Deploys everything; use through `loadRollup` (a snapshot per test). */
export async function rollupFixture(): Promise<RollupFixture> {
  await initHashing();
  const [deployer, sequencer, proposer, challenger, outsider] = await ethers.getSigners();
  const deploymentsDir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-deployments-"));
  const deployment = await deployRollup(
    deployer,
    {
      challengeWindowSeconds: CHALLENGE_WINDOW_SECONDS,
      forcedInclusionDelaySeconds: FORCED_INCLUSION_DELAY_SECONDS,
      proposerBond: PROPOSER_BOND,
      sequencer: sequencer.address,
    },
    { network: network.name, deploymentsDir },
  );
  const { bridge } = deployment.handles;
  const token = await new MockERC20__factory(deployer).deploy("Test token", "TST");
  await bridge.registerToken(await token.getAddress());
  const tokenId = Number(await bridge.tokenIdOf(await token.getAddress()));

  const [alice, bob, carol, mallory] = await Promise.all(["alice", "bob", "carol", "mallory"].map(fundedWallet));
  for (const user of [alice, bob, carol, mallory]) {
    await token.mint(user.address, USER_TOKENS);
    await token.connect(user).approve(await bridge.getAddress(), ethers.MaxUint256);
  }
  return {
    deployment,
    deploymentsDir,
    deployer,
    sequencer,
    proposer,
    challenger,
    outsider,
    alice,
    bob,
    carol,
    mallory,
    token,
    tokenId,
  };
}

/**
 * The fixture from its snapshot, plus a fresh off-chain model: loadFixture hands back the same objects after each
 * revert, so anything with off-chain state must be rebuilt per test.
 */
export async function loadRollup(): Promise<RollupFixture & { model: RollupModel }> {
  const fixture = await loadFixture(rollupFixture);
  const model = await RollupModel.create(fixture.deployment.handles);
  return { ...fixture, model };
}

/** Appends `count` ETH deposits of 1 wei each to `recipient` with account hint `hint`, 200 per transaction. */
export async function fillQueue(
  funder: Signer,
  bridge: string,
  recipient: string,
  count: number,
  hint = 0,
): Promise<void> {
  const filler = await new QueueFiller__factory(funder).deploy();
  for (let done = 0; done < count; done += 200) {
    const n = Math.min(200, count - done);
    await filler.depositEthMany(bridge, recipient, hint, n, 1n, { value: BigInt(n) });
  }
}

import { Contract } from "ethers";
import type { ContractTransactionResponse, Provider, Signer, TransactionReceipt } from "ethers";
import { ChannelAdjudicator__factory } from "../../typechain-types/factories/contracts/channels/ChannelAdjudicator__factory";
import type { ChannelAdjudicator } from "../../typechain-types/contracts/channels/ChannelAdjudicator";
import { BilayerError } from "../protocol/errors";
import { ADJUDICATOR_INTERFACE } from "./adjudicator-events";
import { lockProof, ZERO_ADDRESS } from "./state";
import type { ChannelParams, ChannelState, CompactSignature, Funding, Lock, TopUp, Withdrawal } from "./state";
import type { Party } from "./updates";

export { decodeAdjudicatorLog, type AdjudicatorEvent } from "./adjudicator-events";
export { AdjudicatorLogReader, ChainClock, ChainCursor } from "./chain-reader";

/*
 * The adjudicator as the off-chain services see it: transactions sent one at a
 * time from one key, and its views. Its events, decoded from logs alone, are
 * in ./adjudicator-events.ts; the chain's clock and the reading of its logs as
 * it advances in ./chain-reader.ts.
 */

/** `IChannelAdjudicator.Status`. */
export enum ChannelStatus {
  None = 0,
  Open = 1,
  Disputed = 2,
  Concluded = 3,
  Closed = 4,
}

/** `IChannelAdjudicator.ChannelInfo`. */
export interface OnchainChannel {
  status: ChannelStatus;
  holdings: bigint;
  checkpointed: boolean;
  funded: [boolean, boolean];
  deposits: [bigint, bigint];
  version: bigint;
  deadline: bigint;
  balances: [bigint, bigint];
  locksRoot: string;
}

/** A transaction to the adjudicator failed; `reason` is the custom error's name when it reverted with one. */
export class ChainTxError extends BilayerError {
  constructor(
    readonly action: string,
    readonly reason: string | undefined,
    cause: unknown,
  ) {
    super("CHAIN_TX_FAILED", `${action} failed${reason ? `: ${reason}` : ""}`, { context: { action, reason }, cause });
  }
}

/** Gas added to every estimate besides the quarter (the cold accesses a path change can add). */
const GAS_MARGIN = 20_000n;

const ERC20_ABI = [
  "function approve(address spender, uint256 amount) returns (bool)",
  "function allowance(address owner, address spender) view returns (uint256)",
];

/** The reason a contract call reverted: the custom error's name, or the message. */
export function revertReason(err: unknown): string | undefined {
  const e = err as { revert?: { name?: string }; shortMessage?: string; message?: string; data?: string };
  if (e?.revert?.name) return e.revert.name;
  if (typeof e?.data === "string" && e.data.length >= 10) {
    try {
      const parsed = ADJUDICATOR_INTERFACE.parseError(e.data);
      if (parsed) return parsed.name;
    } catch {
      // not one of ours
    }
  }
  return e?.shortMessage ?? e?.message;
}

/**
 * Transactions to the adjudicator from one signer, sent one after another
 * (so two of them never race for a nonce), each awaited until mined.
 */
export class Adjudicator {
  readonly contract: ChannelAdjudicator;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly address: string,
    readonly signer: Signer,
    readonly provider: Provider,
  ) {
    this.contract = ChannelAdjudicator__factory.connect(address, signer);
  }

  private send(action: string, make: () => Promise<ContractTransactionResponse>): Promise<TransactionReceipt> {
    const run = async () => {
      let tx: ContractTransactionResponse;
      try {
        tx = await make();
      } catch (err) {
        throw new ChainTxError(action, revertReason(err), err);
      }
      let receipt: TransactionReceipt | null;
      try {
        receipt = await tx.wait();
      } catch (err) {
        throw new ChainTxError(action, revertReason(err), err);
      }
      if (!receipt || receipt.status !== 1) throw new ChainTxError(action, "reverted", undefined);
      return receipt;
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Sends the adjudicator's `method` with `args`, its gas estimated and given a quarter more: what others do on
   * the same channel between the estimate and the inclusion (a withdrawal, a refutation) can change the path taken.
   */
  private invoke(action: string, method: string, args: unknown[], value = 0n): Promise<TransactionReceipt> {
    return this.send(action, async () => {
      const fn = this.contract.getFunction(method);
      const estimate = await fn.estimateGas(...args, { value });
      return (await fn.send(...args, {
        value,
        gasLimit: (estimate * 5n) / 4n + GAS_MARGIN,
      })) as ContractTransactionResponse;
    });
  }

  /**
   * Makes sure the adjudicator may pull `amount` of an ERC-20 asset from this signer (nothing for ETH): approves
   * that much when the allowance left is smaller.
   */
  async approve(asset: string, amount: bigint): Promise<void> {
    if (asset === ZERO_ADDRESS || amount === 0n) return;
    const token = new Contract(asset, ERC20_ABI, this.signer);
    const owner = await this.signer.getAddress();
    const allowance = (await token.allowance(owner, this.address)) as bigint;
    if (allowance >= amount) return;
    await this.send("approve", () => token.approve(this.address, amount) as Promise<ContractTransactionResponse>);
  }

  async open(params: ChannelParams, amount: bigint): Promise<TransactionReceipt> {
    await this.approve(params.asset, amount);
    const value = params.asset === ZERO_ADDRESS ? amount : 0n;
    return this.invoke("open", "open", [params, amount], value);
  }

  async fund(params: ChannelParams, amount: bigint): Promise<TransactionReceipt> {
    await this.approve(params.asset, amount);
    const value = params.asset === ZERO_ADDRESS ? amount : 0n;
    return this.invoke("fund", "fund", [params, amount], value);
  }

  /** Opens a token channel with this signer's deposit and the peer's, pulled with its signed consent. */
  async openFunded(
    params: ChannelParams,
    amount: bigint,
    funding: Funding,
    sig: CompactSignature,
  ): Promise<TransactionReceipt> {
    await this.approve(params.asset, amount);
    return this.invoke("openFunded", "openFunded", [params, amount, funding, sig]);
  }

  /** Executes a co-signed top-up, paying `amount` from this signer. */
  async topUp(
    params: ChannelParams,
    top: TopUp,
    sigs: readonly CompactSignature[],
    amount: bigint,
  ): Promise<TransactionReceipt> {
    await this.approve(params.asset, amount);
    const value = params.asset === ZERO_ADDRESS ? amount : 0n;
    return this.invoke("topUp", "topUp", [params, top, [sigs[0], sigs[1]], amount], value);
  }

  /** Executes a co-signed partial withdrawal. */
  partialWithdraw(
    params: ChannelParams,
    withdrawal: Withdrawal,
    sigs: readonly CompactSignature[],
  ): Promise<TransactionReceipt> {
    return this.invoke("partialWithdraw", "partialWithdraw", [params, withdrawal, [sigs[0], sigs[1]]]);
  }

  close(params: ChannelParams, state: ChannelState, sigs: readonly CompactSignature[]): Promise<TransactionReceipt> {
    return this.invoke("close", "close", [params, state, [sigs[0], sigs[1]]]);
  }

  /** Registers a co-signed state with the locks it commits to. */
  register(
    params: ChannelParams,
    state: ChannelState,
    sigs: readonly CompactSignature[],
    locks: readonly Lock[],
  ): Promise<TransactionReceipt> {
    return this.invoke("register", "register", [params, state, [sigs[0], sigs[1]], [...locks]]);
  }

  registerDeposits(params: ChannelParams): Promise<TransactionReceipt> {
    return this.invoke("registerDeposits", "registerDeposits", [params]);
  }

  /** Refutes the registered state with a newer co-signed one and the locks it commits to. */
  refute(
    params: ChannelParams,
    state: ChannelState,
    sigs: readonly CompactSignature[],
    locks: readonly Lock[],
  ): Promise<TransactionReceipt> {
    return this.invoke("refute", "refute", [params, state, [sigs[0], sigs[1]], [...locks]]);
  }

  conclude(params: ChannelParams): Promise<TransactionReceipt> {
    return this.invoke("conclude", "conclude", [params]);
  }

  withdraw(params: ChannelParams, participant: Party): Promise<TransactionReceipt> {
    return this.invoke("withdraw", "withdraw", [params, participant]);
  }

  revealSecret(secret: string): Promise<TransactionReceipt> {
    return this.invoke("revealSecret", "revealSecret", [secret]);
  }

  /** Resolves `locks[index]` of a concluded channel whose registered state committed to `locks`. */
  unlock(params: ChannelParams, locks: readonly Lock[], index: number): Promise<TransactionReceipt> {
    const proof = lockProof(locks, index);
    return this.invoke("unlock", "unlock", [params, locks[index], index, proof]);
  }

  async getChannel(channelId: string): Promise<OnchainChannel> {
    const info = await this.contract.getChannel(channelId);
    return {
      status: Number(info.status) as ChannelStatus,
      holdings: info.holdings,
      checkpointed: info.checkpointed,
      funded: [info.funded[0], info.funded[1]],
      deposits: [info.deposits[0], info.deposits[1]],
      version: info.version,
      deadline: info.deadline,
      balances: [info.balances[0], info.balances[1]],
      locksRoot: info.locksRoot.toLowerCase(),
    };
  }

  async secretRevealedAt(hashlock: string): Promise<bigint> {
    return this.contract.secretRevealedAt(hashlock);
  }

  async isLockSettled(channelId: string, index: number): Promise<boolean> {
    return this.contract.isLockSettled(channelId, index);
  }
}

import { Contract, getAddress, Interface } from "ethers";
import type { ContractTransactionResponse, Log, Provider, Signer, TransactionReceipt } from "ethers";
import { ChannelAdjudicator__factory } from "../../typechain-types/factories/contracts/channels/ChannelAdjudicator__factory";
import type { ChannelAdjudicator } from "../../typechain-types/contracts/channels/ChannelAdjudicator";
import { BilayerError } from "../protocol/errors";
import { lockProof, ZERO_ADDRESS } from "./state";
import type { LevelStore } from "../common/store";
import type { ChannelParams, ChannelState, CompactSignature, Funding, Lock, TopUp, Withdrawal } from "./state";
import type { Party } from "./updates";

/*
 * The adjudicator as the off-chain services see it: transactions sent one at a
 * time from one key, views, the chain's clock, and its events decoded from
 * logs alone (what a watchtower needs: every event carries the full state).
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

/** One decoded adjudicator event, with where it was logged. */
export type AdjudicatorEvent = { block: number; logIndex: number; txHash: string } & (
  | { name: "ChannelOpened"; channelId: string; params: ChannelParams; depositor: Party; amount: bigint }
  | { name: "Deposited"; channelId: string; participant: Party; amount: bigint; holdings: bigint }
  | { name: "ToppedUp"; channelId: string; state: ChannelState; amount: bigint; holdings: bigint }
  | { name: "PartiallyWithdrawn"; channelId: string; version: bigint; participant: Party; amount: bigint }
  | { name: "ChallengeRegistered"; channelId: string; state: ChannelState; deadline: bigint }
  | { name: "ChallengeRefuted"; channelId: string; state: ChannelState; deadline: bigint }
  | { name: "ChannelConcluded"; channelId: string; version: bigint; balances: [bigint, bigint]; lockedTotal: bigint }
  | { name: "ChannelClosed"; channelId: string; state: ChannelState }
  | { name: "PayoutCredited"; channelId: string; participant: Party; amount: bigint }
  | { name: "Withdrawn"; channelId: string; participant: Party; amount: bigint }
  | { name: "LockSettled"; channelId: string; index: bigint; lock: Lock; paidTo: Party }
  | { name: "SecretRevealed"; hashlock: string; secret: string; revealedAt: bigint }
);

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

const ADJUDICATOR_INTERFACE: Interface = ChannelAdjudicator__factory.createInterface() as unknown as Interface;
/** Gas added to every estimate besides the quarter (the cold accesses a path change can add). */
const GAS_MARGIN = 20_000n;

const ERC20_ABI = [
  "function approve(address spender, uint256 amount) returns (bool)",
  "function allowance(address owner, address spender) view returns (uint256)",
];

interface Struct {
  [key: string]: unknown;
}

function party(v: unknown): Party {
  return Number(v) === 1 ? 1 : 0;
}

function stateFromResult(r: unknown): ChannelState {
  const s = r as Struct;
  const b = s.balances as bigint[];
  return {
    channelId: String(s.channelId).toLowerCase(),
    version: BigInt(s.version as bigint),
    balances: [BigInt(b[0]), BigInt(b[1])],
    locksRoot: String(s.locksRoot).toLowerCase(),
    lockedTotal: BigInt(s.lockedTotal as bigint),
    isFinal: Boolean(s.isFinal),
  };
}

function paramsFromResult(r: unknown): ChannelParams {
  const p = r as Struct;
  const parts = p.participants as string[];
  return {
    participants: [getAddress(parts[0]), getAddress(parts[1])],
    asset: getAddress(String(p.asset)),
    challengeDuration: BigInt(p.challengeDuration as bigint),
    salt: String(p.salt).toLowerCase(),
  };
}

function lockFromResult(r: unknown): Lock {
  const l = r as Struct;
  return {
    sender: party(l.sender),
    receiver: party(l.receiver),
    amount: BigInt(l.amount as bigint),
    hashlock: String(l.hashlock).toLowerCase(),
    expiry: BigInt(l.expiry as bigint),
  };
}

/** Decodes one adjudicator log, or `undefined` for a log it does not know. */
export function decodeAdjudicatorLog(log: Log): AdjudicatorEvent | undefined {
  let parsed;
  try {
    parsed = ADJUDICATOR_INTERFACE.parseLog({ topics: [...log.topics], data: log.data });
  } catch {
    return undefined;
  }
  if (!parsed) return undefined;
  const a = parsed.args as unknown as Struct;
  const at = { block: log.blockNumber, logIndex: log.index, txHash: log.transactionHash };
  const id = () => String(a.channelId).toLowerCase();
  switch (parsed.name) {
    case "ChannelOpened":
      return {
        ...at,
        name: "ChannelOpened",
        channelId: id(),
        params: paramsFromResult(a.params),
        depositor: party(a.depositor),
        amount: BigInt(a.amount as bigint),
      };
    case "Deposited":
      return {
        ...at,
        name: "Deposited",
        channelId: id(),
        participant: party(a.participant),
        amount: BigInt(a.amount as bigint),
        holdings: BigInt(a.holdings as bigint),
      };
    case "ToppedUp":
      return {
        ...at,
        name: "ToppedUp",
        channelId: id(),
        state: stateFromResult(a.state),
        amount: BigInt(a.amount as bigint),
        holdings: BigInt(a.holdings as bigint),
      };
    case "PartiallyWithdrawn": {
      const w = a.withdrawal as Struct;
      return {
        ...at,
        name: "PartiallyWithdrawn",
        channelId: id(),
        version: BigInt(w.version as bigint),
        participant: party(w.participant),
        amount: BigInt(w.amount as bigint),
      };
    }
    case "ChallengeRegistered":
    case "ChallengeRefuted":
      return {
        ...at,
        name: parsed.name,
        channelId: id(),
        state: stateFromResult(a.state),
        deadline: BigInt(a.deadline as bigint),
      };
    case "ChannelConcluded": {
      const b = a.balances as bigint[];
      return {
        ...at,
        name: "ChannelConcluded",
        channelId: id(),
        version: BigInt(a.version as bigint),
        balances: [BigInt(b[0]), BigInt(b[1])],
        lockedTotal: BigInt(a.lockedTotal as bigint),
      };
    }
    case "ChannelClosed":
      return { ...at, name: "ChannelClosed", channelId: id(), state: stateFromResult(a.state) };
    case "PayoutCredited":
    case "Withdrawn":
      return {
        ...at,
        name: parsed.name,
        channelId: id(),
        participant: party(a.participant),
        amount: BigInt(a.amount as bigint),
      };
    case "LockSettled":
      return {
        ...at,
        name: "LockSettled",
        channelId: id(),
        index: BigInt(a.index as bigint),
        lock: lockFromResult(a.lock),
        paidTo: party(a.paidTo),
      };
    case "SecretRevealed":
      return {
        ...at,
        name: "SecretRevealed",
        hashlock: String(a.hashlock).toLowerCase(),
        secret: String(a.secret).toLowerCase(),
        revealedAt: BigInt(a.revealedAt as bigint),
      };
    default:
      return undefined;
  }
}

/**
 * The chain's notion of now: the latest block's timestamp, advanced by the
 * wall clock since it was read (a dev chain's time can jump ahead of the wall
 * clock, so the local clock alone is not enough).
 */
export class ChainClock {
  private timestamp = 0n;
  private readAt = 0;

  /** Records a block timestamp seen now. */
  observe(timestamp: bigint): void {
    if (timestamp >= this.timestamp) {
      this.timestamp = timestamp;
      this.readAt = Date.now();
    }
  }

  /** The estimated current chain time, seconds. */
  now(): bigint {
    if (this.readAt === 0) return BigInt(Math.floor(Date.now() / 1000));
    return this.timestamp + BigInt(Math.floor((Date.now() - this.readAt) / 1000));
  }

  async refresh(provider: Provider): Promise<bigint> {
    const block = await provider.getBlock("latest");
    if (block) this.observe(BigInt(block.timestamp));
    return this.now();
  }
}

/** The last block whose adjudicator events a service has handled, kept in its store under `meta:cursor`. */
export class ChainCursor {
  /** The block number; -1 before the first `init`. */
  block = -1;

  constructor(private readonly store: LevelStore) {}

  /** Reads the stored cursor, if any. */
  async load(): Promise<void> {
    const stored = await this.store.get("meta:cursor");
    if (stored !== undefined) this.block = Number(stored);
  }

  /** Without a stored cursor, starts before `startBlock` (when given) or at the current head, and stores that. */
  async init(provider: Provider, startBlock: number | undefined): Promise<void> {
    if (this.block >= 0) return;
    this.block = startBlock !== undefined ? startBlock - 1 : await provider.getBlockNumber();
    await this.store.write([{ type: "put", key: "meta:cursor", value: String(this.block) }]);
  }

  /** Moves the cursor to `toBlock` (the events up to it are handled) and stores it; never moves it back. */
  async advance(toBlock: number): Promise<void> {
    if (toBlock <= this.block) return;
    this.block = toBlock;
    await this.store.write([{ type: "put", key: "meta:cursor", value: String(toBlock) }]);
  }
}

/** Reads adjudicator logs block range by block range; the owner keeps the cursor. */
export class AdjudicatorLogReader {
  constructor(
    private readonly provider: Provider,
    private readonly adjudicator: string,
    private readonly confirmations = 0,
    private readonly maxRange = 2_000,
  ) {}

  /**
   * The events in blocks `fromBlock..` up to the confirmed head, the last block read and its timestamp: no event
   * that is not in `events` can ever appear in a block at or before `toBlock`, so whatever must have happened by a
   * time at or before `timestamp` and is not there never happened.
   */
  async read(
    fromBlock: number,
    clock?: ChainClock,
  ): Promise<{ events: AdjudicatorEvent[]; toBlock: number; timestamp: bigint }> {
    const head = await this.provider.getBlock("latest");
    if (!head) return { events: [], toBlock: fromBlock - 1, timestamp: 0n };
    clock?.observe(BigInt(head.timestamp));
    const last = head.number - this.confirmations;
    let timestamp = BigInt(head.timestamp);
    if (this.confirmations > 0) {
      const block = last >= 0 ? await this.provider.getBlock(last) : null;
      timestamp = block ? BigInt(block.timestamp) : 0n;
    }
    const events: AdjudicatorEvent[] = [];
    let from = fromBlock;
    while (from <= last) {
      const to = Math.min(last, from + this.maxRange - 1);
      const logs = await this.provider.getLogs({ address: this.adjudicator, fromBlock: from, toBlock: to });
      for (const log of logs) {
        const ev = decodeAdjudicatorLog(log);
        if (ev) events.push(ev);
      }
      from = to + 1;
    }
    events.sort((x, y) => x.block - y.block || x.logIndex - y.logIndex);
    return { events, toBlock: Math.max(last, fromBlock - 1), timestamp };
  }
}

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

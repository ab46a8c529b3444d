import type { Interface, Log } from "ethers";
import { getAddress } from "ethers";
import { ChannelAdjudicator__factory } from "../../typechain-types/factories/contracts/channels/ChannelAdjudicator__factory";
import type { ChannelParams, ChannelState, Lock } from "./state";
import type { Party } from "./updates";

/*
 * The adjudicator's events, decoded from logs alone: every event carries the
 * full state it is about, which is what a watchtower needs.
 */

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

/** The adjudicator's ABI: its functions, events and custom errors. */
export const ADJUDICATOR_INTERFACE: Interface = ChannelAdjudicator__factory.createInterface() as unknown as Interface;

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

import { BilayerError } from "../protocol/errors";
import { LevelStore } from "../common/store";
import {
  asArray,
  asBytes32,
  asObject,
  asParty,
  asString,
  asUint,
  decodeLock,
  decodeMemo,
  decodeParams,
  decodeSig,
  decodeSigned,
  decodeSnapshot,
  decodeUpdate,
  encodeLock,
  encodeMemo,
  encodeParams,
  encodeSig,
  encodeSigned,
  encodeSnapshot,
  encodeUpdate,
  asAddress,
  type ForwardMemo,
  type Json,
} from "./wire";
import { InvalidMessageError } from "./wire";
import type { ChannelParams, CompactSignature, Lock } from "./state";
import {
  isResize,
  type ChannelUpdate,
  type Party,
  type ResizeUpdate,
  type SignedSnapshot,
  type Snapshot,
} from "./updates";

/*
 * What a channel client keeps in its store, and the keys it keeps it under.
 * Values are JSON (wire encodings); keys are ASCII and sort by version where
 * order matters.
 *
 *   ch:<id>                 ChannelRecord       the channel's parameters and life-cycle status
 *   full:<id>               SignedSnapshot      the latest state signed by both
 *   pend:<id>:<version>     ProposalRecord      a state the leader signed and sent, not yet countersigned
 *   void:<id>:<version>     ProposalRecord      a refused proposal the peer may hold countersigned, until superseded
 *   rsz:<id>                PendingResize       a co-signed top-up or withdrawal waiting for the chain
 *   sv:<id>                 decimal             the highest version this client ever signed in the channel
 *   req:<id>:<ref>          RequestRecord       an update the follower asked the leader for
 *   locks:<id>:<root>       Lock[]              the locks behind a locks root (to unlock an older registered state)
 *   lk:<id>:<hashlock>      LockMeta            what this client does with one of its locks
 *   secret:<hashlock>       bytes32             a known secret
 *   inv:<hashlock>          InvoiceRecord       a payment this client expects
 *   route:<hashlock>        RouteRecord         a payment this client sends over a route
 *   meta:cursor             decimal             the last block whose events were processed
 */

export type ChannelPhase = "opening" | "open" | "closing" | "disputed" | "concluded" | "closed";

const PHASES: ChannelPhase[] = ["opening", "open", "closing", "disputed", "concluded", "closed"];

export interface ChannelRecord {
  id: string;
  params: ChannelParams;
  /** This client's participant index. Participant 0 leads: it builds and signs every new state first. */
  me: Party;
  peer: string;
  /** The deposits both agreed on when opening; the channel is usable once the chain holds exactly these. */
  deposits: [bigint, bigint];
  phase: ChannelPhase;
  /** Chain time (s) when the final state was signed, for the fallback close by the other side. */
  finalAt?: bigint;
  /** The locks root of the channel's outcome once it is fixed on chain (zero after a cooperative close). */
  outcomeRoot?: string;
}

export function encodeChannel(r: ChannelRecord): string {
  return JSON.stringify({
    id: r.id,
    params: encodeParams(r.params),
    me: r.me,
    peer: r.peer,
    deposits: [r.deposits[0].toString(), r.deposits[1].toString()],
    phase: r.phase,
    ...(r.finalAt === undefined ? {} : { finalAt: r.finalAt.toString() }),
    ...(r.outcomeRoot === undefined ? {} : { outcomeRoot: r.outcomeRoot }),
  });
}

export function decodeChannel(text: string): ChannelRecord {
  const o = asObject(JSON.parse(text), "channel");
  const d = asArray(o.deposits, "deposits", 2);
  const phase = asString(o.phase, "phase") as ChannelPhase;
  if (!PHASES.includes(phase)) throw new BilayerError("STORE_CORRUPT", `unknown channel phase ${phase}`);
  return {
    id: asBytes32(o.id, "id"),
    params: decodeParams(o.params),
    me: asParty(o.me, "me"),
    peer: asAddress(o.peer, "peer"),
    deposits: [asUint(d[0], "deposits[0]"), asUint(d[1], "deposits[1]")],
    phase,
    ...(o.finalAt === undefined ? {} : { finalAt: asUint(o.finalAt, "finalAt") }),
    ...(o.outcomeRoot === undefined ? {} : { outcomeRoot: asBytes32(o.outcomeRoot, "outcomeRoot") }),
  };
}

/** A state the leader signed and sent; it is committed once the follower's signature comes back. */
export interface ProposalRecord {
  version: bigint;
  baseVersion: bigint;
  update: ChannelUpdate;
  /** Who asked for the update. */
  by: Party;
  /** The follower's reference of its request (when `by` is the follower). */
  ref?: string;
  memo?: ForwardMemo;
  next: Snapshot;
  sig: CompactSignature;
  /** A resize: the leader's signature over its on-chain message. */
  resizeSig?: CompactSignature;
}

export function encodeProposal(p: ProposalRecord): string {
  const o: Record<string, Json> = {
    version: p.version.toString(),
    baseVersion: p.baseVersion.toString(),
    update: encodeUpdate(p.update),
    by: p.by,
    next: encodeSnapshot(p.next),
    sig: encodeSig(p.sig),
  };
  if (p.ref !== undefined) o.ref = p.ref;
  if (p.memo !== undefined) o.memo = encodeMemo(p.memo);
  if (p.resizeSig !== undefined) o.resizeSig = encodeSig(p.resizeSig);
  return JSON.stringify(o);
}

export function decodeProposal(text: string): ProposalRecord {
  const o = asObject(JSON.parse(text), "proposal");
  return {
    version: asUint(o.version, "version"),
    baseVersion: asUint(o.baseVersion, "baseVersion"),
    update: decodeUpdate(o.update),
    by: asParty(o.by, "by"),
    ...(o.ref === undefined ? {} : { ref: asString(o.ref, "ref", 66) }),
    ...(o.memo === undefined ? {} : { memo: decodeMemo(o.memo) }),
    next: decodeSnapshot(o.next, "next"),
    sig: decodeSig(o.sig),
    ...(o.resizeSig === undefined ? {} : { resizeSig: decodeSig(o.resizeSig, "resizeSig") }),
  };
}

/** A resize signed by both, twice: the resized state, and the on-chain message (`TopUp` or `Withdrawal`). */
export interface PendingResize {
  update: ResizeUpdate;
  signed: SignedSnapshot;
  /** Participant 0's and participant 1's signatures over the on-chain message. */
  resizeSigs: [CompactSignature, CompactSignature];
}

export function encodeResizeJson(r: PendingResize): Json {
  return {
    update: encodeUpdate(r.update),
    signed: encodeSigned(r.signed),
    resizeSigs: [encodeSig(r.resizeSigs[0]), encodeSig(r.resizeSigs[1])],
  };
}

export function decodeResizeJson(value: unknown): PendingResize {
  const o = asObject(value, "resize");
  const update = decodeUpdate(o.update, "resize.update");
  if (!isResize(update))
    throw new InvalidMessageError("resize.update must be a deposit or a withdrawal", "resize.update");
  const sigs = asArray(o.resizeSigs, "resize.resizeSigs", 2);
  if (sigs.length !== 2) throw new InvalidMessageError("resize.resizeSigs must have 2 entries", "resize.resizeSigs");
  return {
    update,
    signed: decodeSigned(o.signed, "resize.signed"),
    resizeSigs: [decodeSig(sigs[0], "resize.resizeSigs[0]"), decodeSig(sigs[1], "resize.resizeSigs[1]")],
  };
}

export function encodeResize(r: PendingResize): string {
  return JSON.stringify(encodeResizeJson(r));
}

export function decodeResize(text: string): PendingResize {
  return decodeResizeJson(JSON.parse(text));
}

/** An update the follower asked the leader to make. */
export interface RequestRecord {
  ref: string;
  update: ChannelUpdate;
  memo?: ForwardMemo;
}

export function encodeRequest(r: RequestRecord): string {
  return JSON.stringify({
    ref: r.ref,
    update: encodeUpdate(r.update),
    ...(r.memo === undefined ? {} : { memo: encodeMemo(r.memo) }),
  });
}

export function decodeRequest(text: string): RequestRecord {
  const o = asObject(JSON.parse(text), "request");
  return {
    ref: asString(o.ref, "ref", 66),
    update: decodeUpdate(o.update),
    ...(o.memo === undefined ? {} : { memo: decodeMemo(o.memo) }),
  };
}

/** A state signed by both (`full:`, and the watchtower's `wst:`). */
export function encodeSignedRecord(s: SignedSnapshot): string {
  return JSON.stringify(encodeSigned(s));
}

export function decodeSignedRecord(text: string): SignedSnapshot {
  return decodeSigned(JSON.parse(text));
}

/** The highest version this client signed in a channel (`sv:`), a decimal. */
export function encodeSignedVersion(version: bigint): string {
  return version.toString();
}

export function decodeSignedVersion(text: string): bigint {
  return BigInt(text);
}

/** The locks behind a locks root (`locks:`), in the tree's order. */
export function encodeLocksRecord(locks: readonly Lock[]): string {
  return JSON.stringify(locks.map(encodeLock));
}

export function decodeLocksRecord(text: string): Lock[] {
  return (JSON.parse(text) as unknown[]).map((l, i) => decodeLock(l, `locks[${i}]`));
}

/** The parameters of a channel the watchtower watches (`wch:`). */
export function encodeParamsRecord(params: ChannelParams): string {
  return JSON.stringify(encodeParams(params));
}

export function decodeParamsRecord(text: string): ChannelParams {
  return decodeParams(JSON.parse(text));
}

/**
 * What a client does with one lock of one channel.
 *  - sender side: `pending` until the lock's fate is certain (./settlement.ts), then `settled` or `cancelled`.
 *  - receiver side: `received` → `accepted` (payee, will settle) | `rejected` (will cancel)
 *    | `forwarding` → `forwarded` (next hop locked) | `forward-failed` (will cancel).
 */
export type LockStatus =
  | "pending"
  | "received"
  | "accepted"
  | "rejected"
  | "forwarding"
  | "forwarded"
  | "forward-failed"
  | "settled"
  | "cancelled";

const LOCK_STATUSES: LockStatus[] = [
  "pending",
  "received",
  "accepted",
  "rejected",
  "forwarding",
  "forwarded",
  "forward-failed",
  "settled",
  "cancelled",
];

export interface LockMeta {
  channelId: string;
  hashlock: string;
  role: "sender" | "receiver";
  status: LockStatus;
  /** Receiver side: the routing instructions that came with the lock. */
  memo?: ForwardMemo;
  /** Forwarder, on the incoming lock: the channel of the outgoing lock. */
  outgoing?: string;
  /** Forwarder, on the outgoing lock: the channel of the incoming lock. */
  incoming?: string;
  /** Why the lock is being cancelled. */
  reason?: string;
  /** Sender side: the lock's amount and expiry (the lock may leave every state before its fate is certain). */
  amount?: bigint;
  expiry?: bigint;
  /** Sender side: a state with the lock was signed by this client, so its signature may have left. */
  offered?: boolean;
  /** Forwarder, on the outgoing lock: how many times the forward was attempted. */
  attempts?: number;
}

export function encodeLockMeta(m: LockMeta): string {
  return JSON.stringify({
    channelId: m.channelId,
    hashlock: m.hashlock,
    role: m.role,
    status: m.status,
    ...(m.memo === undefined ? {} : { memo: encodeMemo(m.memo) }),
    ...(m.outgoing === undefined ? {} : { outgoing: m.outgoing }),
    ...(m.incoming === undefined ? {} : { incoming: m.incoming }),
    ...(m.reason === undefined ? {} : { reason: m.reason }),
    ...(m.amount === undefined ? {} : { amount: m.amount.toString() }),
    ...(m.expiry === undefined ? {} : { expiry: m.expiry.toString() }),
    ...(m.offered === undefined ? {} : { offered: m.offered }),
    ...(m.attempts === undefined ? {} : { attempts: m.attempts }),
  });
}

export function decodeLockMeta(text: string): LockMeta {
  const o = asObject(JSON.parse(text), "lock meta");
  const status = asString(o.status, "status") as LockStatus;
  if (!LOCK_STATUSES.includes(status)) throw new BilayerError("STORE_CORRUPT", `unknown lock status ${status}`);
  const role = asString(o.role, "role");
  if (role !== "sender" && role !== "receiver") throw new BilayerError("STORE_CORRUPT", `unknown lock role ${role}`);
  return {
    channelId: asBytes32(o.channelId, "channelId"),
    hashlock: asBytes32(o.hashlock, "hashlock"),
    role,
    status,
    ...(o.memo === undefined ? {} : { memo: decodeMemo(o.memo) }),
    ...(o.outgoing === undefined ? {} : { outgoing: asBytes32(o.outgoing, "outgoing") }),
    ...(o.incoming === undefined ? {} : { incoming: asBytes32(o.incoming, "incoming") }),
    ...(o.reason === undefined ? {} : { reason: asString(o.reason, "reason", 500) }),
    ...(o.amount === undefined ? {} : { amount: asUint(o.amount, "amount") }),
    ...(o.expiry === undefined ? {} : { expiry: asUint(o.expiry, "expiry") }),
    ...(o.offered === undefined ? {} : { offered: o.offered === true }),
    ...(o.attempts === undefined ? {} : { attempts: Number(o.attempts) }),
  };
}

export interface InvoiceRecord {
  hashlock: string;
  amount: bigint;
  status: "open" | "paid";
}

export function encodeInvoice(i: InvoiceRecord): string {
  return JSON.stringify({ hashlock: i.hashlock, amount: i.amount.toString(), status: i.status });
}

export function decodeInvoice(text: string): InvoiceRecord {
  const o = asObject(JSON.parse(text), "invoice");
  const status = asString(o.status, "status");
  if (status !== "open" && status !== "paid")
    throw new BilayerError("STORE_CORRUPT", `unknown invoice status ${status}`);
  return { hashlock: asBytes32(o.hashlock, "hashlock"), amount: asUint(o.amount, "amount"), status };
}

export interface RouteRecord {
  hashlock: string;
  /** The channel of the first hop. */
  channelId: string;
  /** What the payee receives. */
  amount: bigint;
  /** What the first hop's lock holds (amount plus fees). */
  sent: bigint;
  route: string[];
  status: "pending" | "completed" | "refunded";
  secret?: string;
  /** Why it was refunded. */
  reason?: string;
}

export function encodeRoute(r: RouteRecord): string {
  return JSON.stringify({
    hashlock: r.hashlock,
    channelId: r.channelId,
    amount: r.amount.toString(),
    sent: r.sent.toString(),
    route: r.route,
    status: r.status,
    ...(r.secret === undefined ? {} : { secret: r.secret }),
    ...(r.reason === undefined ? {} : { reason: r.reason }),
  });
}

export function decodeRoute(text: string): RouteRecord {
  const o = asObject(JSON.parse(text), "route");
  const status = asString(o.status, "status");
  if (status !== "pending" && status !== "completed" && status !== "refunded") {
    throw new BilayerError("STORE_CORRUPT", `unknown route status ${status}`);
  }
  return {
    hashlock: asBytes32(o.hashlock, "hashlock"),
    channelId: asBytes32(o.channelId, "channelId"),
    amount: asUint(o.amount, "amount"),
    sent: asUint(o.sent, "sent"),
    route: asArray(o.route, "route", 16).map((a, i) => asAddress(a, `route[${i}]`)),
    status,
    ...(o.secret === undefined ? {} : { secret: asBytes32(o.secret, "secret") }),
    ...(o.reason === undefined ? {} : { reason: asString(o.reason, "reason", 500) }),
  };
}

/** A version as fixed-width hex, so keys sort by version. */
export function versionKey(version: bigint): string {
  return version.toString(16).padStart(16, "0");
}

/**
 * The keys of a channel client's (and watchtower's) store: every key is built here and read back with
 * {@link keyParts}. Channel ids and hashlocks are 0x-hex, so `:` separates the parts.
 */
export const storeKey = {
  /** ChannelRecord. */
  channel: (channelId: string): string => `ch:${channelId}`,
  /** The latest state signed by both (SignedRecord). */
  full: (channelId: string): string => `full:${channelId}`,
  /** The highest version this client signed (decimal). */
  signedVersion: (channelId: string): string => `sv:${channelId}`,
  /** A resize waiting for the chain. */
  resize: (channelId: string): string => `rsz:${channelId}`,
  /** A proposal signed by the leader, not yet complete (ProposalRecord). */
  pending: (channelId: string, version: bigint): string => `pend:${channelId}:${versionKey(version)}`,
  /** A proposal given up, kept until a later state supersedes it. */
  voided: (channelId: string, version: bigint): string => `void:${channelId}:${versionKey(version)}`,
  /** A follower's request of an update (RequestRecord). */
  request: (channelId: string, ref: string): string => `req:${channelId}:${ref}`,
  /** A secret this client knows. */
  secret: (hashlock: string): string => `secret:${hashlock}`,
  /** What this client knows of a lock (LockMeta), by its {@link lockId}. */
  lockMeta: (id: string): string => `lk:${id}`,
  /** The locks of a state, by the {@link lockId} of its channel and locks root. */
  locks: (id: string): string => `locks:${id}`,
  /** An invoice (InvoiceRecord). */
  invoice: (hashlock: string): string => `inv:${hashlock}`,
  /** A route this client pays or forwards (RouteRecord). */
  route: (hashlock: string): string => `route:${hashlock}`,
  /** Watchtower: the parameters of a channel it watches. */
  watchedChannel: (channelId: string): string => `wch:${channelId}`,
  /** Watchtower: the latest state of a channel it watches. */
  watchedState: (channelId: string): string => `wst:${channelId}`,
} as const;

/** A lock of a channel (`hashlock`), or a channel's set of locks (`locksRoot`), as the client's maps key them. */
export function lockId(channelId: string, hashlockOrRoot: string): string {
  return `${channelId}:${hashlockOrRoot}`;
}

/** The prefix of each kind of key, for listing them. */
export const storePrefix = {
  channel: "ch:",
  full: "full:",
  signedVersion: "sv:",
  resize: "rsz:",
  pending: "pend:",
  voided: "void:",
  request: "req:",
  secret: "secret:",
  lockMeta: "lk:",
  locks: "locks:",
  invoice: "inv:",
  route: "route:",
  watchedChannel: "wch:",
  watchedState: "wst:",
} as const satisfies Record<keyof typeof storeKey, string>;

/** The parts of a key built by {@link storeKey}: the one after the prefix (a channel id, a hashlock, a root) and the rest. */
export function keyParts(key: string): { id: string; rest: string | undefined } {
  const parts = key.split(":");
  return { id: parts[1], rest: parts.length > 2 ? parts.slice(2).join(":") : undefined };
}

/**
 * Opens the durable store of a channel client or watchtower: the services' group-commit store, writing only the
 * last operation on each key of a flush (a channel's latest state is written once however many updates it took).
 */
export function openChannelStore(location: string): Promise<LevelStore> {
  return LevelStore.open(location, { collapseKeys: true });
}

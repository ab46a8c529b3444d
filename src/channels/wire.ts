import { getAddress } from "ethers";
import { BilayerError } from "../protocol/errors";
import { MAX_LOCKS, type ChannelUpdate, type Party, type SignedSnapshot, type Snapshot } from "./updates";
import type { ChannelParams, ChannelState, CompactSignature, Lock } from "./state";

/*
 * JSON encodings of channel values, for the peer protocol, the watchtower and
 * the store: amounts and versions as decimal strings, bytes as 0x hex. Every
 * decoder checks its input completely and throws {@link InvalidMessageError}
 * naming the field, so nothing malformed reaches the state machine.
 */

/** An inbound value that does not have the expected shape. */
export class InvalidMessageError extends BilayerError {
  constructor(message: string, field: string) {
    super("INVALID_MESSAGE", message, { context: { field } });
  }
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const U64_MAX = (1n << 64n) - 1n;
const U256_MAX = (1n << 256n) - 1n;
const DEC_RE = /^(0|[1-9][0-9]{0,77})$/;
const HEX32_RE = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/;

/** The value as an object with string keys. */
export function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidMessageError(`${field} must be an object`, field);
  }
  return value as Record<string, unknown>;
}

/** The value as an array (of at most `max` entries). */
export function asArray(value: unknown, field: string, max = 1024): unknown[] {
  if (!Array.isArray(value)) throw new InvalidMessageError(`${field} must be an array`, field);
  if (value.length > max) throw new InvalidMessageError(`${field} has more than ${max} entries`, field);
  return value;
}

/** A non-empty string of at most `max` characters. */
export function asString(value: unknown, field: string, max = 256): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    throw new InvalidMessageError(`${field} must be a string of 1..${max} characters`, field);
  }
  return value;
}

export function asBool(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") throw new InvalidMessageError(`${field} must be a boolean`, field);
  return value;
}

/** An unsigned integer given as a decimal string (or a safe JS integer), at most `max`. */
export function asUint(value: unknown, field: string, max: bigint = U256_MAX): bigint {
  let n: bigint;
  if (typeof value === "string" && DEC_RE.test(value)) n = BigInt(value);
  else if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) n = BigInt(value);
  else throw new InvalidMessageError(`${field} must be a non-negative decimal integer string`, field);
  if (n > max) throw new InvalidMessageError(`${field} exceeds ${max}`, field);
  return n;
}

/** A non-negative safe integer (ids, indices). */
export function asInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new InvalidMessageError(`${field} must be an integer in 0..${max}`, field);
  }
  return value;
}

export function asParty(value: unknown, field: string): Party {
  if (value !== 0 && value !== 1) throw new InvalidMessageError(`${field} must be 0 or 1`, field);
  return value;
}

/** 32 bytes of 0x hex, lower-cased. */
export function asBytes32(value: unknown, field: string): string {
  if (typeof value !== "string" || !HEX32_RE.test(value)) {
    throw new InvalidMessageError(`${field} must be 32 bytes of 0x hex`, field);
  }
  return value.toLowerCase();
}

/** A checksummed address. */
export function asAddress(value: unknown, field: string): string {
  if (typeof value !== "string" || !ADDRESS_RE.test(value)) {
    throw new InvalidMessageError(`${field} must be a 20-byte 0x address`, field);
  }
  return getAddress(value.toLowerCase());
}

/** A loopback or remote WebSocket URL. */
export function asWsUrl(value: unknown, field: string): string {
  const s = asString(value, field, 512);
  if (!/^wss?:\/\/[^\s]+$/.test(s)) throw new InvalidMessageError(`${field} must be a ws:// URL`, field);
  return s;
}

// ---------------------------------------------------------------------------

export function encodeParams(p: ChannelParams): Json {
  return {
    participants: [p.participants[0], p.participants[1]],
    asset: p.asset,
    challengeDuration: p.challengeDuration.toString(),
    salt: p.salt,
  };
}

export function decodeParams(value: unknown, field = "params"): ChannelParams {
  const o = asObject(value, field);
  const parts = asArray(o.participants, `${field}.participants`, 2);
  if (parts.length !== 2) throw new InvalidMessageError(`${field}.participants must have 2 entries`, field);
  return {
    participants: [asAddress(parts[0], `${field}.participants[0]`), asAddress(parts[1], `${field}.participants[1]`)],
    asset: asAddress(o.asset, `${field}.asset`),
    challengeDuration: asUint(o.challengeDuration, `${field}.challengeDuration`, U64_MAX),
    salt: asBytes32(o.salt, `${field}.salt`),
  };
}

export function encodeState(s: ChannelState): Json {
  return {
    channelId: s.channelId,
    version: s.version.toString(),
    balances: [s.balances[0].toString(), s.balances[1].toString()],
    locksRoot: s.locksRoot,
    lockedTotal: s.lockedTotal.toString(),
    isFinal: s.isFinal,
  };
}

export function decodeState(value: unknown, field = "state"): ChannelState {
  const o = asObject(value, field);
  const b = asArray(o.balances, `${field}.balances`, 2);
  if (b.length !== 2) throw new InvalidMessageError(`${field}.balances must have 2 entries`, field);
  return {
    channelId: asBytes32(o.channelId, `${field}.channelId`),
    version: asUint(o.version, `${field}.version`, U64_MAX),
    balances: [asUint(b[0], `${field}.balances[0]`), asUint(b[1], `${field}.balances[1]`)],
    locksRoot: asBytes32(o.locksRoot, `${field}.locksRoot`),
    lockedTotal: asUint(o.lockedTotal, `${field}.lockedTotal`),
    isFinal: asBool(o.isFinal, `${field}.isFinal`),
  };
}

export function encodeLock(l: Lock): Json {
  return {
    sender: l.sender,
    receiver: l.receiver,
    amount: l.amount.toString(),
    hashlock: l.hashlock,
    expiry: l.expiry.toString(),
  };
}

export function decodeLock(value: unknown, field = "lock"): Lock {
  const o = asObject(value, field);
  return {
    sender: asParty(o.sender, `${field}.sender`),
    receiver: asParty(o.receiver, `${field}.receiver`),
    amount: asUint(o.amount, `${field}.amount`),
    hashlock: asBytes32(o.hashlock, `${field}.hashlock`),
    expiry: asUint(o.expiry, `${field}.expiry`, U64_MAX),
  };
}

export function encodeSig(s: CompactSignature): Json {
  return { r: s.r, vs: s.vs };
}

export function decodeSig(value: unknown, field = "sig"): CompactSignature {
  const o = asObject(value, field);
  return { r: asBytes32(o.r, `${field}.r`), vs: asBytes32(o.vs, `${field}.vs`) };
}

export function encodeUpdate(u: ChannelUpdate): Json {
  switch (u.kind) {
    case "pay":
      return { kind: "pay", from: u.from, amount: u.amount.toString() };
    case "lock":
      return { kind: "lock", lock: encodeLock(u.lock) };
    case "settle":
      return { kind: "settle", hashlock: u.hashlock, secret: u.secret };
    case "cancel":
      return { kind: "cancel", hashlock: u.hashlock };
    case "final":
      return { kind: "final" };
    case "noop":
      return { kind: "noop" };
    case "deposit":
    case "withdraw":
      return { kind: u.kind, participant: u.participant, amount: u.amount.toString(), expiry: u.expiry.toString() };
  }
}

export function decodeUpdate(value: unknown, field = "update"): ChannelUpdate {
  const o = asObject(value, field);
  switch (o.kind) {
    case "pay":
      return { kind: "pay", from: asParty(o.from, `${field}.from`), amount: asUint(o.amount, `${field}.amount`) };
    case "lock":
      return { kind: "lock", lock: decodeLock(o.lock, `${field}.lock`) };
    case "settle":
      return {
        kind: "settle",
        hashlock: asBytes32(o.hashlock, `${field}.hashlock`),
        secret: asBytes32(o.secret, `${field}.secret`),
      };
    case "cancel":
      return { kind: "cancel", hashlock: asBytes32(o.hashlock, `${field}.hashlock`) };
    case "final":
      return { kind: "final" };
    case "noop":
      return { kind: "noop" };
    case "deposit":
    case "withdraw":
      return {
        kind: o.kind,
        participant: asParty(o.participant, `${field}.participant`),
        amount: asUint(o.amount, `${field}.amount`),
        expiry: asUint(o.expiry, `${field}.expiry`, U64_MAX),
      };
    default:
      throw new InvalidMessageError(
        `${field}.kind must be pay, lock, settle, cancel, final, noop, deposit or withdraw`,
        `${field}.kind`,
      );
  }
}

export function encodeSnapshot(s: Snapshot): Json {
  return { state: encodeState(s.state), locks: s.locks.map(encodeLock) };
}

export function decodeSnapshot(value: unknown, field = "snapshot"): Snapshot {
  const o = asObject(value, field);
  return {
    state: decodeState(o.state, `${field}.state`),
    locks: asArray(o.locks, `${field}.locks`, MAX_LOCKS).map((l, i) => decodeLock(l, `${field}.locks[${i}]`)),
  };
}

export function encodeSigned(s: SignedSnapshot): Json {
  return {
    state: encodeState(s.state),
    locks: s.locks.map(encodeLock),
    sigs: [encodeSig(s.sigs[0]), encodeSig(s.sigs[1])],
  };
}

export function decodeSigned(value: unknown, field = "signed"): SignedSnapshot {
  const o = asObject(value, field);
  const sigs = asArray(o.sigs, `${field}.sigs`, 2);
  if (sigs.length !== 2) throw new InvalidMessageError(`${field}.sigs must have 2 entries`, field);
  return {
    ...decodeSnapshot(o, field),
    sigs: [decodeSig(sigs[0], `${field}.sigs[0]`), decodeSig(sigs[1], `${field}.sigs[1]`)],
  };
}

/** One hop of a route: the lock its sender makes to `to`. */
export interface Hop {
  to: string;
  amount: bigint;
  expiry: bigint;
}

/**
 * Routing instructions that travel with a lock to its receiver: `hops[0]` is the lock the receiver should make next
 * (and pass `hops.slice(1)` along with it); no hops means the receiver is the payee.
 */
export interface ForwardMemo {
  hops: Hop[];
}

/** At most this many hops in a route. */
export const MAX_ROUTE_HOPS = 16;

export function encodeMemo(m: ForwardMemo): Json {
  return { hops: m.hops.map((h) => ({ to: h.to, amount: h.amount.toString(), expiry: h.expiry.toString() })) };
}

export function decodeMemo(value: unknown, field = "memo"): ForwardMemo {
  const o = asObject(value, field);
  return {
    hops: asArray(o.hops, `${field}.hops`, MAX_ROUTE_HOPS).map((h, i) => {
      const hop = asObject(h, `${field}.hops[${i}]`);
      return {
        to: asAddress(hop.to, `${field}.hops[${i}].to`),
        amount: asUint(hop.amount, `${field}.hops[${i}].amount`),
        expiry: asUint(hop.expiry, `${field}.hops[${i}].expiry`, U64_MAX),
      };
    }),
  };
}

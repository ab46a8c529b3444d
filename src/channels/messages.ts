import { decodeResizeJson, encodeResizeJson, type PendingResize } from "./records";
import type { ChannelParams, CompactSignature, Funding } from "./state";
import type { PeerTransport } from "./transport";
import type { ChannelUpdate, Party, SignedSnapshot } from "./updates";
import {
  asArray,
  asBool,
  asBytes32,
  asInt,
  asObject,
  asString,
  asUint,
  decodeMemo,
  decodeParams,
  decodeSig,
  decodeSigned,
  decodeUpdate,
  encodeMemo,
  encodeParams,
  encodeSig,
  encodeSigned,
  encodeUpdate,
  InvalidMessageError,
  type ForwardMemo,
  type Json,
} from "./wire";

/*
 * The catalogue of peer messages: for each method of the peer protocol (`ch.*` between two clients, `wt.*` from a
 * client to its watchtower), the shape of its params and of its answer, with their codecs. A method name and its
 * shapes are written here once; senders go through {@link peerRequest} and receivers through {@link onPeerRequest},
 * so both sides of a message read the same definition. The encodings are the wire format (docs/CHANNELS.md): a
 * change here is a protocol change.
 */

/** One peer method: its params and its answer, each with an encoder (sender side) and a decoder (receiver side). */
interface PeerMessage<P, R> {
  encodeParams(params: P): Json;
  decodeParams(raw: unknown): P;
  encodeResult(result: R): Json;
  decodeResult(raw: unknown): R;
  /** How long a sender waits for the answer (the transport's default when absent). */
  timeoutMs?: number;
}

/** `ch.open`: the opener asks the peer to take part in a channel, with both deposits. */
export interface OpenParams {
  params: ChannelParams;
  deposits: [bigint, bigint];
}

/** The peer's consent to having its token deposit pulled by the opener's `openFunded`. */
export interface FundingConsent {
  /** `participant` is kept as sent (`undefined` when it is not a party index) for the opener to check. */
  funding: Omit<Funding, "participant"> & { participant: Party | undefined };
  sig: CompactSignature;
}

/** `ch.open`'s answer: the channel accepted, with the consent when the peer's deposit is in tokens. */
export interface OpenResult {
  channelId: string;
  funding?: FundingConsent;
}

/** `ch.propose`: the leader's signed proposal (the follower recomputes the state from the update). */
export interface ProposeParams {
  channelId: string;
  version: bigint;
  baseVersion: bigint;
  update: ChannelUpdate;
  /** Who asked for the update. */
  by: Party;
  /** The follower's reference of its request (when `by` is the follower). */
  ref?: string;
  memo?: ForwardMemo;
  sig: CompactSignature;
  /** A resize: the leader's signature over its on-chain message. */
  resizeSig?: CompactSignature;
}

/** `ch.propose`'s answer: the follower's countersignatures. */
export interface ProposeResult {
  sig: CompactSignature;
  resizeSig?: CompactSignature;
}

/** `ch.request`: the follower asks the leader for an update. */
export interface RequestParams {
  channelId: string;
  ref: string;
  update: ChannelUpdate;
  memo?: ForwardMemo;
}

/** `ch.sync`: each side's latest version signed by both, and the answerer's states behind it. */
export interface SyncParams {
  channelId: string;
  version: bigint;
}

export interface SyncResult {
  signed: SignedSnapshot | undefined;
  resize?: PendingResize;
}

/** What a watchtower answers of one channel (`wt.status`). */
export interface TowerStatusWire {
  channelId: string;
  version: bigint;
  registered?: { version: bigint; deadline: bigint };
  done: boolean;
  refutations: number;
}

/** A tower status as JSON (amounts as decimal strings). */
export function towerStatusJson(s: TowerStatusWire): Json {
  return {
    channelId: s.channelId,
    version: s.version.toString(),
    ...(s.registered
      ? { registered: { version: s.registered.version.toString(), deadline: s.registered.deadline.toString() } }
      : {}),
    done: s.done,
    refutations: s.refutations,
  };
}

function decodeTowerStatus(raw: unknown): TowerStatusWire {
  const o = asObject(raw, "result");
  const registered = o.registered === undefined ? undefined : asObject(o.registered, "registered");
  return {
    channelId: asBytes32(o.channelId, "channelId"),
    version: asUint(o.version, "version"),
    ...(registered
      ? {
          registered: {
            version: asUint(registered.version, "registered.version"),
            deadline: asUint(registered.deadline, "registered.deadline"),
          },
        }
      : {}),
    done: asBool(o.done, "done"),
    refutations: asInt(o.refutations, "refutations"),
  };
}

function decodeConsent(raw: unknown): FundingConsent {
  const o = asObject(raw, "funding");
  const f = asObject(o.funding, "funding.funding");
  return {
    funding: {
      channelId: asBytes32(f.channelId, "funding.channelId"),
      participant: f.participant === 0 || f.participant === 1 ? f.participant : undefined,
      amount: asUint(f.amount, "funding.amount"),
      expiry: asUint(f.expiry, "funding.expiry"),
    },
    sig: decodeSig(o.sig, "funding.sig"),
  };
}

/** A message whose params (or answer) is one field of one type. */
function single<T>(field: string, encode: (v: T) => Json, decode: (raw: unknown, field: string) => T) {
  return {
    encode: (v: T): Json => ({ [field]: encode(v) }),
    decode: (raw: unknown, object: string): T => decode(asObject(raw, object)[field], field),
  };
}

const channelIdOnly = single<string>("channelId", (v) => v, asBytes32);
const versionOnly = single<bigint>("version", (v) => v.toString(), asUint);
const hashlockOnly = single<string>("hashlock", (v) => v, asBytes32);

/** Every peer method, by name. */
export const PEER_MESSAGES = {
  "ch.open": {
    encodeParams: (p: OpenParams): Json => ({
      params: encodeParams(p.params),
      deposits: [p.deposits[0].toString(), p.deposits[1].toString()],
    }),
    decodeParams: (raw: unknown): OpenParams => {
      const o = asObject(raw, "params");
      const params = decodeParams(o.params);
      const d = asArray(o.deposits, "deposits", 2);
      return { params, deposits: [asUint(d[0], "deposits[0]"), asUint(d[1], "deposits[1]")] };
    },
    encodeResult: (r: OpenResult): Json => ({
      channelId: r.channelId,
      ...(r.funding === undefined
        ? {}
        : {
            funding: {
              funding: {
                channelId: r.funding.funding.channelId,
                participant: r.funding.funding.participant ?? null,
                amount: r.funding.funding.amount.toString(),
                expiry: r.funding.funding.expiry.toString(),
              },
              sig: encodeSig(r.funding.sig),
            },
          }),
    }),
    decodeResult: (raw: unknown): OpenResult => {
      const o = asObject(raw, "result");
      return {
        channelId: asBytes32(o.channelId, "channelId"),
        ...(o.funding === undefined ? {} : { funding: decodeConsent(o.funding) }),
      };
    },
    timeoutMs: 120_000,
  } satisfies PeerMessage<OpenParams, OpenResult>,

  "ch.propose": {
    encodeParams: (p: ProposeParams): Json => {
      const msg: Json = {
        channelId: p.channelId,
        version: p.version.toString(),
        baseVersion: p.baseVersion.toString(),
        update: encodeUpdate(p.update),
        by: p.by,
        sig: encodeSig(p.sig),
      };
      if (p.ref !== undefined) msg.ref = p.ref;
      if (p.memo !== undefined) msg.memo = encodeMemo(p.memo);
      if (p.resizeSig !== undefined) msg.resizeSig = encodeSig(p.resizeSig);
      return msg;
    },
    decodeParams: (raw: unknown): ProposeParams => {
      const o = asObject(raw, "params");
      const msg = {
        channelId: asBytes32(o.channelId, "channelId"),
        version: asUint(o.version, "version"),
        baseVersion: asUint(o.baseVersion, "baseVersion"),
        update: decodeUpdate(o.update),
        ...(o.ref === undefined ? {} : { ref: asString(o.ref, "ref", 66) }),
        ...(o.memo === undefined ? {} : { memo: decodeMemo(o.memo) }),
        sig: decodeSig(o.sig),
        ...(o.resizeSig === undefined ? {} : { resizeSig: decodeSig(o.resizeSig, "resizeSig") }),
      };
      // `by` is checked last, as it always was: a message wrong in several fields names the same one.
      if (o.by !== 0 && o.by !== 1) throw new InvalidMessageError("by must be 0 or 1", "by");
      return { ...msg, by: o.by };
    },
    encodeResult: (r: ProposeResult): Json => ({
      sig: encodeSig(r.sig),
      ...(r.resizeSig === undefined ? {} : { resizeSig: encodeSig(r.resizeSig) }),
    }),
    decodeResult: (raw: unknown): ProposeResult => {
      const o = asObject(raw, "result");
      return {
        sig: decodeSig(o.sig),
        ...(o.resizeSig === undefined ? {} : { resizeSig: decodeSig(o.resizeSig, "resizeSig") }),
      };
    },
  } satisfies PeerMessage<ProposeParams, ProposeResult>,

  "ch.request": {
    encodeParams: (p: RequestParams): Json => ({
      channelId: p.channelId,
      ref: p.ref,
      update: encodeUpdate(p.update),
      ...(p.memo === undefined ? {} : { memo: encodeMemo(p.memo) }),
    }),
    decodeParams: (raw: unknown): RequestParams => {
      const o = asObject(raw, "params");
      return {
        channelId: asBytes32(o.channelId, "channelId"),
        ref: asString(o.ref, "ref", 66),
        update: decodeUpdate(o.update),
        ...(o.memo === undefined ? {} : { memo: decodeMemo(o.memo) }),
      };
    },
    encodeResult: versionOnly.encode,
    decodeResult: (raw: unknown): bigint => versionOnly.decode(raw, "result"),
    timeoutMs: 120_000,
  } satisfies PeerMessage<RequestParams, bigint>,

  "ch.sync": {
    encodeParams: (p: SyncParams): Json => ({ channelId: p.channelId, version: p.version.toString() }),
    decodeParams: (raw: unknown): SyncParams => {
      const o = asObject(raw, "params");
      return { channelId: asBytes32(o.channelId, "channelId"), version: asUint(o.version, "version") };
    },
    encodeResult: (r: SyncResult): Json => ({
      signed: r.signed ? encodeSigned(r.signed) : null,
      ...(r.resize === undefined ? {} : { resize: encodeResizeJson(r.resize) }),
    }),
    decodeResult: (raw: unknown): SyncResult => {
      const o = asObject(raw, "result");
      return {
        signed: o.signed === null || o.signed === undefined ? undefined : decodeSigned(o.signed),
        ...(o.resize === undefined ? {} : { resize: decodeResizeJson(o.resize) }),
      };
    },
  } satisfies PeerMessage<SyncParams, SyncResult>,

  "wt.watch": {
    encodeParams: (p: ChannelParams): Json => ({ params: encodeParams(p) }),
    decodeParams: (raw: unknown): ChannelParams => decodeParams(asObject(raw, "params").params),
    encodeResult: channelIdOnly.encode,
    decodeResult: (raw: unknown): string => channelIdOnly.decode(raw, "result"),
  } satisfies PeerMessage<ChannelParams, string>,

  "wt.state": {
    encodeParams: (s: SignedSnapshot): Json => ({ signed: encodeSigned(s) }),
    decodeParams: (raw: unknown): SignedSnapshot => decodeSigned(asObject(raw, "params").signed),
    encodeResult: versionOnly.encode,
    decodeResult: (raw: unknown): bigint => versionOnly.decode(raw, "result"),
  } satisfies PeerMessage<SignedSnapshot, bigint>,

  "wt.secret": {
    encodeParams: (secret: string): Json => ({ secret }),
    decodeParams: (raw: unknown): string => asBytes32(asObject(raw, "params").secret, "secret"),
    encodeResult: hashlockOnly.encode,
    decodeResult: (raw: unknown): string => hashlockOnly.decode(raw, "result"),
  } satisfies PeerMessage<string, string>,

  "wt.status": {
    encodeParams: channelIdOnly.encode,
    decodeParams: (raw: unknown): string => channelIdOnly.decode(raw, "params"),
    encodeResult: towerStatusJson,
    decodeResult: decodeTowerStatus,
  } satisfies PeerMessage<string, TowerStatusWire>,
} as const;

/** A method of the peer protocol. */
export type PeerMethod = keyof typeof PEER_MESSAGES;
/** What a sender of `M` gives and what its receiver's handler gets. */
export type ParamsOf<M extends PeerMethod> = ReturnType<(typeof PEER_MESSAGES)[M]["decodeParams"]>;
/** What a receiver of `M` answers and what its sender gets back. */
export type ResultOf<M extends PeerMethod> = ReturnType<(typeof PEER_MESSAGES)[M]["decodeResult"]>;

type Catalogue = { [M in PeerMethod]: PeerMessage<ParamsOf<M>, ResultOf<M>> };
const catalogue: Catalogue = PEER_MESSAGES;

/**
 * Sends `method` to `peer` and decodes its answer; rejects with the transport's errors, or with an
 * {@link InvalidMessageError} when the answer does not have the method's shape.
 */
export async function peerRequest<M extends PeerMethod>(
  transport: PeerTransport,
  peer: string,
  method: M,
  params: ParamsOf<M>,
): Promise<ResultOf<M>> {
  const m = catalogue[method];
  return m.decodeResult(await transport.request(peer, method, m.encodeParams(params), m.timeoutMs));
}

/**
 * Serves `method`: its params are decoded before `handler` sees them (a malformed message never reaches it) and its
 * answer encoded. A handler that answers synchronously is answered synchronously.
 */
export function onPeerRequest<M extends PeerMethod>(
  transport: PeerTransport,
  method: M,
  handler: (from: string, params: ParamsOf<M>) => ResultOf<M> | Promise<ResultOf<M>>,
): void {
  const m = catalogue[method];
  transport.on(method, (from, raw) => {
    const result = handler(from, m.decodeParams(raw));
    return result instanceof Promise ? result.then((r) => m.encodeResult(r)) : m.encodeResult(result);
  });
}

import secp256k1 from "secp256k1";
import { getAddress } from "ethers";
import { BilayerError } from "../protocol/errors";
import { keccak256 } from "../protocol/hash";
import { publicKeyToAddress } from "../protocol/signature";
import type { Connection } from "./peer-connection";

/*
 * The peer handshake: each side sends {"hello": {"address", "nonce", "url"?}}
 * first, then {"auth": {"sig"}}, a signature over the other side's nonce. A
 * side proves its address by signing
 * keccak256("bilayer-channels/peer/v1" ‖ verifierNonce ‖ signer ‖ verifier),
 * so a signature is good for one connection and one verifier only. The
 * signatures run on the native secp256k1 binding.
 *
 * Authenticate before parsing: an unauthenticated connection may send at most
 * two frames of at most PREAUTH_MAX_FRAME bytes and PREAUTH_MAX_BYTES in all
 * (counted on the socket, before any frame is assembled); past that it is cut
 * off unread. At most MAX_UNAUTHENTICATED connections wait in the handshake at
 * once, and at most HANDSHAKES_PER_SECOND new ones are taken.
 */

const AUTH_TAG = Buffer.from("bilayer-channels/peer/v1");
/** How long a connection may take to authenticate. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
/** The largest frame taken before authentication (hello and auth are about 250 bytes each). */
export const PREAUTH_MAX_FRAME = 1024;
/** The most bytes an unauthenticated connection may send, counted on the socket. */
export const PREAUTH_MAX_BYTES = 8192;
/** Connections in the handshake at once; more are cut off at once. */
export const MAX_UNAUTHENTICATED = 64;
/** New inbound connections taken per second; more are cut off at once. */
export const HANDSHAKES_PER_SECOND = 200;

/** What `signer` signs to prove its address to `verifier`, who sent `verifierNonce`. */
export function authDigest(verifierNonce: string, signer: string, verifier: string): Uint8Array {
  return keccak256(
    Buffer.concat([
      AUTH_TAG,
      Buffer.from(verifierNonce.slice(2), "hex"),
      Buffer.from(signer.slice(2), "hex"),
      Buffer.from(verifier.slice(2), "hex"),
    ]),
  );
}

/** A 65-byte `r ‖ s ‖ v` signature of `digest` (v = 27 + recovery id), as hex, on the native binding. */
export function signDigest(key: Uint8Array, digest: Uint8Array): string {
  const { signature, recid } = secp256k1.ecdsaSign(digest, key);
  return "0x" + Buffer.from(signature).toString("hex") + (27 + recid).toString(16);
}

/** The address that made the 65-byte signature `sig` of `digest`, or `undefined` if none. */
export function recoverSigner(digest: Uint8Array, sig: string): string | undefined {
  const bytes = Buffer.from(sig.slice(2), "hex");
  const v = bytes[64];
  const recid = v >= 27 ? v - 27 : v;
  if (recid !== 0 && recid !== 1) return undefined;
  try {
    const publicKey = secp256k1.ecdsaRecover(bytes.subarray(0, 64), recid, digest, false);
    return getAddress(publicKeyToAddress(publicKey));
  } catch {
    return undefined;
  }
}

/** A peer's hello, checked. */
export interface Hello {
  /** The address it claims, checksummed. */
  claimed: string;
  /** The nonce it wants signed. */
  nonce: string;
  /** Where it listens, if it does. */
  url?: string;
}

/**
 * Checks the hello `value` a peer sent to the node `self`, that dialed it expecting `expected` (when known); throws
 * `HANDSHAKE_INVALID` at the first thing wrong.
 */
function readHello(value: unknown, self: string, expected: string | undefined): Hello {
  if (typeof value !== "object" || value === null)
    throw new BilayerError("HANDSHAKE_INVALID", "hello must be an object");
  const h = value as Record<string, unknown>;
  if (typeof h.address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(h.address))
    throw new BilayerError("HANDSHAKE_INVALID", "hello.address");
  if (typeof h.nonce !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(h.nonce))
    throw new BilayerError("HANDSHAKE_INVALID", "hello.nonce");
  const claimed = getAddress(h.address.toLowerCase());
  if (claimed === self) throw new BilayerError("HANDSHAKE_INVALID", "a node cannot connect to itself");
  if (expected !== undefined && claimed !== expected) {
    throw new BilayerError("HANDSHAKE_INVALID", `expected peer ${expected}, it says it is ${claimed}`);
  }
  if (h.url === undefined) return { claimed, nonce: h.nonce };
  if (typeof h.url !== "string" || !/^wss?:\/\/\S{1,500}$/.test(h.url))
    throw new BilayerError("HANDSHAKE_INVALID", "hello.url");
  return { claimed, nonce: h.nonce, url: h.url };
}

/**
 * Checks the auth `value` of the peer that claimed `claimed`: a signature, for the node `self`, of the `nonce` it
 * sent; throws `HANDSHAKE_INVALID` otherwise.
 */
function checkAuth(value: unknown, nonce: string, claimed: string, self: string): void {
  if (typeof value !== "object" || value === null)
    throw new BilayerError("HANDSHAKE_INVALID", "auth must be an object");
  const sig = (value as Record<string, unknown>).sig;
  if (typeof sig !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(sig))
    throw new BilayerError("HANDSHAKE_INVALID", "auth.sig");
  const signer = recoverSigner(authDigest(nonce, claimed, self), sig);
  if (signer === undefined) throw new BilayerError("HANDSHAKE_INVALID", "auth.sig does not recover");
  if (signer !== claimed) throw new BilayerError("HANDSHAKE_INVALID", "auth.sig is not by the claimed address");
}

/**
 * Takes a peer's hello on `conn`, a connection of the node `self` whose private key is `key`: checks it and answers
 * with this side's auth, a signature of the peer's nonce.
 */
export function takeHello(conn: Connection, value: unknown, self: string, key: Uint8Array): void {
  if (conn.claimed !== undefined) throw new BilayerError("HANDSHAKE_INVALID", "hello sent twice");
  const { claimed, nonce, url } = readHello(value, self, conn.expected);
  if (url !== undefined) conn.peerUrl = url;
  conn.claimed = claimed;
  if (conn.dialer === undefined) conn.dialer = claimed;
  const sig = signDigest(key, authDigest(nonce, self, claimed));
  conn.ws.send(JSON.stringify({ auth: { sig } }));
  conn.authSent = true;
}

/** Takes a peer's auth on `conn`, a connection of the node `self`: its proof of the address its hello claimed. */
export function takeAuth(conn: Connection, value: unknown, self: string): void {
  if (conn.claimed === undefined) throw new BilayerError("HANDSHAKE_INVALID", "auth before hello");
  if (conn.authReceived) throw new BilayerError("HANDSHAKE_INVALID", "auth sent twice");
  checkAuth(value, conn.nonce, conn.claimed, self);
  conn.authReceived = true;
}

/**
 * The door of a listening node: at most {@link HANDSHAKES_PER_SECOND} new connections a second, and
 * {@link MAX_UNAUTHENTICATED} waiting in the handshake.
 */
export class HandshakeDoor {
  /** New inbound connections taken in the current second. */
  private window = { second: 0, count: 0 };

  /** Counts a new inbound connection and says whether it may wait in the handshake beside `waiting` others. */
  admits(waiting: number): boolean {
    const second = Math.floor(Date.now() / 1000);
    if (this.window.second !== second) this.window = { second, count: 0 };
    return !(++this.window.count > HANDSHAKES_PER_SECOND || waiting >= MAX_UNAUTHENTICATED);
  }
}

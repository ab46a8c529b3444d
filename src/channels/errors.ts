/**
 * The codes of a channel client's refusals (`ChannelError`): what a caller
 * of the client and a peer (in `data.code` of the peer protocol's -32000
 * answer) are told. `OUT_OF_SYNC` and `CHANNEL_BUSY` are the two a proposer
 * retries; every other refusal of an update is final.
 */
import { BilayerError } from "../protocol/errors";

export const CHANNEL_ERROR_CODES = [
  // the channel
  "CHANNEL_NOT_FOUND",
  "NO_CHANNEL",
  "CHANNEL_EXISTS",
  "CHANNEL_NOT_OPEN",
  "CHANNEL_DISPUTED",
  "CHANNEL_BUSY",
  "NOT_CLOSABLE",
  "NOT_DISPUTABLE",
  "NOT_CONCLUDED",
  "WITHDRAWN",
  "LOCKS_PENDING",
  // opening
  "OPEN_REFUSED",
  "OPEN_FAILED",
  "OPEN_TIMEOUT",
  "INVALID_CHALLENGE_DURATION",
  "INVALID_DEPOSITS",
  "INVALID_FUNDING",
  // an update, as a peer proposes or requests it
  "OUT_OF_SYNC",
  "NOT_PARTICIPANT",
  "WRONG_ROLE",
  "UNREQUESTED_UPDATE",
  "UPDATE_REFUSED",
  "VERSION_JUMP",
  "LOCK_EXPIRED",
  "RESIZE_SETTLED",
  "INVALID_STATE",
  "INVALID_SIGNATURE",
  "INVALID_AMOUNT",
  /** A peer refused with a code this client does not know. */
  "PEER_REFUSED",
  // payments and routes
  "INVOICE_EXISTS",
  "ROUTE_EXISTS",
  "INVALID_ROUTE",
  // the watchtower
  "NOT_WATCHED",
  // the client itself
  "CLIENT_STOPPED",
  "STORE_FAILED",
  "INTERNAL",
] as const;

export type ChannelErrorCode = (typeof CHANNEL_ERROR_CODES)[number];

const KNOWN: ReadonlySet<string> = new Set(CHANNEL_ERROR_CODES);

/** A channel operation that cannot be done now, or a peer's refusal. */
export class ChannelError extends BilayerError {
  declare readonly code: ChannelErrorCode;

  constructor(
    code: ChannelErrorCode,
    message: string,
    options: { context?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}

/** A {@link ChannelError} with `code`: how every part of the client refuses, with the values that broke the check. */
export function refused(code: ChannelErrorCode, message: string, context: Record<string, unknown> = {}): ChannelError {
  return new ChannelError(code, message, { context });
}

/** An error's message for a log line, whatever was thrown. */
export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The code a peer refused with, as one of ours (`PEER_REFUSED` for one we do not know, or none). */
export function peerRefusal(code: string | undefined): ChannelErrorCode {
  return code !== undefined && KNOWN.has(code) ? (code as ChannelErrorCode) : "PEER_REFUSED";
}

/** The channel layer's error codes: the refusals above, and its own checks of what arrives and what it sends. */
declare module "../protocol/errors" {
  interface BilayerErrorCodes extends Record<ChannelErrorCode, true> {
    /** An inbound value that does not have the expected shape (wire.ts). */
    INVALID_MESSAGE: true;
    /** A channel value that cannot be ABI-encoded or hashed (out of range, malformed). */
    INVALID_CHANNEL_DATA: true;
    /** A channel update that its state machine refuses (updates.ts). */
    INVALID_UPDATE: true;
    /** A routing or fee policy out of its bounds (policy.ts). */
    INVALID_POLICY: true;
    /** A peer's handshake that does not authenticate it (peer-auth.ts). */
    HANDSHAKE_INVALID: true;
    /** A peer frame over a limit (size, depth, before authentication). */
    INVALID_FRAME: true;
    /** A peer answered a request with an error. */
    PEER_ERROR: true;
    /** No connection to the peer could be made. */
    PEER_UNAVAILABLE: true;
    /** An adjudicator transaction reverted or was not mined (chain.ts). */
    CHAIN_TX_FAILED: true;
    /** A daemon's control API answered with an error (rpc.ts). */
    CONTROL_RPC_ERROR: true;
  }
}

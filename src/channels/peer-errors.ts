import type { Logger } from "pino";
import { BilayerError } from "../protocol/errors";
import { InvalidMessageError } from "./wire";

/*
 * The errors of the peer protocol, both ways: the JSON-RPC-style codes of an
 * error answer, the error object a handler's failure is answered with, and
 * the errors a request made to a peer rejects with.
 */

/** JSON-RPC-style error codes of the peer protocol. */
export const PeerErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** The handler refused the request: `data.code` is the {@link BilayerError} code. */
  REFUSED: -32000,
  UNAUTHENTICATED: -32001,
} as const;

/** The `error` member of an error answer. */
export interface PeerErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

/** A peer answered a request with an error. */
export class PeerRequestError extends BilayerError {
  constructor(
    readonly rpcCode: number,
    message: string,
    /** The peer's {@link BilayerError} code, when it sent one. */
    readonly peerCode?: string,
    readonly peerContext?: unknown,
  ) {
    super("PEER_ERROR", message, { context: { rpcCode, peerCode, peerContext } });
  }

  /** The error of an answer's `error` member, whatever the peer put there. */
  static fromAnswer(error: unknown): PeerRequestError {
    const e = error as Record<string, unknown> | null;
    const code = typeof e?.code === "number" ? e.code : PeerErrorCode.INTERNAL_ERROR;
    const message = typeof e?.message === "string" ? e.message : "error";
    const data = e?.data as Record<string, unknown> | undefined;
    const peerCode = typeof data?.code === "string" ? data.code : undefined;
    return new PeerRequestError(code, message, peerCode, data?.context);
  }
}

/** The peer could not be reached, or the connection dropped before the answer. */
export class PeerUnavailableError extends BilayerError {
  constructor(address: string, reason: string) {
    super("PEER_UNAVAILABLE", `peer ${address}: ${reason}`, { context: { address } });
  }
}

/**
 * What a request whose handler threw `err` is answered with: invalid params or a refusal (with the
 * {@link BilayerError}'s code and context) for the project's errors, an internal error, logged, for anything else.
 */
export function errorObject(err: unknown, method: string, log: Logger): PeerErrorObject {
  if (err instanceof InvalidMessageError) {
    return {
      code: PeerErrorCode.INVALID_PARAMS,
      message: err.message,
      data: { code: err.code, context: err.context },
    };
  }
  if (err instanceof BilayerError) {
    return { code: PeerErrorCode.REFUSED, message: err.message, data: { code: err.code, context: err.context } };
  }
  log.error({ err, method }, "request handler failed");
  return { code: PeerErrorCode.INTERNAL_ERROR, message: "internal error" };
}

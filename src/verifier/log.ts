import { createLogger, silentLogger, type Logger } from "../operator/log";

export type { Logger };

/**
 * The verifier's structured logger: the operator's pino set-up (JSON lines on
 * stdout or the file descriptor given, level from the argument or
 * `LOG_LEVEL`), named "verifier". Every decision (a proposal judged, a proof
 * sent, a rollback seen) is one line.
 */
export function createVerifierLogger(opts: { name?: string; level?: string; fd?: number } = {}): Logger {
  return createLogger({ ...opts, name: opts.name ?? "verifier" });
}

/** A logger that drops everything. */
export const silentVerifierLogger = silentLogger;

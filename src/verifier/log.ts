import pino, { type Logger } from "pino";

export type { Logger } from "pino";

/**
 * The verifier's structured logger: pino, JSON lines on stdout (or the file
 * descriptor given), level from the argument or `LOG_LEVEL`. Every decision
 * (a proposal judged, a proof sent, a rollback seen) is one line.
 */
export function createVerifierLogger(opts: { name?: string; level?: string; fd?: number } = {}): Logger {
  return pino(
    {
      name: opts.name ?? "verifier",
      level: opts.level ?? process.env.LOG_LEVEL ?? "info",
      base: { pid: process.pid },
      // bigints (amounts) are written as decimal strings
      formatters: {
        log: (obj) =>
          JSON.parse(JSON.stringify(obj, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as Record<
            string,
            unknown
          >,
      },
      serializers: { err: pino.stdSerializers.err },
    },
    pino.destination({ fd: opts.fd ?? 1, sync: true }),
  );
}

/** A logger that drops everything. */
export function silentVerifierLogger(): Logger {
  return pino({ level: "silent" });
}

import pino, { type Logger } from "pino";

export type { Logger } from "pino";

/**
 * The structured logger of the operator and the verifier: pino, JSON lines on stdout (or on the
 * file descriptor given), level from the argument or `LOG_LEVEL`.
 */
export function createLogger(opts: { name?: string; level?: string; fd?: number } = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? "info";
  return pino(
    {
      name: opts.name ?? "operator",
      level,
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

/** A logger that drops everything (tests, benches). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

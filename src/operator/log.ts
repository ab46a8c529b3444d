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
      // bigints (amounts) are written as decimal strings; errors, wherever they are in the object, as pino's error
      // serializer writes them (type, message, stack, context, cause) — a plain JSON copy would make them `{}`.
      formatters: {
        log: (obj) =>
          JSON.parse(
            JSON.stringify(obj, (_k, v: unknown) =>
              typeof v === "bigint" ? v.toString() : v instanceof Error ? pino.stdSerializers.err(v) : v,
            ),
          ) as Record<string, unknown>,
      },
      // Done above; pino's default `err` serializer would run again on the copy.
      serializers: { err: (e: unknown) => e },
    },
    pino.destination({ fd: opts.fd ?? 1, sync: true }),
  );
}

/** A logger that drops everything (tests, benches). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

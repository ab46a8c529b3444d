import { invalidParams } from "../errors";
import type { RpcParams } from "../../common/json-rpc-server";

/**
 * Reads params given by position (`[a, b]`) or by name (`{ a, b }`) into an
 * object keyed by `names`. Extra positional params are an error; a missing one
 * is `undefined` (the parser of that param decides whether it is optional).
 */
export function readParams(params: RpcParams, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (params === undefined) return out;
  if (Array.isArray(params)) {
    if (params.length > names.length) {
      throw invalidParams(
        `invalid params: expected at most ${names.length} params (${names.join(", ")}), got ${params.length}`,
      );
    }
    names.forEach((n, i) => (out[n] = params[i]));
    return out;
  }
  for (const key of Object.keys(params)) {
    if (!names.includes(key))
      throw invalidParams(`invalid params: unknown param "${key}" (expected ${names.join(", ")})`);
  }
  for (const n of names) out[n] = params[n];
  return out;
}

const U32_MAX = 0xffff_ffff;

/** An integer in `[min, max]`, given as a JSON number, a decimal string or a 0x-hex string. */
export function parseUint(value: unknown, name: string, max = U32_MAX, min = 0): number {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(value)) n = Number(value);
  else throw invalidParams(`invalid params: ${name} must be an unsigned integer`, { param: name });
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw invalidParams(`invalid params: ${name} must be an integer in [${min}, ${max}], got ${String(value)}`, {
      param: name,
    });
  }
  return n;
}

/** Like {@link parseUint}, `undefined` when the param is absent or null. */
export function parseOptionalUint(value: unknown, name: string, max = U32_MAX): number | undefined {
  return value === undefined || value === null ? undefined : parseUint(value, name, max);
}

/** A non-negative amount as a decimal or 0x-hex string (or a safe-integer number). */
export function parseAmount(value: unknown, name: string): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && /^(0x[0-9a-fA-F]{1,64}|[0-9]{1,78})$/.test(value)) {
    const v = BigInt(value);
    if (v < 2n ** 256n) return v;
  }
  throw invalidParams(`invalid params: ${name} must be a non-negative integer below 2^256 (decimal or 0x-hex string)`, {
    param: name,
  });
}

/** A 0x-prefixed hex string of `[minBytes, maxBytes]` bytes. */
export function parseHexBytes(value: unknown, name: string, maxBytes: number, minBytes = 0): Uint8Array {
  if (typeof value !== "string" || !/^0x([0-9a-fA-F]{2})*$/.test(value)) {
    throw invalidParams(`invalid params: ${name} must be a 0x-prefixed hex string of whole bytes`, { param: name });
  }
  const len = (value.length - 2) / 2;
  if (len < minBytes || len > maxBytes) {
    throw invalidParams(`invalid params: ${name} must be ${minBytes}..${maxBytes} bytes, got ${len}`, { param: name });
  }
  return Uint8Array.from(Buffer.from(value.slice(2), "hex"));
}

/** A 20-byte 0x address (any case; the checksum is not required). Returned lower-case. */
export function parseAddress(value: unknown, name: string): string {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw invalidParams(`invalid params: ${name} must be a 0x-prefixed 20-byte address`, { param: name });
  }
  return value.toLowerCase();
}

/** A 32-byte 0x hash. Returned lower-case. */
export function parseHash(value: unknown, name: string): string {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(value)) {
    throw invalidParams(`invalid params: ${name} must be a 0x-prefixed 32-byte hash`, { param: name });
  }
  return value.toLowerCase();
}

/** Throws unless `value` is absent: for methods that take no params at all. */
export function requireNoParams(params: RpcParams): void {
  const n = params === undefined ? 0 : Array.isArray(params) ? params.length : Object.keys(params).length;
  if (n > 0) throw invalidParams("invalid params: this method takes no params");
}

import { AmountNotPackableError, BilayerError } from "./errors";

/*
 * Packed decimal floats (PROTOCOL.md §2): `value = mantissa × 10^exponent`,
 * packed as `mantissa << 5 | exponent`. Amounts have a 35-bit mantissa
 * (40 bits in all), fees an 11-bit one (16 bits). Every bit pattern decodes;
 * the encoder picks the smallest exponent and never rounds.
 */

const EXPONENT_BITS = 5;
const MAX_EXPONENT = 31;
/** Mantissa bits of a packed amount. */
export const AMOUNT_MANTISSA_BITS = 35;
/** Mantissa bits of a packed fee. */
export const FEE_MANTISSA_BITS = 11;
/** Bits of a packed amount (5 bytes). */
export const AMOUNT_BITS = AMOUNT_MANTISSA_BITS + EXPONENT_BITS;
/** Bits of a packed fee (2 bytes). */
export const FEE_BITS = FEE_MANTISSA_BITS + EXPONENT_BITS;

/** 10^0 … 10^31. */
export const POW10: readonly bigint[] = Array.from({ length: MAX_EXPONENT + 1 }, (_, e) => 10n ** BigInt(e));

const MAX_AMOUNT_MANTISSA = (1n << BigInt(AMOUNT_MANTISSA_BITS)) - 1n;
const MAX_FEE_MANTISSA = (1n << BigInt(FEE_MANTISSA_BITS)) - 1n;
/** The largest packable amount, `(2^35 − 1) · 10^31`. */
export const MAX_PACKABLE_AMOUNT = MAX_AMOUNT_MANTISSA * POW10[MAX_EXPONENT];
/** The largest packable fee, `(2^11 − 1) · 10^31`. */
export const MAX_PACKABLE_FEE = MAX_FEE_MANTISSA * POW10[MAX_EXPONENT];

/** The canonical packing of `value`, or `undefined` when it has none. */
function tryPack(value: bigint, maxMantissa: bigint): bigint | undefined {
  if (value < 0n) return undefined;
  let mantissa = value;
  for (let e = 0; e <= MAX_EXPONENT; e++) {
    if (mantissa <= maxMantissa) return (mantissa << BigInt(EXPONENT_BITS)) | BigInt(e);
    if (mantissa % 10n !== 0n) return undefined;
    mantissa /= 10n;
  }
  return undefined;
}

function unpack(packed: bigint, bits: number, kind: string): bigint {
  if (typeof packed !== "bigint" || packed < 0n || packed >> BigInt(bits) !== 0n) {
    throw new BilayerError("INVALID_PACKED_VALUE", `packed ${kind} ${String(packed)} is not a ${bits}-bit value`, {
      context: { kind, value: String(packed), bits },
    });
  }
  return (packed >> BigInt(EXPONENT_BITS)) * POW10[Number(packed & BigInt(MAX_EXPONENT))];
}

function floorToPackable(value: bigint, maxMantissa: bigint): bigint {
  if (value < 0n) {
    throw new BilayerError("NEGATIVE_AMOUNT", `cannot pack a negative value: ${value}`, {
      context: { value: value.toString() },
    });
  }
  // For each exponent the best candidate is min(⌊v / 10^e⌋, maxMantissa) · 10^e; the answer is the largest.
  let best = 0n;
  for (let e = 0; e <= MAX_EXPONENT; e++) {
    let mantissa = value / POW10[e];
    if (mantissa > maxMantissa) mantissa = maxMantissa;
    const candidate = mantissa * POW10[e];
    if (candidate > best) best = candidate;
  }
  return best;
}

/** Packs an amount into 40 bits; throws `AmountNotPackableError` if it is not exactly representable. */
export function packAmount(value: bigint): bigint {
  const packed = tryPack(value, MAX_AMOUNT_MANTISSA);
  if (packed === undefined) {
    throw new AmountNotPackableError("amount", value, value < 0n ? undefined : floorToPackableAmount(value));
  }
  return packed;
}

/** The amount a 40-bit packed value stands for (non-canonical encodings accepted). */
export function unpackAmount(packed: bigint): bigint {
  return unpack(packed, AMOUNT_BITS, "amount");
}

/** Packs a fee into 16 bits; throws `AmountNotPackableError` if it is not exactly representable. */
export function packFee(value: bigint): bigint {
  const packed = tryPack(value, MAX_FEE_MANTISSA);
  if (packed === undefined) {
    throw new AmountNotPackableError("fee", value, value < 0n ? undefined : floorToPackableFee(value));
  }
  return packed;
}

/** The fee a 16-bit packed value stands for (non-canonical encodings accepted). */
export function unpackFee(packed: bigint): bigint {
  return unpack(packed, FEE_BITS, "fee");
}

/** Whether `value` packs exactly as an amount. */
export function isPackableAmount(value: bigint): boolean {
  return tryPack(value, MAX_AMOUNT_MANTISSA) !== undefined;
}

/** Whether `value` packs exactly as a fee. */
export function isPackableFee(value: bigint): boolean {
  return tryPack(value, MAX_FEE_MANTISSA) !== undefined;
}

/** The largest packable amount ≤ `value` (for UIs that round user input down). */
export function floorToPackableAmount(value: bigint): bigint {
  return floorToPackable(value, MAX_AMOUNT_MANTISSA);
}

/** The largest packable fee ≤ `value`. */
export function floorToPackableFee(value: bigint): bigint {
  return floorToPackable(value, MAX_FEE_MANTISSA);
}

// Hot-path decoders straight from chunk bytes (no validation needed: every pattern decodes).

/** Decodes the 5-byte packed amount at `offset`. */
export function readPackedAmount(bytes: Uint8Array, offset: number): bigint {
  const low =
    ((bytes[offset + 1] << 24) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 8) | bytes[offset + 4]) >>> 0;
  const exponent = low & MAX_EXPONENT;
  // mantissa = packed >> 5 = bytes[offset] · 2^27 + (low >>> 5), below 2^35: exact in a double.
  const mantissa = bytes[offset] * 2 ** 27 + (low >>> EXPONENT_BITS);
  return exponent === 0 ? BigInt(mantissa) : BigInt(mantissa) * POW10[exponent];
}

/** Decodes the 2-byte packed fee at `offset`. */
export function readPackedFee(bytes: Uint8Array, offset: number): bigint {
  const packed = (bytes[offset] << 8) | bytes[offset + 1];
  const exponent = packed & MAX_EXPONENT;
  const mantissa = packed >>> EXPONENT_BITS;
  return exponent === 0 ? BigInt(mantissa) : BigInt(mantissa) * POW10[exponent];
}

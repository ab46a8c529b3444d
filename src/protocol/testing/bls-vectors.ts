import blst from "@chainsafe/blst";
import { blsAggregate, blsSign, BLS_P, BLS_SIGNATURE_BYTES, g2CurveRhs } from "../bls";
import { encodeBlsChunk, type BlsTransferFields } from "../bls-chunk";
import { blsTransferDigest } from "../eip712";
import { toHex } from "../hash";
import type { L2State } from "../state";
import { applyChunk } from "../stf";
import { vectorBlsKey } from "./testkit";
import { Outcome } from "../constants";

/*
 * BLS chunks for test vectors: transfers signed with the vector BLS keys
 * (`vectorBlsKey`), each signature made right or wrong on purpose, and
 * aggregate signatures that are malformed in each way the STF tells apart.
 */

/** How one transfer's signature is made. */
export type BlsSigMode = "valid" | "otherKey" | "wrongNonce" | "otherAmount" | "otherDomain";

/** What the chunk's aggregate is. */
export type BlsAggregateMode =
  /** The aggregate of the transfers' signatures (each per its own mode). */
  | "aggregate"
  /** Flags wrong: not marked compressed. */
  | "malformed"
  /** Marked as infinity. */
  | "infinity"
  /** An x coordinate that names no point on the curve. */
  | "noPoint"
  /** A point on the curve outside the prime-order subgroup. */
  | "notInSubgroup";

const KEY_COUNT = 40;
const KEY_OF_RAW = new Map(Array.from({ length: KEY_COUNT }, (_, i) => [toHex(vectorBlsKey(i).raw), i]));

function compressedX(x0: bigint, x1: bigint): Uint8Array {
  const out = new Uint8Array(BLS_SIGNATURE_BYTES);
  for (let i = 47, v = x1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  for (let i = 95, v = x0; i >= 48; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  out[0] |= 0x80;
  return out;
}

function isSquareFp(v: bigint): boolean {
  let r = 1n;
  let b = v % BLS_P;
  for (let e = (BLS_P - 1n) / 2n; e > 0n; e >>= 1n, b = (b * b) % BLS_P) if (e & 1n) r = (r * b) % BLS_P;
  return r === 1n || v % BLS_P === 0n;
}

/** A compressed G2 encoding whose x (k + 0·u, the first k that works) names no point. */
export const NO_POINT_SIGNATURE: Uint8Array = (() => {
  for (let k = 1n; ; k++) {
    const [z0, z1] = g2CurveRhs(k, 0n);
    if (!isSquareFp(z0 * z0 + z1 * z1)) return compressedX(k, 0n);
  }
})();

/** A compressed G2 point on the curve, outside the subgroup (the first x = k + 0·u that is one). */
export const NOT_IN_SUBGROUP_SIGNATURE: Uint8Array = (() => {
  for (let k = 1n; ; k++) {
    const bytes = compressedX(k, 0n);
    try {
      blst.Signature.fromBytes(bytes, false, false).sigValidate(false);
    } catch (err) {
      // Either no point (decompression fails) or a point outside the subgroup (validation fails).
      try {
        blst.Signature.fromBytes(bytes, false, false);
        return bytes;
      } catch {
        void err;
      }
    }
  }
})();

function aggregateBytes(mode: BlsAggregateMode, signatures: Uint8Array[]): Uint8Array {
  switch (mode) {
    case "aggregate":
      return signatures.length === 0 ? NO_POINT_SIGNATURE.slice() : blsAggregate(signatures);
    case "malformed": {
      const out = signatures.length === 0 ? NO_POINT_SIGNATURE.slice() : blsAggregate(signatures);
      out[0] &= 0x7f;
      return out;
    }
    case "infinity": {
      const out = new Uint8Array(BLS_SIGNATURE_BYTES);
      out[0] = 0xc0;
      return out;
    }
    case "noPoint":
      return NO_POINT_SIGNATURE.slice();
    case "notInSubgroup":
      return NOT_IN_SUBGROUP_SIGNATURE.slice();
  }
}

/** A transfer for a BLS chunk, with how its signature is made. */
export interface BlsVectorTransfer extends BlsTransferFields {
  mode?: BlsSigMode;
}

/**
 * The bytes of a BLS chunk over `transfers` applied to `pre`: the transfers
 * the STF applies are found by running it (with the aggregate taken as
 * valid), each signed per its mode by its sender's vector key, and
 * aggregated per `aggregate`.
 */
export function buildBlsChunk(
  pre: L2State,
  domainSep: string,
  feeRecipient: number,
  fee: bigint,
  transfers: readonly BlsVectorTransfer[],
  opts: { aggregate?: BlsAggregateMode; width?: number } = {},
): Uint8Array {
  const placeholder = encodeBlsChunk({ fee, width: opts.width, signature: NO_POINT_SIGNATURE }, transfers);
  const signed: { message: Uint8Array; key: Uint8Array }[] = [];
  const run = applyChunk(
    pre.clone(),
    placeholder,
    { domainSeparator: domainSep, feeRecipient },
    {
      verifyAggregate: (messages, keys) => {
        messages.forEach((message, i) => signed.push({ message, key: keys[i] }));
        return true;
      },
    },
  );
  // The applied transfers, in order, with their sender's token and nonce at their turn (only this chunk's
  // applied transfers move a nonce).
  const sent = new Map<number, number>();
  const applied = run.outcomes
    .filter((o) => o.code === Outcome.Applied)
    .map((o) => {
      const t = transfers[o.index];
      const sender = pre.getAccount(t.from);
      const nonce = (sender?.nonce ?? 0) + (sent.get(t.from) ?? 0);
      sent.set(t.from, (sent.get(t.from) ?? 0) + 1);
      return { t, tokenId: sender?.tokenId ?? 0, nonce };
    });
  const signatures = signed.map(({ message, key }, i) => {
    const index = KEY_OF_RAW.get(toHex(key)) ?? 0;
    const pair = vectorBlsKey(index).pair;
    const { t, tokenId, nonce } = applied[i];
    switch (t.mode ?? "valid") {
      case "valid":
        return blsSign(pair, message);
      case "otherKey":
        return blsSign(vectorBlsKey((index + 1) % KEY_COUNT).pair, message);
      case "wrongNonce":
        return blsSign(pair, blsTransferDigest(domainSep, { ...t, fee }, tokenId, nonce + 1));
      case "otherAmount":
        return blsSign(pair, blsTransferDigest(domainSep, { ...t, fee, amount: t.amount + 1n }, tokenId, nonce));
      case "otherDomain":
        return blsSign(pair, blsTransferDigest("0x" + "ab".repeat(32), { ...t, fee }, tokenId, nonce));
    }
  });
  return encodeBlsChunk(
    { fee, width: opts.width, signature: aggregateBytes(opts.aggregate ?? "aggregate", signatures) },
    transfers,
  );
}

import { encodeBlsChunk } from "../bls-chunk";
import { BLS_CHUNK_MARKER, MAX_NONCE, MAX_BLS_TRANSFERS_PER_CHUNK, TxType } from "../constants";
import { toHex } from "../hash";
import type { L2State } from "../state";
import {
  buildBlsChunk,
  NO_POINT_SIGNATURE,
  type BlsAggregateMode,
  type BlsSigMode,
  type BlsVectorTransfer,
} from "./bls-vectors";
import { genState, missingIndex, pick, randomBytes, type Chooser, type GenState } from "./states";
import { builtChunkVector, ChunkBuilder, chunkVector, vectorBlsKey, type StepVector } from "./testkit";

/*
 * Random BLS scenarios for the agreement tests (PROTOCOL.md §5.4): states
 * where some accounts hold BLS keys, chunks of BLS transfers of every
 * outcome, aggregates broken in each way, malformed chunks, and key
 * registrations with valid and invalid keys.
 */

type Scenario = (c: Chooser, domainSep: string, name: string) => StepVector;

/**
 * `gen` with a vector BLS key on most accounts (keys 0..31, chosen at random; some shared), and the index of one
 * left without a key whose nonce can still move (0 if there is none).
 */
function withKeys(c: Chooser, gen: GenState): { state: L2State; keyless: number } {
  const state = gen.state.clone();
  const keyless = gen.populated.find((i) => (state.getAccount(i)?.nonce ?? MAX_NONCE) < MAX_NONCE) ?? 0;
  for (const index of gen.populated) {
    const account = state.getAccount(index);
    if (account === undefined || index === keyless || c.int(0, 4) === 0) continue;
    state.putAccount(index, { ...account, blsKey: toHex(vectorBlsKey(c.int(0, 31)).raw) });
  }
  return { state, keyless };
}

/** An amount in the 16-bit packed form, mostly below `balance / 8`. */
function blsAmount(c: Chooser, balance: bigint): bigint {
  if (c.int(0, 9) === 0) return BigInt(c.int(0, 2047)) * 10n ** BigInt(c.int(0, 31));
  let e = 0n;
  while (10n ** (e + 4n) <= balance / 8n) e++;
  return BigInt(c.int(0, 2047)) * 10n ** BigInt(c.int(0, Number(e)));
}

const FEES = [0n, 0n, 1n, 2047n, 1000n * 10n ** 9n];
const SIG_MODES: readonly BlsSigMode[] = ["otherKey", "wrongNonce", "otherAmount", "otherDomain"];
const AGGREGATE_MODES: readonly BlsAggregateMode[] = ["malformed", "infinity", "noPoint", "notInSubgroup"];

function transfers(c: Chooser, gen: GenState, state: L2State, n: number, badOneIn: number): BlsVectorTransfer[] {
  const out: BlsVectorTransfer[] = [];
  for (let i = 0; i < n; i++) {
    const from = c.int(0, 9) === 0 ? missingIndex(c, state.accountCount) : pick(c, gen.populated);
    const to =
      c.int(0, 9) === 0 ? missingIndex(c, state.accountCount) : c.int(0, 5) === 0 ? from : pick(c, gen.populated);
    const amount = blsAmount(c, state.getAccount(from)?.balance ?? 0n);
    const t: BlsVectorTransfer = { from, to, amount };
    if (badOneIn > 0 && c.int(1, badOneIn) === 1) t.mode = pick(c, SIG_MODES);
    out.push(t);
  }
  return out;
}

function feeRecipient(c: Chooser, gen: GenState): number {
  return c.int(0, 4) === 0 ? missingIndex(c, gen.state.accountCount) : pick(c, gen.populated);
}

/** BLS traffic: mostly valid transfers, every skip rule, one bad signature now and then. */
export const blsMixed: Scenario = (c, domainSep, name) => {
  const gen = genState(c, c.int(0, 5) === 0 ? "nearFull" : "dense", "dense", true);
  const { state: pre } = withKeys(c, gen);
  const fr = feeRecipient(c, gen);
  const list = transfers(c, gen, pre, c.int(1, MAX_BLS_TRANSFERS_PER_CHUNK), c.int(0, 1) === 0 ? 0 : 40);
  const chunk = buildBlsChunk(pre, domainSep, fr, pick(c, FEES), list, { width: c.int(0, 2) === 0 ? 4 : undefined });
  return chunkVector(name, pre, chunk, fr, domainSep);
};

/**
 * Aggregates that cannot hold: malformed, infinity, no point, outside the subgroup. No fee, and first a transfer
 * from an account without a key (KeyMissing, whatever the aggregate).
 */
export const blsBadAggregate: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const { state: pre, keyless } = withKeys(c, gen);
  const fr = feeRecipient(c, gen);
  const list = [{ from: keyless, to: keyless, amount: 0n }, ...transfers(c, gen, pre, c.int(1, 8), 0)];
  const chunk = buildBlsChunk(pre, domainSep, fr, 0n, list, { aggregate: pick(c, AGGREGATE_MODES) });
  return chunkVector(name, pre, chunk, fr, domainSep);
};

/** Malformed BLS chunks: a short header, a bad width, a truncated transfer, trailing bytes. */
export const blsMalformed: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const { state: pre } = withKeys(c, gen);
  const fr = feeRecipient(c, gen);
  let chunk: Uint8Array;
  switch (c.int(0, 3)) {
    case 0:
      chunk = Uint8Array.of(BLS_CHUNK_MARKER, ...randomBytes(c, c.int(0, 98)));
      break;
    case 1: {
      chunk = encodeBlsChunk({ fee: 0n, signature: NO_POINT_SIGNATURE }, transfers(c, gen, pre, c.int(0, 3), 0));
      chunk[1] = pick(c, [0, 5, 6, 0x80, 0xff]);
      break;
    }
    case 2: {
      const whole = buildBlsChunk(pre, domainSep, fr, 0n, transfers(c, gen, pre, c.int(1, 6), 0));
      chunk = whole.subarray(0, whole.length - c.int(1, 3));
      break;
    }
    default: {
      const full = buildBlsChunk(pre, domainSep, fr, 0n, transfers(c, gen, pre, MAX_BLS_TRANSFERS_PER_CHUNK, 0));
      chunk = Uint8Array.of(...full, ...randomBytes(c, c.int(1, 20)));
    }
  }
  return chunkVector(name, pre, chunk, fr, domainSep);
};

/** Key registrations, valid and not (off the curve, infinity, a coordinate not below p), with other traffic. */
export const registerKeys: Scenario = (c, domainSep, name) => {
  const gen = genState(c, "dense", "dense", true);
  const pre = gen.state.clone();
  const builder = new ChunkBuilder(pre, domainSep, feeRecipient(c, gen));
  // First a key that is never valid (infinity) from an account that passes every rule before the key's (BadKey).
  const movable = gen.populated.find((i) => (pre.getAccount(i)?.nonce ?? MAX_NONCE) < MAX_NONCE);
  if (movable !== undefined)
    builder.add({ type: TxType.RegisterKey, from: movable, fee: 0n, blsKey: "0x" + "00".repeat(96) });
  const n = c.int(1, 8);
  for (let i = 0; i < n; i++) {
    const from = pick(c, gen.populated);
    let blsKey = toHex(vectorBlsKey(c.int(0, 31)).raw);
    switch (c.int(0, 5)) {
      case 0:
        blsKey = toHex(randomBytes(c, 96)); // almost surely off the curve or not below p
        break;
      case 1:
        blsKey = "0x" + "00".repeat(96);
        break;
      default:
    }
    builder.add(
      { type: TxType.RegisterKey, from, fee: pick(c, FEES), blsKey },
      c.int(0, 9) === 0 ? "otherKey" : "valid",
    );
  }
  return builtChunkVector(name, pre, builder);
};

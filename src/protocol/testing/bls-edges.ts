import { BLS_P } from "../bls";
import { encodeBlsChunk } from "../bls-chunk";
import { BLS_CHUNK_MARKER, MAX_NONCE, MAX_BLS_TRANSFERS_PER_CHUNK, TxType } from "../constants";
import type { UnsignedTx } from "../codec";
import { toHex } from "../hash";
import { L2State, type Account } from "../state";
import { applyChunk } from "../stf";
import { buildBlsChunk, NO_POINT_SIGNATURE, type BlsAggregateMode, type BlsVectorTransfer } from "./bls-vectors";
import {
  builtChunkVector,
  ChunkBuilder,
  chunkVector,
  VECTOR_ADDRESSES,
  vectorBlsKey,
  type StepVector,
} from "./testkit";

/*
 * Named vectors of BLS keys and BLS chunks (PROTOCOL.md §3.2, §5.2
 * RegisterKey, §5.4): every outcome a BLS chunk can give, each way its
 * aggregate can fail, the parser's limits, and a key changed between chunks.
 */

const A = VECTOR_ADDRESSES;
const E18 = 10n ** 18n;
const key = (i: number): string => toHex(vectorBlsKey(i).raw);

const acct = (owner: number, tokenId: number, balance: bigint, nonce = 0, blsKey?: number): Account => {
  const a: Account = { owner: A[owner], tokenId, balance, nonce };
  if (blsKey !== undefined) a.blsKey = key(blsKey);
  return a;
};

/** Eight accounts over two tokens, most with a BLS key (account 4, the fee recipient, and 6 have none). */
export function blsBaseState(): L2State {
  return L2State.fromAccounts([
    acct(0, 0, 1000n * E18, 0, 0),
    acct(1, 0, 1000n * E18, 3, 1),
    acct(2, 1, 500n * E18, 0, 2),
    acct(3, 0, 0n),
    acct(4, 0, E18, MAX_NONCE, 4),
    acct(5, 0, 100n * E18),
    acct(0, 1, 10n * E18, 1, 0),
    acct(1, 0, 1_000_000n, 0, 3),
  ]);
}

/** Raw key bytes (x ‖ y, 48 bytes each) from two integers. */
function rawKey(x: bigint, y: bigint): string {
  return "0x" + x.toString(16).padStart(96, "0") + y.toString(16).padStart(96, "0");
}

/** The first G1 point (smallest x) on the curve: it lies outside the prime-order subgroup. */
const G1_OUTSIDE_SUBGROUP: string = (() => {
  const pow = (b: bigint, e: bigint): bigint => {
    let r = 1n;
    for (b %= BLS_P; e > 0n; e >>= 1n, b = (b * b) % BLS_P) if (e & 1n) r = (r * b) % BLS_P;
    return r;
  };
  for (let x = 1n; ; x++) {
    const z = (x * x * x + 4n) % BLS_P;
    const y = pow(z, (BLS_P + 1n) / 4n);
    if ((y * y) % BLS_P === z) return rawKey(x, y);
  }
})();

const FEE = 4;
const t = (from: number, to: number, amount: bigint, mode?: BlsVectorTransfer["mode"]): BlsVectorTransfer =>
  mode === undefined ? { from, to, amount } : { from, to, amount, mode };
const register = (from: number, blsKey: string, fee = 0n): UnsignedTx => ({
  type: TxType.RegisterKey,
  from,
  fee,
  blsKey,
});

/** The BLS vectors, in the domain `domainSep`. */
export function blsEdgeVectors(domainSep: string): StepVector[] {
  const vectors: StepVector[] = [];
  const ecdsa = (name: string, pre: L2State, build: (b: ChunkBuilder) => void): void => {
    const builder = new ChunkBuilder(pre, domainSep, FEE);
    build(builder);
    vectors.push(builtChunkVector(name, pre, builder));
  };
  const bls = (
    name: string,
    pre: L2State,
    transfers: BlsVectorTransfer[],
    opts: { fee?: bigint; feeRecipient?: number; aggregate?: BlsAggregateMode; width?: number } = {},
  ): void => {
    const feeRecipient = opts.feeRecipient ?? FEE;
    const chunk = buildBlsChunk(pre, domainSep, feeRecipient, opts.fee ?? 0n, transfers, opts);
    vectors.push(chunkVector(name, pre, chunk, feeRecipient, domainSep));
  };
  const raw = (name: string, pre: L2State, chunk: Uint8Array): void => {
    vectors.push(chunkVector(name, pre, chunk, FEE, domainSep));
  };

  // Keys -------------------------------------------------------------------
  ecdsa("register a BLS key", blsBaseState(), (b) => b.add(register(6, key(5))));
  ecdsa("register a BLS key paying a fee", blsBaseState(), (b) => b.add(register(6, key(5), 1000n)));
  ecdsa("replace a BLS key", blsBaseState(), (b) => b.add(register(1, key(6))));
  ecdsa("register a key: off the curve", blsBaseState(), (b) => b.add(register(6, rawKey(1n, 1n))));
  ecdsa("register a key: outside the subgroup", blsBaseState(), (b) => b.add(register(6, G1_OUTSIDE_SUBGROUP)));
  ecdsa("register a key: infinity", blsBaseState(), (b) => b.add(register(6, rawKey(0n, 0n))));
  ecdsa("register a key: a coordinate not below p", blsBaseState(), (b) => {
    const k = vectorBlsKey(5).raw;
    const y = BigInt(toHex(k.subarray(48)));
    b.add(register(6, rawKey(BLS_P, y)));
  });
  ecdsa("register a key signed by another wallet", blsBaseState(), (b) => b.add(register(6, key(5)), "otherKey"));
  ecdsa("register a key: insufficient balance for its fee", blsBaseState(), (b) => b.add(register(4, key(5), 1000n)));

  // Applied ----------------------------------------------------------------
  bls("BLS transfer applied", blsBaseState(), [t(1, 2, 3n * E18)]);
  bls("BLS transfers with a fee credited to the fee recipient", blsBaseState(), [t(1, 2, E18), t(2, 1, E18)], {
    fee: 2000n,
  });
  bls("BLS transfer to self pays only the fee", blsBaseState(), [t(2, 2, E18)], { fee: 100n });
  bls("BLS transfers from one sender take consecutive nonces", blsBaseState(), [
    t(2, 1, E18),
    t(2, 1, 2n * E18),
    t(2, 8, 5n),
  ]);
  bls("BLS transfers from two accounts of one wallet and key", blsBaseState(), [t(1, 2, E18), t(7, 3, E18)]);
  bls("BLS transfer with 1-byte indices", blsBaseState(), [t(1, 8, 7n)], { width: 1 });
  bls(
    "40 BLS transfers with 4-byte indices: the largest BLS chunk",
    blsBaseState(),
    Array.from({ length: MAX_BLS_TRANSFERS_PER_CHUNK }, (_, i) =>
      t(i % 2 === 0 ? 1 : 2, i % 2 === 0 ? 2 : 1, BigInt(i + 1) * E18),
    ),
    { width: 4, fee: 1n },
  );
  bls("BLS transfer from the fee recipient's funds", blsBaseState(), [t(1, 8, 10n), t(8, 1, 5n)], {
    fee: 10n,
    feeRecipient: 8,
  });

  // Skipped by the rules ---------------------------------------------------
  bls("BLS transfers skipped by each rule, the rest applied", blsBaseState(), [
    t(9, 1, 1n), // SenderMissing
    t(1, 9, 1n), // RecipientMissing
    t(1, 3, 1n), // TokenMismatch
    t(8, 1, 2_000_000n), // InsufficientBalance
    t(5, 1, 1n), // NonceExhausted
    t(6, 1, 1n), // KeyMissing
    t(1, 2, 5n),
  ]);
  bls("BLS fee in a token the fee recipient does not hold", blsBaseState(), [t(3, 3, E18), t(1, 2, E18)], {
    fee: 1n,
  });
  bls("BLS fee with no fee recipient", blsBaseState(), [t(1, 2, E18)], { fee: 1n, feeRecipient: 0 });
  bls("a skipped BLS transfer takes no nonce", blsBaseState(), [t(8, 1, 2_000_000n), t(8, 1, 1000n)]);
  bls("an account without a key sends no BLS transfer", blsBaseState(), [t(6, 1, E18)]);

  // Aggregates that fail ---------------------------------------------------
  bls("BLS chunk with one signature by another key: every transfer undone", blsBaseState(), [
    t(1, 2, E18),
    t(2, 1, E18, "otherKey"),
    t(8, 1, 5n),
  ]);
  bls("BLS transfer signed over the wrong nonce", blsBaseState(), [t(2, 1, E18, "wrongNonce")]);
  bls("BLS transfer signed over another amount", blsBaseState(), [t(1, 2, E18, "otherAmount")], { fee: 3n });
  bls("BLS transfer signed for another rollup", blsBaseState(), [t(1, 2, E18, "otherDomain")]);
  bls("BLS aggregate not marked compressed", blsBaseState(), [t(1, 2, E18)], { aggregate: "malformed" });
  bls("BLS aggregate marked infinity", blsBaseState(), [t(1, 2, E18)], { aggregate: "infinity" });
  bls("BLS aggregate naming no point", blsBaseState(), [t(1, 2, E18), t(2, 1, 7n)], { aggregate: "noPoint" });
  bls("BLS aggregate outside the subgroup", blsBaseState(), [t(1, 2, E18)], { aggregate: "notInSubgroup" });
  bls("BLS aggregate unchecked when no transfer applies", blsBaseState(), [t(6, 1, 1n), t(9, 1, 1n)], {
    aggregate: "noPoint",
  });

  // A key changed earlier in the batch --------------------------------------
  {
    const pre = blsBaseState();
    const rotate = new ChunkBuilder(pre, domainSep, FEE);
    rotate.add(register(1, key(6)));
    const after = pre.clone();
    applyChunk(after, rotate.bytes(), { domainSeparator: domainSep, feeRecipient: FEE });
    bls("BLS transfer after its sender's key changed, signed with the new key", after, [t(1, 2, E18)]);
    // The old key (0) over the nonce the rotation left (1): only the key is wrong.
    const old = buildBlsChunk(withKey(after, 1, 0), domainSep, FEE, 0n, [t(1, 2, E18)]);
    raw("BLS transfer after its sender's key changed, signed with the old key", after, old);
  }

  // Parsing ----------------------------------------------------------------
  const sig = NO_POINT_SIGNATURE;
  raw("BLS chunk that is only its header", blsBaseState(), encodeBlsChunk({ fee: 0n, signature: sig }, []));
  raw("BLS chunk header truncated", blsBaseState(), Uint8Array.of(BLS_CHUNK_MARKER, 2, 0, 0));
  for (const width of [0, 5, 255]) {
    const bytes = encodeBlsChunk({ fee: 0n, signature: sig }, [t(1, 2, 1n)]);
    bytes[1] = width;
    raw(`BLS chunk with index width ${width}`, blsBaseState(), bytes);
  }
  {
    const whole = buildBlsChunk(blsBaseState(), domainSep, FEE, 0n, [t(1, 2, E18), t(2, 1, E18)]);
    raw(
      "BLS chunk with a truncated last transfer: the aggregate no longer holds",
      blsBaseState(),
      whole.subarray(0, whole.length - 1),
    );
    const many = Array.from({ length: MAX_BLS_TRANSFERS_PER_CHUNK }, () => t(1, 2, 1n));
    const full = buildBlsChunk(blsBaseState(), domainSep, FEE, 0n, many);
    raw("BLS chunk with bytes after its 40th transfer", blsBaseState(), new Uint8Array([...full, 0, 1, 0, 2, 0, 1]));
  }
  return vectors;
}

/** `state` with account `index`'s key replaced by vector key `k` (to sign as a key that is no longer there). */
function withKey(state: L2State, index: number, k: number): L2State {
  const copy = state.clone();
  const a = copy.getAccount(index) as Account;
  copy.putAccount(index, { ...a, blsKey: key(k) });
  return copy;
}

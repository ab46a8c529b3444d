/**
 * An independent re-execution of one step from nothing but the pre-state
 * header, the step input and the witness, consuming witness entries exactly
 * as PROTOCOL.md §6 describes (proofs against the root at the start of each
 * transaction, the second write's path fixed up with the first write's
 * node). It is what the on-chain executor does; the tests use it to check
 * that the witnesses `src/protocol` records are complete, in order and
 * proven against the right roots.
 */
import {
  accountLeafOf,
  BLS_CHUNK_MARKER,
  BLS_P,
  decodeBlsSignature,
  g2CurveRhs,
  blsTransferDigest,
  blsVerifyAggregateRaw,
  decodeBlsChunk,
  decodeChunk,
  isBlsKeyValid,
  keccak256,
  fromHex,
  hashPair,
  MAX_ACCOUNT_COUNT,
  MAX_NONCE,
  MAX_UINT256,
  MAX_WITHDRAWAL_COUNT,
  Outcome,
  QueueKind,
  recoverCompact,
  SparseMerkleTree,
  toHex,
  txDigest,
  TxType,
  withdrawalLeaf,
  ZERO_HASHES,
  type L2Tx,
  type QueueItem,
  type StateHeader,
  type StepWitness,
  type WitnessAccount,
} from "../../../src/protocol";

export class WitnessError extends Error {}

/** Checks a no-point certificate r against the compressed x it is for: r² = −norm(x³ + 4(1 + u)) mod p. */
function checkNoPoint(signature: Uint8Array, certificate: Uint8Array): void {
  const big = (b: Uint8Array): bigint => BigInt(toHex(b));
  const x1Bytes = signature.slice(0, 48);
  x1Bytes[0] &= 0x1f;
  const [z0, z1] = g2CurveRhs(big(signature.subarray(48)), big(x1Bytes));
  const r = big(certificate);
  if ((((r * r + z0 * z0 + z1 * z1) % BLS_P) + BLS_P) % BLS_P !== 0n) throw new WitnessError("a wrong certificate");
}

interface Read {
  index: number;
  account: WitnessAccount;
  siblings: Uint8Array[];
}

const ZERO_OWNER = "0x" + "00".repeat(20);
const ZERO_HASH = "0x" + "00".repeat(32);

const leafOf = (a: WitnessAccount): Uint8Array => accountLeafOf(a, fromHex(a.blsKeyHash, 32));

function wrap(value: bigint): bigint {
  return value > MAX_UINT256 ? value - (MAX_UINT256 + 1n) : value;
}

/** Nodes along the path of `index` from the leaf (height 0) to the root (height 32). */
function pathNodes(leaf: Uint8Array, index: number, siblings: readonly Uint8Array[]): Uint8Array[] {
  const nodes = [leaf];
  let node = leaf;
  let position = index;
  for (let h = 0; h < 32; h++) {
    node = position % 2 === 0 ? hashPair(node, siblings[h]) : hashPair(siblings[h], node);
    nodes.push(node);
    position = Math.floor(position / 2);
  }
  return nodes;
}

export class WitnessReplay {
  private accountsRoot: Uint8Array;
  private accountCount: number;
  private withdrawalsRoot: Uint8Array;
  private withdrawalCount: bigint;
  private nextAccount = 0;
  private nextWithdrawal = 0;

  constructor(
    pre: StateHeader,
    private readonly witness: StepWitness,
  ) {
    this.accountsRoot = fromHex(pre.accountsRoot, 32);
    this.accountCount = pre.accountCount;
    this.withdrawalsRoot = fromHex(pre.withdrawalsRoot, 32);
    this.withdrawalCount = pre.withdrawalCount;
  }

  /** Takes the next account entry for `index`, proven against the current root. */
  private read(index: number, empty = false): Read {
    const entry = this.witness.accounts[this.nextAccount++];
    if (entry === undefined) throw new WitnessError(`missing account entry #${this.nextAccount - 1} for ${index}`);
    if (entry.siblings.length !== 32) throw new WitnessError("an account entry has 32 siblings");
    const siblings = entry.siblings.map((s) => fromHex(s, 32));
    const a = entry.account;
    if (
      empty &&
      (a.owner !== ZERO_OWNER || a.tokenId !== 0 || a.balance !== 0n || a.nonce !== 0 || a.blsKeyHash !== ZERO_HASH)
    ) {
      throw new WitnessError(`empty-slot entry for ${index} has non-zero fields`);
    }
    const leaf = empty ? ZERO_HASHES[0] : leafOf(a);
    if (!SparseMerkleTree.verify(this.accountsRoot, leaf, index, siblings)) {
      throw new WitnessError(`account entry #${this.nextAccount - 1} for ${index} does not prove against the root`);
    }
    return { index, account: { ...a }, siblings };
  }

  private write(read: Read, account: WitnessAccount): Uint8Array[] {
    const nodes = pathNodes(leafOf(account), read.index, read.siblings);
    this.accountsRoot = nodes[32];
    return nodes;
  }

  /** Two writes whose reads proved against the same (start-of-transaction) root. */
  private writeTwo(first: Read, firstAccount: WitnessAccount, second: Read, secondAccount: WitnessAccount): void {
    const nodes = this.write(first, firstAccount);
    const d = 31 - Math.clz32((first.index ^ second.index) >>> 0);
    const siblings = second.siblings.slice();
    siblings[d] = nodes[d];
    this.write({ ...second, siblings }, secondAccount);
  }

  private appendWithdrawal(recipient: string, tokenId: number, amount: bigint): void {
    const entry = this.witness.withdrawals[this.nextWithdrawal++];
    if (entry === undefined) throw new WitnessError("missing withdrawal entry");
    const siblings = entry.map((s) => fromHex(s, 32));
    const index = Number(this.withdrawalCount);
    if (!SparseMerkleTree.verify(this.withdrawalsRoot, ZERO_HASHES[0], index, siblings)) {
      throw new WitnessError(`withdrawal entry for ${index} does not prove against the root`);
    }
    this.withdrawalsRoot = SparseMerkleTree.computeRoot(
      withdrawalLeaf({ recipient, tokenId, amount }),
      index,
      siblings,
    );
    this.withdrawalCount += 1n;
  }

  private header(): StateHeader {
    if (this.nextAccount !== this.witness.accounts.length || this.nextWithdrawal !== this.witness.withdrawals.length) {
      throw new WitnessError("unused witness entries");
    }
    return {
      accountsRoot: toHex(this.accountsRoot),
      accountCount: this.accountCount,
      withdrawalsRoot: toHex(this.withdrawalsRoot),
      withdrawalCount: this.withdrawalCount,
    };
  }

  private inRange(index: number): boolean {
    return index >= 1 && index <= this.accountCount;
  }

  /** Re-executes a chunk step; returns the post header and the outcome codes. */
  chunk(bytes: Uint8Array, domainSep: string, feeRecipient: number): { post: StateHeader; outcomes: number[] } {
    if (bytes.length > 0 && bytes[0] === BLS_CHUNK_MARKER) return this.blsChunk(bytes, domainSep, feeRecipient);
    let feeToken = -1;
    if (this.inRange(feeRecipient)) feeToken = this.read(feeRecipient).account.tokenId;
    let totalFees = 0n;
    const decoded = decodeChunk(bytes);
    const outcomes = decoded.txs.map((tx) => {
      const code = this.tx(tx, domainSep, feeToken);
      if (code === Outcome.Applied) totalFees += tx.fee;
      return code;
    });
    if (decoded.end !== undefined) outcomes.push(decoded.end.reason);
    if (totalFees > 0n) {
      const r = this.read(feeRecipient);
      this.write(r, { ...r.account, balance: wrap(r.account.balance + totalFees) });
    }
    return { post: this.header(), outcomes };
  }

  private tx(tx: L2Tx, domainSep: string, feeToken: number): Outcome {
    const count = this.accountCount;
    if (!this.inRange(tx.from)) return Outcome.SenderMissing;
    const sender = this.read(tx.from);
    const s = sender.account;
    let recipient: Read | undefined;
    if (tx.type === TxType.Transfer) {
      if (!this.inRange(tx.to)) return Outcome.RecipientMissing;
      if (tx.to !== tx.from) recipient = this.read(tx.to);
      if ((recipient?.account.tokenId ?? s.tokenId) !== s.tokenId) return Outcome.TokenMismatch;
    }
    if (tx.type === TxType.TransferToNew) {
      if (tx.to === ZERO_OWNER) return Outcome.InvalidRecipient;
      if (count === MAX_ACCOUNT_COUNT) return Outcome.AccountLimit;
    }
    if (tx.fee > 0n && feeToken !== s.tokenId) return Outcome.FeeRecipientMismatch;
    const amount = tx.type === TxType.RegisterKey ? 0n : tx.amount;
    if (amount + tx.fee > s.balance) return Outcome.InsufficientBalance;
    if (s.nonce === MAX_NONCE) return Outcome.NonceExhausted;
    if (tx.type === TxType.RegisterKey && !isBlsKeyValid(fromHex(tx.blsKey, 96))) return Outcome.BadKey;
    if (tx.type === TxType.Withdraw && this.withdrawalCount === MAX_WITHDRAWAL_COUNT) return Outcome.WithdrawalLimit;
    if (recoverCompact(txDigest(domainSep, tx, s.tokenId, s.nonce), fromHex(tx.signature, 64)) !== s.owner) {
      return Outcome.BadSignature;
    }
    const debited = { ...s, balance: s.balance - amount - tx.fee, nonce: s.nonce + 1 };
    if (tx.type === TxType.RegisterKey) {
      this.write(sender, { ...debited, blsKeyHash: toHex(keccak256(fromHex(tx.blsKey, 96))) });
    } else if (tx.type === TxType.Transfer) {
      if (recipient === undefined) this.write(sender, { ...s, balance: s.balance - tx.fee, nonce: s.nonce + 1 });
      else {
        const r = recipient.account;
        this.writeTwo(sender, debited, recipient, { ...r, balance: wrap(r.balance + tx.amount) });
      }
    } else if (tx.type === TxType.Withdraw) {
      this.appendWithdrawal(s.owner, s.tokenId, tx.amount);
      this.write(sender, debited);
    } else {
      const slot = this.read(count + 1, true);
      const created = { owner: tx.to, tokenId: s.tokenId, balance: tx.amount, nonce: 0, blsKeyHash: ZERO_HASH };
      this.writeTwo(sender, debited, slot, created);
      this.accountCount += 1;
    }
    return Outcome.Applied;
  }

  /** Re-executes a BLS chunk step (§5.4) from the witness, keys and signature included (§6). */
  private blsChunk(
    bytes: Uint8Array,
    domainSep: string,
    feeRecipient: number,
  ): { post: StateHeader; outcomes: number[] } {
    let feeToken = -1;
    if (this.inRange(feeRecipient)) feeToken = this.read(feeRecipient).account.tokenId;
    const decoded = decodeBlsChunk(bytes);
    const preRoot = this.accountsRoot;
    const outcomes: number[] = [];
    const applied: number[] = [];
    const messages: Uint8Array[] = [];
    const keys: Uint8Array[] = [];
    const witnessKeys = fromHex(this.witness.blsKeys);
    let totalFees = 0n;
    const fee = decoded.header?.fee ?? 0n;
    for (const { from, to, amount } of decoded.header === undefined ? [] : decoded.transfers) {
      const code = ((): Outcome => {
        if (!this.inRange(from)) return Outcome.SenderMissing;
        const sender = this.read(from);
        if (!this.inRange(to)) return Outcome.RecipientMissing;
        const recipient = to === from ? undefined : this.read(to);
        const s = sender.account;
        if ((recipient?.account.tokenId ?? s.tokenId) !== s.tokenId) return Outcome.TokenMismatch;
        if (fee > 0n && feeToken !== s.tokenId) return Outcome.FeeRecipientMismatch;
        if (amount + fee > s.balance) return Outcome.InsufficientBalance;
        if (s.nonce === MAX_NONCE) return Outcome.NonceExhausted;
        if (s.blsKeyHash === ZERO_HASH) return Outcome.KeyMissing;
        const key = witnessKeys.subarray(96 * keys.length, 96 * keys.length + 96);
        if (key.length !== 96 || toHex(keccak256(key)) !== s.blsKeyHash)
          throw new WitnessError("a BLS key does not fit");
        keys.push(key);
        messages.push(blsTransferDigest(domainSep, { from, to, amount, fee }, s.tokenId, s.nonce));
        const debited = { ...s, balance: s.balance - amount - fee, nonce: s.nonce + 1 };
        if (recipient === undefined) this.write(sender, { ...s, balance: s.balance - fee, nonce: s.nonce + 1 });
        else {
          const r = recipient.account;
          this.writeTwo(sender, debited, recipient, { ...r, balance: wrap(r.balance + amount) });
        }
        totalFees += fee;
        return Outcome.Applied;
      })();
      if (code === Outcome.Applied) applied.push(outcomes.length);
      outcomes.push(code);
    }
    if (decoded.end !== undefined) outcomes.push(decoded.end.reason);
    if (keys.length * 96 !== witnessKeys.length) throw new WitnessError("unused BLS keys");
    const given = fromHex(this.witness.blsSignature);
    if (applied.length > 0) {
      const signature = (decoded.header as { signature: Uint8Array }).signature;
      const d = decodeBlsSignature(signature);
      const expected = d.kind === "point" ? d.point : d.kind === "noPoint" ? d.certificate : new Uint8Array(0);
      if (toHex(given) !== toHex(expected)) throw new WitnessError("the BLS signature witness does not fit");
      if (d.kind === "noPoint") checkNoPoint(signature, given);
      if (!blsVerifyAggregateRaw(messages, keys, signature)) {
        this.accountsRoot = preRoot;
        for (const k of applied) outcomes[k] = Outcome.BadSignature;
        totalFees = 0n;
      }
    } else if (given.length !== 0) {
      throw new WitnessError("a BLS signature witness where none is needed");
    }
    if (totalFees > 0n) {
      const r = this.read(feeRecipient);
      this.write(r, { ...r.account, balance: wrap(r.account.balance + totalFees) });
    }
    return { post: this.header(), outcomes };
  }

  /** Re-executes a queue step; returns the post header and the outcome codes. */
  queue(items: readonly QueueItem[]): { post: StateHeader; outcomes: number[] } {
    const outcomes = items.map((raw) => {
      const item = { ...raw, addr: raw.addr.toLowerCase() };
      if (item.kind === QueueKind.Deposit) return this.deposit(item);
      if (item.kind === QueueKind.ForcedExit) return this.forcedExit(item);
      return Outcome.UnknownKind;
    });
    return { post: this.header(), outcomes };
  }

  private deposit(item: QueueItem): Outcome {
    if (this.inRange(item.account)) {
      const r = this.read(item.account);
      if (r.account.owner === item.addr && r.account.tokenId === item.tokenId) {
        this.write(r, { ...r.account, balance: wrap(r.account.balance + item.amount) });
        return Outcome.Credited;
      }
    }
    if (this.accountCount < MAX_ACCOUNT_COUNT) {
      const slot = this.read(this.accountCount + 1, true);
      this.write(slot, {
        owner: item.addr,
        tokenId: item.tokenId,
        balance: item.amount,
        nonce: 0,
        blsKeyHash: ZERO_HASH,
      });
      this.accountCount += 1;
      return Outcome.Created;
    }
    if (this.withdrawalCount < MAX_WITHDRAWAL_COUNT) {
      this.appendWithdrawal(item.addr, item.tokenId, item.amount);
      return Outcome.Refunded;
    }
    return Outcome.Dropped;
  }

  private forcedExit(item: QueueItem): Outcome {
    if (!this.inRange(item.account)) return Outcome.AccountMissing;
    const r = this.read(item.account);
    const a = r.account;
    if (a.owner !== item.addr) return Outcome.NotOwner;
    if (a.balance === 0n) return Outcome.EmptyBalance;
    if (this.withdrawalCount === MAX_WITHDRAWAL_COUNT) return Outcome.WithdrawalLimit;
    this.appendWithdrawal(a.owner, a.tokenId, a.balance);
    this.write(r, { ...a, balance: 0n });
    return Outcome.Exited;
  }
}

/** Replays a vector's witness; returns what the executor would compute. */
export function replayVector(vector: {
  pre: StateHeader;
  kind: "chunk" | "queue";
  chunk?: string;
  items?: QueueItem[];
  domainSeparator: string;
  feeRecipient: number;
  witness: StepWitness;
}): { post: StateHeader; outcomes: number[] } {
  const replay = new WitnessReplay(vector.pre, vector.witness);
  return vector.kind === "chunk"
    ? replay.chunk(fromHex(vector.chunk ?? "0x"), vector.domainSeparator, vector.feeRecipient)
    : replay.queue(vector.items ?? []);
}

import { expect } from "chai";
import fc from "fast-check";
import {
  applyBatch,
  applyChunk,
  applyQueueStep,
  BilayerError,
  ChunkExecutor,
  concatBytes,
  initHashing,
  L2State,
  MAX_TXS_PER_CHUNK,
  Outcome,
  outcomeName,
  QueueKind,
  STATE_CHANGING_OUTCOMES,
  TxType,
  type Account,
  type QueueItem,
  type UnsignedTx,
} from "../../src/protocol";
import { ChunkBuilder, namedEdgeVectors, VECTOR_ADDRESSES, VECTOR_DOMAIN_SEPARATOR } from "../../src/protocol/testing";

const A = VECTOR_ADDRESSES;
const E18 = 10n ** 18n;
const DS = VECTOR_DOMAIN_SEPARATOR;

/** Expected outcomes of every named edge vector, written from PROTOCOL.md §5 by hand. */
const EXPECTED: Record<string, string[]> = {
  "transfer applied": ["Applied"],
  "transfer with fee credited to the fee recipient": ["Applied"],
  "transfer with a non-canonical amount encoding": ["Applied"],
  "transfer to self pays only the fee": ["Applied"],
  "fee recipient is the sender": ["Applied"],
  "fee recipient is the recipient": ["Applied"],
  "fee recipient cannot spend fees before the end of the chunk": ["Applied", "InsufficientBalance", "Applied"],
  "consecutive nonces in one chunk": ["Applied", "Applied", "Applied", "Applied"],
  "fees in token 1": ["Applied"],
  "zero fee with no fee recipient": ["Applied"],
  "withdraw applied": ["Applied"],
  "transfer to a new address applied": ["Applied"],
  "new account spends in the same chunk": ["Applied", "Applied", "Applied"],
  "every transaction type in one chunk": ["Applied", "Applied", "Applied", "Applied"],
  "last nonce then nonce exhausted": ["Applied", "NonceExhausted"],
  "zero amount transfer": ["Applied"],
  "unknown type byte 0x00 after a transaction": ["Applied", "UnknownType"],
  "unknown type byte 0x05": ["UnknownType"],
  "unknown type byte 0xff": ["UnknownType"],
  "truncated transfer after a transaction": ["Applied", "Truncated"],
  "a single type byte is truncated": ["Truncated"],
  "truncated transfer to new": ["Truncated"],
  "empty chunk": [],
  "empty chunk without a fee recipient": [],
  "trailing byte after 32 transactions": [...new Array<string>(32).fill("Applied"), "Trailing"],
  "trailing valid transaction after 32 transactions is ignored": [...new Array<string>(32).fill("Applied"), "Trailing"],
  "maximum chunk: 32 transfers to new addresses": new Array<string>(32).fill("Applied"),
  "sender index 0 is missing": ["SenderMissing"],
  "sender beyond accountCount is missing": ["SenderMissing", "SenderMissing", "SenderMissing"],
  "recipient missing": ["RecipientMissing", "RecipientMissing"],
  "transfer to new address(0) is an invalid recipient": ["InvalidRecipient"],
  "token mismatch": ["TokenMismatch"],
  "fee without a fee recipient": ["FeeRecipientMismatch"],
  "fee with the fee recipient beyond accountCount": ["FeeRecipientMismatch"],
  "fee in another token than the fee recipient's": ["FeeRecipientMismatch"],
  "overdraft by one": ["InsufficientBalance"],
  "spending the whole balance with the fee": ["Applied"],
  "withdraw overdraft from an empty account": ["InsufficientBalance"],
  "nonce exhausted": ["NonceExhausted"],
  "bad signature: otherKey": ["BadSignature"],
  "bad signature: wrongNonce": ["BadSignature"],
  "bad signature: otherDomain": ["BadSignature"],
  "bad signature: otherAmount": ["BadSignature"],
  "bad signature: otherToken": ["BadSignature"],
  "bad signature: flippedParity": ["BadSignature"],
  "bad signature: highS": ["BadSignature"],
  "bad signature: zeroR": ["BadSignature"],
  "bad signature: rAtLeastN": ["BadSignature"],
  "bad signature: zeroS": ["BadSignature"],
  "bad signature: notOnCurve": ["BadSignature"],
  "bad signature: garbage": ["BadSignature"],
  "bad signature on a withdraw (wrong nonce)": ["BadSignature"],
  "bad signature on a transfer to new (other key)": ["BadSignature"],
  "high-s signature by the owner is rejected": ["BadSignature"],
  "signature with s = n/2 is accepted": ["Applied"],
  "transfer to new creates account 2^32-1": ["Applied", "AccountLimit", "Applied"],
  "transfer to new when the account tree is full": ["AccountLimit", "Applied"],
  "withdraw into the last withdrawal slot": ["Applied", "WithdrawalLimit"],
  "withdraw when the withdrawal tree is full": ["WithdrawalLimit"],
  "deposit credited through its hint": ["Credited"],
  "deposit with hint 0 creates an account": ["Created"],
  "deposit with another owner's hint creates an account": ["Created"],
  "deposit with a hint in another token creates an account": ["Created"],
  "deposit with a hint beyond accountCount creates an account": ["Created", "Credited", "Created"],
  "deposit of zero": ["Created"],
  "32 deposits creating accounts and crediting them through hints": [
    ...new Array<string>(16).fill("Created"),
    ...new Array<string>(16).fill("Credited"),
  ],
  "deposit creates account 2^32-1, the next is refunded": ["Created", "Refunded", "Credited"],
  "deposits when the account tree is full: hint credited, others refunded": ["Credited", "Refunded", "Refunded"],
  "deposit refunded into the last withdrawal slot, then dropped": ["Refunded", "Dropped", "Credited"],
  "forced exit applied": ["Exited"],
  "forced exit of a token account": ["Exited"],
  "forced exit of a missing account": ["AccountMissing", "AccountMissing", "AccountMissing"],
  "forced exit by a non-owner": ["NotOwner"],
  "forced exit of an empty balance": ["EmptyBalance"],
  "forced exit twice: the second finds an empty balance": ["Exited", "EmptyBalance"],
  "deposit then forced exit of the same account": ["Credited", "Exited"],
  "forced exit into the last withdrawal slot, then the limit": ["Exited", "WithdrawalLimit"],
  "forced exit of account 2^32-1": ["Exited"],
  "unknown queue kinds": ["UnknownKind", "UnknownKind", "Credited"],
  "empty queue step": [],
  // BLS keys and BLS chunks (§3.2, §5.2 RegisterKey, §5.4)
  "register a BLS key": ["Applied"],
  "register a BLS key paying a fee": ["Applied"],
  "replace a BLS key": ["Applied"],
  "register a key: off the curve": ["BadKey"],
  "register a key: outside the subgroup": ["BadKey"],
  "register a key: infinity": ["BadKey"],
  "register a key: a coordinate not below p": ["BadKey"],
  "register a key signed by another wallet": ["BadSignature"],
  "register a key: insufficient balance for its fee": ["InsufficientBalance"],
  "BLS transfer applied": ["Applied"],
  "BLS transfers with a fee credited to the fee recipient": ["Applied", "Applied"],
  "BLS transfer to self pays only the fee": ["Applied"],
  "BLS transfers from one sender take consecutive nonces": ["Applied", "Applied", "Applied"],
  "BLS transfers from two accounts of one wallet and key": ["Applied", "Applied"],
  "BLS transfer with 1-byte indices": ["Applied"],
  "40 BLS transfers with 4-byte indices: the largest BLS chunk": [...Array<string>(40).fill("Applied")],
  "BLS transfer from the fee recipient's funds": ["Applied", "Applied"],
  "BLS transfers skipped by each rule, the rest applied": [
    "SenderMissing",
    "RecipientMissing",
    "TokenMismatch",
    "InsufficientBalance",
    "NonceExhausted",
    "KeyMissing",
    "Applied",
  ],
  "BLS fee in a token the fee recipient does not hold": ["FeeRecipientMismatch", "Applied"],
  "BLS fee with no fee recipient": ["FeeRecipientMismatch"],
  "a skipped BLS transfer takes no nonce": ["InsufficientBalance", "Applied"],
  "an account without a key sends no BLS transfer": ["KeyMissing"],
  "BLS chunk with one signature by another key: every transfer undone": [
    "BadSignature",
    "BadSignature",
    "BadSignature",
  ],
  "BLS transfer signed over the wrong nonce": ["BadSignature"],
  "BLS transfer signed over another amount": ["BadSignature"],
  "BLS transfer signed for another rollup": ["BadSignature"],
  "BLS aggregate not marked compressed": ["BadSignature"],
  "BLS aggregate marked infinity": ["BadSignature"],
  "BLS aggregate naming no point": ["BadSignature", "BadSignature"],
  "BLS aggregate outside the subgroup": ["BadSignature"],
  "BLS aggregate unchecked when no transfer applies": ["KeyMissing", "SenderMissing"],
  "BLS transfer after its sender's key changed, signed with the new key": ["Applied"],
  "BLS transfer after its sender's key changed, signed with the old key": ["BadSignature"],
  "BLS chunk that is only its header": [],
  "BLS chunk header truncated": ["Truncated"],
  "BLS chunk with index width 0": ["UnknownType"],
  "BLS chunk with index width 5": ["UnknownType"],
  "BLS chunk with index width 255": ["UnknownType"],
  "BLS chunk with a truncated last transfer: the aggregate no longer holds": ["BadSignature", "Truncated"],
  "BLS chunk with bytes after its 40th transfer": [...Array<string>(40).fill("Applied"), "Trailing"],
};

function state(): L2State {
  return L2State.fromAccounts([
    { owner: A[0], tokenId: 0, balance: 100n * E18, nonce: 0 },
    { owner: A[1], tokenId: 0, balance: 50n * E18, nonce: 7 },
    { owner: A[2], tokenId: 0, balance: 0n, nonce: 0 },
    { owner: A[3], tokenId: 1, balance: 9n * E18, nonce: 0 },
  ]);
}

function chunkOf(pre: L2State, feeRecipient: number, txs: UnsignedTx[]): Uint8Array {
  const builder = new ChunkBuilder(pre, DS, feeRecipient);
  for (const tx of txs) builder.add(tx);
  return builder.bytes();
}

const deposit = (addr: string, tokenId: number, amount: bigint, account: number): QueueItem => ({
  kind: QueueKind.Deposit,
  addr,
  tokenId,
  amount,
  account,
  timestamp: 1n,
});

/** Σ balances per token plus Σ withdrawals per token from index `fromWithdrawal`. */
function holdings(s: L2State, fromWithdrawal = 0n): Map<number, bigint> {
  const sums = new Map<number, bigint>();
  const add = (token: number, v: bigint): void => {
    sums.set(token, (sums.get(token) ?? 0n) + v);
  };
  for (let i = 1; i <= s.accountCount; i++) {
    const a = s.getAccount(i) as Account;
    add(a.tokenId, a.balance);
  }
  for (let k = fromWithdrawal; k < s.withdrawalCount; k++) {
    const w = s.withdrawal(k);
    if (w !== undefined) add(w.tokenId, w.amount);
  }
  return sums;
}

describe("protocol/stf", () => {
  before(async () => {
    await initHashing();
  });

  describe("named edge vectors", () => {
    it("give the outcomes PROTOCOL.md §5 prescribes", () => {
      const vectors = namedEdgeVectors();
      expect(vectors.map((v) => v.name).sort()).to.deep.equal(Object.keys(EXPECTED).sort());
      for (const v of vectors) expect(v.outcomes.map(outcomeName), v.name).to.deep.equal(EXPECTED[v.name]);
    });

    it("change the state root exactly when some outcome changes the state", () => {
      for (const v of namedEdgeVectors()) {
        const changes = v.outcomes.some((o) => STATE_CHANGING_OUTCOMES.has(o));
        expect(v.post, v.name)[changes ? "not" : "to"].deep.equal(v.pre);
      }
    });
  });

  describe("chunk step", () => {
    it("moves the amount, charges the fee, bumps the sender nonce and credits fees once at the end", () => {
      const pre = state();
      const chunk = chunkOf(pre, 3, [
        { type: TxType.Transfer, from: 1, to: 2, amount: 10n * E18, fee: 100n },
        { type: TxType.Transfer, from: 2, to: 1, amount: E18, fee: 20n },
      ]);
      const post = pre.clone();
      const executor = new ChunkExecutor(post, { domainSeparator: DS, feeRecipient: 3 });
      expect(executor.next(chunk, 0)).to.deep.equal({ code: Outcome.Applied, size: 80 });
      expect(executor.next(chunk, 80)).to.deep.equal({ code: Outcome.Applied, size: 80 });
      expect(post.getAccount(3)?.balance).to.equal(0n); // not yet credited
      const result = executor.finish();
      expect(post.getAccount(1)).to.deep.equal({ owner: A[0], tokenId: 0, balance: 91n * E18 - 100n, nonce: 1 });
      expect(post.getAccount(2)).to.deep.equal({ owner: A[1], tokenId: 0, balance: 59n * E18 - 20n, nonce: 8 });
      expect(post.getAccount(3)?.balance).to.equal(120n);
      expect(result.postRoot).to.equal(post.stateRoot());
      expect(result.header).to.deep.equal(post.header());
    });

    it("makes a withdrawal to the sender's owner and a new account for a transfer to a new address", () => {
      const pre = state();
      const post = pre.clone();
      applyChunk(
        post,
        chunkOf(pre, 0, [
          { type: TxType.Withdraw, from: 4, amount: 2n * E18, fee: 0n },
          { type: TxType.TransferToNew, from: 4, to: A[5], amount: 3n * E18, fee: 0n },
        ]),
        { domainSeparator: DS, feeRecipient: 0 },
      );
      expect(post.withdrawalCount).to.equal(1n);
      expect(post.withdrawal(0)).to.deep.equal({ recipient: A[3], tokenId: 1, amount: 2n * E18 });
      expect(post.accountCount).to.equal(5);
      expect(post.getAccount(5)).to.deep.equal({ owner: A[5], tokenId: 1, balance: 3n * E18, nonce: 0 });
      expect(post.getAccount(4)).to.deep.equal({ owner: A[3], tokenId: 1, balance: 4n * E18, nonce: 2 });
    });

    it("rejects a replayed transaction: the nonce has moved on", () => {
      const pre = state();
      const once = chunkOf(pre, 0, [{ type: TxType.Transfer, from: 1, to: 2, amount: E18, fee: 0n }]);
      const result = applyChunk(pre.clone(), concatBytes(once, once), { domainSeparator: DS, feeRecipient: 0 });
      expect(result.outcomes.map((o) => o.code)).to.deep.equal([Outcome.Applied, Outcome.BadSignature]);
      expect(result.outcomes[1].reason).to.match(/^BadSignature: not signed by 0x[0-9a-f]{40} over nonce 1$/);
    });

    it("never throws and stops parsing as §5.2 says on arbitrary bytes (property)", () => {
      const pre = state();
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 6 }), (bytes, feeRecipient) => {
          const post = pre.clone();
          const { outcomes } = applyChunk(post, bytes, { domainSeparator: DS, feeRecipient });
          expect(outcomes.length).to.be.at.most(MAX_TXS_PER_CHUNK + 1);
          outcomes.forEach((o, i) => expect(o.index).to.equal(i));
          const enders = [Outcome.UnknownType, Outcome.Truncated, Outcome.Trailing];
          outcomes.slice(0, -1).forEach((o) => expect(enders).to.not.include(o.code));
          // Random signatures never verify, so random bytes never change the state.
          expect(post.stateRoot()).to.equal(pre.stateRoot());
        }),
        { numRuns: 300, seed: 7 },
      );
    });

    it("conserves every token: balances plus new withdrawals (property)", () => {
      const pre = state();
      const txArb = fc.record({
        type: fc.constantFrom(TxType.Transfer, TxType.Withdraw, TxType.TransferToNew),
        from: fc.integer({ min: 0, max: 6 }),
        to: fc.integer({ min: 0, max: 6 }),
        amount: fc.constantFrom(0n, 1n, E18, 10n * E18, 60n * E18, 10n ** 30n),
        fee: fc.constantFrom(0n, 0n, 1n, 2047n),
        recipient: fc.constantFrom(...A),
      });
      fc.assert(
        fc.property(fc.array(txArb, { maxLength: 12 }), fc.integer({ min: 0, max: 5 }), (txs, feeRecipient) => {
          const builder = new ChunkBuilder(pre, DS, feeRecipient);
          for (const t of txs) {
            if (t.type === TxType.Transfer) builder.add({ ...t, type: t.type, to: t.to });
            else if (t.type === TxType.Withdraw)
              builder.add({ type: t.type, from: t.from, amount: t.amount, fee: t.fee });
            else if (t.type === TxType.TransferToNew)
              builder.add({ type: t.type, from: t.from, to: t.recipient, amount: t.amount, fee: t.fee });
          }
          const post = pre.clone();
          applyChunk(post, builder.bytes(), { domainSeparator: DS, feeRecipient });
          expect(holdings(post)).to.deep.equal(holdings(pre));
        }),
        { numRuns: 60, seed: 11 },
      );
    });

    it("refuses a malformed context as API misuse, before touching the state", () => {
      const pre = state();
      const root = pre.stateRoot();
      expect(() => applyChunk(pre, new Uint8Array(0), { domainSeparator: "0x1234", feeRecipient: 0 })).to.throw(
        BilayerError,
      );
      expect(() => applyChunk(pre, new Uint8Array(0), { domainSeparator: DS, feeRecipient: -1 })).to.throw(
        BilayerError,
      );
      expect(pre.stateRoot()).to.equal(root);
    });

    it("refuses to read past the end of a chunk once parsing has stopped", () => {
      const executor = new ChunkExecutor(state(), { domainSeparator: DS, feeRecipient: 0 });
      expect(executor.next(Uint8Array.of(9), 0)).to.deep.equal({ code: Outcome.UnknownType, size: 0 });
      expect(executor.isEnded).to.equal(true);
      expect(() => executor.next(Uint8Array.of(1), 0)).to.throw(BilayerError, /ended/);
    });
  });

  describe("queue step", () => {
    it("credits a hinted account, creates one otherwise, and conserves deposits", () => {
      const pre = state();
      const post = pre.clone();
      const items = [deposit(A[1], 0, 5n, 2), deposit(A[1], 1, 6n, 2), deposit(A[4], 0, 7n, 0)];
      const { outcomes } = applyQueueStep(post, items);
      expect(outcomes.map((o) => o.code)).to.deep.equal([Outcome.Credited, Outcome.Created, Outcome.Created]);
      expect(post.getAccount(2)?.balance).to.equal(50n * E18 + 5n);
      expect(post.getAccount(5)).to.deep.equal({ owner: A[1], tokenId: 1, balance: 6n, nonce: 0 });
      expect(post.getAccount(6)).to.deep.equal({ owner: A[4], tokenId: 0, balance: 7n, nonce: 0 });
    });

    it("moves a forced exit's whole balance to a withdrawal and keeps the nonce", () => {
      const post = state();
      const exit: QueueItem = {
        kind: QueueKind.ForcedExit,
        addr: A[1],
        tokenId: 0,
        amount: 0n,
        account: 2,
        timestamp: 9n,
      };
      expect(applyQueueStep(post, [exit]).outcomes[0].code).to.equal(Outcome.Exited);
      expect(post.getAccount(2)).to.deep.equal({ owner: A[1], tokenId: 0, balance: 0n, nonce: 7 });
      expect(post.withdrawal(0)).to.deep.equal({ recipient: A[1], tokenId: 0, amount: 50n * E18 });
    });

    it("matches the recipient address case-insensitively", () => {
      const post = state();
      const item = deposit(A[1].toUpperCase().replace("0X", "0x"), 0, 1n, 2);
      expect(applyQueueStep(post, [item]).outcomes[0].code).to.equal(Outcome.Credited);
    });

    it("throws on more than 32 items or an item outside its ABI types, leaving the state untouched", () => {
      const pre = state();
      const root = pre.stateRoot();
      const items = Array.from({ length: 33 }, () => deposit(A[0], 0, 1n, 0));
      expect(() => applyQueueStep(pre, items)).to.throw(BilayerError, /at most 32/);
      expect(() => applyQueueStep(pre, [deposit(A[0], 0, 1n, 0), { ...deposit(A[0], 0, 1n, 0), kind: 256 }])).to.throw(
        BilayerError,
      );
      expect(() => applyQueueStep(pre, [deposit(A[0], 0, -1n, 0)])).to.throw(BilayerError);
      expect(pre.stateRoot()).to.equal(root);
    });
  });

  describe("batch", () => {
    it("applies queue items in steps of at most 32, then one step per chunk, with a root after each", () => {
      const pre = state();
      const items = Array.from({ length: 70 }, (_, i) => deposit(A[i % 6], 0, BigInt(i + 1), 0));
      const chunk = chunkOf(pre, 1, [{ type: TxType.Transfer, from: 1, to: 2, amount: E18, fee: 3n }]);
      const batch = { queueItems: items, chunks: [chunk, new Uint8Array(0)], feeRecipient: 1, domainSeparator: DS };
      const post = pre.clone();
      const { stepRoots, steps } = applyBatch(post, batch);
      expect(steps.map((s) => s.outcomes.length)).to.deep.equal([32, 32, 6, 1, 0]);
      expect(stepRoots).to.deep.equal(steps.map((s) => s.postRoot));
      expect(stepRoots[4]).to.equal(post.stateRoot());
      const manual = pre.clone();
      const roots = [
        applyQueueStep(manual, items.slice(0, 32)).postRoot,
        applyQueueStep(manual, items.slice(32, 64)).postRoot,
        applyQueueStep(manual, items.slice(64)).postRoot,
        applyChunk(manual, chunk, { domainSeparator: DS, feeRecipient: 1 }).postRoot,
        applyChunk(manual, new Uint8Array(0), { domainSeparator: DS, feeRecipient: 1 }).postRoot,
      ];
      expect(stepRoots).to.deep.equal(roots);
      expect(holdings(post).get(0)).to.equal((holdings(pre).get(0) ?? 0n) + BigInt((70 * 71) / 2));
    });

    it("checks the whole batch for misuse before applying any step", () => {
      const pre = state();
      const root = pre.stateRoot();
      const items = [deposit(A[0], 0, 1n, 0), { ...deposit(A[0], 0, 1n, 0), timestamp: 2n ** 64n }];
      expect(() => applyBatch(pre, { queueItems: items, chunks: [], feeRecipient: 0, domainSeparator: DS })).to.throw(
        BilayerError,
      );
      expect(pre.stateRoot()).to.equal(root);
    });
  });
});

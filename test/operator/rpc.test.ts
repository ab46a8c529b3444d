import { expect } from "chai";
import { getAddress, Wallet } from "ethers";
import { blsKeyFromSeed, blsRawPublicKey, deriveBlsKey } from "../../src/protocol/bls";
import { registerKeyTx, signL2Transaction } from "../../src/operator/client";
import { TxType } from "../../src/protocol/constants";
import { eip712Domain, typedMessage } from "../../src/protocol/eip712";
import { txHash } from "../../src/protocol/codec";
import { fromHex, toHex } from "../../src/protocol/hash";
import { SECP256K1_N } from "../../src/protocol/signature";
import { RpcCode } from "../../src/operator/errors";
import { silentLogger } from "../../src/operator/log";
import { createApi, mapApiError, type L1Status } from "../../src/operator/rpc/api";
import { JsonRpcServer } from "../../src/common/json-rpc-server";
import { MemoryStore } from "../../src/common/store";
import { CHAIN_ID, fund, INBOX, sequencer, signed, transfer, users, withdraw, type Harness } from "./fixtures";

const MAX_BODY = 4096;

const l1Status = (): L1Status => ({
  chainId: "31337",
  contracts: { bridge: "0x1", rollupInbox: "0x2", stateCommitmentChain: "0x3" },
  sequencer: "0x4",
  l1Block: 7,
  heads: { appended: 0, proposed: 0, final: 0 },
  openProposals: [],
  proposer: { bondsHeld: 0, liesProven: [] },
  inFlight: [],
});

/** The API of `h`'s sequencer behind an in-thread server on a free port (not started). */
function apiServer(h: Harness, routes: ConstructorParameters<typeof JsonRpcServer>[0]["routes"] = {}): JsonRpcServer {
  return new JsonRpcServer({
    host: "127.0.0.1",
    port: 0,
    maxBodyBytes: MAX_BODY,
    maxBatchLength: 5,
    methods: createApi({ sequencer: h.seq, l1Status }),
    routes,
    logger: silentLogger(),
    mapError: mapApiError,
  });
}

interface Answer {
  jsonrpc?: string;
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

describe("JSON-RPC API", () => {
  const [alice, bob, carol] = users(3, "rpc");
  let h: Harness;
  let store: MemoryStore;
  let server: JsonRpcServer;
  let url: string;

  before(async () => {
    store = new MemoryStore();
    h = await sequencer({ store, mempool: { maxPerAccount: 2, maxNonceGap: 8 } });
    await fund(h, [alice, bob], 10_000n);
    server = apiServer(h, { "/health": (_q, res) => void res.writeHead(200).end("ok\n") });
    url = (await server.start()).url;
  });

  after(async () => {
    await server.stop();
  });

  async function raw(body: string): Promise<{ status: number; text: string }> {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    return { status: res.status, text: await res.text() };
  }

  async function call(method: string, params?: unknown): Promise<Answer> {
    const req: Record<string, unknown> = { jsonrpc: "2.0", id: 1, method };
    if (params !== undefined) req.params = params;
    return JSON.parse((await raw(JSON.stringify(req))).text) as Answer;
  }

  async function code(method: string, params?: unknown): Promise<number | undefined> {
    return (await call(method, params)).error?.code;
  }

  describe("the protocol layer", () => {
    it("answers malformed JSON with -32700 and id null", async () => {
      const a = JSON.parse((await raw("{ not json")).text) as Answer;
      expect(a).to.deep.include({ jsonrpc: "2.0", id: null });
      expect(a.error?.code).to.equal(RpcCode.ParseError);
    });

    it("answers requests that are not JSON-RPC 2.0 with -32600", async () => {
      for (const body of [
        "42",
        '"x"',
        "null",
        '{"id":1,"method":"l2_getStatus"}',
        '{"jsonrpc":"1.0","id":1,"method":"l2_getStatus"}',
        '{"jsonrpc":"2.0","id":1,"method":7}',
        '{"jsonrpc":"2.0","id":1,"method":"l2_getStatus","params":5}',
        '{"jsonrpc":"2.0","id":{},"method":"l2_getStatus"}',
        "[]",
      ]) {
        const a = JSON.parse((await raw(body)).text) as Answer;
        expect(a.error?.code, body).to.equal(RpcCode.InvalidRequest);
      }
    });

    it("answers an unknown method with -32601, including inherited property names", async () => {
      expect(await code("eth_blockNumber")).to.equal(RpcCode.MethodNotFound);
      expect(await code("constructor")).to.equal(RpcCode.MethodNotFound);
      expect(await code("__proto__")).to.equal(RpcCode.MethodNotFound);
    });

    it("answers batches in order, skips notifications, and bounds the batch length", async () => {
      const batch = [
        { jsonrpc: "2.0", id: "a", method: "l2_getAccount", params: [1] },
        { jsonrpc: "2.0", method: "l2_getStatus" },
        { jsonrpc: "2.0", id: "c", method: "nope" },
        5,
      ];
      const answers = JSON.parse((await raw(JSON.stringify(batch))).text) as Answer[];
      expect(answers.map((x) => x.id)).to.deep.equal(["a", "c", null]);
      expect(answers[0].result).to.include({ index: 1 });
      expect(answers[1].error?.code).to.equal(RpcCode.MethodNotFound);
      expect(answers[2].error?.code).to.equal(RpcCode.InvalidRequest);
      const notification = await raw(JSON.stringify({ jsonrpc: "2.0", method: "l2_getStatus" }));
      expect(notification.status).to.equal(204);
      const tooMany = JSON.parse(
        (await raw(JSON.stringify(Array(6).fill({ jsonrpc: "2.0", id: 1, method: "l2_getStatus" })))).text,
      ) as Answer;
      expect(tooMany.error?.code).to.equal(RpcCode.InvalidRequest);
    });

    it("answers a body over the limit with HTTP 413 and -32006, and keeps serving", async () => {
      const res = await raw(
        JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_getStatus", pad: "x".repeat(MAX_BODY) }),
      );
      expect(res.status).to.equal(413);
      expect((JSON.parse(res.text) as Answer).error?.code).to.equal(RpcCode.BodyTooLarge);
      expect((await call("l2_getAccount", [1])).result).to.include({ index: 1 });
    });

    it("answers a body nested past the limit, unparsed, with -32600 (-32700 if not JSON), and keeps serving", async () => {
      const envelope = (params: string): string =>
        `{"jsonrpc":"2.0","id":7,"method":"l2_getAccount","params":${params}}`;
      // The envelope is one level: params 63 deep is exactly at the default limit of 64, and reaches the method.
      const atLimit = JSON.parse((await raw(envelope("[".repeat(63) + "]".repeat(63)))).text) as Answer;
      expect(atLimit).to.deep.include({ id: 7 });
      expect(atLimit.error?.code).to.equal(RpcCode.InvalidParams);
      for (const depth of [64, 1_500]) {
        const a = JSON.parse((await raw(envelope("[".repeat(depth) + "]".repeat(depth)))).text) as Answer;
        expect(a, `params ${depth} deep`).to.deep.include({ jsonrpc: "2.0", id: null });
        expect(a.error).to.deep.equal({
          code: RpcCode.InvalidRequest,
          message: "invalid request: nested deeper than 64 levels",
          data: { limit: 64 },
        });
      }
      // Not JSON, and too deep: a parse error, as any body that is not JSON.
      for (const body of [envelope("[".repeat(1_500)), "[".repeat(1_500) + "}".repeat(1_500)]) {
        expect((JSON.parse((await raw(body)).text) as Answer).error?.code).to.equal(RpcCode.ParseError);
      }
      // Brackets inside strings are not nesting.
      const inString = JSON.parse((await raw(envelope(JSON.stringify(["[".repeat(1_500)])))).text) as Answer;
      expect(inString.error?.code).to.equal(RpcCode.InvalidParams);
      expect((await call("l2_getAccount", [1])).result).to.include({ index: 1 });
    });

    it("serves plain GET routes and refuses other verbs", async () => {
      expect((await fetch(`${url}/health`)).status).to.equal(200);
      expect((await fetch(`${url}/nope`)).status).to.equal(404);
      expect((await fetch(url, { method: "PUT", body: "{}" })).status).to.equal(405);
    });
  });

  describe("l2_sendTransaction", () => {
    let nonce = 0;
    const next = (): string => toHex(signed(alice, transfer(1, 2, 1n), nonce));

    it("accepts a packed transaction, and the same one as typed fields", async () => {
      const a = await call("l2_sendTransaction", [next()]);
      expect(a.result).to.include({ status: "pending", from: 1, nonce: 0 });
      nonce++;
      const bytes = signed(alice, transfer(1, 2, 5n), nonce);
      const typed = { type: "transfer", from: 1, to: 2, amount: "5", fee: "0", signature: toHex(bytes.subarray(16)) };
      const b = await call("l2_sendTransaction", { tx: typed });
      expect(b.result).to.include({ status: "pending", nonce: 1 });
      nonce++;
    });

    it("accepts the typed fields with a wallet's 65-byte EIP-712 signature", async () => {
      const wallet = new Wallet(toHex(alice.key));
      const message = typedMessage(transfer(1, 2, 3n), 0, nonce);
      const signature = await wallet.signTypedData(eip712Domain(CHAIN_ID, INBOX), message.types, message.message);
      const a = await call("l2_sendTransaction", [
        { type: "transfer", from: 1, to: 2, amount: "3", fee: "0", signature },
      ]);
      expect(a.result).to.include({ status: "pending", nonce });
      nonce++;
    });

    it("takes a key registration as typed fields signed by a wallet, and refuses a key that is no key", async () => {
      // A sequencer of its own, where Carol's account (1) registers a BLS key derived from her wallet.
      const own = await sequencer();
      await fund(own, [carol], 100n);
      const ownServer = apiServer(own);
      const ownUrl = (await ownServer.start()).url;
      const ownCall = async (method: string, params: unknown): Promise<Answer> => {
        const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
        const res = await fetch(ownUrl, { method: "POST", headers: { "content-type": "application/json" }, body });
        return (await res.json()) as Answer;
      };
      try {
        const wallet = new Wallet(toHex(carol.key));
        const domain = eip712Domain(CHAIN_ID, INBOX);
        const blsKey = toHex(blsRawPublicKey(await deriveBlsKey(wallet, domain)));
        const send = async (key: string, n: number): Promise<Answer> => {
          const message = typedMessage({ type: TxType.RegisterKey, from: 1, fee: 0n, blsKey: key }, 0, n);
          const signature = await wallet.signTypedData(domain, message.types, message.message);
          return ownCall("l2_sendTransaction", [{ type: "registerKey", from: 1, fee: "0", blsKey: key, signature }]);
        };
        expect((await send(blsKey, 0)).result).to.include({ status: "pending", from: 1, nonce: 0 });
        expect((await ownCall("l2_getAccount", [1])).result).to.include({ index: 1, blsKey });
        const infinity = await send("0x" + "00".repeat(96), 1);
        expect(infinity.error?.data).to.include({ reason: "BadKey" });
        expect((await ownCall("l2_getAccount", [1])).result).to.include({ nonce: 1, blsKey });
        // A rotation, packed by the client library and signed by the same wallet.
        const next = blsKeyFromSeed(new Uint8Array(32).fill(7));
        const ctx = { chainId: CHAIN_ID, inbox: INBOX, tokenId: 0, nonce: 1 };
        const packed = await signL2Transaction(wallet, registerKeyTx(1, next), ctx);
        expect((await ownCall("l2_sendTransaction", [packed])).result).to.include({ status: "pending", nonce: 1 });
        expect((await ownCall("l2_getAccount", [1])).result).to.include({ blsKey: toHex(blsRawPublicKey(next)) });
      } finally {
        await ownServer.stop();
      }
    });

    it("answers malformed params with -32602", async () => {
      const bad: unknown[] = [
        undefined,
        [],
        [42],
        ["0x1"],
        ["zz"],
        ["0x" + "00".repeat(200)],
        ["0x09" + "00".repeat(79)], // unknown type byte
        ["0x01" + "00".repeat(40)], // truncated transfer
        [next() + "00"], // trailing byte
        [next(), -1],
        [next(), 1, 2],
        { tx: next(), extra: 1 },
        [{ type: "swap", from: 1, amount: "1", signature: "0x" + "11".repeat(64) }],
        [{ type: "transfer", from: 1, to: 2, amount: "-1", signature: "0x" + "11".repeat(64) }],
        [{ type: "transfer", from: 1, to: 2, amount: "1", signature: "0x11" }],
        [{ type: "withdraw", from: 1, to: 2, amount: "1", signature: "0x" + "11".repeat(64) }],
        [{ type: "transferToNew", from: 1, to: "bob", amount: "1", signature: "0x" + "11".repeat(64) }],
      ];
      for (const params of bad)
        expect(await code("l2_sendTransaction", params), JSON.stringify(params)).to.equal(RpcCode.InvalidParams);
    });

    it("answers an amount or fee with no exact packed form with -32003", async () => {
      const sig = "0x" + "11".repeat(64);
      const amount = await call("l2_sendTransaction", [
        { type: "transfer", from: 1, to: 2, amount: "123456789012345678901", signature: sig },
      ]);
      expect(amount.error?.code).to.equal(RpcCode.AmountNotPackable);
      expect(amount.error?.message).to.match(/cannot be packed exactly/);
      expect(
        await code("l2_sendTransaction", [
          { type: "transfer", from: 1, to: 2, amount: "1", fee: "4097", signature: sig },
        ]),
      ).to.equal(RpcCode.AmountNotPackable);
    });

    it("answers a signature by anyone but the owner with -32001", async () => {
      const a = await call("l2_sendTransaction", [toHex(signed(bob, transfer(1, 2, 1n), nonce))]);
      expect(a.error?.code).to.equal(RpcCode.BadSignature);
      expect(a.error?.message).to.match(/not signed by/);
    });

    it("answers a used nonce, or one too far ahead, with -32002", async () => {
      expect(await code("l2_sendTransaction", [toHex(signed(alice, transfer(1, 2, 9n), 0))])).to.equal(
        RpcCode.WrongNonce,
      );
      expect(await code("l2_sendTransaction", [toHex(signed(alice, transfer(1, 2, 9n), 0)), 0])).to.equal(
        RpcCode.WrongNonce,
      );
      expect(
        await code("l2_sendTransaction", [toHex(signed(alice, transfer(1, 2, 9n), nonce + 50)), nonce + 50]),
      ).to.equal(RpcCode.WrongNonce);
    });

    it("answers an unknown sender or recipient with -32004", async () => {
      expect(await code("l2_sendTransaction", [toHex(signed(carol, transfer(9, 1, 1n), 0))])).to.equal(
        RpcCode.UnknownAccount,
      );
      expect(await code("l2_sendTransaction", [toHex(signed(alice, transfer(1, 77, 1n), nonce))])).to.equal(
        RpcCode.UnknownAccount,
      );
    });

    it("answers an overdraft with -32005 and other skip reasons with -32008", async () => {
      const over = await call("l2_sendTransaction", [toHex(signed(alice, withdraw(1, 1_000_000n), nonce))]);
      expect(over.error?.code).to.equal(RpcCode.InsufficientBalance);
      expect(over.error?.data).to.include({ balance: "9991" }); // 10,000 less the 1 + 5 + 3 sent above
      const fee = await call("l2_sendTransaction", [toHex(signed(alice, transfer(1, 2, 1n, 1n), nonce))]);
      expect(fee.error?.code).to.equal(RpcCode.TxRejected);
      expect(fee.error?.data).to.include({ reason: "FeeRecipientMismatch" });
    });

    it("answers -32009 when the account's waiting room is full", async () => {
      for (const ahead of [2, 3]) {
        expect(
          (await call("l2_sendTransaction", [toHex(signed(alice, transfer(1, 2, 1n), nonce + ahead)), nonce + ahead]))
            .result,
        ).to.include({
          status: "queued",
        });
      }
      expect(
        await code("l2_sendTransaction", [toHex(signed(alice, transfer(1, 2, 1n), nonce + 4)), nonce + 4]),
      ).to.equal(RpcCode.MempoolFull);
    });

    it("answers -32007 when the store cannot write, accepts nothing, then -32011 until it has recovered", async () => {
      const before = h.seq.status().nextSeq;
      store.failWrites = new Error("disk on fire");
      expect(await code("l2_sendTransaction", [toHex(signed(bob, transfer(2, 1, 1n), 0))])).to.equal(
        RpcCode.StoreFailure,
      );
      expect(await code("l2_sendTransaction", [toHex(signed(bob, transfer(2, 1, 1n), 0))])).to.equal(
        RpcCode.Unavailable,
      );
      store.failWrites = undefined;
      await h.seq.whenRecovered();
      expect(h.seq.status().nextSeq).to.equal(before);
      expect(h.seq.getAccount(2)?.nonce).to.equal(0);
      expect((await call("l2_sendTransaction", [toHex(signed(bob, transfer(2, 1, 1n), 0))])).result).to.include({
        status: "pending",
      });
    });
    it("takes a 65-byte signature's v as 27/28 or 0/1, and answers a high-s one with -32001", async () => {
      const wallet = new Wallet(toHex(bob.key));
      let nonce = h.seq.getAccount(2)?.nonce ?? 0;
      const sign = async (amount: bigint): Promise<{ fields: Record<string, unknown>; sig: Uint8Array }> => {
        const message = typedMessage(transfer(2, 1, amount), 0, nonce);
        const signature = await wallet.signTypedData(eip712Domain(CHAIN_ID, INBOX), message.types, message.message);
        const fields = { type: "transfer", from: 2, to: 1, amount: amount.toString(), fee: "0" };
        return { fields, sig: fromHex(signature, 65) };
      };
      const low = await sign(2n);
      const zeroOne = Uint8Array.from(low.sig);
      zeroOne[64] -= 27;
      const ok = await call("l2_sendTransaction", [{ ...low.fields, signature: toHex(zeroOne) }]);
      expect(ok.result).to.include({ status: "pending", nonce });
      nonce++;
      // The same signature with s' = n - s and v flipped recovers the owner too; it is refused.
      const next = await sign(3n);
      const high = Uint8Array.from(next.sig);
      const s = BigInt(toHex(high.subarray(32, 64)));
      high.set(fromHex("0x" + (SECP256K1_N - s).toString(16).padStart(64, "0"), 32), 32);
      high[64] = high[64] === 27 ? 28 : 27;
      const refused = await call("l2_sendTransaction", [{ ...next.fields, signature: toHex(high) }]);
      expect(refused.error?.code).to.equal(RpcCode.BadSignature);
      expect(refused.error?.message).to.match(/high-s/);
      expect((await call("l2_sendTransaction", [{ ...next.fields, signature: toHex(next.sig) }])).result).to.include({
        status: "pending",
        nonce,
      });
    });
  });

  describe("a transaction sent again (a wallet retrying after a lost response)", () => {
    const [dave, erin] = users(2, "rpc-resend");
    /** A memory store whose writes wait for `release()` while `held` is set. */
    class GatedStore extends MemoryStore {
      held = false;
      private waiting: (() => void)[] = [];
      override write(ops: Parameters<MemoryStore["write"]>[0]): Promise<void> {
        if (!this.held) return super.write(ops);
        return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => super.write(ops));
      }
      release(): void {
        this.held = false;
        for (const go of this.waiting.splice(0)) go();
      }
    }
    let g: GatedStore;
    let r: Harness;
    let server2: JsonRpcServer;
    let url2: string;

    before(async () => {
      g = new GatedStore();
      r = await sequencer({ store: g });
      await fund(r, [dave, erin], 1_000n);
      server2 = apiServer(r);
      url2 = (await server2.start()).url;
    });

    after(async () => {
      await server2.stop();
    });

    async function send(body: unknown): Promise<Answer & Answer[]> {
      const res = await fetch(url2, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Answer & Answer[];
    }
    const req = (params: unknown, id: unknown = 1) => ({ jsonrpc: "2.0", id, method: "l2_sendTransaction", params });

    it("answers the same bytes with the same hash and status, though the first copy spent the whole balance", async () => {
      const all = toHex(signed(dave, transfer(1, 2, 1_000n), 0));
      const first = await send(req([all]));
      expect(first.result).to.include({ status: "pending", from: 1, nonce: 0 });
      const stored = r.seq.status().nextSeq;
      for (const params of [[all], { tx: all }, [all, 0]]) {
        const again = await send(req(params));
        expect(again.error, JSON.stringify(params)).to.equal(undefined);
        expect(again.result).to.deep.equal(first.result);
      }
      // The typed fields of the same signed transaction are the same transaction.
      const typed = { type: "transfer", from: 1, to: 2, amount: "1000", fee: "0", signature: "0x" + all.slice(2 + 32) };
      expect((await send(req([typed]))).result).to.deep.equal(first.result);
      expect(r.seq.status().nextSeq).to.equal(stored);
      expect(r.seq.getAccount(1)).to.include({ balance: 0n, nonce: 1 });
      expect(r.seq.getAccount(2)).to.include({ balance: 2_000n });
    });

    it("answers both copies inside one JSON-RPC batch with one hash, and stores one", async () => {
      const tx = toHex(signed(erin, transfer(2, 1, 10n), 0));
      const stored = r.seq.status().nextSeq;
      const answers = await send([req([tx], "a"), req({ tx }, "b")]);
      expect(answers.map((a) => a.error)).to.deep.equal([undefined, undefined]);
      expect(answers[0].result).to.deep.equal(answers[1].result);
      expect(answers[0].result).to.include({ status: "pending", nonce: 0 });
      expect(r.seq.status().nextSeq).to.equal(stored + 1);
    });

    it("follows the first copy from a closed batch to L1, to a proposal, to finality", async () => {
      const tx = toHex(signed(erin, transfer(2, 1, 1n), 1));
      const { hash } = (await send(req([tx]))).result as { hash: string };
      await r.seq.flush();
      const batchIndex = r.seq.status().batches.closed - 1;
      const heads = (n: number) => ({ appended: batchIndex + n, proposed: batchIndex + n, final: batchIndex + n });
      const expected: [Parameters<typeof r.seq.setL1Heads>[0], string][] = [
        [heads(0), "batched"],
        [{ ...heads(0), appended: batchIndex + 1 }, "appended"],
        [{ ...heads(0), appended: batchIndex + 1, proposed: batchIndex + 1 }, "proposed"],
        [heads(1), "final"],
      ];
      for (const [l1, status] of expected) {
        r.seq.setL1Heads(l1);
        expect((await send(req([tx]))).result).to.deep.equal({ hash, status, from: 2, nonce: 1, batchIndex });
      }
    });

    it("answers a waiting transaction skipped when its turn came as skipped, with the reason", async () => {
      const ahead = toHex(signed(erin, transfer(2, 1, 5_000n), 3));
      expect((await send(req([ahead, 3]))).result).to.include({ status: "queued" });
      expect((await send(req([ahead, 3]))).result).to.include({ status: "queued" });
      await send(req([toHex(signed(erin, transfer(2, 1, 1n), 2))]));
      const again = (await send(req([ahead, 3]))).result as { status: string; reason: string };
      expect(again.status).to.equal("skipped");
      expect(again.reason).to.match(/insufficient balance/);
    });

    it("answers a copy sent while the first is still being written only once it is on disk", async () => {
      const tx = toHex(signed(dave, transfer(1, 2, 0n), 1));
      g.held = true;
      const order: string[] = [];
      const first = send(req([tx])).then((a) => (order.push("first"), a));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = send(req([tx])).then((a) => (order.push("second"), a));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(order).to.deep.equal([]);
      g.release();
      const [a, b] = await Promise.all([first, second]);
      expect(a.result).to.include({ status: "pending" });
      expect(b.result).to.deep.equal(a.result);
    });

    it("answers a copy of a transaction whose write failed as not accepted, as the first copy was", async () => {
      const tx = toHex(signed(dave, transfer(1, 2, 0n), 2));
      g.held = true;
      const first = send(req([tx]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const second = send(req([tx]));
      await new Promise((resolve) => setTimeout(resolve, 50));
      g.failWrites = new Error("disk full");
      g.release();
      const [a, b] = await Promise.all([first, second]);
      expect(a.error?.code).to.equal(RpcCode.StoreFailure);
      expect(b.error?.code).to.equal(RpcCode.Unavailable);
      g.failWrites = undefined;
      await r.seq.whenRecovered();
      expect(await r.seq.receipt(txHash(fromHex(tx)))).to.equal(undefined);
      expect((await send(req([tx]))).result).to.include({ status: "pending", nonce: 2 });
    });
  });

  describe("the read methods", () => {
    it("l2_getAccount: by index and by owner; -32602 for a malformed account, -32004 for a missing one", async () => {
      expect((await call("l2_getAccount", [2])).result).to.include({ index: 2, owner: getAddress(bob.address) });
      expect((await call("l2_getAccount", { account: alice.address })).result).to.deep.include({
        owner: getAddress(alice.address),
      });
      for (const p of [undefined, [], [-1], [1.5], ["x"], ["0x123"], [2 ** 33], [1, 2], { index: 1 }]) {
        expect(await code("l2_getAccount", p), JSON.stringify(p)).to.equal(RpcCode.InvalidParams);
      }
      expect(await code("l2_getAccount", [99])).to.equal(RpcCode.UnknownAccount);
      expect(await code("l2_getAccount", [0])).to.equal(RpcCode.UnknownAccount);
      expect(await code("l2_getAccount", [carol.address])).to.equal(RpcCode.UnknownAccount);
    });

    it("l2_getTransactionReceipt: null for an unknown hash, -32602 for a malformed one", async () => {
      expect((await call("l2_getTransactionReceipt", ["0x" + "00".repeat(32)])).result).to.equal(null);
      for (const p of [undefined, ["0x12"], [12], ["0x" + "zz".repeat(32)]]) {
        expect(await code("l2_getTransactionReceipt", p)).to.equal(RpcCode.InvalidParams);
      }
    });

    it("l2_getBatch: a closed batch, null for an unknown index, -32602 for a malformed one", async () => {
      expect((await call("l2_getBatch", [0])).result).to.include({
        index: 0,
        status: "closed",
        queueStart: "0",
        queueEnd: "2",
      });
      expect((await call("l2_getBatch", [1000])).result).to.equal(null);
      for (const p of [undefined, ["a"], [-3]]) expect(await code("l2_getBatch", p)).to.equal(RpcCode.InvalidParams);
    });

    it("l2_getWithdrawalProof: -32010 for an unknown withdrawal or one not in a batch yet, -32602 for malformed params", async () => {
      expect(await code("l2_getWithdrawalProof", [0])).to.equal(RpcCode.WithdrawalNotFound);
      for (const p of [undefined, ["x"], [0, "y"]])
        expect(await code("l2_getWithdrawalProof", p)).to.equal(RpcCode.InvalidParams);
    });

    it("l2_getWithdrawals: the withdrawals paying an address, with their batch; -32602 for a malformed address", async () => {
      expect((await call("l2_getWithdrawals", [carol.address])).result).to.deep.equal([]);
      const nonce = (h.seq.getAccount(2)?.nonce ?? 0) as number;
      await call("l2_sendTransaction", [toHex(signed(bob, withdraw(2, 7n), nonce))]);
      expect((await call("l2_getWithdrawals", [bob.address])).result).to.deep.equal([
        { withdrawalIndex: 0, tokenId: 0, amount: "7", batchIndex: null, status: "pending" },
      ]);
      await h.seq.flush();
      const listed = (await call("l2_getWithdrawals", { recipient: bob.address })).result as {
        batchIndex: number;
        status: string;
      }[];
      expect(listed[0].batchIndex).to.be.a("number");
      expect(listed[0].status).to.equal("batched");
      const proof = (await call("l2_getWithdrawalProof", [0])).result as {
        amount: string;
        recipient: string;
        final: boolean;
        siblings: string[];
      };
      expect(proof).to.include({ amount: "7", final: false, recipient: getAddress(bob.address) });
      expect(proof.siblings).to.have.length(32);
      expect(await code("l2_getWithdrawalProof", [0, 0])).to.equal(RpcCode.WithdrawalNotFound); // batch 0 predates it
      for (const p of [undefined, ["0x12"], [5]])
        expect(await code("l2_getWithdrawals", p)).to.equal(RpcCode.InvalidParams);
    });

    it("l2_getStatus: heads, queue and mempool; -32602 when given params", async () => {
      const s = (await call("l2_getStatus")).result as Record<string, unknown>;
      expect(s).to.include({ chainId: "31337", l1Block: 7 });
      expect(s.queue).to.deep.include({ known: "2", sequenced: "2", backlog: "2" });
      expect(await code("l2_getStatus", [1])).to.equal(RpcCode.InvalidParams);
    });
  });
});

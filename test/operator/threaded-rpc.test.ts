import { blsKeyFromSeed, blsRawPublicKey } from "../../src/protocol/bls";
import { TxType } from "../../src/protocol/constants";
import { signBlsTransfer } from "../../src/operator/client";
import { expect } from "chai";
import { toHex } from "../../src/protocol/hash";
import { RpcCode } from "../../src/operator/errors";
import { silentLogger } from "../../src/operator/log";
import { createApi, mapApiError, type L1Status } from "../../src/operator/rpc/api";
import type { Worker } from "node:worker_threads";
import type { RpcHandler } from "../../src/common/json-rpc-server";
import { ThreadedJsonRpcServer, type ThreadedRpcOptions, type ThreadFailure } from "../../src/operator/rpc/threaded";
import { CHAIN_ID, DOMAIN, fund, INBOX, sequencer, signed, transfer, users, type Harness } from "./fixtures";

const l1Status = (): L1Status => ({
  chainId: "31337",
  contracts: { bridge: "0x1", rollupInbox: "0x2", stateCommitmentChain: "0x3" },
  sequencer: "0x4",
  l1Block: 1,
  heads: { appended: 0, proposed: 0, final: 0 },
  openProposals: [],
  proposer: { bondsHeld: 0, liesProven: [] },
  inFlight: [],
});

describe("JSON-RPC API with its HTTP side on a thread of its own", () => {
  const [alice, bob] = users(2, "threaded");
  let h: Harness;
  let server: ThreadedJsonRpcServer;
  let url: string;
  const counted: [string, number][] = [];

  before(async () => {
    h = await sequencer();
    await fund(h, [alice, bob], 1000n);
    server = new ThreadedJsonRpcServer({
      host: "127.0.0.1",
      port: 0,
      maxBodyBytes: 2048,
      maxBatchLength: 100,
      methods: createApi({ sequencer: h.seq, l1Status }),
      routes: { "/health": () => ({ status: 200, contentType: "text/plain", body: "ok\n" }) },
      logger: silentLogger(),
      logLevel: "silent",
      mapError: mapApiError,
      onResponse: (method, code) => counted.push([method, code]),
    });
    url = (await server.start()).url;
  });

  after(async () => {
    await server.stop();
  });

  const post = async (body: string): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    return { status: res.status, json: await res.json() };
  };

  it("runs the methods on this thread, in arrival order, a batch in its order", async () => {
    const batch = [0, 1, 2, 3].map((nonce) => ({
      jsonrpc: "2.0",
      id: nonce,
      method: "l2_sendTransaction",
      params: [toHex(signed(alice, transfer(1, 2, 10n), nonce))],
    }));
    const { json } = await post(JSON.stringify(batch));
    expect((json as { id: number; result: { nonce: number } }[]).map((a) => [a.id, a.result.nonce])).to.deep.equal([
      [0, 0],
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
    expect(h.seq.getAccount(2)?.balance).to.equal(1040n);
  });

  it("answers errors raised on this thread with their codes, and envelope errors from the HTTP thread", async () => {
    const bad = await post(
      JSON.stringify({
        jsonrpc: "2.0",
        id: 9,
        method: "l2_sendTransaction",
        params: [toHex(signed(bob, transfer(1, 2, 1n), 4))],
      }),
    );
    expect(bad.json).to.deep.include({ id: 9 });
    expect((bad.json as { error: { code: number } }).error.code).to.equal(RpcCode.BadSignature);
    expect(((await post("{oops")).json as { error: { code: number } }).error.code).to.equal(RpcCode.ParseError);
    const big = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "l2_getStatus", pad: "x".repeat(4096) }));
    expect(big.status).to.equal(413);
    expect(
      ((await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "nope" }))).json as { error: { code: number } })
        .error.code,
    ).to.equal(RpcCode.MethodNotFound);
    expect((await fetch(`${url}/health`)).status).to.equal(200);
    await new Promise((r) => setTimeout(r, 20));
    expect(counted).to.deep.include(["l2_sendTransaction", RpcCode.BadSignature]);
    expect(counted).to.deep.include(["(unknown)", RpcCode.MethodNotFound]);
  });
});

describe("JSON-RPC API with signatures recovered ahead by the HTTP thread's pool (presign)", () => {
  const [alice, bob, mallory] = users(3, "threaded-presign");
  let h: Harness;
  let server: ThreadedJsonRpcServer;
  let url: string;

  before(async () => {
    h = await sequencer();
    await fund(h, [alice, bob], 1000n);
    server = new ThreadedJsonRpcServer({
      host: "127.0.0.1",
      port: 0,
      maxBodyBytes: 4096,
      maxBatchLength: 100,
      methods: createApi({ sequencer: h.seq, l1Status }),
      logger: silentLogger(),
      logLevel: "silent",
      mapError: mapApiError,
      presign: { domainSeparator: DOMAIN, hints: () => h.seq.senderHints(), threads: 2 },
    });
    url = (await server.start()).url;
  });

  after(async () => {
    await server.stop();
  });

  const call = async (body: unknown): Promise<unknown> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return res.json();
  };
  const send = (id: number, params: unknown[]) => ({ jsonrpc: "2.0", id, method: "l2_sendTransaction", params });
  const recoveries = async (): Promise<{ presigned: number; native: number }> => {
    const { values } = await h.metrics.signatureRecoveries.get();
    const of = (source: string): number => values.find((v) => v.labels.source === source)?.value ?? 0;
    return { presigned: of("presigned"), native: of("native") };
  };

  it("hands the sequencer each transaction's signer, a batch's consecutive nonces and waiting ones included", async () => {
    // A batch request of four transfers from one account, no nonces given.
    const batch = [0, 1, 2, 3].map((n) => send(n, [toHex(signed(alice, transfer(1, 2, 10n), n))]));
    const answers = (await call(batch)) as { result: { nonce: number } }[];
    expect(answers.map((a) => a.result.nonce)).to.deep.equal([0, 1, 2, 3]);
    // The next one alone, after the answers told the HTTP thread the account's nonce.
    await call(send(4, [toHex(signed(alice, transfer(1, 2, 10n), 4))]));
    // Typed fields, signed ahead with its nonce; then the one filling the gap.
    const ahead = { type: "transfer", from: 2, to: 1, amount: "7", signature: "", nonce: 1 };
    ahead.signature = toHex(signed(bob, transfer(2, 1, 7n), 1).slice(-64));
    expect(((await call(send(5, [ahead]))) as { result: { status: string } }).result.status).to.equal("queued");
    await call(send(6, [toHex(signed(bob, transfer(2, 1, 3n), 0))]));
    expect(h.seq.getAccount(1)?.nonce).to.equal(5);
    expect(h.seq.getAccount(2)?.nonce).to.equal(2);
    expect(h.seq.getAccount(2)?.balance).to.equal(1000n + 50n - 10n);
    // Every check answered from a recovery made ahead: 5 + the waiting one (queued, then promoted) + the gap-filler.
    expect(await recoveries()).to.deep.equal({ presigned: 8, native: 0 });
  });

  it("still refuses a transaction its sender's owner did not sign", async () => {
    const forged = toHex(signed(mallory, transfer(1, 2, 500n), 5));
    const answer = (await call(send(7, [forged]))) as { error: { code: number } };
    expect(answer.error.code).to.equal(RpcCode.BadSignature);
    expect(h.seq.getAccount(1)?.nonce).to.equal(5);
    expect(h.seq.getAccount(1)?.balance).to.equal(1000n - 50n + 10n);
  });

  it("checks BLS transfers' signatures ahead too, in one batch per turn, once the HTTP thread knows the keys", async () => {
    const [ka, kb] = [blsKeyFromSeed(new Uint8Array(32).fill(7)), blsKeyFromSeed(new Uint8Array(32).fill(8))];
    const register = (u: typeof alice, from: number, key: typeof ka, nonce: number) =>
      toHex(signed(u, { type: TxType.RegisterKey, from, fee: 0n, blsKey: toHex(blsRawPublicKey(key)) }, nonce));
    await call([send(10, [register(alice, 1, ka, 5)]), send(11, [register(bob, 2, kb, 2)])]);
    const before = await recoveries();
    const envelope = (key: typeof ka, from: number, to: number, amount: bigint, nonce: number) =>
      signBlsTransfer(key, { from, to, amount }, { chainId: CHAIN_ID, inbox: INBOX, tokenId: 0, nonce });
    // A turn of four from alice and one forged (bob's account, alice's key) between them.
    const turn = [
      ...[6, 7].map((n, i) => send(20 + i, [envelope(ka, 1, 2, 5n, n)])),
      send(22, [envelope(ka, 2, 1, 5n, 3)]),
      ...[8, 9].map((n, i) => send(23 + i, [envelope(ka, 1, 2, 5n, n)])),
    ];
    const answers = (await call(turn)) as { result?: { status: string }; error?: { code: number } }[];
    expect(answers.map((a) => a.result?.status ?? a.error?.code)).to.deep.equal([
      "pending",
      "pending",
      RpcCode.BadSignature,
      "pending",
      "pending",
    ]);
    expect(h.seq.getAccount(1)?.nonce).to.equal(10);
    const after = await recoveries();
    // Every BLS check answered ahead (the forged one too: its verdict came from the batch, halved to find it).
    expect(after.presigned - before.presigned).to.be.at.least(5);
    // And none on this thread: the forged one is refused on the verdict made ahead, with no nonces tried.
    expect(after.native - before.native).to.equal(0);
  });

  it("checks a turn of bad BLS envelopes from one account ahead, and again on this thread where the guess was off", async () => {
    const kb = blsKeyFromSeed(new Uint8Array(32).fill(10));
    const nonce = h.seq.getAccount(1)?.nonce ?? -1;
    const before = await recoveries();
    // Signed with a key not account 1's: the HTTP thread guesses a nonce for each after the one before; the
    // account stays where it is, and every guess but the first is off (each checked again: ./check-budget.ts).
    const bad = [1n, 2n, 3n, 4n].map((amount, i) =>
      send(31 + i, [
        signBlsTransfer(kb, { from: 1, to: 2, amount }, { chainId: CHAIN_ID, inbox: INBOX, tokenId: 0, nonce }),
      ]),
    );
    const answers = (await call(bad)) as { error?: { code: number } }[];
    expect(answers.map((a) => a.error?.code)).to.deep.equal(bad.map(() => RpcCode.BadSignature));
    expect(h.seq.getAccount(1)?.nonce).to.equal(nonce);
    const after = await recoveries();
    expect({ presigned: after.presigned - before.presigned, native: after.native - before.native }).to.deep.equal({
      presigned: 1,
      native: 3,
    });
  });
});

/** `n` arrays, one inside the other, around `1`, as JSON text. */
const nestedText = (n: number): string => `${"[".repeat(n)}1${"]".repeat(n)}`;

/** `n` arrays, one inside the other, around `1` (built without recursion). */
function nestedValue(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

interface Answer {
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** A promise with its resolver, and another that settles once something waits on it. */
class Gate {
  open!: (v: unknown) => void;
  readonly opened = new Promise<unknown>((r) => (this.open = r));
  entered!: () => void;
  readonly reached = new Promise<void>((r) => (this.entered = r));
}

describe("JSON-RPC server with its HTTP side on a thread: hostile requests and failures of the thread", () => {
  const [alice, bob] = users(2, "threaded-failures");
  let h: Harness;
  let nonce = 0;
  const servers: ThreadedJsonRpcServer[] = [];
  const gates = new Map<string, Gate>();
  const gate = (name: string): Gate => {
    let g = gates.get(name);
    if (!g) gates.set(name, (g = new Gate()));
    return g;
  };
  /** How many times the test methods ran (on this thread). */
  let ran = 0;

  const testMethods: Record<string, RpcHandler> = {
    test_run: () => ++ran,
    test_wait: (params) => {
      const g = gate(String((params as unknown[])[0]));
      g.entered();
      return g.opened;
    },
    // A result that cannot be cloned to the HTTP thread.
    test_function: () => () => 1,
    test_deep: (params) => nestedValue(Number((params as unknown[])[0])),
  };

  /** Starts a server on the API and the test methods; `failures` and `restarted()` follow its thread. */
  async function serve(opts: Partial<ThreadedRpcOptions> = {}) {
    const failures: ThreadFailure[] = [];
    let restarts: (() => void)[] = [];
    const server = new ThreadedJsonRpcServer({
      host: "127.0.0.1",
      port: 0,
      maxBodyBytes: 1 << 20,
      maxBatchLength: 100,
      methods: { ...createApi({ sequencer: h.seq, l1Status }), ...testMethods },
      routes: { "/health": () => ({ status: 200, contentType: "text/plain", body: "ok\n" }) },
      logger: silentLogger(),
      logLevel: "silent",
      mapError: mapApiError,
      onThreadFailure: (f) => failures.push(f),
      onThreadRestart: () => {
        for (const r of restarts) r();
        restarts = [];
      },
      ...opts,
    });
    servers.push(server);
    const { url } = await server.start();
    const post = async (body: string): Promise<Answer & Answer[]> => {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      return (await res.json()) as Answer & Answer[];
    };
    const request = (method: string, params: unknown[] | string, id: unknown = 1): string =>
      `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"${method}","params":${typeof params === "string" ? params : JSON.stringify(params)}}`;
    /** The thread serving now (private: the tests reach in to make it fail). */
    const worker = (): Worker => (server as unknown as { thread: { worker: Worker } }).thread.worker;
    const restarted = (): Promise<void> => new Promise((r) => restarts.push(r));
    return { server, url, post, request, failures, worker, restarted };
  }

  /** A signed transfer of alice's, at her next nonce, as a request. */
  const transferRequest = (id: number): string =>
    JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "l2_sendTransaction",
      params: [toHex(signed(alice, transfer(1, 2, 1n), nonce++))],
    });

  before(async () => {
    h = await sequencer();
    await fund(h, [alice, bob], 1_000_000n);
  });

  after(async () => {
    for (const g of gates.values()) g.open(null);
    // Bounded, so that a stop that hangs fails its own test rather than hanging the suite.
    await Promise.race([Promise.all(servers.map((s) => s.stop())), new Promise((r) => setTimeout(r, 10_000).unref())]);
  });

  it("answers bodies nested past its limit with -32600 before they reach this thread, and serves on", async () => {
    const { post, request } = await serve({ maxJsonDepth: 8 });
    const before = ran;
    for (const depth of [8, 4_000, 14_000, 20_000]) {
      const a = await post(request("test_run", nestedText(depth)));
      expect(a.error, `params ${depth} deep`).to.deep.include({ code: RpcCode.InvalidRequest, data: { limit: 8 } });
    }
    expect((await post("[".repeat(20_000))).error?.code).to.equal(RpcCode.ParseError);
    expect(ran, "no call reached this thread").to.equal(before);
    // Exactly at the limit: envelope, then params 7 deep.
    expect((await post(request("test_run", nestedText(7)))).result).to.equal(before + 1);
    const sent = await post(transferRequest(2));
    expect(sent.result).to.include({ status: "pending" });
  });

  it("with no depth limit, a call the main thread cannot read costs only that call", async () => {
    const { post, request, failures } = await serve({ maxJsonDepth: Number.POSITIVE_INFINITY });
    const before = ran;
    const first = h.seq.getAccount(1)?.nonce ?? 0;
    // 8,000 levels: the HTTP thread sends it, this thread cannot read it (messageerror);
    // 20,000 levels: the HTTP thread cannot even send it. Each time the transfers sent with it are answered.
    for (const depth of [8_000, 20_000]) {
      const batch = `[${transferRequest(1)},${request("test_run", nestedText(depth), 2)},${transferRequest(3)}]`;
      const answers = await post(batch);
      expect(answers.map((a) => a.id)).to.deep.equal([1, 2, 3]);
      expect(answers[0].result, `beside ${depth}`).to.include({ status: "pending" });
      expect(answers[2].result, `beside ${depth}`).to.include({ status: "pending" });
      expect(answers[1].error?.code).to.equal(RpcCode.InternalError);
      expect(answers[1].error?.message).to.contain("it did not run");
    }
    expect(ran, "the deep calls never ran").to.equal(before);
    expect(h.seq.getAccount(1)?.nonce, "every transfer applied once, in order").to.equal(first + 4);
    expect(failures.map((f) => f.event)).to.include("messageerror");
    expect((await post(request("test_run", []))).result).to.equal(before + 1);
  });

  it("answers -32603 a call whose result cannot be passed back, and the rest of its turn as usual", async () => {
    const { post, request } = await serve();
    const answers = await post(
      `[${request("l2_getAccount", [1], 1)},${request("test_function", [], 2)},${transferRequest(3)}]`,
    );
    expect(answers[0].result).to.include({ index: 1 });
    expect(answers[1].error?.code).to.equal(RpcCode.InternalError);
    expect(answers[1].error?.message).to.contain("the call ran");
    expect(answers[2].result).to.include({ status: "pending" });
  });

  it("answers the calls sent -32603 when it cannot read a message of this thread, and serves on", async () => {
    // A thread with a small stack: a result 1,500 deep goes from here (this stack is larger) but cannot be read there.
    const { post, request, failures } = await serve({ resourceLimits: { stackSizeMb: 0.5 } });
    const a = await post(request("test_deep", [1_500]));
    expect(a.error?.code).to.equal(RpcCode.InternalError);
    expect(a.error?.message).to.contain("may have run");
    expect(failures.map((f) => f.event)).to.deep.equal(["messageerror"]);
    expect(failures[0].reason).to.contain("could not read a message of this thread");
    expect((await post(request("l2_getAccount", [2]))).result).to.include({ index: 2 });
  });

  it("replaces a thread that exits on the same port, and no answer for the old thread's calls reaches the new one", async () => {
    const { server, url, post, request, failures, worker, restarted } = await serve();
    // The first call of a thread is its call 1; so will be the first of the next thread.
    const old = post(request("test_wait", ["old"])).then(
      () => "answered",
      () => "connection lost",
    );
    await gate("old").reached;
    const again = restarted();
    await worker().terminate();
    expect(await old, "its connection went with the thread").to.equal("connection lost");
    await again;
    expect(server.restarts).to.equal(1);
    expect(server.lastRestartAt).to.be.a("number");
    expect(server.lastFailure).to.deep.include({ event: "exit" });
    expect(failures.map((f) => f.event)).to.deep.equal(["exit"]);
    const fresh = post(request("test_wait", ["new"]));
    await gate("new").reached;
    // The old call's answer now, then a whole round trip: had it gone to the new thread, it would have answered `fresh`.
    gate("old").open("for the old thread");
    expect((await post(request("l2_getAccount", [1]))).result).to.include({ index: 1 });
    gate("new").open("for the new thread");
    expect((await fresh).result).to.equal("for the new thread");
    expect((await fetch(`${url}/health`)).status).to.equal(200);
  });

  it("answers its calls -32603 when it fails, stops, and is replaced", async () => {
    const { server, post, request, worker, restarted } = await serve();
    const waiting = post(request("test_wait", ["dying"]));
    await gate("dying").reached;
    const again = restarted();
    // A message it cannot handle makes it throw: an uncaught exception in the HTTP thread.
    worker().postMessage({ kind: "replies", replies: null });
    const a = await waiting;
    expect(a.error?.code).to.equal(RpcCode.InternalError);
    expect(a.error?.message).to.contain("may have run");
    await again;
    expect(server.restarts).to.equal(1);
    expect(server.lastFailure?.event).to.equal("exit");
    expect(server.lastFailure?.reason).to.contain("TypeError");
    gate("dying").open(null);
    expect((await post(transferRequest(1))).result).to.include({ status: "pending" });
  });

  it("stops promptly when its thread has already exited, and starts no other", async () => {
    const { server, worker, failures } = await serve();
    const w = worker();
    const exited = new Promise((r) => w.once("exit", r));
    await w.terminate();
    await exited;
    expect(failures.map((f) => f.event)).to.deep.equal(["exit"]);
    const stopped = await Promise.race([
      server.stop().then(() => "stopped"),
      new Promise((r) => setTimeout(() => r("still waiting"), 5_000).unref()),
    ]);
    expect(stopped).to.equal("stopped");
    const internals = server as unknown as { thread?: unknown; restartTimer?: unknown };
    expect(internals.thread, "no thread started after stop").to.equal(undefined);
    expect(internals.restartTimer, "no restart pending").to.equal(undefined);
    expect(server.restarts).to.equal(0);
  });
});

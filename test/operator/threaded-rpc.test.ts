import { expect } from "chai";
import { toHex } from "../../src/protocol/hash";
import { RpcCode } from "../../src/operator/errors";
import { silentLogger } from "../../src/operator/log";
import { createApi, mapApiError, type L1Status } from "../../src/operator/rpc/api";
import { ThreadedJsonRpcServer } from "../../src/operator/rpc/threaded";
import { DOMAIN, fund, sequencer, signed, transfer, users, type Harness } from "./fixtures";

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
});

import { expect } from "chai";
import { toHex } from "../../src/protocol/hash";
import { RpcCode } from "../../src/operator/errors";
import { silentLogger } from "../../src/operator/log";
import { createApi, mapApiError, type L1Status } from "../../src/operator/rpc/api";
import { ThreadedJsonRpcServer } from "../../src/operator/rpc/threaded";
import { fund, sequencer, signed, transfer, users, type Harness } from "./fixtures";

const l1Status = (): L1Status => ({
  chainId: "31337",
  contracts: { bridge: "0x1", rollupInbox: "0x2", stateCommitmentChain: "0x3" },
  sequencer: "0x4",
  l1Block: 1,
  heads: { appended: 0, proposed: 0, final: 0 },
  openProposals: [],
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

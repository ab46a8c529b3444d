import { expect } from "chai";
import { Wallet } from "ethers";
import { WebSocket } from "ws";
import { BilayerError } from "../../src/protocol/errors";
import {
  jsonDeeperThan,
  MAX_JSON_DEPTH,
  MAX_UNAUTHENTICATED,
  PeerRequestError,
  PeerTransport,
  PeerUnavailableError,
  PREAUTH_MAX_FRAME,
  PeerErrorCode,
} from "../../src/channels/transport";
import { InvalidMessageError, encodeSig, encodeUpdate } from "../../src/channels/wire";
import { applyUpdate, depositSnapshot } from "../../src/channels/updates";
import { signStateWithKey } from "../../src/channels/state";
import {
  channelNet,
  ETH,
  openChannel,
  scriptedPeer,
  startClient,
  stopClient,
  teardown,
  until,
  type Net,
} from "./client.helpers.test";

const KEY_A = Wallet.createRandom().privateKey;
const KEY_B = Wallet.createRandom().privateKey;

/** Opens a raw WebSocket and collects every frame it receives. */
async function raw(url: string): Promise<{ ws: WebSocket; frames: unknown[]; next(): Promise<unknown> }> {
  const ws = new WebSocket(url);
  const frames: unknown[] = [];
  const waiting: ((v: unknown) => void)[] = [];
  ws.on("message", (data) => {
    const value = JSON.parse(String(data)) as unknown;
    const w = waiting.shift();
    if (w) w(value);
    else frames.push(value);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return {
    ws,
    frames,
    next: () =>
      frames.length > 0 ? Promise.resolve(frames.shift()) : new Promise<unknown>((resolve) => waiting.push(resolve)),
  };
}

describe("PeerTransport", function () {
  this.timeout(60_000);
  const started: PeerTransport[] = [];

  async function node(key: string, port?: number): Promise<PeerTransport> {
    const t = new PeerTransport({ privateKey: key, port: port ?? 0, requestTimeoutMs: 2_000, reconnectMs: 50 });
    await t.start();
    started.push(t);
    return t;
  }

  afterEach(async function () {
    for (const t of started.splice(0)) await t.stop();
  });

  it("answers requests by id and authenticates both sides' addresses", async function () {
    const a = await node(KEY_A);
    const b = await node(KEY_B);
    b.on("echo", (from, params) => ({ from, params: params as never }));
    a.setPeerUrl(b.address, b.url as string);
    const answers = await Promise.all([1, 2, 3].map((i) => a.request(b.address, "echo", { i })));
    expect(answers).to.deep.equal([1, 2, 3].map((i) => ({ from: a.address, params: { i } })));
    expect(b.isConnected(a.address)).to.equal(true);
    expect(b.peerUrl(a.address)).to.equal(a.url);
  });

  it("maps handler failures to error answers and keeps serving", async function () {
    const a = await node(KEY_A);
    const b = await node(KEY_B);
    b.on("invalid", () => {
      throw new InvalidMessageError("x must be a string", "x");
    });
    b.on("refused", () => Promise.reject(new BilayerError("UPDATE_REFUSED", "not today")));
    b.on("bug", () => {
      throw new Error("secret internal detail");
    });
    b.on("ok", () => "fine");
    a.setPeerUrl(b.address, b.url as string);
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: PeerRequestError) => [e.rpcCode, e.peerCode, e.message],
      );
    expect(await codeOf(a.request(b.address, "invalid", {}))).to.deep.equal([
      PeerErrorCode.INVALID_PARAMS,
      "INVALID_MESSAGE",
      "x must be a string",
    ]);
    expect(await codeOf(a.request(b.address, "refused", {}))).to.deep.equal([
      PeerErrorCode.REFUSED,
      "UPDATE_REFUSED",
      "not today",
    ]);
    expect(await codeOf(a.request(b.address, "bug", {}))).to.deep.equal([
      PeerErrorCode.INTERNAL_ERROR,
      undefined,
      "internal error",
    ]);
    expect(await codeOf(a.request(b.address, "nothing", {}))).to.deep.equal([
      PeerErrorCode.METHOD_NOT_FOUND,
      undefined,
      "unknown method nothing",
    ]);
    expect(await a.request(b.address, "ok", {})).to.equal("fine");
  });

  it("answers malformed frames with errors, refuses requests before authentication, and never crashes", async function () {
    const b = await node(KEY_B);
    b.on("ok", () => "fine");
    const c = await raw(b.url as string);
    const hello = (await c.next()) as { hello: { address: string; nonce: string } };
    expect(hello.hello.address).to.equal(b.address);
    c.ws.send("{not json");
    expect(await c.next()).to.deep.include({
      id: null,
      error: { code: PeerErrorCode.PARSE_ERROR, message: "frames must be JSON text" },
    });
    c.ws.send(JSON.stringify({ id: 7, method: "ok", params: {} }));
    expect(((await c.next()) as { error: { code: number } }).error.code).to.equal(PeerErrorCode.UNAUTHENTICATED);
    // Two frames before authentication are all anyone gets: the third is cut off unread.
    const closed = new Promise((resolve) => c.ws.once("close", resolve));
    c.ws.send(JSON.stringify({ id: 8, method: "ok" }));
    await closed;
    const d = await raw(b.url as string);
    await d.next();
    d.ws.send(JSON.stringify({ id: -1, method: "ok" }));
    expect(((await d.next()) as { error: { code: number } }).error.code).to.equal(PeerErrorCode.INVALID_REQUEST);
    d.ws.send(JSON.stringify(42));
    expect(((await d.next()) as { error: { code: number } }).error.code).to.equal(PeerErrorCode.INVALID_REQUEST);
    // A hello that claims an address it cannot sign for is refused and the socket closed.
    const e = await raw(b.url as string);
    await e.next();
    const liar = new Wallet(KEY_A);
    e.ws.send(JSON.stringify({ hello: { address: liar.address, nonce: "0x" + "11".repeat(32) } }));
    expect(((await e.next()) as { auth: unknown }).auth).to.not.equal(undefined);
    e.ws.send(JSON.stringify({ auth: { sig: "0x" + "22".repeat(65) } }));
    expect(((await e.next()) as { error: { code: number } }).error.code).to.equal(PeerErrorCode.UNAUTHENTICATED);
    await new Promise((resolve) => e.ws.once("close", resolve));
    expect(b.isConnected(liar.address)).to.equal(false);
    // The node still serves honest peers.
    const a = await node(KEY_A);
    a.setPeerUrl(b.address, b.url as string);
    expect(await a.request(b.address, "ok", {})).to.equal("fine");
  });

  describe("limits before and after authentication", function () {
    /** A JSON text nested `depth` deep: `[[[…]]]`. */
    const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

    it("cuts off an unauthenticated frame over 1 KiB, and a socket over 8 KiB, without parsing them", async function () {
      const b = await node(KEY_B);
      const big = await raw(b.url as string);
      await big.next();
      const cut = new Promise((resolve) => big.ws.once("close", resolve));
      big.ws.send(nested(PREAUTH_MAX_FRAME)); // 2 KiB: past the frame limit
      await cut;
      // A frame far too large is cut off while it arrives: the node never assembles 4 MiB for a stranger.
      const huge = await raw(b.url as string);
      await huge.next();
      const cutHuge = new Promise((resolve) => huge.ws.once("close", resolve));
      huge.ws.send(nested(2 << 20));
      await cutHuge;
      expect(b.stats.cutOff).to.equal(2);
      const a = await node(KEY_A);
      b.on("ok", () => "fine");
      a.setPeerUrl(b.address, b.url as string);
      expect(await a.request(b.address, "ok", {})).to.equal("fine");
    });

    it(`keeps at most ${MAX_UNAUTHENTICATED} connections waiting in the handshake`, async function () {
      const b = await node(KEY_B);
      b.on("ok", () => "fine");
      const a = await node(KEY_A);
      a.setPeerUrl(b.address, b.url as string);
      expect(await a.request(b.address, "ok", {})).to.equal("fine");
      const idle = await Promise.all(Array.from({ length: MAX_UNAUTHENTICATED }, () => raw(b.url as string)));
      await Promise.all(idle.map((c) => c.next())); // each got its hello: all are waiting
      const extra = new WebSocket(b.url as string);
      const refused = await new Promise<number>((resolve) => extra.once("close", (code) => resolve(code)));
      expect(refused).to.not.equal(1000);
      expect(b.stats.refusedAtDoor).to.equal(1);
      // The authenticated peer is not among them and is served as before.
      expect(await a.request(b.address, "ok", {})).to.equal("fine");
      for (const c of idle) c.ws.terminate();
    });

    it("drops an authenticated peer's deeply nested frame unparsed, and serves it again once it reconnects", async function () {
      const b = await node(KEY_B);
      b.on("ok", (_from, params) => params);
      const a = await node(KEY_A);
      a.setPeerUrl(b.address, b.url as string);
      expect(await a.request(b.address, "ok", nested(MAX_JSON_DEPTH - 2))).to.equal(nested(MAX_JSON_DEPTH - 2));
      const deep = JSON.parse(nested(MAX_JSON_DEPTH)) as unknown;
      // The request is never parsed; the connection drops (the request fails at once) and comes back.
      await expect(a.request(b.address, "ok", deep)).to.be.rejectedWith(PeerUnavailableError);
      expect(b.stats.tooDeep).to.equal(1);
      expect(await a.request(b.address, "ok", { x: 1 })).to.deep.equal({ x: 1 });
    });

    it("pauses an authenticated peer past its byte budget and still answers everything it sent", async function () {
      const b = new PeerTransport({ privateKey: KEY_B, port: 0, bytesPerSecond: 256 << 10, maxPayload: 64 << 10 });
      await b.start();
      started.push(b);
      b.on("echo", (_from, params) => (params as string).length);
      const a = await node(KEY_A);
      a.setPeerUrl(b.address, b.url as string);
      const chunk = "x".repeat(40 << 10);
      // 400 KiB, one request (one frame) after another, past the 256 KiB budget: the socket is paused until the
      // budget refills, and nothing is lost.
      const answers: unknown[] = [];
      for (let i = 0; i < 10; i++) answers.push(await a.request(b.address, "echo", chunk));
      expect(answers).to.deep.equal(Array(10).fill(chunk.length));
      expect(b.stats.throttled).to.be.greaterThan(0);
    });

    it("splits what it sends in one turn into frames of at most 1 MiB", async function () {
      const b = new PeerTransport({ privateKey: KEY_B, port: 0, maxPayload: (3 << 20) / 2 });
      await b.start();
      started.push(b);
      b.on("echo", (_from, params) => (params as string).length);
      const a = await node(KEY_A);
      a.setPeerUrl(b.address, b.url as string);
      await a.request(b.address, "echo", "");
      const chunk = "y".repeat(64 << 10);
      // 2.5 MiB produced in one turn of the event loop: one frame would exceed what b takes (1.5 MiB).
      const answers = await Promise.all(Array.from({ length: 40 }, () => a.request(b.address, "echo", chunk)));
      expect(answers).to.deep.equal(Array(40).fill(chunk.length));
    });

    it("finds the nesting depth of a JSON text by scanning it, strings skipped", function () {
      const cases: [string, number, boolean][] = [
        ["[]", 1, false],
        ["[[]]", 1, true],
        ['{"a":[{"b":1}]}', 3, false],
        ['{"a":[{"b":1}]}', 2, true],
        // Brackets inside strings do not count, nor do escaped quotes end a string.
        ['["[[[[[", "\\"[[", "\\\\"]', 1, false],
        ['"\\\\"', 0, false],
      ];
      for (const [text, max, deeper] of cases) {
        JSON.parse(text); // each case is valid JSON
        expect(jsonDeeperThan(Buffer.from(text), max), `${text} deeper than ${max}`).to.equal(deeper);
      }
    });
  });

  it("refuses a peer that is not the address it dialed", async function () {
    const a = await node(KEY_A);
    const b = await node(KEY_B);
    const stranger = Wallet.createRandom().address;
    await expect(a.dial(b.url as string, stranger)).to.be.rejectedWith(/expected peer/);
    expect(await a.dial(b.url as string)).to.equal(b.address);
  });

  it("reconnects to a peer that comes back on the same URL", async function () {
    const a = await node(KEY_A);
    let b = await node(KEY_B);
    const port = Number(new URL(b.url as string).port);
    b.on("ok", () => 1);
    a.setPeerUrl(b.address, b.url as string);
    expect(await a.request(b.address, "ok", {})).to.equal(1);
    const dropped: string[] = [];
    a.onPeerDisconnected((p) => dropped.push(p));
    await b.stop();
    started.splice(started.indexOf(b), 1);
    await until(() => dropped.length === 1, "the disconnect");
    await expect(a.request(b.address, "ok", {})).to.be.rejectedWith(PeerUnavailableError);
    b = await node(KEY_B, port);
    b.on("ok", () => 2);
    await until(() => a.isConnected(b.address), "the reconnection");
    expect(await a.request(b.address, "ok", {})).to.equal(2);
  });

  it("keeps one connection when both sides dial each other at once", async function () {
    const a = await node(KEY_A);
    const b = await node(KEY_B);
    a.on("ping", () => "a");
    b.on("ping", () => "b");
    a.setPeerUrl(b.address, b.url as string);
    b.setPeerUrl(a.address, a.url as string);
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => a.request(b.address, "ping", {})),
      ...Array.from({ length: 20 }, () => b.request(a.address, "ping", {})),
    ]);
    expect(results.filter((r) => r === "b")).to.have.length(20);
    expect(results.filter((r) => r === "a")).to.have.length(20);
  });
});

describe("ChannelClient against a misbehaving peer", function () {
  this.timeout(60_000);
  let net: Net | undefined;

  afterEach(async function () {
    await teardown(net);
    net = undefined;
  });

  it("refuses malformed, forged and out-of-order proposals, and keeps the channel usable", async function () {
    net = await channelNet();
    const a = await startClient(net, "alice");
    const b = await startClient(net, "bob");
    const ch = await openChannel(a, b, ETH, ETH);
    await a.pay(ch.channelId, 1n);
    await stopClient(net, a);
    const alice = await scriptedPeer(net, "alice", b);
    const key = net.keys.get("alice")!;
    const base = b.signedState(ch.channelId)!;
    const propose = (
      update: Parameters<typeof encodeUpdate>[0],
      version: bigint,
      extra: Record<string, unknown> = {},
      from = version > 1n ? base : depositSnapshot(ch.channelId, [ETH, ETH]),
    ) => {
      const next = applyUpdate(from, update, version);
      return alice
        .request(b.address, "ch.propose", {
          channelId: ch.channelId,
          version: version.toString(),
          baseVersion: "1",
          update: encodeUpdate(update),
          by: 0,
          sig: encodeSig(signStateWithKey(key, next.state, net!.chainId, net!.adjudicator)),
          ...extra,
        })
        .then(
          () => "accepted",
          (e: PeerRequestError) => e.peerCode ?? String(e.rpcCode),
        );
    };
    const garbage = (params: unknown) =>
      alice.request(b.address, "ch.propose", params).then(
        () => "accepted",
        (e: PeerRequestError) => e.peerCode ?? String(e.rpcCode),
      );
    expect(await garbage({})).to.equal("INVALID_MESSAGE");
    expect(await garbage("x")).to.equal("INVALID_MESSAGE");
    expect(await garbage({ channelId: ch.channelId, version: "-1" })).to.equal("INVALID_MESSAGE");
    expect(await garbage({ channelId: "0x" + "00".repeat(32), version: "2" })).to.equal("INVALID_MESSAGE");
    expect(
      await garbage({
        channelId: "0x" + "00".repeat(32),
        version: "2",
        baseVersion: "1",
        update: { kind: "final" },
        by: 0,
        sig: { r: "0x" + "00".repeat(32), vs: "0x" + "00".repeat(32) },
      }),
    ).to.equal("CHANNEL_NOT_FOUND");
    // Alice pays herself out of bob's balance.
    expect(await propose({ kind: "pay", from: 1, amount: 5n }, 2n)).to.equal("UPDATE_REFUSED");
    // A signature over another state than the update yields.
    expect(
      await propose({ kind: "pay", from: 0, amount: 5n }, 2n, {
        update: encodeUpdate({ kind: "pay", from: 0, amount: 4n }),
      }),
    ).to.equal("INVALID_SIGNATURE");
    // An update in bob's name that bob never asked for.
    expect(await propose({ kind: "pay", from: 1, amount: 5n }, 2n, { by: 1, ref: "ab" })).to.equal(
      "UNREQUESTED_UPDATE",
    );
    // A version that does not build on bob's latest.
    expect(await propose({ kind: "pay", from: 0, amount: 5n }, 3n, { baseVersion: "2" })).to.equal("OUT_OF_SYNC");
    expect(await propose({ kind: "pay", from: 0, amount: 5n }, 1n, { baseVersion: "0" })).to.equal("OUT_OF_SYNC");
    // More than alice has (she signs a state with a negative balance wrapped around: bob computes his own).
    const overdraft = { ...base, state: { ...base.state, balances: [2n * ETH, 0n] as [bigint, bigint] } };
    expect(await propose({ kind: "pay", from: 0, amount: 2n * ETH }, 2n, {}, overdraft)).to.equal("INVALID_UPDATE");
    expect(b.channel(ch.channelId).version).to.equal(1n);
    // A proper one is taken.
    expect(await propose({ kind: "pay", from: 0, amount: 5n }, 2n)).to.equal("accepted");
    expect(b.channel(ch.channelId).balances).to.deep.equal([ETH - 6n, ETH + 6n]);
    // Alice's real client comes back and carries on from there.
    await alice.stop();
    const back = await startClient(net, "alice");
    back.addPeer(b.address, b.url as string);
    b.addPeer(back.address, back.url as string);
    await until(() => back.channel(ch.channelId).version === 2n, "alice adopting version 2");
    await back.pay(ch.channelId, 4n);
    expect(b.channel(ch.channelId).balances).to.deep.equal([ETH - 10n, ETH + 10n]);
  });
});

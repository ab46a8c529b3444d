import http from "node:http";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { BilayerError } from "../protocol/errors";
import type { ChannelClient, ChannelView } from "./client";
import type { Watchtower } from "./watchtower";
import { towerStatusJson } from "./watchtower";
import {
  asAddress,
  asArray,
  asBytes32,
  asObject,
  asUint,
  asWsUrl,
  encodeLock,
  encodeParams,
  encodeSigned,
  InvalidMessageError,
  type Json,
} from "./wire";

/*
 * The control API of the channel daemons: JSON-RPC 2.0 over HTTP on loopback.
 * The Hardhat tasks and the end-to-end tests drive a running client or
 * watchtower through it. Amounts are decimal strings.
 */

export type RpcMethod = (params: unknown) => Json | Promise<Json>;

/** An error a control endpoint answered with. */
export class ControlRpcError extends BilayerError {
  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: unknown,
  ) {
    super("CONTROL_RPC_ERROR", message, { context: { rpcCode, data } });
  }
}

const MAX_BODY = 1 << 20;

/** A JSON-RPC 2.0 server over HTTP POST. */
export class ControlServer {
  private server: http.Server | undefined;
  private listenUrl: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly methods: Record<string, RpcMethod>,
    private readonly opts: { host?: string; port: number; logger?: Logger },
  ) {
    this.log = opts.logger ?? pino({ level: "silent" });
  }

  async start(): Promise<void> {
    const host = this.opts.host ?? "127.0.0.1";
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, host, () => resolve());
    });
    this.server = server;
    this.listenUrl = `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  get url(): string {
    return this.listenUrl as string;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method !== "POST") {
      reply(405, { jsonrpc: "2.0", id: null, error: { code: -32600, message: "POST a JSON-RPC request" } });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reply(413, { jsonrpc: "2.0", id: null, error: { code: -32600, message: "request too large" } });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      let msg: unknown;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        reply(200, { jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } });
        return;
      }
      const m = msg as Record<string, unknown> | null;
      const id = m && (typeof m.id === "number" || typeof m.id === "string") ? m.id : null;
      if (!m || typeof m !== "object" || typeof m.method !== "string") {
        reply(200, { jsonrpc: "2.0", id, error: { code: -32600, message: "invalid request" } });
        return;
      }
      const method = this.methods[m.method];
      if (!method) {
        reply(200, { jsonrpc: "2.0", id, error: { code: -32601, message: `unknown method ${m.method}` } });
        return;
      }
      Promise.resolve()
        .then(() => method(m.params ?? {}))
        .then(
          (result) => reply(200, { jsonrpc: "2.0", id, result }),
          (err: unknown) => {
            if (err instanceof InvalidMessageError) {
              reply(200, {
                jsonrpc: "2.0",
                id,
                error: { code: -32602, message: err.message, data: { code: err.code } },
              });
            } else if (err instanceof BilayerError) {
              reply(200, {
                jsonrpc: "2.0",
                id,
                error: { code: -32000, message: err.message, data: { code: err.code } },
              });
            } else {
              this.log.error({ err, method: m.method }, "control method failed");
              reply(200, {
                jsonrpc: "2.0",
                id,
                error: { code: -32603, message: err instanceof Error ? err.message : "internal error" },
              });
            }
          },
        );
    });
  }
}

let nextId = 1;

/** Calls a control endpoint; rejects with {@link ControlRpcError} on an error answer. */
export async function controlCall(url: string, method: string, params: Json = {}): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string; data?: unknown } };
  if (body.error) throw new ControlRpcError(body.error.code, body.error.message, body.error.data);
  return body.result;
}

/** A channel view as JSON. */
export function channelViewJson(v: ChannelView): Json {
  return {
    channelId: v.channelId,
    params: encodeParams(v.params),
    me: v.me,
    peer: v.peer,
    phase: v.phase,
    deposits: [v.deposits[0].toString(), v.deposits[1].toString()],
    version: v.version.toString(),
    balances: [v.balances[0].toString(), v.balances[1].toString()],
    locks: v.locks.map(encodeLock),
    isFinal: v.isFinal,
    inFlight: v.inFlight,
    towerVersion: v.towerVersion.toString(),
    ...(v.resize
      ? {
          resize: {
            kind: v.resize.kind,
            participant: v.resize.participant,
            amount: v.resize.amount.toString(),
            expiry: v.resize.expiry.toString(),
            version: v.resize.version.toString(),
          },
        }
      : {}),
  };
}

function channelIdParam(params: unknown): string {
  return asBytes32(asObject(params, "params").channelId, "channelId");
}

function optionalUint(value: unknown, field: string): bigint | undefined {
  return value === undefined ? undefined : asUint(value, field);
}

/** The control methods of a channel client (`ch_*`). */
export function clientMethods(client: ChannelClient): Record<string, RpcMethod> {
  return {
    ch_info: () => ({
      address: client.address,
      url: client.url ?? null,
      chainId: client.chainId.toString(),
      adjudicator: client.adjudicatorAddress,
      watchtower: client.watchtower ?? null,
      now: client.now().toString(),
    }),
    ch_addPeer: (params) => {
      const o = asObject(params, "params");
      client.addPeer(asAddress(o.address, "address"), asWsUrl(o.url, "url"));
      return true;
    },
    ch_open: async (params) => {
      const o = asObject(params, "params");
      const view = await client.openChannel({
        peer: asAddress(o.peer, "peer"),
        deposit: asUint(o.deposit, "deposit"),
        ...(o.peerDeposit === undefined ? {} : { peerDeposit: asUint(o.peerDeposit, "peerDeposit") }),
        ...(o.asset === undefined ? {} : { asset: asAddress(o.asset, "asset") }),
        ...(o.challengeDuration === undefined
          ? {}
          : { challengeDuration: asUint(o.challengeDuration, "challengeDuration") }),
      });
      return channelViewJson(view);
    },
    ch_list: () => client.channels().map(channelViewJson),
    ch_channel: (params) => channelViewJson(client.channel(channelIdParam(params))),
    ch_state: (params) => {
      const signed = client.signedState(channelIdParam(params));
      return signed ? encodeSigned(signed) : null;
    },
    ch_pay: async (params) => {
      const o = asObject(params, "params");
      const amount = asUint(o.amount, "amount");
      let id: string;
      if (o.channelId !== undefined) id = asBytes32(o.channelId, "channelId");
      else {
        const peer = asAddress(o.peer, "peer");
        const found = client.channelWith(peer, amount);
        if (!found) throw new BilayerError("NO_CHANNEL", `no open channel with ${peer} that can pay ${amount}`);
        id = found.channelId;
      }
      const c = await client.pay(id, amount);
      return { channelId: c.channelId, version: c.version.toString() };
    },
    ch_invoice: async (params) => {
      const o = asObject(params, "params");
      const inv = await client.createInvoice(asUint(o.amount, "amount"));
      return { hashlock: inv.hashlock, amount: inv.amount.toString() };
    },
    ch_payRoute: async (params) => {
      const o = asObject(params, "params");
      const route = asArray(o.route, "route", 16).map((a, i) => asAddress(a, `route[${i}]`));
      const fee = optionalUint(o.feePerHop, "feePerHop");
      const r = await client.payRoute({
        route,
        amount: asUint(o.amount, "amount"),
        hashlock: asBytes32(o.hashlock, "hashlock"),
        ...(fee === undefined ? {} : { feePerHop: fee }),
      });
      return {
        hashlock: r.hashlock,
        status: r.status,
        ...(r.secret ? { secret: r.secret } : {}),
        ...(r.reason ? { reason: r.reason } : {}),
      };
    },
    ch_topUp: async (params) => {
      const o = asObject(params, "params");
      const r = await client.topUp(asBytes32(o.channelId, "channelId"), asUint(o.amount, "amount"));
      return { channelId: r.channelId, version: r.version.toString(), txHash: r.txHash };
    },
    ch_withdrawPartially: async (params) => {
      const o = asObject(params, "params");
      const r = await client.withdrawPartially(asBytes32(o.channelId, "channelId"), asUint(o.amount, "amount"));
      return { channelId: r.channelId, version: r.version.toString(), txHash: r.txHash };
    },
    ch_lockFate: (params) => {
      const o = asObject(params, "params");
      const fate = client.lockFate(asBytes32(o.channelId, "channelId"), asBytes32(o.hashlock, "hashlock"));
      if (!fate) return null;
      const json: Json =
        fate.kind === "settled" ? { kind: "settled", secret: fate.secret } : { kind: fate.kind, reason: fate.reason };
      return json;
    },
    ch_close: async (params) => ({ txHash: await client.close(channelIdParam(params)) }),
    ch_dispute: async (params) => ({ txHash: await client.dispute(channelIdParam(params)) }),
    ch_conclude: async (params) => ({ txHash: await client.conclude(channelIdParam(params)) }),
    ch_withdraw: async (params) => ({ amount: (await client.withdraw(channelIdParam(params))).toString() }),
  };
}

/** The control methods of a watchtower (`wt_*`). */
export function towerMethods(tower: Watchtower): Record<string, RpcMethod> {
  return {
    wt_info: () => ({
      address: tower.address,
      url: tower.url,
      ...statsJson(tower),
      transport: { ...tower.transportStats },
    }),
    wt_status: (params) => {
      const o = asObject(params, "params");
      if (o.channelId === undefined) return tower.statuses().map(towerStatusJson);
      const s = tower.status(asBytes32(o.channelId, "channelId"));
      return s ? towerStatusJson(s) : null;
    },
  };
}

function statsJson(tower: Watchtower): Record<string, Json> {
  return { ...tower.stats };
}

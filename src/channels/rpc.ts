import pino, { type Logger } from "pino";
import { JsonRpcServer, RpcError, type RpcHandler } from "../common/json-rpc-server";
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

/** The control API's errors: malformed params -32602, a refusal -32000, both with the client's `data.code`. */
function controlError(err: unknown): RpcError | undefined {
  if (err instanceof InvalidMessageError) return new RpcError(-32602, err.message, { code: err.code });
  if (err instanceof BilayerError) return new RpcError(-32000, err.message, { code: err.code });
  return undefined; // logged, answered -32603
}

/** The control API on the services' JSON-RPC server (`src/common/json-rpc-server.ts`). */
export class ControlServer {
  private readonly server: JsonRpcServer;
  private listenUrl: string | undefined;

  constructor(methods: Record<string, RpcMethod>, opts: { host?: string; port: number; logger?: Logger }) {
    const handlers: Record<string, RpcHandler> = {};
    for (const [name, method] of Object.entries(methods)) handlers[name] = (params) => method(params ?? {});
    this.server = new JsonRpcServer({
      host: opts.host ?? "127.0.0.1",
      port: opts.port,
      maxBodyBytes: MAX_BODY,
      maxBatchLength: 16,
      methods: handlers,
      logger: opts.logger ?? pino({ level: "silent" }),
      mapError: controlError,
    });
  }

  async start(): Promise<void> {
    this.listenUrl = (await this.server.start()).url;
  }

  get url(): string {
    return this.listenUrl as string;
  }

  async stop(): Promise<void> {
    await this.server.stop();
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

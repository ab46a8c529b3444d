import http from "node:http";
import type { Signer } from "ethers";
import { blsRawPublicKey, blsSign, type BlsKeyPair } from "../protocol/bls";
import { encodeBlsEnvelope } from "../protocol/bls-chunk";
import { TxType } from "../protocol/constants";
import { encodeTx, type UnsignedTx } from "../protocol/codec";
import { blsTransferDigest, domainSeparator, signTx } from "../protocol/eip712";
import { BilayerError } from "../protocol/errors";
import { toHex } from "../protocol/hash";
import type { L1Status } from "./rpc/api";
import type { TxReceipt } from "./sequencer";
import type { WithdrawalJsonView } from "./rpc/views";

/** An error object a JSON-RPC server answered with. */
export class L2RpcError extends BilayerError {
  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: unknown,
  ) {
    super("L2_RPC_ERROR", `${message} (code ${rpcCode})`, { context: { rpcCode, data } });
  }
}

export interface AccountView {
  index: number;
  owner: string;
  tokenId: number;
  balance: bigint;
  /** The nonce the account's next transaction is signed over. */
  nonce: number;
  /** Nonces of transactions signed ahead, waiting for the gap before them to fill. */
  waitingNonces: number[];
  /** The BLS key the account registered (x ‖ y, 96 bytes hex), if it did. */
  blsKey?: string;
}

/** A withdrawal of `l2_getWithdrawals`, its amount as a bigint. */
export type WithdrawalView = Omit<WithdrawalJsonView, "amount"> & { amount: bigint };

export interface WithdrawalProofView {
  withdrawalIndex: number;
  recipient: string;
  tokenId: number;
  amount: bigint;
  batchIndex: number;
  header: { accountsRoot: string; accountCount: number; withdrawalsRoot: string; withdrawalCount: string };
  stateRoot: string;
  siblings: string[];
  final: boolean;
}

/** `l2_getStatus`: the L1 side's report, then the operator's own. */
export interface StatusView extends L1Status {
  halted?: string;
  l2: { available: boolean; stateRoot: string; accountCount: number; withdrawalCount: string; transactions: number };
  mempool: { pending: number; queued: number };
  batches: {
    closed: number;
    durable: number;
    open?: { index: number; txs: number; queueItems: number; ageMs: number };
  };
  /** Queue positions (u64): decimal strings. */
  queue: { known: string; sequenced: string; backlog: string };
}

type RawAccount = Omit<AccountView, "balance"> & { balance: string };

function account(raw: RawAccount): AccountView {
  return { ...raw, balance: BigInt(raw.balance) };
}

/**
 * A client of the operator's JSON-RPC API over keep-alive HTTP. Amounts come
 * back as bigints; errors as {@link L2RpcError} with the server's code.
 */
export class L2Client {
  private readonly url: URL;
  private readonly agent: http.Agent;
  private id = 0;

  constructor(url: string, opts: { maxSockets?: number } = {}) {
    this.url = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 16 });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  /** Calls `method`; resolves with its result or rejects with {@link L2RpcError}. */
  call<T>(method: string, params: unknown[] | Record<string, unknown> = []): Promise<T> {
    const body = JSON.stringify({ jsonrpc: "2.0", id: ++this.id, method, params });
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          host: this.url.hostname,
          port: this.url.port,
          path: this.url.pathname,
          method: "POST",
          agent: this.agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            try {
              const msg = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
                result?: T;
                error?: { code: number; message: string; data?: unknown };
              };
              if (msg.error) reject(new L2RpcError(msg.error.code, msg.error.message, msg.error.data));
              else resolve(msg.result as T);
            } catch (err) {
              reject(
                new BilayerError("L2_RPC_BAD_RESPONSE", `HTTP ${res.statusCode}: not a JSON-RPC response`, {
                  cause: err,
                }),
              );
            }
          });
          res.on("error", reject);
        },
      );
      req.on("error", (err: NodeJS.ErrnoException) =>
        reject(
          new BilayerError(
            "L2_RPC_UNREACHABLE",
            `cannot reach the L2 JSON-RPC at ${this.url.href}: ${err.code ?? err.message}`,
            {
              context: { url: this.url.href, errno: err.code },
              cause: err,
            },
          ),
        ),
      );
      req.end(body);
    });
  }

  /** Sends a packed transaction (hex); `nonce` only for one signed ahead of the account's nonce. */
  sendTransaction(tx: string, nonce?: number): Promise<{ hash: string; status: string; from: number; nonce: number }> {
    return this.call("l2_sendTransaction", nonce === undefined ? [tx] : [tx, nonce]);
  }

  async getAccount(index: number): Promise<AccountView> {
    return account(await this.call<RawAccount>("l2_getAccount", [index]));
  }

  /** The accounts owned by an L1 address. */
  async getAccountsOf(owner: string): Promise<AccountView[]> {
    const r = await this.call<{ accounts: RawAccount[] }>("l2_getAccount", [owner]);
    return r.accounts.map(account);
  }

  getReceipt(hash: string): Promise<TxReceipt | null> {
    return this.call("l2_getTransactionReceipt", [hash]);
  }

  getBatch(index: number): Promise<Record<string, unknown> | null> {
    return this.call("l2_getBatch", [index]);
  }

  async getWithdrawalProof(index: number, batchIndex?: number): Promise<WithdrawalProofView> {
    const raw = await this.call<Omit<WithdrawalProofView, "amount"> & { amount: string }>(
      "l2_getWithdrawalProof",
      batchIndex === undefined ? [index] : [index, batchIndex],
    );
    return { ...raw, amount: BigInt(raw.amount) };
  }

  /** The withdrawals paying `recipient`; `batchIndex` is null while one is in the open batch. */
  async getWithdrawals(recipient: string): Promise<WithdrawalView[]> {
    const raw = await this.call<WithdrawalJsonView[]>("l2_getWithdrawals", [recipient]);
    return raw.map((w) => ({ ...w, amount: BigInt(w.amount) }));
  }

  getStatus(): Promise<StatusView> {
    return this.call("l2_getStatus", []);
  }

  /** Polls `l2_getStatus` until `done` holds (or `timeoutMs` passes). */
  async waitForStatus(done: (s: StatusView) => boolean, timeoutMs = 60_000, pollMs = 200): Promise<StatusView> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.getStatus();
      if (done(s)) return s;
      if (Date.now() > until)
        throw new BilayerError("TIMEOUT", `operator status did not reach the expected state in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}

/** What a user signs with: the account's token and nonce, and the rollup's domain. */
export interface SigningContext {
  chainId: bigint;
  inbox: string;
  tokenId: number;
  nonce: number;
}

/**
 * Signs an L2 transaction with an ethers signer (EIP-712, as a wallet would)
 * and returns its packed bytes as 0x hex, ready for `l2_sendTransaction`.
 */
export async function signL2Transaction(signer: Signer, tx: UnsignedTx, ctx: SigningContext): Promise<string> {
  const signature = await signTx(signer, ctx.chainId, ctx.inbox, tx, ctx.tokenId, ctx.nonce);
  return toHex(encodeTx({ ...tx, signature }));
}

/** A transfer between existing accounts, or to a new account when `to` is an address. */
export function transferTx(from: number, to: number | string, amount: bigint, fee = 0n): UnsignedTx {
  return typeof to === "number"
    ? { type: TxType.Transfer, from, to, amount, fee }
    : { type: TxType.TransferToNew, from, to: to.toLowerCase(), amount, fee };
}

/** A withdrawal of `amount` from account `from` to its owner's L1 address. */
export function withdrawTx(from: number, amount: bigint, fee = 0n): UnsignedTx {
  return { type: TxType.Withdraw, from, amount, fee };
}

/**
 * A key registration binding `key` to account `from` (PROTOCOL.md §3.2); sign it with the account owner's wallet
 * (`signL2Transaction`). The key is the wallet's own, from `deriveBlsKey(wallet, eip712Domain(chainId, inbox))`, so
 * the wallet alone recovers it.
 */
export function registerKeyTx(from: number, key: BlsKeyPair, fee = 0n): UnsignedTx {
  return { type: TxType.RegisterKey, from, fee, blsKey: toHex(blsRawPublicKey(key)) };
}

/**
 * A BLS transfer from `from` to the existing account `to`, signed with the account's BLS key over its token and
 * nonce (PROTOCOL.md §3.2), as the envelope `l2_sendTransaction` takes (0x hex, 109 bytes). Amount and fee must
 * each pack into 16 bits (`floorToPackableFee` rounds down to the nearest that does).
 */
export function signBlsTransfer(
  key: BlsKeyPair,
  transfer: { from: number; to: number; amount: bigint; fee?: bigint },
  ctx: SigningContext,
): string {
  const fee = transfer.fee ?? 0n;
  const message = blsTransferDigest(
    domainSeparator(ctx.chainId, ctx.inbox),
    { ...transfer, fee },
    ctx.tokenId,
    ctx.nonce,
  );
  return toHex(encodeBlsEnvelope({ ...transfer, fee, signature: blsSign(key, message) }));
}

/**
 * The explorer's HTTP server, on 127.0.0.1: a stable URL per page (`/`,
 * `/batch/<n>`, `/tx/<hash>`, `/address/<address>`, `/disputes`,
 * `/channels`, `/risks`, `/search?q=`), the same pages' `<main>` alone with
 * `?partial=1` (how an open page refreshes itself), `/api/claim/<index>` (the
 * claim transaction for the page's wallet to send) and the two assets. It
 * serves nothing from elsewhere: the page works offline.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { isBilayerError } from "../protocol/errors";
import { APP_JS, STYLE_CSS } from "./assets";
import type { Explorer } from "./explorer";
import {
  addressPage,
  batchPage,
  channelsPage,
  disputesPage,
  esc,
  overviewPage,
  render,
  risksPage,
  txPage,
} from "./pages";

const HASH = /^0x[0-9a-fA-F]{64}$/;

export class ExplorerServer {
  private readonly server: http.Server;
  url = "";

  constructor(private readonly e: Explorer) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.e.verifier.logger.error({ err, url: req.url }, "explorer: a page failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end("internal error\n");
      });
    });
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    this.url = `http://${host}:${a.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (req.method !== "GET") {
      res.writeHead(405, { "content-type": "text/plain", allow: "GET" }).end("GET only\n");
      return;
    }
    const url = new URL(req.url ?? "/", "http://explorer");
    const partial = url.searchParams.get("partial") === "1";
    const path = url.pathname;
    const page = (title: string, body: string, status = 200): void => {
      res.writeHead(status, {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        // Nothing but this server's own assets: no inline script, nothing from elsewhere.
        "content-security-policy": "default-src 'self'; img-src 'self' data:",
      });
      res.end(render(this.e, title, body, partial));
    };
    const notFound = (what: string): void => page("Not found", `<h1>Not found</h1><p>${esc(what)}</p>`, 404);
    const e = this.e;

    if (path === "/assets/style.css") return asset(res, "text/css", STYLE_CSS);
    if (path === "/assets/app.js") return asset(res, "text/javascript", APP_JS);
    if (path === "/") return page("Overview", overviewPage(e));
    if (path === "/disputes") return page("Disputes", disputesPage(e));
    if (path === "/channels") return page("Channels", channelsPage(e));
    if (path === "/risks") return page("Risks", await risksPage(e));
    if (path === "/search") {
      const q = (url.searchParams.get("q") ?? "").trim();
      const to = /^\d+$/.test(q)
        ? `/batch/${q}`
        : HASH.test(q)
          ? `/tx/${q.toLowerCase()}`
          : /^0x[0-9a-fA-F]{40}$/.test(q)
            ? `/address/${q}`
            : undefined;
      if (!to) return notFound(`"${q}" is not a batch number, an address or a transaction hash`);
      res.writeHead(303, { location: to }).end();
      return;
    }
    let m = /^\/batch\/(\d+)$/.exec(path);
    if (m) {
      const b = e.batch(Number(m[1]));
      return b ? page(`Batch ${b.index}`, batchPage(e, b)) : notFound(`no batch ${m[1]} on L1 (yet)`);
    }
    m = /^\/tx\/(0x[0-9a-fA-F]{64})$/.exec(path);
    if (m) {
      const body = await txPage(e, m[1].toLowerCase());
      return body ? page("Transaction", body) : notFound(`no transaction ${m[1]} on L1 or at the operator`);
    }
    m = /^\/address\/(0x[0-9a-fA-F]{40})$/.exec(path);
    if (m) return page("Address", await addressPage(e, m[1]));
    m = /^\/api\/claim\/(\d+)$/.exec(path);
    if (m) {
      try {
        const call = e.claimCall(Number(m[1]));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(call));
      } catch (err) {
        const code = isBilayerError(err) ? err.code : "FAILED";
        const message = err instanceof Error ? err.message : String(err);
        res.writeHead(409, { "content-type": "application/json" }).end(JSON.stringify({ error: { code, message } }));
      }
      return;
    }
    notFound(`no page at ${path}`);
  }
}

function asset(res: http.ServerResponse, type: string, body: string): void {
  res.writeHead(200, { "content-type": `${type}; charset=utf-8`, "cache-control": "max-age=60" }).end(body);
}

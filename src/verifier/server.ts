import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "./log";

/** A route handler: returns the status code, content type and body. */
export type Route = () => Promise<{ status: number; contentType: string; body: string }>;

/**
 * The verifier's HTTP endpoint (GET only): `/status` (JSON), `/metrics`
 * (Prometheus text), `/health`. It listens on 127.0.0.1 unless told otherwise.
 */
export class StatusServer {
  private server: http.Server | undefined;

  constructor(
    private readonly routes: Record<string, Route>,
    private readonly logger: Logger,
  ) {}

  /** Starts listening; resolves with the base URL. */
  async start(host: string, port: number): Promise<string> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      const route = this.routes[path];
      if (req.method !== "GET" || route === undefined) {
        res.writeHead(req.method !== "GET" ? 405 : 404, { "content-type": "text/plain" }).end("not found\n");
        return;
      }
      route().then(
        (r) => res.writeHead(r.status, { "content-type": r.contentType }).end(r.body),
        (err: unknown) => {
          this.logger.error({ err, path }, "status route failed");
          res.writeHead(500, { "content-type": "text/plain" }).end("internal error\n");
        },
      );
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

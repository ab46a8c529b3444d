/**
 * `npm run demo -- --explore`: after the demo, its chain, operator and the
 * explorer stay up until Ctrl-C. The in-process chain is served on a local
 * JSON-RPC port too, so a browser wallet can join it and claim from the page.
 */
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type { Provider } from "ethers";
import type { EIP1193Provider } from "hardhat/types";
import { Explorer } from "../src/explorer/explorer";
import type { RollupDeployment } from "../src/l1/deployments";

/** Serves `chain` (Hardhat's in-process network) as JSON-RPC over HTTP on 127.0.0.1 and a free port. */
async function serveChain(chain: EIP1193Provider): Promise<{ url: string; close: () => Promise<void> }> {
  const answer = async (req: { id?: unknown; method?: unknown; params?: unknown }): Promise<unknown> => {
    try {
      const params = Array.isArray(req.params) ? req.params : [];
      const result = await chain.request({ method: String(req.method), params });
      return { jsonrpc: "2.0", id: req.id ?? null, result };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { jsonrpc: "2.0", id: req.id ?? null, error: { code: -32000, message } };
    }
  };
  const server = http.createServer((req, res) => {
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "content-type" };
    if (req.method === "OPTIONS") return void res.writeHead(204, cors).end();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400, cors).end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}}');
        return;
      }
      const work = Array.isArray(body) ? Promise.all(body.map((r) => answer(r as object))) : answer(body as object);
      void work.then((out) =>
        res.writeHead(200, { ...cors, "content-type": "application/json" }).end(JSON.stringify(out)),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** Starts the explorer on the demo's chain and operator, prints where they are, and waits for Ctrl-C. */
export async function exploreDemo(
  chain: EIP1193Provider,
  provider: Provider,
  deployment: RollupDeployment,
  operatorUrl: string,
): Promise<void> {
  const l1 = await serveChain(chain);
  const explorer = await Explorer.start({ provider, deployment, operatorUrl, pollMs: 250 });
  console.log(`\nexplorer    ${explorer.url}`);
  console.log(`L1 JSON-RPC ${l1.url} (chain id ${deployment.chainId}: add it to a wallet to claim from the page)`);
  console.log(`operator    ${operatorUrl}`);
  console.log("left running; Ctrl-C stops them");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await explorer.stop();
  await l1.close();
}

/** Screenshots of the explorer's overview and risks pages on the demo's chain, into `dir` (PNG). */
export async function screenshotExplorer(
  provider: Provider,
  deployment: RollupDeployment,
  operatorUrl: string,
  dir: string,
): Promise<string[]> {
  const { launchChromium } = await import("./browser");
  const explorer = await Explorer.start({ provider, deployment, operatorUrl, pollMs: 250 });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const files: string[] = [];
    for (const [route, name] of [
      ["/", "explorer-overview.png"],
      ["/risks", "explorer-risks.png"],
    ]) {
      await page.goto(`${explorer.url}${route}`);
      const file = path.join(dir, name);
      await page.screenshot({ path: file, fullPage: true });
      files.push(file);
    }
    return files;
  } finally {
    await browser.close();
    await explorer.stop();
  }
}

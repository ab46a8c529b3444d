/**
 * A hostile host as its own process (no tests of its own; run by the channel attack tests): `--connections` sockets
 * to `--url`, each sending one 4 MiB frame nested 2 Mi levels deep (what made JSON.parse spend 0.4 s before
 * authentication) and, whenever it is cut off, reconnecting to send it again, until SIGTERM. It prints
 * `{"ready":true,"address":"hammer",…}` once every connection has sent its frame once.
 */
import { WebSocket } from "ws";
import { Args } from "../../scripts/channels/args";

async function main(): Promise<void> {
  const args = new Args();
  const url = args.require("url");
  const n = args.int("connections", undefined, 40) as number;
  const frame = Buffer.from("[".repeat(2 << 20) + "]".repeat(2 << 20));
  let stopped = false;
  let sent = 0;
  let announced = false;
  const sockets = new Set<WebSocket>();
  const loops = Array.from({ length: n }, async () => {
    while (!stopped) {
      const ws = new WebSocket(url);
      sockets.add(ws);
      await new Promise<void>((resolve) => {
        ws.once("open", () => {
          ws.send(frame, { binary: false });
          if (++sent >= n && !announced) {
            announced = true;
            process.stdout.write(JSON.stringify({ ready: true, address: "hammer", url, rpcUrl: "" }) + "\n");
          }
        });
        ws.once("close", () => resolve());
        ws.once("error", () => resolve());
      });
      sockets.delete(ws);
    }
  });
  await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
  stopped = true;
  for (const ws of sockets) ws.terminate();
  await Promise.all(loops);
  process.stdout.write(JSON.stringify({ frames: sent }) + "\n");
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

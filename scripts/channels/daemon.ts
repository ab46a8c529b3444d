/**
 * What the channel daemons (`client.ts`, `watchtower.ts`) share: the L1 connection, the control API served until
 * SIGTERM or SIGINT, and the process entry point.
 */
import { JsonRpcProvider } from "ethers";
import type { Logger } from "pino";
import { ControlServer, type RpcMethod } from "../../src/channels/rpc";
import type { Args } from "./args";

/** Connects to the L1 node of `--l1` (or L1_RPC_URL) and reads its chain id. */
export async function connectL1(args: Args): Promise<{ provider: JsonRpcProvider; chainId: bigint }> {
  const l1 = args.get("l1", "L1_RPC_URL", "http://127.0.0.1:8545") as string;
  const provider = new JsonRpcProvider(l1, undefined, { cacheTimeout: -1, pollingInterval: 100 });
  const chainId = (await provider.getNetwork()).chainId;
  return { provider, chainId };
}

/**
 * Serves `methods` on the control API (`--host`/`<env>_HOST`, `--rpc-port`/`<env>_RPC_PORT`), logs `readyMessage`
 * and prints `{"ready":true,…ready,"rpcUrl":…}` on stdout, waits for SIGINT or SIGTERM, then stops the control API,
 * the service and the provider.
 */
export async function serveUntilSignal(options: {
  args: Args;
  envPrefix: string;
  methods: Record<string, RpcMethod>;
  service: { stop(): Promise<void> };
  provider: JsonRpcProvider;
  logger: Logger;
  ready: Record<string, string | undefined>;
  readyMessage: string;
}): Promise<void> {
  const { args, envPrefix, logger } = options;
  const control = new ControlServer(options.methods, {
    host: args.get("host", `${envPrefix}_HOST`, "127.0.0.1"),
    port: args.int("rpc-port", `${envPrefix}_RPC_PORT`, 0) as number,
    logger,
  });
  await control.start();
  logger.info({ ...options.ready, rpcUrl: control.url }, options.readyMessage);
  process.stdout.write(JSON.stringify({ ready: true, ...options.ready, rpcUrl: control.url }) + "\n");
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  logger.info("stopping");
  await control.stop();
  await options.service.stop();
  options.provider.destroy();
}

/** Runs `main` as the process: exit code 0 when it resolves, 1 (with the error on stderr) when it rejects. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/**
 * The verifier as its own process:
 *
 *   node -r ts-node/register/transpile-only scripts/verifier/run.ts [options]
 *   npx hardhat verifier --network localhost [options]      (the same, as a Hardhat task)
 *
 * Options (each also from the environment):
 *   --rpc <url>            L1 node (L1_RPC_URL, default http://127.0.0.1:8545)
 *   --network <name>       deployment file deployments/<name>.json (default localhost; BILAYER_DEPLOYMENTS_DIR)
 *   --deployments <dir>    directory of the deployment files
 *   --data-dir <dir>       the verifier's store (default .data/verifier/<network>)
 *   --host <ip> --port <n> status server (default 127.0.0.1:8548; -1: none)
 *   --propose <mode>       off | after-fraud (default) | all
 *   --no-challenge         watch and report only
 *   --confirmations <n> --poll <ms> --log-range <blocks>
 *   --account <i>          dev-chain account index of the challenger key (default 9)
 *   --log-level <level>    pino level (LOG_LEVEL, default info)
 *
 * The challenger key is VERIFIER_PRIVATE_KEY; on a local development chain
 * (31337, 1337) it defaults to the development mnemonic's account `--account`.
 * Without a key (on another chain) the verifier watches and reports only.
 * SIGINT/SIGTERM stop it after the current block range; a restart resumes
 * from the last checkpoint.
 */
import path from "node:path";
import { HDNodeWallet, JsonRpcProvider, Wallet, type Provider, type Signer } from "ethers";
import { readRollupDeployment } from "../../src/l1/deployments";
import { BilayerError } from "../../src/protocol/errors";
import { defaultVerifierConfig, type ProposeMode, type VerifierConfig } from "../../src/verifier/config";
import { createVerifierLogger, type Logger } from "../../src/verifier/log";
import { Verifier } from "../../src/verifier/verifier";

/** The mnemonic `hardhat node` and anvil fund their first accounts from. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const DEV_CHAIN_IDS = new Set([31337n, 1337n]);

/** Options of the verifier process. */
export interface VerifierProcessOptions {
  network: string;
  deploymentsDir?: string;
  dataDir?: string;
  host?: string;
  port?: number;
  propose?: ProposeMode;
  challenge?: boolean;
  confirmations?: number;
  pollMs?: number;
  logRange?: number;
  aggregateThreads?: number;
  account?: number;
  logLevel?: string;
}

/** Parses `argv` (without node and the script). Throws `BilayerError` on an unknown or malformed option. */
export function parseArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): VerifierProcessOptions & { rpc: string } {
  const opts: VerifierProcessOptions & { rpc: string } = {
    rpc: env.L1_RPC_URL ?? "http://127.0.0.1:8545",
    network: "localhost",
    logLevel: env.LOG_LEVEL ?? "info",
  };
  const int = (name: string, value: string | undefined): number => {
    if (value === undefined || !/^-?[0-9]+$/.test(value))
      throw new BilayerError("INVALID_ARGUMENT", `${name} needs an integer`);
    return Number(value);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new BilayerError("INVALID_ARGUMENT", `${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "--rpc":
        opts.rpc = value();
        break;
      case "--network":
        opts.network = value();
        break;
      case "--deployments":
        opts.deploymentsDir = value();
        break;
      case "--data-dir":
        opts.dataDir = value();
        break;
      case "--host":
        opts.host = value();
        break;
      case "--port":
        opts.port = int(arg, value());
        break;
      case "--propose":
        opts.propose = value() as ProposeMode;
        break;
      case "--no-challenge":
        opts.challenge = false;
        break;
      case "--confirmations":
        opts.confirmations = int(arg, value());
        break;
      case "--poll":
        opts.pollMs = int(arg, value());
        break;
      case "--log-range":
        opts.logRange = int(arg, value());
        break;
      case "--aggregate-threads":
        opts.aggregateThreads = int(arg, value());
        break;
      case "--account":
        opts.account = int(arg, value());
        break;
      case "--log-level":
        opts.logLevel = value();
        break;
      default:
        throw new BilayerError("INVALID_ARGUMENT", `unknown option ${arg}`);
    }
  }
  return opts;
}

/** The challenger key: VERIFIER_PRIVATE_KEY, else on a dev chain the dev mnemonic's account `index`. */
export async function challengerKey(
  provider: Provider,
  index: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Wallet | undefined> {
  if (env.VERIFIER_PRIVATE_KEY) return new Wallet(env.VERIFIER_PRIVATE_KEY, provider);
  const chainId = (await provider.getNetwork()).chainId;
  if (!DEV_CHAIN_IDS.has(chainId)) return undefined;
  const hd = HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
  return new Wallet(hd.privateKey, provider);
}

/**
 * Starts a verifier for the deployment of `opts.network` against `provider`,
 * signing with `signer` (none: watch only). Resolves once it serves.
 */
export async function runVerifier(
  opts: VerifierProcessOptions,
  provider: Provider,
  signer: Signer | undefined,
  logger: Logger = createVerifierLogger({ level: opts.logLevel }),
): Promise<Verifier> {
  const deployment = readRollupDeployment(opts.network, opts.deploymentsDir);
  const dataDir = opts.dataDir ?? path.resolve(__dirname, "..", "..", ".data", "verifier", opts.network);
  const defaults = defaultVerifierConfig(deployment.chainId, dataDir);
  const config: VerifierConfig = {
    ...defaults,
    host: opts.host ?? defaults.host,
    port: opts.port ?? defaults.port,
    propose: opts.propose ?? defaults.propose,
    challenge: opts.challenge ?? defaults.challenge,
    confirmations: opts.confirmations ?? defaults.confirmations,
    pollMs: opts.pollMs ?? defaults.pollMs,
    logRange: opts.logRange ?? defaults.logRange,
    aggregateThreads: opts.aggregateThreads ?? defaults.aggregateThreads,
  };
  if (signer === undefined) logger.warn("no challenger key (VERIFIER_PRIVATE_KEY): watching and reporting only");
  return Verifier.start({ config, provider, signer, deployment, logger });
}

/** Stops `verifier` on SIGINT/SIGTERM; resolves when it has stopped. */
export function stopOnSignals(verifier: Verifier, cleanup: () => void = () => undefined): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      verifier.logger.info({ signal }, "stopping");
      verifier
        .stop()
        .catch((err: unknown) => verifier.logger.error({ err }, "stop failed"))
        .finally(() => {
          cleanup();
          resolve();
        });
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const provider = new JsonRpcProvider(opts.rpc, undefined, { cacheTimeout: -1, pollingInterval: 250 });
  const signer = await challengerKey(provider, opts.account ?? 9);
  const verifier = await runVerifier(opts, provider, signer);
  await stopOnSignals(verifier, () => provider.destroy());
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

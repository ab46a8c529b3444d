/**
 * Hardhat tasks of the rollup: `deploy`, `operator`, and the user CLI
 * (`deposit`, `transfer`, `withdraw`, `claim`, `exit`, `balance`; `escape`
 * is in ./verifier.ts). docs/USING.md documents each. They run
 * against whatever network Hardhat is given (`--network localhost`, or one
 * configured with an RPC URL and keys through configuration variables), with
 * the addresses from `deployments/<network>.json`.
 *
 * Everything heavy is imported inside the actions: this file is loaded with
 * the Hardhat config, before the contracts (and their TypeChain types) exist.
 */
import path from "node:path";
import { task, types } from "hardhat/config";
import type { ConfigurableTaskDefinition, HardhatRuntimeEnvironment } from "hardhat/types";
import { BilayerError } from "../src/protocol/errors";

const DEFAULT_L2_RPC = process.env.L2_RPC_URL ?? "http://127.0.0.1:8547";

const ERC20_ABI = [
  "function approve(address spender, uint256 amount) returns (bool)",
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
  "function balanceOf(address owner) view returns (uint256)",
];

/** `BILAYER_DEPLOYMENTS_DIR` points every task at another deployments directory (tests do). */
const DEPLOYMENTS_DIR = process.env.BILAYER_DEPLOYMENTS_DIR || undefined;

async function deployment(hre: HardhatRuntimeEnvironment) {
  const { readRollupDeployment } = await import("../src/l1/deployments");
  return readRollupDeployment(hre.network.name, DEPLOYMENTS_DIR);
}

async function signerAt(hre: HardhatRuntimeEnvironment, index: number) {
  const signers = await hre.ethers.getSigners();
  const signer = signers[index];
  if (!signer)
    throw new BilayerError("CLI", `no signer ${index} on network ${hre.network.name} (it has ${signers.length})`);
  return signer;
}

/** Token id and decimals for `--token` (empty: ETH). */
async function tokenInfo(hre: HardhatRuntimeEnvironment, bridgeAddress: string, token: string) {
  if (!token) return { tokenId: 0, decimals: 18, symbol: "ETH" };
  const { Bridge__factory } = await import("../typechain-types");
  const bridge = Bridge__factory.connect(bridgeAddress, hre.ethers.provider);
  const tokenId = Number(await bridge.tokenIdOf(token));
  if (tokenId === 0)
    throw new BilayerError("CLI", `token ${token} is not registered on the bridge (deposit registers it)`);
  const erc20 = new hre.ethers.Contract(token, ERC20_ABI, hre.ethers.provider);
  return { tokenId, decimals: Number(await erc20.decimals()), symbol: String(await erc20.symbol()) };
}

/** Formats an amount of L2 token `tokenId` as "1.5 ETH (token 0)": the token's own decimals and symbol when L1 can tell. */
async function tokenAmount(
  hre: HardhatRuntimeEnvironment,
  bridgeAddress: string,
  tokenId: number,
  amount: bigint,
): Promise<string> {
  const { formatAmount } = await import("./lib");
  if (tokenId === 0) return `${formatAmount(amount)} ETH (token 0)`;
  try {
    const { Bridge__factory } = await import("../typechain-types");
    const token = await Bridge__factory.connect(bridgeAddress, hre.ethers.provider).tokenOf(tokenId);
    const erc20 = new hre.ethers.Contract(token, ERC20_ABI, hre.ethers.provider);
    const [decimals, symbol] = await Promise.all([erc20.decimals(), erc20.symbol()]);
    return `${formatAmount(amount, Number(decimals))} ${String(symbol)} (token ${tokenId})`;
  } catch {
    return `${amount} base units (token ${tokenId})`;
  }
}

task("deploy", "Deploys the rollup contracts and writes deployments/<network>.json")
  .addOptionalParam(
    "challengeWindow",
    "Challenge window in seconds",
    process.env.ROLLUP_CHALLENGE_WINDOW_SECONDS ?? "604800",
  )
  .addOptionalParam(
    "forcedInclusionDelay",
    "Forced-inclusion delay in seconds",
    process.env.ROLLUP_FORCED_INCLUSION_DELAY_SECONDS ?? "86400",
  )
  .addOptionalParam("bond", "Proposer bond in wei", process.env.ROLLUP_PROPOSER_BOND_WEI ?? "1000000000000000000")
  .addOptionalParam("sequencer", "Sequencer address (default: the deployer)", process.env.ROLLUP_SEQUENCER ?? "")
  .addOptionalParam("admin", "Admin address (default: the deployer)", process.env.ROLLUP_ADMIN ?? "")
  .setAction(
    async (
      args: { challengeWindow: string; forcedInclusionDelay: string; bond: string; sequencer: string; admin: string },
      hre,
    ) => {
      await hre.run("compile", { quiet: true });
      const { deployRollup } = await import("../scripts/deploy");
      const [signer] = await hre.ethers.getSigners();
      const deployer = await signer.getAddress();
      const result = await deployRollup(
        signer,
        {
          challengeWindowSeconds: BigInt(args.challengeWindow),
          forcedInclusionDelaySeconds: BigInt(args.forcedInclusionDelay),
          proposerBond: BigInt(args.bond),
          sequencer: args.sequencer || deployer,
          admin: args.admin || deployer,
        },
        { network: hre.network.name, deploymentsDir: DEPLOYMENTS_DIR },
      );
      console.log(`rollup deployed on ${result.network} (chain ${result.chainId}) at block ${result.startBlock}`);
      for (const [name, address] of Object.entries(result.contracts)) console.log(`  ${name.padEnd(21)} ${address}`);
      console.log(`  sequencer             ${result.params.sequencer}`);
      console.log(`  admin                 ${result.params.admin} (grants and revokes the sequencer role)`);
      console.log(
        `  challenge window ${result.params.challengeWindowSeconds} s, forced-inclusion delay ${result.params.forcedInclusionDelaySeconds} s, proposer bond ${result.params.proposerBond} wei`,
      );
      console.log(`recorded in ${result.file}`);
    },
  );

task("operator", "Runs the operator (sequencer, batcher, proposer) behind its JSON-RPC API")
  .addOptionalParam("host", "Interface to listen on", "127.0.0.1")
  .addOptionalParam("port", "JSON-RPC port", 8547, types.int)
  .addOptionalParam("dataDir", "Store directory (default .data/operator/<network>)", "")
  .addOptionalParam("feeRecipient", "L2 account credited with fees (0: no fees)", 0, types.int)
  .addOptionalParam("batchAge", "Close a batch after this many ms", 0, types.int)
  .addOptionalParam(
    "batchBytes",
    "Close a batch before its chunks exceed this many bytes (at most 120000)",
    0,
    types.int,
  )
  .addOptionalParam("confirmations", "L1 confirmation depth (default 1 on dev chains, 3 elsewhere)", 0, types.int)
  .addOptionalParam("poll", "L1 poll interval in ms", 0, types.int)
  .addOptionalParam("stuckAfter", "Replace an unmined L1 transaction after this many ms", 0, types.int)
  .addOptionalParam("logLevel", "pino log level", process.env.LOG_LEVEL ?? "info")
  .addFlag("noPropose", "Do not propose state roots")
  .addFlag("pruneHistory", "Delete the transaction records of final batches in the snapshot (receipts stay)")
  .setAction(
    async (
      args: {
        host: string;
        port: number;
        dataDir: string;
        feeRecipient: number;
        batchAge: number;
        batchBytes: number;
        confirmations: number;
        poll: number;
        stuckAfter: number;
        logLevel: string;
        noPropose: boolean;
        pruneHistory: boolean;
      },
      hre,
    ) => {
      const { defaultConfig } = await import("../src/operator/config");
      const { Operator } = await import("../src/operator/operator");
      const { createLogger } = await import("../src/operator/log");
      const { l1Provider, operatorWallet } = await import("./lib");
      const dep = await deployment(hre);
      // The chain comes from the deployment: the operator starts (and serves reads) with L1 down.
      const provider = l1Provider(hre, dep.chainId);
      const wallet = await operatorWallet(hre, provider, 0, dep.chainId);
      const config = defaultConfig(
        dep.chainId,
        args.dataDir || path.join(hre.config.paths.root, ".data", "operator", hre.network.name),
      );
      config.host = args.host;
      config.port = args.port;
      config.feeRecipient = args.feeRecipient;
      config.propose = !args.noPropose;
      config.pruneHistory = args.pruneHistory;
      if (args.batchAge > 0) config.batch.maxAgeMs = args.batchAge;
      if (args.batchBytes > 0) config.batch.maxBytes = args.batchBytes;
      if (args.confirmations > 0) config.confirmations = args.confirmations;
      if (args.poll > 0) config.pollMs = args.poll;
      if (args.stuckAfter > 0) config.stuckAfterMs = args.stuckAfter;
      const logger = createLogger({ level: args.logLevel });
      const op = await Operator.start({ config, provider, wallet, deployment: dep, logger });
      console.error(`operator listening on ${op.url} (metrics at ${op.url}/metrics); Ctrl-C to stop`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          resolve();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      // Stopping is bounded (the operator gives L1 a few seconds); this bounds it again, whatever hangs.
      setTimeout(() => {
        console.error("the operator did not stop in time; exiting");
        process.exit(1);
      }, 9_000).unref();
      await op.stop();
      // A request to a frozen L1 node may still hold a socket: nothing is left to do, so leave.
      process.exit(0);
    },
  );

task("deposit", "Deposits ETH (or a registered ERC-20) from an L1 account to L2")
  .addParam("amount", "Amount, in ETH or whole tokens (decimals allowed)")
  .addOptionalParam("token", "ERC-20 address (default: ETH)", "")
  .addOptionalParam("to", "L2 recipient address (default: the sender)", "")
  .addOptionalParam("hint", "An existing L2 account of the recipient to credit (0: create or find one)", 0, types.int)
  .addOptionalParam("signer", "Index of the L1 signer", 0, types.int)
  .setAction(async (args: { amount: string; token: string; to: string; hint: number; signer: number }, hre) => {
    const { Bridge__factory } = await import("../typechain-types");
    const { parseAmount } = await import("./lib");
    const dep = await deployment(hre);
    const signer = await signerAt(hre, args.signer);
    const bridge = Bridge__factory.connect(dep.contracts.bridge, signer);
    if (args.token && (await bridge.tokenIdOf(args.token)) === 0n) {
      // Registration is open to anyone; the first deposit of a token does it.
      const registered = await (await bridge.registerToken(args.token)).wait();
      console.log(
        `registered ${args.token} on the bridge as token ${await bridge.tokenIdOf(args.token)} (L1 tx ${registered?.hash})`,
      );
    }
    const info = await tokenInfo(hre, dep.contracts.bridge, args.token);
    const amount = parseAmount(args.amount, info.decimals);
    const to = args.to || (await signer.getAddress());
    let tx;
    if (info.tokenId === 0) tx = await bridge.depositEth(to, args.hint, { value: amount });
    else {
      const erc20 = new hre.ethers.Contract(args.token, ERC20_ABI, signer);
      await (await erc20.approve(dep.contracts.bridge, amount)).wait();
      tx = await bridge.depositToken(args.token, amount, to, args.hint);
    }
    const receipt = await tx.wait();
    console.log(
      `deposited ${args.amount} ${info.symbol} for ${to} in L1 tx ${receipt?.hash} (block ${receipt?.blockNumber})`,
    );
    console.log("the operator credits it on L2 once the block is confirmed; see `npx hardhat balance`");
  });

/** The sender account of a user command: `--from`, or the signer's first L2 account of the token. */
async function senderAccount(
  client: import("../src/operator/client").L2Client,
  owner: string,
  from: number,
  tokenId: number,
) {
  if (from > 0) {
    const a = await client.getAccount(from);
    if (a.owner.toLowerCase() !== owner.toLowerCase())
      throw new BilayerError("CLI", `account ${from} is owned by ${a.owner}, not ${owner}`);
    return a;
  }
  const accounts = (await client.getAccountsOf(owner)).filter((a) => a.tokenId === tokenId);
  if (accounts.length === 0)
    throw new BilayerError("CLI", `${owner} has no L2 account for token ${tokenId}; deposit first`);
  return accounts[0];
}

async function sendSigned(
  hre: HardhatRuntimeEnvironment,
  args: { rpc: string; signer: number; from: number; token: string },
  build: (from: number, decimals: number) => import("../src/protocol/codec").UnsignedTx,
) {
  const { L2Client, signL2Transaction } = await import("../src/operator/client");
  const dep = await deployment(hre);
  const signer = await signerAt(hre, args.signer);
  const client = new L2Client(args.rpc);
  try {
    const info = await tokenInfo(hre, dep.contracts.bridge, args.token);
    const account = await senderAccount(client, await signer.getAddress(), args.from, info.tokenId);
    const unsigned = build(account.index, info.decimals);
    const nonce = account.nonce;
    const tx = await signL2Transaction(signer, unsigned, {
      chainId: dep.chainId,
      inbox: dep.contracts.rollupInbox,
      tokenId: account.tokenId,
      nonce,
    });
    const sent = await client.sendTransaction(tx);
    const receipt = await client.getReceipt(sent.hash);
    return { sent, receipt, account };
  } finally {
    client.close();
  }
}

/** The arguments of an L2 transaction a task signs and sends (`transfer`, `withdraw`). */
interface SendArgs {
  amount: string;
  fee: string;
  from: number;
  token: string;
  signer: number;
  rpc: string;
}

/** Adds the parameters of {@link SendArgs} to `definition`; `fromWhat` names the `--from` account. */
function addSendParams(definition: ConfigurableTaskDefinition, fromWhat: string): ConfigurableTaskDefinition {
  return definition
    .addParam("amount", "Amount, in ETH or whole tokens")
    .addOptionalParam("fee", "Fee, in ETH or whole tokens", "0")
    .addOptionalParam("from", `${fromWhat} (default: the signer's first account of the token)`, 0, types.int)
    .addOptionalParam("token", "ERC-20 address (default: ETH)", "")
    .addOptionalParam("signer", "Index of the L1 signer that owns the account", 0, types.int)
    .addOptionalParam("rpc", "Operator JSON-RPC URL", DEFAULT_L2_RPC);
}

addSendParams(
  task("transfer", "Sends an L2 transfer through the operator").addParam(
    "to",
    "Recipient: an L2 account index, or an address (creates a new account)",
  ),
  "Sender L2 account",
).setAction(async (args: SendArgs & { to: string }, hre) => {
  const { transferTx } = await import("../src/operator/client");
  const { parseAmount } = await import("./lib");
  const to = /^0x[0-9a-fA-F]{40}$/.test(args.to) ? args.to : Number(args.to);
  if (typeof to === "number" && !Number.isInteger(to))
    throw new BilayerError("CLI", `--to must be an account index or an address, got ${args.to}`);
  const { sent, receipt } = await sendSigned(hre, args, (from, d) =>
    transferTx(from, to, parseAmount(args.amount, d), parseAmount(args.fee, d)),
  );
  console.log(`transfer ${sent.hash}: ${sent.status} (account ${sent.from}, nonce ${sent.nonce})`);
  if (receipt?.createdAccount !== undefined) console.log(`created L2 account ${receipt.createdAccount} for ${args.to}`);
});

addSendParams(
  task("withdraw", "Withdraws from an L2 account to its owner's L1 address (claim it after finality)"),
  "L2 account",
).setAction(async (args: SendArgs, hre) => {
  const { withdrawTx } = await import("../src/operator/client");
  const { parseAmount } = await import("./lib");
  const { sent, receipt } = await sendSigned(hre, args, (from, d) =>
    withdrawTx(from, parseAmount(args.amount, d), parseAmount(args.fee, d)),
  );
  console.log(`withdrawal ${sent.hash}: ${sent.status} (account ${sent.from}, nonce ${sent.nonce})`);
  if (receipt?.withdrawalIndex !== undefined) {
    console.log(
      `withdrawal index ${receipt.withdrawalIndex}: claim it with \`npx hardhat claim --index ${receipt.withdrawalIndex}\` once its batch is final`,
    );
  }
});

/** The signer's BLS key for this deployment, derived from its wallet alone (PROTOCOL.md §3.2). */
async function walletBlsKey(hre: HardhatRuntimeEnvironment, signerIndex: number) {
  const { deriveBlsKey } = await import("../src/protocol/bls");
  const { eip712Domain } = await import("../src/protocol/eip712");
  const dep = await deployment(hre);
  return deriveBlsKey(await signerAt(hre, signerIndex), eip712Domain(dep.chainId, dep.contracts.rollupInbox));
}

task(
  "register-key",
  "Registers the signer's BLS key (derived from its wallet) for an L2 account, to send BLS transfers",
)
  .addOptionalParam("fee", "Fee, in ETH or whole tokens", "0")
  .addOptionalParam("from", "L2 account (default: the signer's first account of the token)", 0, types.int)
  .addOptionalParam("token", "ERC-20 address (default: ETH)", "")
  .addOptionalParam("signer", "Index of the L1 signer that owns the account", 0, types.int)
  .addOptionalParam("rpc", "Operator JSON-RPC URL", DEFAULT_L2_RPC)
  .setAction(async (args: Omit<SendArgs, "amount">, hre) => {
    const { registerKeyTx } = await import("../src/operator/client");
    const { blsRawPublicKey } = await import("../src/protocol/bls");
    const { toHex } = await import("../src/protocol/hash");
    const { parseAmount } = await import("./lib");
    const key = await walletBlsKey(hre, args.signer);
    const { sent } = await sendSigned(hre, args, (from, d) => registerKeyTx(from, key, parseAmount(args.fee, d)));
    console.log(`register-key ${sent.hash}: ${sent.status} (account ${sent.from}, nonce ${sent.nonce})`);
    console.log(
      `BLS key ${toHex(blsRawPublicKey(key))} (x ‖ y, as l2_getAccount shows it; derived from the wallet, which alone recovers it)`,
    );
  });

addSendParams(
  task("bls-transfer", "Sends a BLS transfer (~9 bytes on L1) from an account with a registered key").addParam(
    "to",
    "Recipient: an existing L2 account index",
  ),
  "Sender L2 account",
).setAction(async (args: SendArgs & { to: string }, hre) => {
  const { L2Client, signBlsTransfer } = await import("../src/operator/client");
  const { blsRawPublicKey } = await import("../src/protocol/bls");
  const { toHex } = await import("../src/protocol/hash");
  const { floorToPackableFee, isPackableFee } = await import("../src/protocol/packing");
  const { parseAmount } = await import("./lib");
  const to = Number(args.to);
  if (!Number.isInteger(to) || to < 1)
    throw new BilayerError("CLI", `--to must be an L2 account index, got ${args.to}`);
  const dep = await deployment(hre);
  const signer = await signerAt(hre, args.signer);
  const key = await walletBlsKey(hre, args.signer);
  const client = new L2Client(args.rpc);
  try {
    const info = await tokenInfo(hre, dep.contracts.bridge, args.token);
    const owner = await signer.getAddress();
    const keyHex = toHex(blsRawPublicKey(key));
    // Without --from: the signer's first account of the token that holds this wallet's key.
    const keyed =
      args.from > 0
        ? undefined
        : (await client.getAccountsOf(owner)).find((a) => a.tokenId === info.tokenId && a.blsKey === keyHex);
    const account = keyed ?? (await senderAccount(client, owner, args.from, info.tokenId));
    if (account.blsKey !== keyHex) {
      throw new BilayerError(
        "CLI",
        `account ${account.index} has ${account.blsKey ? "another" : "no"} BLS key: run \`npx hardhat register-key --from ${account.index}\` first`,
      );
    }
    const amount = parseAmount(args.amount, info.decimals);
    const fee = parseAmount(args.fee, info.decimals);
    for (const [name, v] of [
      ["amount", amount],
      ["fee", fee],
    ] as const) {
      if (!isPackableFee(v)) {
        throw new BilayerError(
          "CLI",
          `--${name} ${v} (base units) does not pack into a BLS transfer's 16 bits; the nearest below is ${floorToPackableFee(v)}`,
        );
      }
    }
    const envelope = signBlsTransfer(
      key,
      { from: account.index, to, amount, fee },
      { chainId: dep.chainId, inbox: dep.contracts.rollupInbox, tokenId: account.tokenId, nonce: account.nonce },
    );
    const sent = await client.sendTransaction(envelope);
    console.log(`bls-transfer ${sent.hash}: ${sent.status} (account ${sent.from}, nonce ${sent.nonce})`);
  } finally {
    client.close();
  }
});

task("claim", "Claims withdrawals on L1 against a final state root (one by index, or all of the signer's)")
  .addOptionalParam(
    "index",
    "Withdrawal index (default: every final, unclaimed withdrawal paying the signer)",
    -1,
    types.int,
  )
  .addOptionalParam("batch", "Batch whose state root to prove against (default: the latest final one)", -1, types.int)
  .addOptionalParam("signer", "Index of the L1 signer that sends the claim (anyone may)", 0, types.int)
  .addOptionalParam("rpc", "L2 JSON-RPC URL: the operator's, or a verifier's server for reads", DEFAULT_L2_RPC)
  .setAction(async (args: { index: number; batch: number; signer: number; rpc: string }, hre) => {
    const { L2Client } = await import("../src/operator/client");
    const { claimWithdrawal } = await import("../src/operator/l1-user");
    const { Bridge__factory } = await import("../typechain-types");
    const dep = await deployment(hre);
    const signer = await signerAt(hre, args.signer);
    const bridge = Bridge__factory.connect(dep.contracts.bridge, signer);
    const client = new L2Client(args.rpc);
    try {
      let indices = [args.index];
      if (args.index < 0) {
        const mine = await client.getWithdrawals(await signer.getAddress());
        indices = [];
        for (const w of mine) if (!(await bridge.isClaimed(w.withdrawalIndex))) indices.push(w.withdrawalIndex);
        if (indices.length === 0) console.log("nothing to claim");
      }
      for (const index of indices) {
        const proof = await client.getWithdrawalProof(index, args.batch >= 0 ? args.batch : undefined);
        if (!proof.final) {
          console.log(
            `withdrawal ${index}: batch ${proof.batchIndex} is not final yet; claim it after the challenge window`,
          );
          continue;
        }
        const receipt = await claimWithdrawal(signer, dep.contracts.bridge, proof);
        const amount = await tokenAmount(hre, dep.contracts.bridge, proof.tokenId, proof.amount);
        console.log(`claimed withdrawal ${index}: ${amount} to ${proof.recipient} in L1 tx ${receipt.hash}`);
      }
    } finally {
      client.close();
    }
  });

task("exit", "Forces the exit of an L2 account's whole balance through the L1 queue (no operator help needed)")
  .addParam("account", "L2 account index (owned by the signer; `balance` lists them)", undefined, types.int)
  .addOptionalParam("signer", "Index of the L1 signer that owns the account", 0, types.int)
  .setAction(async (args: { account: number; signer: number }, hre) => {
    const { Bridge__factory, RollupInbox__factory } = await import("../typechain-types");
    const dep = await deployment(hre);
    const signer = await signerAt(hre, args.signer);
    const bridge = Bridge__factory.connect(dep.contracts.bridge, signer);
    const delay = Number(
      await RollupInbox__factory.connect(dep.contracts.rollupInbox, signer).FORCED_INCLUSION_DELAY_SECONDS(),
    );
    const receipt = await (await bridge.requestForcedExit(args.account)).wait();
    const event = receipt?.logs.map((l) => bridge.interface.parseLog(l)).find((e) => e?.name === "QueueItemAppended");
    const queueIndex = event ? String(event.args.index) : "?";
    const overdueAt = event ? new Date((Number(event.args.timestamp) + delay) * 1000).toISOString() : "?";
    console.log(
      `forced exit of account ${args.account} queued as L1 queue item ${queueIndex} in L1 tx ${receipt?.hash}`,
    );
    console.log(`  the sequencer must include it by ${overdueAt} (L1 time); after that anyone may force-include it`);
    console.log(
      `  the whole balance then becomes a withdrawal to ${await signer.getAddress()}: claim it once its batch is final`,
    );
    console.log(
      `  with the operator down or censoring, \`npx hardhat escape --network ${hre.network.name} --signer ${args.signer}\` does the rest from L1 alone (force-include, propose, claim)`,
    );
  });

task("balance", "Shows L1 and L2 balances of an address")
  .addOptionalParam("address", "Address (default: signer 0)", "")
  .addOptionalParam("rpc", "L2 JSON-RPC URL: the operator's, or a verifier's server for reads", DEFAULT_L2_RPC)
  .setAction(async (args: { address: string; rpc: string }, hre) => {
    const { L2Client, L2RpcError } = await import("../src/operator/client");
    const { formatAmount } = await import("./lib");
    const dep = await deployment(hre);
    const address = args.address || (await (await signerAt(hre, 0)).getAddress());
    console.log(`${address}`);
    console.log(`  L1: ${formatAmount(await hre.ethers.provider.getBalance(address))} ETH`);
    const client = new L2Client(args.rpc);
    try {
      const accounts = await client.getAccountsOf(address);
      for (const a of accounts) {
        const amount = await tokenAmount(hre, dep.contracts.bridge, a.tokenId, a.balance);
        console.log(`  L2 account ${a.index}: ${amount}, nonce ${a.nonce}`);
      }
    } catch (err) {
      if (err instanceof L2RpcError && err.rpcCode === -32004) console.log("  L2: no account");
      else throw err;
    } finally {
      client.close();
    }
  });

/**
 * Errors the user can act on (a refused transaction, a missing deployment,
 * a bad amount) are shown as one line, not as a stack trace.
 */
for (const name of ["deploy", "operator", "deposit", "transfer", "withdraw", "claim", "exit", "balance"]) {
  task(name).setAction(async (args: Record<string, unknown>, _hre, runSuper) => {
    try {
      return await runSuper(args);
    } catch (err) {
      const { HardhatPluginError } = await import("hardhat/plugins");
      if (err instanceof BilayerError && err.code === "L2_RPC_UNREACHABLE") {
        const hint =
          "is the operator running? With the operator down, point --rpc at a verifier's server (`npx hardhat verifier`, " +
          "http://127.0.0.1:8548 by default), or get everything out with `npx hardhat escape` (docs/USING.md)";
        throw new HardhatPluginError("bilayer", `${err.message}\n${hint}`, err);
      }
      if (err instanceof BilayerError) throw new HardhatPluginError("bilayer", err.message, err);
      throw err;
    }
  });
}

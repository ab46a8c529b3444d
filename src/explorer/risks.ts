/**
 * The rollup's risks, in L2BEAT's five categories and its Stages, computed
 * from what the deployed contracts say about themselves: their parameters
 * (read from their views), who holds each role (from the role events), and
 * code facts read from the chain — whether a contract is a proxy or could
 * run code it does not hold, and whether it has any access control at all.
 * Nothing here is taken from the deployment file beyond the addresses.
 */
import { dataSlice, getBytes, id, Interface, type Provider } from "ethers";
import { connectRollup } from "../l1/contracts";
import type { RollupAddresses } from "../l1/deployments";

/** EIP-1967's implementation, admin and beacon slots. */
const PROXY_SLOTS = [
  "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc",
  "0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103",
  "0xa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50",
];
/** Opcodes that let a contract run or become code it does not hold: CALLCODE, DELEGATECALL, SELFDESTRUCT. */
const FOREIGN_CODE_OPS = new Map([
  [0xf2, "CALLCODE"],
  [0xf4, "DELEGATECALL"],
  [0xff, "SELFDESTRUCT"],
]);
/** The selectors of the usual access-control entry points: AccessControl's `hasRole`, Ownable's `owner`. */
const ACCESS_SELECTORS = [id("hasRole(bytes32,address)").slice(0, 10), id("owner()").slice(0, 10)];
const ROLE_EVENTS = new Interface([
  "event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender)",
  "event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender)",
]);
const DEFAULT_ADMIN_ROLE = "0x" + "00".repeat(32);
const SEQUENCER_ROLE = id("SEQUENCER_ROLE");

const DAY = 86_400;

/** What one contract's code says about itself. */
export interface CodeFacts {
  name: string;
  address: string;
  /** A non-zero EIP-1967 slot: it forwards to code elsewhere. */
  proxy: boolean;
  /** The opcodes found that could make it run or become other code. */
  foreignCode: string[];
  /** Whether its dispatcher has `hasRole` or `owner` (someone may hold a privilege in it). */
  accessControl: boolean;
  /** Whether its entry point that must be open to anyone (see `RiskReader`) does not refuse a caller with no role. */
  openEntryPoint: boolean;
  codeBytes: number;
}

/** The facts the risks are computed from, each read from the chain. */
export interface RiskFacts {
  challengeWindowSeconds: number;
  forcedInclusionDelaySeconds: number;
  proposerBond: bigint;
  /** Holders of the inbox's roles now (from its RoleGranted and RoleRevoked events). */
  admins: string[];
  sequencers: string[];
  /** Roles of the inbox other than its admin and sequencer roles that someone holds. */
  otherRoles: string[];
  contracts: CodeFacts[];
}

export type Level = "good" | "warning" | "bad";

export interface Risk {
  category: string;
  value: string;
  level: Level;
  /** What it means for a user's money, in one sentence. */
  meaning: string;
  /** Where the value comes from. */
  source: string;
}

export interface StageRequirement {
  stage: 0 | 1 | 2;
  text: string;
  met: boolean;
  why: string;
}

export interface RiskReport {
  facts: RiskFacts;
  risks: Risk[];
  requirements: StageRequirement[];
  /** The highest stage all of whose requirements (and the lower stages') are met. */
  stage: 0 | 1 | 2;
}

/** A duration in the largest whole unit that reads well: `1h`, `7d`, `90s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "∞";
  const s = Math.max(0, Math.round(seconds));
  if (s >= DAY) {
    const hours = Math.floor((s % DAY) / 3600);
    return `${Math.floor(s / DAY)}d${hours > 0 ? ` ${hours}h` : ""}`;
  }
  if (s >= 3600) return s % 3600 === 0 ? `${s / 3600}h` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

/** The opcodes of `code` (its Solidity metadata trailer left off) that are in {@link FOREIGN_CODE_OPS}. */
export function foreignOpcodes(code: Uint8Array): string[] {
  let end = code.length;
  // Solidity appends CBOR metadata and its 2-byte length; it is data, not code.
  if (end >= 2) {
    const meta = (code[end - 2] << 8) | code[end - 1];
    if (meta + 2 <= end && code[end - 2 - meta] === 0xa2) end -= meta + 2;
  }
  const found = new Set<string>();
  for (let pc = 0; pc < end; pc++) {
    const op = code[pc];
    if (op >= 0x60 && op <= 0x7f) {
      pc += op - 0x5f; // PUSH1..PUSH32: skip the pushed bytes
      continue;
    }
    const name = FOREIGN_CODE_OPS.get(op);
    if (name) found.add(name);
  }
  return [...found];
}

/** The PUSH4 operands of `code` (the selectors a dispatcher compares against), opcodes walked as in {@link foreignOpcodes}. */
export function pushedSelectors(code: Uint8Array): Set<string> {
  const out = new Set<string>();
  for (let pc = 0; pc < code.length; pc++) {
    const op = code[pc];
    if (op === 0x63 && pc + 4 < code.length) out.add(Buffer.from(code.subarray(pc + 1, pc + 5)).toString("hex"));
    if (op >= 0x60 && op <= 0x7f) pc += op - 0x5f;
  }
  return out;
}

/** Errors a contract's access control answers an unprivileged caller with: OpenZeppelin's AccessControl and Ownable. */
const UNAUTHORIZED = [
  id("AccessControlUnauthorizedAccount(address,bytes32)").slice(0, 10),
  id("OwnableUnauthorizedAccount(address)").slice(0, 10),
];
/** A caller that holds no role anywhere. */
const NOBODY = "0x000000000000000000000000000000000000dEaD";

/**
 * Whether calling `data` on `to` from an address with no privilege is refused by access control (as opposed to
 * succeeding, or failing on its arguments): an `eth_call`, nothing is sent.
 */
async function refusesNobody(provider: Provider, to: string, data: string): Promise<boolean> {
  try {
    await provider.call({ to, data, from: NOBODY });
    return false;
  } catch (err) {
    const revert = String((err as { data?: unknown }).data ?? "").toLowerCase();
    return UNAUTHORIZED.some((sel) => revert.startsWith(sel));
  }
}

/**
 * Reads the facts the risks are computed from: the immutable parameters and each contract's code once, the proxy
 * slots and the entry points' access each time, and the inbox's role events from where it last read.
 */
export class RiskReader {
  private params: { window: number; delay: number; bond: bigint } | undefined;
  private readonly code = new Map<string, Uint8Array>();
  private readonly roles = new Map<string, Set<string>>();
  private nextBlock: number;

  constructor(
    private readonly provider: Provider,
    private readonly addresses: RollupAddresses,
    fromBlock: number,
    private readonly logRange = 2_000,
  ) {
    this.nextBlock = fromBlock;
  }

  async read(): Promise<RiskFacts> {
    const a = this.addresses;
    const c = connectRollup(a, this.provider);
    if (!this.params) {
      const [window, delay, bond] = await Promise.all([
        c.stateCommitmentChain.CHALLENGE_WINDOW_SECONDS(),
        c.inbox.FORCED_INCLUSION_DELAY_SECONDS(),
        c.stateCommitmentChain.PROPOSER_BOND(),
      ]);
      this.params = { window: Number(window), delay: Number(delay), bond };
    }
    await this.followRoles();
    // Each one's entry point that must be open to anyone, called from an address with no role.
    const probes: Record<string, string> = {
      Bridge: c.bridge.interface.encodeFunctionData("requestForcedExit", [1]),
      RollupInbox: c.inbox.interface.encodeFunctionData("forceInclude", [1]),
      StateCommitmentChain: c.stateCommitmentChain.interface.encodeFunctionData("propose", [0, []]),
      FraudVerifier: c.fraudVerifier.interface.getFunction("proveQueueStep").selector + "00".repeat(32 * 16),
    };
    const named: [string, string][] = [
      ["Bridge", a.bridge],
      ["RollupInbox", a.rollupInbox],
      ["StateCommitmentChain", a.stateCommitmentChain],
      ["FraudVerifier", a.fraudVerifier],
    ];
    const contracts = await Promise.all(named.map(([name, address]) => this.codeFacts(name, address, probes[name])));
    return {
      challengeWindowSeconds: this.params.window,
      forcedInclusionDelaySeconds: this.params.delay,
      proposerBond: this.params.bond,
      admins: [...(this.roles.get(DEFAULT_ADMIN_ROLE) ?? [])],
      sequencers: [...(this.roles.get(SEQUENCER_ROLE) ?? [])],
      otherRoles: [...this.roles]
        .filter(([r, h]) => r !== DEFAULT_ADMIN_ROLE && r !== SEQUENCER_ROLE && h.size > 0)
        .map(([r]) => r),
      contracts,
    };
  }

  private async codeFacts(name: string, address: string, probe: string): Promise<CodeFacts> {
    let code = this.code.get(address);
    if (!code) {
      code = getBytes(await this.provider.getCode(address));
      this.code.set(address, code);
    }
    const [slots, refuses] = await Promise.all([
      Promise.all(PROXY_SLOTS.map((s) => this.provider.getStorage(address, s))),
      refusesNobody(this.provider, address, probe),
    ]);
    const selectors = pushedSelectors(code);
    return {
      name,
      address,
      proxy: slots.some((v) => BigInt(v) !== 0n),
      foreignCode: foreignOpcodes(code),
      accessControl: ACCESS_SELECTORS.some((sel) => selectors.has(sel.slice(2))),
      openEntryPoint: !refuses,
      codeBytes: code.length,
    };
  }

  /** The inbox's role events since the last read, in ranges a provider answers. */
  private async followRoles(): Promise<void> {
    const head = await this.provider.getBlockNumber();
    const topics = [
      [ROLE_EVENTS.getEvent("RoleGranted")?.topicHash ?? "", ROLE_EVENTS.getEvent("RoleRevoked")?.topicHash ?? ""],
    ];
    while (this.nextBlock <= head) {
      const toBlock = Math.min(head, this.nextBlock + this.logRange - 1);
      const logs = await this.provider.getLogs({
        address: this.addresses.rollupInbox,
        fromBlock: this.nextBlock,
        toBlock,
        topics,
      });
      logs.sort((x, y) => x.blockNumber - y.blockNumber || x.index - y.index);
      for (const log of logs) {
        const parsed = ROLE_EVENTS.parseLog(log);
        if (!parsed) continue;
        const role = String(parsed.args.role).toLowerCase();
        const account = dataSlice(log.topics[2], 12).toLowerCase();
        const set = this.roles.get(role) ?? new Set<string>();
        if (parsed.name === "RoleGranted") set.add(account);
        else set.delete(account);
        this.roles.set(role, set);
      }
      this.nextBlock = toBlock + 1;
    }
  }
}

function eth(wei: bigint): string {
  const whole = wei / 10n ** 18n;
  const frac = (wei % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return `${whole}${frac ? "." + frac.slice(0, 6) : ""} ETH`;
}

/**
 * The risks and the stage, by the rules the risks page states (L2BEAT's, as of 2025): see `docs/EXPLORER.md`.
 */
export function assessRisks(f: RiskFacts, live: { halted?: string } = {}): RiskReport {
  const byName = new Map(f.contracts.map((c) => [c.name, c]));
  const mutable = f.contracts.filter((c) => c.proxy || c.foreignCode.length > 0);
  const upgradeable = mutable.length > 0;
  // Open: no access control at all, or (the inbox) its forced-inclusion entry point takes anyone.
  const open = (name: string): boolean => {
    const c = byName.get(name);
    return c !== undefined && c.openEntryPoint && !c.accessControl;
  };
  const proofsOpen = open("FraudVerifier");
  const proposingOpen = open("StateCommitmentChain");
  const forcedExits =
    open("Bridge") &&
    byName.get("RollupInbox")?.openEntryPoint === true &&
    Number.isFinite(f.forcedInclusionDelaySeconds);
  const window = formatDuration(f.challengeWindowSeconds);
  const delay = formatDuration(f.forcedInclusionDelaySeconds);
  const timeToExit = f.forcedInclusionDelaySeconds + f.challengeWindowSeconds;
  // L2BEAT's exit window: the delay of an upgrade less the time a user needs to exit. No upgrade path: unbounded.
  const exitWindow = upgradeable ? 0 : Infinity;

  const risks: Risk[] = [
    {
      category: "State validation",
      value: proofsOpen
        ? `Fraud proofs, single round, open to anyone; ${window} window`
        : `Fraud proofs, restricted; ${window} window`,
      level: proofsOpen ? (f.challengeWindowSeconds >= 7 * DAY ? "good" : "warning") : "bad",
      meaning: `A wrong state root can be proven wrong by ${proofsOpen ? "anyone" : "the allowed challengers only"} within ${window} of its proposal; after that it is final and can pay out the withdrawals it claims, so someone must watch every proposal.`,
      source: "StateCommitmentChain.CHALLENGE_WINDOW_SECONDS(); FraudVerifier's code has no access control",
    },
    {
      category: "Data availability",
      value: "Onchain (calldata)",
      level: "good",
      meaning:
        "Every L2 transaction is in the calldata of its batch's L1 transaction, bound by the batch's chunk root: anyone can rebuild the whole state from L1 alone, as this explorer does.",
      source: "RollupInbox.appendBatch takes the chunks as calldata; each batch read here matched its chunk root",
    },
    {
      category: "Exit window",
      value: upgradeable ? "None" : "∞ (cannot be upgraded)",
      level: upgradeable ? "bad" : "good",
      meaning: upgradeable
        ? `${mutable.map((c) => c.name).join(", ")} can run other code (${mutable.map((c) => (c.proxy ? "a proxy" : c.foreignCode.join("/"))).join(", ")}): the rules can change before you can exit.`
        : "No contract is a proxy or can run code it does not hold: the rules your funds are under cannot be changed by anyone.",
      source: "EIP-1967 slots and the opcodes of each contract's code on L1",
    },
    {
      category: "Sequencer failure",
      value: forcedExits ? `Force via L1 after ${delay} (deposits and exits)` : "No mechanism",
      level: forcedExits ? (f.forcedInclusionDelaySeconds <= 7 * DAY ? "good" : "warning") : "bad",
      meaning: forcedExits
        ? `If the sequencer censors you or stops, a forced exit you queue on L1 can be included by anyone after ${delay} (L2 transfers cannot be forced); your funds leave in at most ${formatDuration(timeToExit)} with the challenge window.`
        : "If the sequencer stops, nothing moves your funds out.",
      source:
        "RollupInbox.FORCED_INCLUSION_DELAY_SECONDS(); Bridge.requestForcedExit and RollupInbox.forceInclude have no access control",
    },
    {
      category: "Proposer failure",
      value: proposingOpen ? `Self propose (bond ${eth(f.proposerBond)})` : "Cannot withdraw",
      level: proposingOpen ? "good" : "bad",
      meaning: proposingOpen
        ? `Anyone can propose state roots with a bond of ${eth(f.proposerBond)}, lost if proven wrong: withdrawals do not depend on the operator proposing.`
        : "Only allowed proposers post state roots: if they stop, withdrawals stop.",
      source: "StateCommitmentChain.PROPOSER_BOND(); its code has no access control",
    },
  ];

  const requirements: StageRequirement[] = [
    {
      stage: 0,
      text: "State roots are posted to L1",
      met: (byName.get("StateCommitmentChain")?.codeBytes ?? 0) > 0,
      why: "StateCommitmentChain holds each batch's proposed roots",
    },
    {
      stage: 0,
      text: "The data to rebuild the state is on L1",
      met: live.halted === undefined,
      why:
        live.halted === undefined
          ? "every batch read from calldata matched its chunk root"
          : `the replay stopped: ${live.halted}`,
    },
    {
      stage: 0,
      text: "Software to rebuild the state from L1 is available",
      met: live.halted === undefined,
      why: "the verifier (and this explorer) rebuild it from L1 alone",
    },
    {
      stage: 1,
      text: "A working proof system open to at least 5 outside actors",
      met: proofsOpen,
      why: proofsOpen ? "fraud proofs are open to anyone" : "fraud proofs are restricted",
    },
    {
      stage: 1,
      text: "Users can exit without the operator",
      met: forcedExits && proposingOpen,
      why:
        forcedExits && proposingOpen
          ? `forced exits after ${delay}, anyone can propose`
          : "forced exits or proposing are restricted",
    },
    {
      stage: 1,
      text: "Upgrades not by a Security Council leave at least 7 days to exit",
      met: exitWindow >= 7 * DAY,
      why: upgradeable ? "upgradeable with no delay" : "no upgrade is possible",
    },
    {
      stage: 2,
      text: "The proof system is open to anyone",
      met: proofsOpen,
      why: proofsOpen ? "no access control on FraudVerifier" : "restricted",
    },
    {
      stage: 2,
      text: "Upgrades unrelated to provable bugs leave at least 30 days to exit",
      met: exitWindow >= 30 * DAY,
      why: upgradeable ? "upgradeable with no delay" : "no upgrade is possible",
    },
    {
      stage: 2,
      text: "No Security Council can act beyond provable bugs",
      met: !upgradeable,
      why: upgradeable ? "an upgrader can act at will" : "no one can change the contracts",
    },
  ];
  let stage: 0 | 1 | 2 = 0;
  if (requirements.filter((r) => r.stage <= 1).every((r) => r.met)) stage = 1;
  if (stage === 1 && requirements.every((r) => r.met)) stage = 2;
  return { facts: f, risks, requirements, stage };
}

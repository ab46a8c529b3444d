import { expect } from "chai";
import { assessRisks, foreignOpcodes, formatDuration, pushedSelectors, type RiskFacts } from "../../src/explorer/risks";

const DAY = 86_400;

type CodeOverride = { proxy?: boolean; foreignCode?: string[]; accessControl?: boolean; openEntryPoint?: boolean };

function facts(over: Partial<RiskFacts> = {}, code: Partial<Record<string, CodeOverride>> = {}): RiskFacts {
  const contract = (name: string, accessControl: boolean) => ({
    name,
    address: "0x" + "11".repeat(20),
    proxy: false,
    foreignCode: [] as string[],
    accessControl,
    openEntryPoint: true,
    codeBytes: 1000,
    ...code[name],
  });
  return {
    challengeWindowSeconds: 7 * DAY,
    forcedInclusionDelaySeconds: DAY,
    proposerBond: 10n ** 18n,
    admins: ["0x" + "aa".repeat(20)],
    sequencers: ["0x" + "bb".repeat(20)],
    otherRoles: [],
    contracts: [
      contract("Bridge", false),
      contract("RollupInbox", true),
      contract("StateCommitmentChain", false),
      contract("FraudVerifier", false),
    ],
    ...over,
  };
}

describe("explorer: risks from the contracts' facts", () => {
  it("reads the opcodes that run other code, skipping pushed data and the metadata trailer", () => {
    // PUSH2 0xf4f4 (data, not DELEGATECALL), then CALLCODE, then a 4-byte "metadata" trailer of 0xa2 ff ff ff.
    const code = Uint8Array.from([0x61, 0xf4, 0xf4, 0xf2, 0x00, 0xa2, 0xff, 0xff, 0xff, 0x00, 0x04]);
    expect(foreignOpcodes(code)).to.deep.equal(["CALLCODE"]);
    expect(foreignOpcodes(Uint8Array.from([0x60, 0x00, 0xf4]))).to.deep.equal(["DELEGATECALL"]);
    expect(foreignOpcodes(Uint8Array.from([0x7f, ...new Array(32).fill(0xff)]))).to.deep.equal([]);
  });

  it("writes durations in the unit that reads", () => {
    expect([3600, 7 * DAY, 90, 600, 5400, Infinity].map(formatDuration)).to.deep.equal([
      "1h",
      "7d",
      "1m 30s",
      "10m",
      "1h 30m",
      "∞",
    ]);
  });

  it("puts immutable contracts with open proofs and proposals at Stage 2, and states the window", () => {
    const r = assessRisks(facts());
    expect(r.stage).to.equal(2);
    expect(r.risks.map((x) => x.category)).to.deep.equal([
      "State validation",
      "Data availability",
      "Exit window",
      "Sequencer failure",
      "Proposer failure",
    ]);
    expect(r.risks[0].value).to.contain("7d");
    expect(assessRisks(facts({ challengeWindowSeconds: 3600 })).risks[0].value).to.contain("1h");
  });

  it("drops to Stage 0 for a proxy, code that can change, restricted proofs or no self-proposing", () => {
    const proxy = assessRisks(facts({}, { Bridge: { proxy: true } }));
    expect(proxy.stage).to.equal(0);
    expect(proxy.risks[2].value).to.equal("None");
    expect(assessRisks(facts({}, { FraudVerifier: { foreignCode: ["DELEGATECALL"] } })).stage).to.equal(0);
    const restricted = assessRisks(facts({}, { FraudVerifier: { accessControl: true } }));
    expect(restricted.stage).to.equal(0);
    expect(restricted.requirements.filter((q) => !q.met).map((q) => q.stage)).to.deep.equal([1, 2]);
    const noSelfPropose = assessRisks(facts({}, { StateCommitmentChain: { accessControl: true } }));
    expect(noSelfPropose.stage).to.equal(0);
    expect(noSelfPropose.risks[4].level).to.equal("bad");
  });

  it("finds a dispatcher's selectors as PUSH4 operands only, and needs the inbox's forced inclusion open to anyone", () => {
    // PUSH4 0x91d14854 (hasRole) is a selector; the same bytes inside a PUSH32 are not.
    const code = Uint8Array.from([0x63, 0x91, 0xd1, 0x48, 0x54, 0x7f, 0x63, ...new Array(31).fill(0x11)]);
    expect([...pushedSelectors(code)]).to.deep.equal(["91d14854"]);
    const censored = assessRisks(facts({}, { RollupInbox: { openEntryPoint: false } }));
    expect(censored.stage).to.equal(0);
    expect(censored.risks[3].level).to.equal("bad");
    const halted = assessRisks(facts(), { halted: "batch 3's calldata is gone" });
    expect(halted.stage).to.equal(0);
    expect(halted.requirements.filter((q) => !q.met).map((q) => q.stage)).to.deep.equal([0, 0]);
  });
});

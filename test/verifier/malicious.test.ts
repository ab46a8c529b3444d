import { expect } from "chai";
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import {
  CENSOR_ENV,
  censorFromEnv,
  forgeStepRoots,
  LIE_KINDS,
  maliciousHookFromEnv,
  maliciousProposalRoots,
  parseLieSpec,
  QueueCensor,
  type BatchSource,
  type LieKind,
} from "../../src/operator/malicious";
import { domainSeparator } from "../../src/protocol/eip712";
import { initHashing } from "../../src/protocol/hash";
import { QueueKind, type QueueItem } from "../../src/protocol/queue";
import { L2State } from "../../src/protocol/state";
import { applyBatch, applyQueueStep, type BatchInput } from "../../src/protocol/stf";
import { ChunkMaker, ETH, FEE } from "./helpers";

const DOMAIN = domainSeparator(31337n, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const keys = Array.from({ length: 6 }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`malicious test ${i}`))));
const LIAR = keys[5].address;
const addr = (i: number): string => keys[i].address.toLowerCase();

function deposit(i: number, amount: bigint): QueueItem {
  return { kind: QueueKind.Deposit, addr: addr(i), tokenId: 0, amount, account: 0, timestamp: 1n };
}

/**
 * Accounts 1 (fees, key 0), 2 (key 1), 3 (key 2), 4 (key 3), 5 (the liar). The batch: a queue step (a deposit that
 * creates account 6, a forced exit of account 4), then a chunk with an applied transfer, a withdrawal, a transfer
 * to a new account and a badly signed transfer, then a chunk with one fee-less transfer.
 */
function scenario(): { pre: L2State; batch: BatchInput } {
  const pre = L2State.fromAccounts(
    [0, 1, 2, 3, 5].map((i) => ({ owner: addr(i), tokenId: 0, balance: 10n * ETH, nonce: 0 })),
  );
  const queueItems: QueueItem[] = [
    deposit(4, ETH),
    { kind: QueueKind.ForcedExit, addr: addr(3), tokenId: 0, amount: 0n, account: 4, timestamp: 1n },
  ];
  const base = pre.clone();
  applyQueueStep(base, queueItems);
  const maker = new ChunkMaker(base, DOMAIN);
  maker.add(keys[1], { type: 1, from: 2, to: 3, amount: ETH, fee: FEE });
  maker.add(keys[2], { type: 2, from: 3, amount: ETH / 2n, fee: FEE });
  maker.add(keys[1], { type: 3, from: 2, to: addr(4), amount: 2n * ETH, fee: FEE });
  maker.add(keys[5], { type: 1, from: 2, to: 5, amount: 3n * ETH, fee: 0n }); // signed by the liar: BadSignature
  const chunkA = maker.cut();
  maker.add(keys[2], { type: 1, from: 3, to: 2, amount: ETH / 4n, fee: 0n });
  return { pre, batch: { queueItems, chunks: [chunkA, maker.cut()], feeRecipient: 1, domainSeparator: DOMAIN } };
}

describe("malicious mode", function () {
  before(initHashing);

  describe("forgeStepRoots", function () {
    const applicable: [LieKind, number][] = [
      ["wrong-root", 2],
      ["apply-skipped", 1],
      ["skip-applied", 1],
      ["wrong-queue", 0],
      ["forged-withdrawal", 0],
      ["forged-withdrawal", 1],
      ["wrong-fee", 1],
      ["wrong-account", 0],
      ["wrong-account", 1],
    ];
    for (const [kind, step] of applicable) {
      it(`${kind} at step ${step}: honest before it, a different root at it`, function () {
        const { pre, batch } = scenario();
        const honest = applyBatch(pre.clone(), batch).stepRoots;
        const forged = forgeStepRoots(pre, batch, { kind, batch: 3, step }, { beneficiary: LIAR });
        expect(forged.honestRoots).to.deep.equal(honest);
        expect(forged.stepRoots).to.have.length(honest.length);
        expect(forged.stepRoots.slice(0, step)).to.deep.equal(honest.slice(0, step));
        expect(forged.stepRoots[step]).to.not.equal(honest[step]);
        expect(forged.description).to.contain(`batch 3 step ${step}`);
        expect(pre.stateRoot()).to.equal(scenario().pre.stateRoot(), "the pre-state is not mutated");
      });
    }

    it("a forged withdrawal takes every ETH on L2, or the amount asked, for the liar", function () {
      const { pre, batch } = scenario();
      const all = forgeStepRoots(pre, batch, { kind: "forged-withdrawal", batch: 0, step: 2 }, { beneficiary: LIAR });
      const post = pre.clone();
      applyBatch(post, batch);
      let total = 0n;
      for (let i = 1; i <= post.accountCount; i++) total += post.getAccount(i)?.balance ?? 0n;
      const index = post.appendWithdrawal({ recipient: LIAR, tokenId: 0, amount: total });
      expect(all.stepRoots[2]).to.equal(post.stateRoot());
      expect(all.description).to.contain(`forged withdrawal ${index} of ${total} wei to ${LIAR.toLowerCase()}`);
      const some = forgeStepRoots(
        pre,
        batch,
        { kind: "forged-withdrawal", batch: 0, step: 2 },
        { beneficiary: LIAR, amount: 7n },
      );
      expect(some.description).to.contain("of 7 wei");
    });

    const notApplicable: [LieKind, number, RegExp][] = [
      ["wrong-queue", 1, /needs a queue step/],
      ["apply-skipped", 0, /needs a chunk step/],
      ["apply-skipped", 2, /needs a skipped transaction/],
      ["wrong-account", 2, /creates none/],
      ["wrong-fee", 2, /yields the honest root/],
      ["wrong-root", 3, /no step 3/],
    ];
    for (const [kind, step, message] of notApplicable) {
      it(`refuses ${kind} at step ${step}, which offers nothing to lie about that way`, function () {
        const { pre, batch } = scenario();
        expect(() => forgeStepRoots(pre, batch, { kind, batch: 0, step }, { beneficiary: LIAR }))
          .to.throw(message)
          .with.property("code", "LIE_NOT_APPLICABLE");
      });
    }
  });

  describe("the operator hook", function () {
    it("parses <lie>:<batch>:<step> and refuses anything else", function () {
      for (const kind of LIE_KINDS) expect(parseLieSpec(`${kind}:4:2`)).to.deep.equal({ kind, batch: 4, step: 2 });
      for (const bad of ["", "steal:1:0", "wrong-root:1", "wrong-root:-1:0", "wrong-root:1:x"]) {
        expect(() => parseLieSpec(bad), bad).to.throw(/BILAYER_MALICIOUS must be/);
      }
    });

    /** The operator's records of two batches: the scenario's, preceded by a queue-only batch creating the accounts. */
    function source(): { source: BatchSource; roots: string[][] } {
      const { pre, batch } = scenario();
      const genesisItems = [0, 1, 2, 3, 5].map((i) => deposit(i, 10n * ETH));
      const state = new L2State();
      const roots = [
        applyBatch(state, { queueItems: genesisItems, chunks: [], feeRecipient: 0, domainSeparator: DOMAIN }).stepRoots,
      ];
      expect(state.stateRoot()).to.equal(pre.stateRoot());
      roots.push(applyBatch(state, batch).stepRoots);
      const records = [
        { queueItems: genesisItems, feeRecipient: 0, stepRoots: roots[0], chunks: [] as Uint8Array[] },
        { queueItems: batch.queueItems, feeRecipient: 1, stepRoots: roots[1], chunks: [...batch.chunks] },
      ];
      return {
        roots,
        source: {
          closedBatch: async (k) => records[k],
          batchData: async (k) => records[k],
          // The operator rebuilds it from its snapshot; here, from genesis.
          preStateOf: async (k) => {
            const s = new L2State();
            for (let i = 0; i < k; i++) applyBatch(s, { ...records[i], domainSeparator: DOMAIN });
            return s;
          },
        },
      };
    }

    it("lies once, about the chosen batch, then proposes honestly", async function () {
      const { source: src, roots } = source();
      const warnings: string[] = [];
      const logger = {
        warn: (_o: object, m: string) => warnings.push(m),
        error: (_o: object, m: string) => warnings.push(m),
      };
      const hook = maliciousProposalRoots({ kind: "forged-withdrawal", batch: 1, step: 1 }, src, {
        domainSeparator: DOMAIN,
        beneficiary: LIAR,
        logger,
      });
      expect(await hook(0)).to.deep.equal(roots[0]);
      const lie = await hook(1);
      expect(lie[0]).to.equal(roots[1][0]);
      expect(lie[1]).to.not.equal(roots[1][1]);
      expect(warnings).to.deep.equal(["MALICIOUS MODE: proposing forged step roots"]);
      expect(await hook(1)).to.deep.equal(roots[1]);
    });

    it("is off unless BILAYER_MALICIOUS is set, and says so loudly when it is", async function () {
      const { source: src, roots } = source();
      const warnings: string[] = [];
      const logger = {
        warn: (_o: object, m: string) => warnings.push(m),
        error: (_o: object, m: string) => warnings.push(m),
      };
      const opts = { domainSeparator: DOMAIN, beneficiary: LIAR, logger };
      expect(maliciousHookFromEnv({}, src, opts)).to.equal(undefined);
      expect(maliciousHookFromEnv({ BILAYER_MALICIOUS: "" }, src, opts)).to.equal(undefined);
      expect(warnings).to.deep.equal([]);
      const hook = maliciousHookFromEnv({ BILAYER_MALICIOUS: "wrong-queue:1:0" }, src, opts);
      expect(warnings[0]).to.match(/MALICIOUS MODE ON/);
      expect((await hook?.(1))?.[0]).to.not.equal(roots[1][0]);
      expect(() => maliciousHookFromEnv({ BILAYER_MALICIOUS: "nonsense" }, src, opts)).to.throw(
        /must be <lie>:<batch>:<step>/,
      );
    });
  });
});

describe("a censoring sequencer (BILAYER_CENSOR=forced-exits)", function () {
  const quiet = { warn: () => undefined, error: () => undefined };
  const item = (index: number, kind: number) => ({ index, kind });

  it("holds back the first forced exit and everything after it, until L1 shows them consumed", async function () {
    let consumed = 0;
    const censor = censorFromEnv<{ index: number; kind: number }>(
      { [CENSOR_ENV]: "forced-exits" },
      async () => consumed,
      quiet,
    ) as QueueCensor<{ index: number; kind: number }>;
    expect(await censor.pass([item(0, QueueKind.Deposit), item(1, QueueKind.Deposit)])).to.deep.equal([
      item(0, QueueKind.Deposit),
      item(1, QueueKind.Deposit),
    ]);
    consumed = 2;
    // The exit at 2 and the deposit after it are held (the queue is ordered).
    expect(await censor.pass([item(2, QueueKind.ForcedExit), item(3, QueueKind.Deposit)])).to.deep.equal([]);
    expect(await censor.pass([item(4, QueueKind.Deposit)])).to.deep.equal([]);
    expect(censor.holding).to.equal(3);
    // Someone force-includes two of them: those two are released, in order; the rest stays held.
    consumed = 4;
    expect(await censor.pass([])).to.deep.equal([item(2, QueueKind.ForcedExit), item(3, QueueKind.Deposit)]);
    expect(censor.holding).to.equal(1);
    // L1 not answering: nothing is released, nothing lost.
    const failing = new QueueCensor<{ index: number; kind: number }>(() => Promise.reject(new Error("down")), quiet);
    expect(await failing.pass([item(0, QueueKind.ForcedExit)])).to.deep.equal([]);
    expect(failing.holding).to.equal(1);
  });

  it("is off unless asked for, and refuses a value it does not know", function () {
    expect(censorFromEnv({}, async () => 0, quiet)).to.equal(undefined);
    expect(censorFromEnv({ [CENSOR_ENV]: "" }, async () => 0, quiet)).to.equal(undefined);
    expect(() => censorFromEnv({ [CENSOR_ENV]: "deposits" }, async () => 0, quiet)).to.throw(/must be "forced-exits"/);
  });
});

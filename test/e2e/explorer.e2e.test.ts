/**
 * The explorer in a real headless Chromium (playwright-core with
 * @sparticuz/chromium), against real processes: a Hardhat node, the rollup
 * deployed by the `deploy` task, the operator task, the explorer task and, for
 * the lie, a verifier process. L1's automine is turned off while a transfer
 * goes through its stages, so each stage holds until the test mines the next
 * block: soft (the operator's word) → on L1 → proposed (with the window's
 * countdown, checked against the chain) → final; then a withdrawal is claimed
 * through the page's claim button and an injected EIP-1193 wallet.
 */
import path from "node:path";
import { expect } from "chai";
import type { JsonRpcProvider } from "ethers";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../../scripts/browser";
import { transferTx, withdrawTx, type AccountView } from "../../src/operator/client";
import { Explorer } from "../../src/explorer/explorer";
import { formatDuration } from "../../src/explorer/risks";
import { readRollupDeployment } from "../../src/l1/deployments";
import { CHALLENGE_WINDOW, devWallet, ETH, Stack, timeTravelPastWindow, until } from "./stack";
import { freePort, runTask, startExplorer, startVerifier, stop, type Proc } from "./processes";

/** Mines one block once `count` transactions wait in the pool (the operator's next L1 sends). */
async function mineWhenPending(provider: JsonRpcProvider, count = 1): Promise<void> {
  await until(`${count} L1 transactions waiting`, async () => {
    const block = (await provider.send("eth_getBlockByNumber", ["pending", false])) as { transactions: string[] };
    return block.transactions.length >= count ? true : undefined;
  });
  await provider.send("evm_mine", []);
}

describe("explorer in a real browser (hardhat node, operator, explorer and verifier processes)", function () {
  this.timeout(360_000);
  const stack = new Stack("hardhat");
  let explorer: Proc | undefined;
  let verifier: Proc | undefined;
  let browser: Browser | undefined;
  let url = "";
  let failed = false;

  before(async () => {
    await stack.start();
    const port = await freePort();
    explorer = await startExplorer(
      ["--network", "localhost", "--operator", `http://127.0.0.1:${stack.port}`, "--poll", "100"],
      stack.env,
      stack.dir,
      port,
    );
    url = `http://127.0.0.1:${port}`;
  });

  // @sparticuz/chromium runs the browser in one process, which does not outlive a closed page: one per test.
  beforeEach(async () => {
    browser = await launchChromium();
  });

  afterEach(async function () {
    await browser?.close();
    browser = undefined;
    if (this.currentTest?.state === "failed") failed = true;
    // A test that failed while L1 mined only on demand must not leave it so.
    await stack.provider?.send("evm_setAutomine", [true]).catch(() => undefined);
  });

  after(async () => {
    await stop(verifier);
    await stop(explorer);
    await stack.stop(failed);
  });

  /** The page's L1 view has reached L1's head: what the page shows is as of that block. */
  async function caughtUp(page: Page): Promise<{ block: number; time: number }> {
    const head = await stack.provider.getBlock("latest");
    if (!head) throw new Error("no L1 head");
    await until(`the page at L1 block ${head.number}`, async () => {
      const block = Number(await page.locator("#l1-at").getAttribute("data-l1-block"));
      return block >= head.number ? true : undefined;
    });
    return { block: head.number, time: head.timestamp };
  }

  async function stageOf(page: Page, selector: string, attr: string, want: string): Promise<void> {
    await until(`${selector} ${attr}=${want}`, async () => {
      const got = await page
        .locator(selector)
        .first()
        .getAttribute(attr)
        .catch(() => null);
      return got === want ? true : undefined;
    });
  }

  it("shows a deposit, a transfer and a withdrawal at each stage, claims it through the page's wallet, and shows a proven lie", async () => {
    const provider = stack.provider;
    const [user, other] = [devWallet(1, provider), devWallet(2, provider)];
    const page = await (browser as Browser).newPage({ viewport: { width: 390, height: 844 } });
    // The injected wallet: EIP-1193 `request`, signing in this process with the user's local key.
    await page.exposeFunction("bilayerTestWallet", async (method: string, params: unknown[]) => {
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [user.address];
      if (method === "eth_chainId") return "0x" + stack.deployment.chainId.toString(16);
      if (method === "eth_sendTransaction") {
        const [tx] = params as { to: string; data: string }[];
        return (await user.sendTransaction({ to: tx.to, data: tx.data })).hash;
      }
      throw new Error(`the test wallet does not do ${method}`);
    });
    await page.addInitScript(() => {
      const w = globalThis as unknown as {
        ethereum: unknown;
        bilayerTestWallet: (method: string, params: unknown[]) => Promise<unknown>;
      };
      w.ethereum = {
        request: (args: { method: string; params?: unknown[] }) => w.bilayerTestWallet(args.method, args.params ?? []),
      };
    });

    // 1. A deposit: the address page shows the account and its balance, from L1.
    const [a, b] = await stack.deposit([user, other], ETH);
    await page.goto(`${url}/address/${user.address}`);
    await stageOf(page, ".balance-l1", "data-wei", String(ETH));

    // 2. A transfer through its stages, each held until the next block is mined.
    await provider.send("evm_setAutomine", [false]);
    const sent = await stack.client.sendTransaction(
      await stack.sign(user, transferTx(a.index, b.index, ETH / 10n), a.nonce),
    );
    await page.goto(`${url}/tx/${sent.hash}`);
    await stageOf(page, ".tx-stage", "data-stage", "soft");
    expect(await page.locator(".tx-stage .src").textContent()).to.equal("operator");
    await mineWhenPending(provider); // the operator's append
    await stageOf(page, ".tx-stage", "data-stage", "on L1");
    expect(await page.locator(".tx-stage .src").textContent()).to.equal("L1");
    await mineWhenPending(provider); // its proposal
    await stageOf(page, ".tx-stage", "data-stage", "proposed");
    const at = await caughtUp(page);
    const batchIndex = (await stack.client.getReceipt(sent.hash))?.batchIndex as number;
    const deadline = Number(await stack.contracts.stateCommitmentChain.deadline(batchIndex));
    await page.reload();
    const countdown = page.locator(".tx-stage .countdown");
    expect(Number(await countdown.getAttribute("data-left"))).to.equal(deadline - at.time);
    expect(await countdown.textContent()).to.equal(formatDuration(deadline - at.time));
    await provider.send("evm_setAutomine", [true]);

    // 3. A withdrawal: proposed with its countdown on the address page, then final after the window, then claimed.
    const account = (await stack.client.getAccount(a.index)) as AccountView;
    const w = await stack.client.sendTransaction(await stack.sign(user, withdrawTx(a.index, ETH / 4n), account.nonce));
    await stack.waitProposed([w.hash]);
    await page.goto(`${url}/address/${user.address}`);
    await stageOf(page, ".w-stage", "data-status", "proposed");
    expect(await page.locator(".withdrawals .countdown").count()).to.equal(1);
    await timeTravelPastWindow(provider);
    await stageOf(page, ".w-stage", "data-status", "final");
    const before = await provider.getBalance(user.address);
    await page.locator("button.claim").click();
    await stageOf(page, ".w-stage", "data-status", "claimed");
    const after = await provider.getBalance(user.address);
    expect(after > before).to.equal(true, "the claim paid the user on L1");
    await stageOf(page, ".l1-balance", "data-wei", String(after));

    // The transfer's page now says final.
    await page.goto(`${url}/tx/${sent.hash}`);
    await stageOf(page, ".tx-stage", "data-stage", "final");

    // 4. A lie: the operator, restarted malicious, proposes a wrong root for the next batch; a verifier proves it.
    const lieBatch = Number(await stack.contracts.inbox.batchCount());
    await stop(stack.operator);
    stack.env.BILAYER_MALICIOUS = `wrong-root:${lieBatch}:0`;
    await stack.startOperator();
    delete stack.env.BILAYER_MALICIOUS;
    const bNow = (await stack.client.getAccount(b.index)) as AccountView;
    await stack.client.sendTransaction(await stack.sign(other, transferTx(b.index, a.index, ETH / 100n), bNow.nonce));
    await until("the lie's proposal", async () =>
      Number(await stack.contracts.stateCommitmentChain.proposalCount()) > lieBatch ? true : undefined,
    );
    const vPort = await freePort();
    verifier = await startVerifier(
      [
        "--rpc",
        stack.l1.url,
        "--network",
        "localhost",
        "--data-dir",
        path.join(stack.dir, "verifier-data"),
        "--poll",
        "100",
        "--account",
        "9",
      ],
      stack.env,
      stack.dir,
      vPort,
    );
    const challenger = devWallet(9, provider).address.toLowerCase();
    await page.goto(`${url}/disputes`);
    await until("the dispute on the page", async () =>
      (await page.locator(".disputes tbody tr").count()) > 0 ? true : undefined,
    );
    const row = (await page.locator(".disputes tbody tr").first().innerText()).toLowerCase();
    expect(row).to.contain(`#${lieBatch}`);
    expect(row).to.contain(challenger.slice(0, 8));
    // The lie's bond is slashed, and its batch page names its proposal proven wrong.
    const slashed = page.locator("table").nth(1).locator("tbody tr");
    expect((await slashed.first().innerText()).toLowerCase()).to.contain(`#${lieBatch}`);
    await page.goto(`${url}/batch/${lieBatch}`);
    expect(await page.locator("main").innerText()).to.contain("proven wrong");
  });

  it("answers bad input with a clear error and stays up", async () => {
    const get = async (route: string) => {
      const res = await fetch(`${url}${route}`, { redirect: "manual" });
      return { status: res.status, text: await res.text() };
    };
    expect((await get(`/tx/0x${"00".repeat(32)}`)).status).to.equal(404);
    expect((await get("/batch/99999999999999999999")).status).to.equal(404);
    expect((await get("/address/0x1234")).status).to.equal(404);
    expect((await get("/search?q=%3Cscript%3E")).text)
      .to.contain("&#60;script&#62;")
      .and.not.contain("<script>alert");
    const claim = await get("/api/claim/999999");
    expect(claim.status).to.equal(409);
    expect(JSON.parse(claim.text).error.message).to.match(/no withdrawal 999999/);
    expect((await fetch(`${url}/`, { method: "POST" })).status).to.equal(405);
    expect((await get("/")).status).to.equal(200);
  });

  it("computes the risks from the chain: two deployments with other windows read differently, by the same rules", async () => {
    const page = await (browser as Browser).newPage();
    const read = async (base: string) => {
      await page.goto(`${base}/risks`);
      const r = {
        window: Number(await page.locator("#challenge-window").getAttribute("data-seconds")),
        state: (await page.locator('.risk[data-category="State validation"] .value').textContent()) ?? "",
        stage: Number(await page.locator("#stage").textContent()),
        // Each requirement row: its stage and whether it is met.
        rows: await page
          .locator(".requirements tbody tr")
          .evaluateAll((trs) =>
            trs.map((tr) => [Number(tr.children[0].textContent), tr.children[2].textContent === "met"] as const),
          ),
      };
      return r;
    };
    // A second deployment on the same L1, with a 7-day window, and an explorer of its own (in this process).
    const dir = path.join(stack.dir, "deployments-7d");
    const env = { ...stack.env, BILAYER_DEPLOYMENTS_DIR: dir };
    await runTask(
      ["deploy", "--network", "localhost", "--challenge-window", String(7 * 86_400)],
      env,
      stack.dir,
      "deploy-7d",
    );
    const second = await Explorer.start({
      provider: stack.provider,
      deployment: readRollupDeployment("localhost", dir),
      pollMs: 100,
    });
    try {
      const [short, long] = [await read(url), await read(second.url)];
      expect(short.window).to.equal(CHALLENGE_WINDOW);
      expect(long.window).to.equal(7 * 86_400);
      expect(short.state).to.contain(formatDuration(CHALLENGE_WINDOW)).and.not.equal(long.state);
      expect(long.state).to.contain("7d");
      // The same code facts (no proxy, no foreign code, open proofs and proposals), and the stage is the highest one
      // whose requirements, and every lower stage's, are met — as the page states its rule.
      for (const r of [short, long]) {
        const highest = [0, 1, 2].filter((k) => r.rows.every(([stage, met]) => stage > k || met)).pop() ?? 0;
        expect(r.rows.length).to.be.greaterThan(5);
        expect(r.stage).to.equal(highest);
      }
      // bilayer's contracts: no proxy, no code they could run instead, proofs, proposals and forced exits open to all.
      expect([short.stage, long.stage]).to.deep.equal([2, 2]);
    } finally {
      await second.stop();
    }
  });
});

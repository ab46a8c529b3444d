import { expect } from "chai";
import { PollLoop } from "../../src/common/poll-loop";

const until = async (what: string, done: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

describe("PollLoop", () => {
  it("sleeps pollMs between steps, unless a step has more to do or it is poked", async () => {
    let steps = 0;
    let more = 3;
    const loop = new PollLoop({
      pollMs: 60_000,
      step: async () => {
        steps++;
        return more-- > 0;
      },
      onError: (err) => {
        throw err;
      },
    });
    loop.start();
    await until("the busy steps", () => steps === 4); // 3 with more to do, then one that sleeps
    loop.poke();
    await until("the poked step", () => steps === 5);
    await loop.stop();
    expect(steps).to.equal(5);
  });

  it("reports a step that throws and tries again; stops without reporting once stopping", async () => {
    const errors: unknown[] = [];
    let steps = 0;
    const loop = new PollLoop({
      pollMs: 1,
      step: async () => {
        steps++;
        throw new Error(`step ${steps}`);
      },
      onError: (err) => errors.push(err),
    });
    loop.start();
    await until("three failed steps", () => errors.length >= 3);
    await loop.stop();
    expect(loop.stopping).to.equal(true);
    expect(errors.length).to.be.at.least(steps - 1);
  });

  it("bounds stop() by boundMs when a step hangs", async () => {
    const loop = new PollLoop({
      pollMs: 10,
      step: () => new Promise<boolean>(() => undefined),
      onError: () => undefined,
    });
    loop.start();
    const started = Date.now();
    await loop.stop(50);
    expect(Date.now() - started).to.be.below(2_000);
  });
});

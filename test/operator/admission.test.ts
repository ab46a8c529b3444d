import { expect } from "chai";
import { Outcome, outcomeName } from "../../src/protocol/constants";
import { L2State } from "../../src/protocol/state";
import { applyChunk, applyQueueStep } from "../../src/protocol/stf";
import { queueItemOf } from "../../src/operator/records";
import { isRefusal } from "../../src/operator/refusals";
import type { UnsignedTx } from "../../src/protocol/codec";
import {
  DOMAIN,
  deposits,
  sequencer,
  signed,
  transfer,
  transferToNew,
  users,
  withdraw,
  type Harness,
  type User,
} from "./fixtures";

/**
 * Admission agrees with the STF: whatever the sequencer does with a transaction — acknowledge it, or refuse it
 * with a protocol outcome — is what the STF does with the same transaction as a chunk of its own on the same
 * state. (Admission checks before it executes, to say why in words; this table keeps its checks the STF's.)
 */
describe("Admission agrees with the STF", () => {
  const [alice, bob, carol, fees, mallory] = users(5, "admission");
  const ZERO = "0x" + "00".repeat(20);
  // Accounts: 1 alice, 2 bob, 4 fees (token 0); 3 carol (token 1).
  const funded: [User, bigint, number][] = [
    [alice, 1_000n, 0],
    [bob, 1_000n, 0],
    [carol, 1_000n, 1],
    [fees, 0n, 0],
  ];

  /** A sequencer and its mirror: the same deposits applied by the STF alone. */
  async function world(feeRecipient: number): Promise<{ h: Harness; mirror: L2State }> {
    let queue: ReturnType<typeof deposits> = [];
    for (const [u, amount, tokenId] of funded) {
      const previous = queue.length === 0 ? undefined : queue[queue.length - 1].accumulator;
      queue = queue.concat(deposits([u.address], amount, queue.length, previous, tokenId));
    }
    const h = await sequencer({ feeRecipient, queue });
    h.seq.tick();
    await h.seq.flush();
    const mirror = new L2State();
    applyQueueStep(mirror, queue.map(queueItemOf));
    expect(h.seq.status().stateRoot).to.equal(mirror.stateRoot());
    return { h, mirror };
  }

  const cases: { name: string; by: User; tx: UnsignedTx; tokenId?: number; feeRecipient?: number }[] = [
    { name: "a transfer", by: alice, tx: transfer(1, 2, 10n) },
    { name: "a transfer of the whole balance with the fee", by: alice, tx: transfer(1, 2, 999n, 1n) },
    { name: "a transfer to oneself", by: alice, tx: transfer(1, 1, 5n) },
    { name: "a missing sender", by: alice, tx: transfer(9, 2, 1n) },
    { name: "sender 0", by: alice, tx: transfer(0, 2, 1n) },
    { name: "a missing recipient", by: alice, tx: transfer(1, 9, 1n) },
    { name: "recipient 0", by: alice, tx: transfer(1, 0, 1n) },
    { name: "a recipient of another token", by: alice, tx: transfer(1, 3, 1n) },
    { name: "a fee in another token than the fee account's", by: carol, tx: transfer(3, 3, 1n, 1n), tokenId: 1 },
    { name: "a fee with no fee account", by: alice, tx: transfer(1, 2, 1n, 1n), feeRecipient: 0 },
    { name: "a fee to a missing fee account", by: alice, tx: transfer(1, 2, 1n, 1n), feeRecipient: 9 },
    { name: "an overdraft by one", by: alice, tx: transfer(1, 2, 1_000n, 1n) },
    { name: "a signature by another key", by: mallory, tx: transfer(1, 2, 1n) },
    { name: "a signature for another token", by: alice, tx: transfer(1, 2, 1n), tokenId: 1 },
    { name: "a withdrawal", by: bob, tx: withdraw(2, 100n) },
    { name: "a withdrawal with a fee", by: bob, tx: withdraw(2, 100n, 2n) },
    { name: "a withdrawal overdraft", by: bob, tx: withdraw(2, 1_001n) },
    { name: "a withdrawal of a missing account", by: bob, tx: withdraw(7, 1n) },
    { name: "a withdrawal with a fee and no fee account", by: bob, tx: withdraw(2, 1n, 1n), feeRecipient: 0 },
    { name: "a withdrawal signed by another key", by: alice, tx: withdraw(2, 1n) },
    { name: "a transfer to a new address", by: alice, tx: transferToNew(1, mallory.address, 10n) },
    { name: "a transfer to an owner's address", by: alice, tx: transferToNew(1, bob.address, 10n) },
    { name: "a transfer to address(0)", by: alice, tx: transferToNew(1, ZERO, 10n) },
    { name: "a transfer to a new address, overdrawn", by: alice, tx: transferToNew(1, mallory.address, 1_001n) },
    { name: "a transfer to a new address from nobody", by: alice, tx: transferToNew(5, mallory.address, 1n) },
    { name: "a transfer to a new address, badly signed", by: bob, tx: transferToNew(1, mallory.address, 1n) },
    { name: "a zero amount", by: alice, tx: transfer(1, 2, 0n) },
    // Several rules broken at once: the first in the STF's order (PROTOCOL.md §5.2) is the one named.
    { name: "a missing recipient, overdrawn, badly signed", by: mallory, tx: transfer(1, 9, 5_000n) },
    { name: "another token, with a fee, badly signed", by: mallory, tx: transfer(1, 3, 1n, 1n) },
    { name: "a fee with no fee account, overdrawn", by: alice, tx: transfer(1, 2, 5_000n, 1n), feeRecipient: 0 },
    { name: "an overdraft, badly signed", by: mallory, tx: transfer(1, 2, 5_000n) },
    { name: "address(0), overdrawn, badly signed", by: mallory, tx: transferToNew(1, ZERO, 5_000n) },
    { name: "a withdrawal with a bad fee, overdrawn", by: bob, tx: withdraw(2, 5_000n, 1n), feeRecipient: 0 },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const feeRecipient = c.feeRecipient ?? 4;
      const { h, mirror } = await world(feeRecipient);
      const bytes = signed(c.by, c.tx, 0, c.tokenId ?? 0);
      const stf = applyChunk(mirror.clone(), bytes, { domainSeparator: DOMAIN, feeRecipient }).outcomes[0].code;
      let admitted: Outcome;
      try {
        await h.seq.submit(bytes);
        admitted = Outcome.Applied;
      } catch (err) {
        if (!isRefusal(err)) throw err;
        // A refusal names the outcome the STF would give, except a wrong nonce, which the STF sees as a bad signature.
        admitted = err.code === "WRONG_NONCE" ? Outcome.BadSignature : (err.outcome as Outcome);
      }
      expect(outcomeName(admitted), `admission vs STF for ${c.name}`).to.equal(outcomeName(stf));
      if (admitted === Outcome.Applied) {
        // And the state the sequencer applied it to is the STF's.
        const after = mirror.clone();
        applyChunk(after, bytes, { domainSeparator: DOMAIN, feeRecipient });
        await h.seq.flush();
        expect(h.seq.status().stateRoot).to.equal(after.stateRoot());
      }
    });
  }
});

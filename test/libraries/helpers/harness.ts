// Runs one step through both the test model and the Solidity harness and checks that they agree.
import { expect } from "chai";
import type { StepExecutorHarness } from "../../../typechain-types";
import { type QueueItem, stateRoot, type StateHeader, type StepWitness } from "./encoding";
import { type ModelState, runChunk, runQueue } from "./model";

export interface CheckedStep {
  post: ModelState;
  witness: StepWitness;
  outcomes: number[];
}

function headerOf(post: StateHeader): StateHeader {
  return {
    accountsRoot: post.accountsRoot,
    accountCount: post.accountCount,
    withdrawalsRoot: post.withdrawalsRoot,
    withdrawalCount: post.withdrawalCount,
  };
}

/** Executes a chunk on the model and on chain; asserts equal post-state, root and outcomes (and `expected`). */
export async function checkChunk(
  harness: StepExecutorHarness,
  pre: ModelState,
  chunk: string,
  domainSeparator: string,
  feeRecipient: bigint,
  expected: readonly number[],
): Promise<CheckedStep> {
  const post = pre.clone();
  const { witness, outcomes } = runChunk(post, chunk, domainSeparator, feeRecipient);
  expect(outcomes, "model outcomes").to.deep.equal(expected);
  const [onchain, root, codes] = await harness.executeChunk(
    pre.header(),
    domainSeparator,
    feeRecipient,
    chunk,
    witness,
  );
  expect(headerOf(onchain), "post header").to.deep.equal(post.header());
  expect(root, "post root").to.equal(stateRoot(post.header()));
  expect(codes.map(Number), "outcomes").to.deep.equal(outcomes);
  return { post, witness, outcomes };
}

/** Executes a queue step on the model and on chain; asserts equal post-state, root and outcomes (and `expected`). */
export async function checkQueue(
  harness: StepExecutorHarness,
  pre: ModelState,
  items: readonly QueueItem[],
  expected: readonly number[],
): Promise<CheckedStep> {
  const post = pre.clone();
  const { witness, outcomes } = runQueue(post, items);
  expect(outcomes, "model outcomes").to.deep.equal(expected);
  const [onchain, root, codes] = await harness.executeQueue(pre.header(), [...items], witness);
  expect(headerOf(onchain), "post header").to.deep.equal(post.header());
  expect(root, "post root").to.equal(stateRoot(post.header()));
  expect(codes.map(Number), "outcomes").to.deep.equal(outcomes);
  return { post, witness, outcomes };
}

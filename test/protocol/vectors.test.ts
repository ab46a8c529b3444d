import { expect } from "chai";
import { ALL_OUTCOMES, domainSeparator, initHashing, outcomeName } from "../../src/protocol";
import { namedEdgeVectors, VECTOR_DOMAIN_SEPARATOR, type StepVector } from "../../src/protocol/testing";
import { generateVectors, VECTOR_SCENARIO_COUNT } from "./helpers/vectors";
import { replayVector } from "./helpers/witnessReplay";

function outcomesOf(vectors: readonly StepVector[]): Set<number> {
  return new Set(vectors.flatMap((v) => v.outcomes));
}

function missing(vectors: readonly StepVector[]): string[] {
  const seen = outcomesOf(vectors);
  return ALL_OUTCOMES.filter((o) => !seen.has(o)).map(outcomeName);
}

describe("protocol/vectors", () => {
  before(async () => {
    await initHashing();
  });

  it("generates the same vectors for the same seed and different ones for another", () => {
    const a = generateVectors(5, 14);
    const b = generateVectors(5, 14);
    const c = generateVectors(6, 14);
    expect(a).to.deep.equal(b);
    expect(a.map((v) => v.postRoot)).to.not.deep.equal(c.map((v) => v.postRoot));
  });

  it("hits every outcome code in one cycle of scenarios, whatever the seed", () => {
    for (const seed of [0, 1, 2, 3]) {
      expect(missing(generateVectors(seed, VECTOR_SCENARIO_COUNT)), `seed ${seed}`).to.deep.equal([]);
    }
  });

  it("has named edge vectors with unique names covering every outcome code", () => {
    const vectors = namedEdgeVectors();
    expect(missing(vectors)).to.deep.equal([]);
    expect(new Set(vectors.map((v) => v.name)).size).to.equal(vectors.length);
  });

  it("includes a maximum-size chunk of 32 transfers to new addresses and a chunk with trailing bytes", () => {
    const vectors = namedEdgeVectors();
    const max = vectors.find((v) => v.name.startsWith("maximum chunk")) as StepVector;
    expect(((max.chunk as string).length - 2) / 2).to.equal(32 * 96);
    expect(max.outcomes).to.deep.equal(new Array(32).fill(0));
    const trailing = vectors.find((v) => v.name === "trailing byte after 32 transactions") as StepVector;
    expect(trailing.outcomes).to.have.length(33);
    expect(trailing.outcomes[32]).to.equal(13);
  });

  it("signs over an overriding domain separator with the same outcomes", () => {
    const other = domainSeparator(1n, "0x00000000000000000000000000000000000b1a7e");
    const defaults = namedEdgeVectors();
    const overridden = namedEdgeVectors({ domainSeparator: other });
    expect(overridden.map((v) => v.outcomes)).to.deep.equal(defaults.map((v) => v.outcomes));
    expect(overridden.every((v) => v.domainSeparator === other)).to.equal(true);
    const generated = generateVectors(9, VECTOR_SCENARIO_COUNT, { domainSeparator: other });
    expect(generated.every((v) => v.domainSeparator === other)).to.equal(true);
    for (const v of generated) expect(replayVector(v).outcomes).to.deep.equal(v.outcomes);
    expect(defaults[0].domainSeparator).to.equal(VECTOR_DOMAIN_SEPARATOR);
  });

  it("keeps pre-state headers and post roots consistent", () => {
    for (const v of [...namedEdgeVectors(), ...generateVectors(3, VECTOR_SCENARIO_COUNT)]) {
      expect(v.pre.accountsRoot).to.match(/^0x[0-9a-f]{64}$/);
      expect(v.post.withdrawalCount >= v.pre.withdrawalCount).to.equal(true);
      expect(v.post.accountCount >= v.pre.accountCount).to.equal(true);
      if (v.kind === "chunk") expect(v.chunk).to.match(/^0x([0-9a-f]{2})*$/);
      else expect(v.items).to.be.an("array");
    }
  });
});

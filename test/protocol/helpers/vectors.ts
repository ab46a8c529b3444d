import fc from "fast-check";
import { VECTOR_DOMAIN_SEPARATOR, type StepVector } from "../../../src/protocol/testing/testkit";
import { SCENARIOS } from "../../../src/protocol/testing/scenarios";
import type { Chooser } from "../../../src/protocol/testing/states";

/*
 * Random step vectors for the TypeScript ↔ Solidity agreement test. Each
 * vector comes from one of a few scenarios (ordinary traffic, broken
 * signatures, every skip rule, full trees, malformed chunks, queue steps)
 * written against a `Chooser`, so the same code serves a seeded generator
 * (`generateVectors`) and a shrinkable fast-check arbitrary
 * (`stepVectorArbitrary`). Taken together the scenarios produce every
 * outcome code of PROTOCOL.md §5.3; `generateVectors` cycles through them.
 */

export type { StepVector } from "../../../src/protocol/testing/testkit";
export type { Chooser } from "../../../src/protocol/testing/states";
export { namedEdgeVectors } from "../../../src/protocol/testing/edges";

/** A deterministic chooser (sfc32 seeded through splitmix32). */
export class SeededChooser implements Chooser {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform u32. */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  int(min: number, max: number): number {
    return Number(this.bigint(BigInt(min), BigInt(max)));
  }

  bigint(min: bigint, max: bigint): bigint {
    const range = max - min + 1n;
    let bits = 0n;
    let value = 0n;
    while (bits < BigInt(range.toString(2).length) + 64n) {
      value = (value << 32n) | BigInt(this.u32());
      bits += 32n;
    }
    return min + (value % range);
  }
}

/** A chooser over fast-check's `fc.gen()`, so vectors shrink. */
export function generatorChooser(g: fc.GeneratorValue): Chooser {
  return {
    int: (min, max) => g(fc.integer, { min, max }),
    bigint: (min, max) => g(fc.bigInt, { min, max }),
  };
}

/** Number of scenarios `generateVectors` cycles through: any `count` of at least this covers every outcome. */
export const VECTOR_SCENARIO_COUNT = SCENARIOS.length;

export interface VectorOptions {
  /** Domain separator to sign over (default `VECTOR_DOMAIN_SEPARATOR`). */
  domainSeparator?: string;
}

/** `count` deterministic random vectors for `seed`, cycling through the scenarios. */
export function generateVectors(seed: number, count: number, opts: VectorOptions = {}): StepVector[] {
  const domainSep = opts.domainSeparator ?? VECTOR_DOMAIN_SEPARATOR;
  const vectors: StepVector[] = [];
  for (let i = 0; i < count; i++) {
    const [label, scenario] = SCENARIOS[i % SCENARIOS.length];
    const chooser = new SeededChooser((seed * 0x9e3779b1 + i) >>> 0);
    vectors.push(scenario(chooser, domainSep, `seed ${seed} #${i} ${label}`));
  }
  return vectors;
}

/** A fast-check arbitrary of step vectors drawn from every scenario (shrinkable). */
export function stepVectorArbitrary(opts: VectorOptions = {}): fc.Arbitrary<StepVector> {
  const domainSep = opts.domainSeparator ?? VECTOR_DOMAIN_SEPARATOR;
  return fc.gen().map((g) => {
    const c = generatorChooser(g);
    const [label, scenario] = SCENARIOS[c.int(0, SCENARIOS.length - 1)];
    return scenario(c, domainSep, `arbitrary ${label}`);
  });
}

/** A one-line summary of a vector, for test titles and logs. */
export function describeVector(vector: StepVector): string {
  const input =
    vector.kind === "chunk" ? `${((vector.chunk ?? "0x").length - 2) / 2} bytes` : `${vector.items?.length ?? 0} items`;
  return `${vector.name}: ${vector.kind} step, ${input}, outcomes [${vector.outcomes.join(",")}], post ${vector.postRoot}`;
}

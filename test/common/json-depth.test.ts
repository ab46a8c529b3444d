import { expect } from "chai";
import fc from "fast-check";
import { isJsonText, nestingDepth } from "../../src/common/json-depth";

const bytes = (text: string): Buffer => Buffer.from(text, "utf8");
/** `n` arrays, one inside the other, around `1`. */
const nested = (n: number, open = "[", close = "]"): string => `${open.repeat(n)}1${close.repeat(n)}`;

/** The nesting of a parsed value, counted recursively (fine for the small values here). */
function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (typeof v === "object" && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe("nesting depth of a request body, before it is parsed", () => {
  it("counts arrays and objects, not the brackets inside strings, escaped quotes included", () => {
    const rows: [string, number][] = [
      ["1", 0],
      ['"[[[{{{"', 0],
      ["[]", 1],
      ["{}", 1],
      ['{"a":[1,{"b":[]}],"c":{}}', 4],
      [JSON.stringify({ a: '"[[[', b: "\\", c: '\\"{{{', d: [["]]]"]] }), 3],
      [JSON.stringify(["\\\\", "[", ['\\"[[']]), 2],
      [JSON.stringify({ "[[": { "{{": "}}" } }), 2],
      [JSON.stringify(["é€😀[", [["ü"]]]), 3],
      // A string left open hides what follows.
      ['["abc', 1],
      ['["ab\\"c[[[[', 1],
    ];
    for (const [text, depth] of rows) expect(nestingDepth(bytes(text)), text).to.equal(depth);
  });

  it("stops at one past the limit: exactly at the limit is the depth, one over is limit + 1", () => {
    expect(nestingDepth(bytes(nested(64)), 64)).to.equal(64);
    expect(nestingDepth(bytes(nested(65)), 64)).to.equal(65);
    expect(nestingDepth(bytes(nested(20_000)), 64)).to.equal(65);
    expect(nestingDepth(bytes(nested(64, '{"a":', "}")), 64)).to.equal(64);
    expect(nestingDepth(bytes(nested(65, '{"a":', "}")), 64)).to.equal(65);
    // Unclosed: still too deep.
    expect(nestingDepth(bytes("[".repeat(100)), 64)).to.equal(65);
  });

  it("gives the exact depth of any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        expect(nestingDepth(bytes(JSON.stringify(v)))).to.equal(depthOf(v));
      }),
      { numRuns: 300 },
    );
  });
});

describe("JSON text check for bodies refused for their depth", () => {
  it("accepts JSON of any depth, and what JSON.parse accepts", () => {
    expect(isJsonText(bytes(nested(100_000)))).to.equal(true);
    expect(isJsonText(bytes(nested(10_000, '{"a":', "}")))).to.equal(true);
    for (const text of [' { "a" : [ 1 , -0.5e+3 , "\\u00e9\\n" , true , false , null ] } ', "0", '"x"', "[[],{}]"]) {
      expect(isJsonText(bytes(text)), text).to.equal(true);
    }
  });

  it("refuses broken JSON, deep or not", () => {
    for (const text of [
      "",
      " ",
      "[".repeat(1000),
      nested(1000) + "]",
      "[".repeat(500) + "}".repeat(500),
      '{"a":1,}',
      "[1,]",
      '{"a"}',
      "{1:2}",
      "[01]",
      "[1.]",
      "[.5]",
      "[1e]",
      '["\\x"]',
      '["\\u12G4"]',
      '["a\nb"]',
      '["a\u001fb"]',
      "[tru]",
      "[1 2]",
      "[] []",
      '{"a":1 "b":2}',
      "\uFEFF[]",
    ]) {
      expect(isJsonText(bytes(text)), JSON.stringify(text)).to.equal(false);
    }
  });

  it("agrees with JSON.parse on JSON values and on mangled ones", () => {
    const mangled = fc
      .tuple(
        fc.json({ maxDepth: 4 }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom("", "[", "]", "{", "}", ",", ":", '"', "\\", "1", " ", "e", "-", "."),
      )
      .map(([text, at, cut, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(i + (cut % 3));
      });
    fc.assert(
      fc.property(fc.oneof(fc.json({ maxDepth: 6 }), mangled), (text) => {
        expect(isJsonText(bytes(text)), text).to.equal(parses(text));
      }),
      { numRuns: 2_000 },
    );
  });
});

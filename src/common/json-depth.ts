/*
 * Bounds on a request body before it is parsed. `JSON.parse` itself copes
 * with any depth, but what comes after it does not: the structured clone
 * that carries a call to the main thread (./threaded.ts), `JSON.stringify`,
 * and every other recursive walk overflow their stack somewhere between
 * 2,000 and 14,000 levels. So the body's nesting is measured on its raw
 * bytes first, by a scan that recurses into nothing.
 */

/** Default deepest nesting accepted (a batch of typed transactions is 4 deep). */
export const DEFAULT_MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * The deepest nesting of arrays and objects in the JSON text `bytes` (UTF-8;
 * brackets inside strings do not count), scanning only until it exceeds
 * `limit`: the answer is then `limit + 1`. Exact for valid JSON; for other
 * text a number that `JSON.parse` will refuse anyway (a string left open
 * hides the rest, a stray closing bracket lowers the count). The bytes that
 * matter (`"`, `\`, brackets) are ASCII, never part of a multi-byte
 * character, so the scan need not decode.
 */
export function nestingDepth(bytes: Uint8Array, limit = Number.MAX_SAFE_INTEGER): number {
  const n = bytes.length;
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      // To the string's closing quote: the next quote not escaped, i.e. not after an odd run of
      // backslashes (the run cannot reach past the opening quote). `indexOf` is native: most of a
      // request's bytes are in its strings.
      for (;;) {
        const q = bytes.indexOf(QUOTE, i + 1);
        if (q < 0) return deepest;
        let k = q - 1;
        while (bytes[k] === BACKSLASH) k--;
        i = q;
        if ((q - 1 - k) % 2 === 0) break;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return deepest;
}

enum Expect {
  /** A value (the text's, an object member's after its colon, an array element after a comma). */
  Value,
  /** A value or `]` (just after `[`). */
  ValueOrClose,
  /** A key or `}` (just after `{`). */
  KeyOrClose,
  /** A key (after a comma in an object). */
  Key,
  Colon,
  /** `,` or the container's closing bracket. */
  CommaOrClose,
  /** Nothing but whitespace (the top-level value is complete). */
  End,
}

const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/** The index after the string whose opening quote is at `at`, or -1 if it is not a valid JSON string. */
function skipString(b: Uint8Array, at: number): number {
  for (let i = at + 1; i < b.length; i++) {
    const c = b[i];
    if (c === QUOTE) return i + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = b[++i];
      if (e === 0x75) {
        // \uXXXX
        for (let k = 1; k <= 4; k++) if (!isHex(b[i + k])) return -1;
        i += 4;
      } else if (
        e !== QUOTE &&
        e !== BACKSLASH &&
        e !== 0x2f &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      ) {
        return -1;
      }
    }
  }
  return -1;
}

/** The index after the number starting at `at`, or -1 if none starts there. */
function skipNumber(b: Uint8Array, at: number): number {
  let i = at;
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) {
    i++;
  } else if (b[i] >= 0x31 && b[i] <= 0x39) {
    while (isDigit(b[i])) i++;
  } else {
    return -1;
  }
  if (b[i] === 0x2e) {
    if (!isDigit(b[++i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

function skipLiteral(b: Uint8Array, at: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word.charCodeAt(k)) return -1;
  return at + word.length;
}

/**
 * Whether `bytes` is one JSON text (RFC 8259; the grammar only — the bytes
 * are not checked to be valid UTF-8, which `JSON.parse` of the decoded text
 * does not need either). It keeps its own stack of open containers (one byte
 * each), so any depth is fine. Used to answer a body refused for its depth
 * with the right code: -32600 if it is JSON, -32700 if not.
 */
export function isJsonText(bytes: Uint8Array): boolean {
  const b = bytes;
  const n = b.length;
  const open = new Uint8Array(n); // the container kinds, innermost last
  let depth = 0;
  let expect = Expect.Value;
  let i = 0;
  // After a value: what follows depends on the container it is in.
  const afterValue = (): Expect => (depth === 0 ? Expect.End : Expect.CommaOrClose);
  while (i < n) {
    const c = b[i];
    if (isWhitespace(c)) {
      i++;
      continue;
    }
    switch (expect) {
      case Expect.End:
        return false;
      case Expect.Colon:
        if (c !== 0x3a) return false;
        i++;
        expect = Expect.Value;
        continue;
      case Expect.CommaOrClose:
        if (c === 0x2c) {
          i++;
          expect = open[depth - 1] === OPEN_OBJECT ? Expect.Key : Expect.Value;
          continue;
        }
        if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
          if (open[depth - 1] !== (c === CLOSE_ARRAY ? OPEN_ARRAY : OPEN_OBJECT)) return false;
          depth--;
          i++;
          expect = afterValue();
          continue;
        }
        return false;
      case Expect.Key:
      case Expect.KeyOrClose:
        if (c === CLOSE_OBJECT && expect === Expect.KeyOrClose) {
          depth--;
          i++;
          expect = afterValue();
          continue;
        }
        if (c !== QUOTE) return false;
        i = skipString(b, i);
        if (i < 0) return false;
        expect = Expect.Colon;
        continue;
      case Expect.Value:
      case Expect.ValueOrClose: {
        if (c === CLOSE_ARRAY && expect === Expect.ValueOrClose) {
          depth--;
          i++;
          expect = afterValue();
          continue;
        }
        if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
          open[depth++] = c;
          i++;
          expect = c === OPEN_ARRAY ? Expect.ValueOrClose : Expect.KeyOrClose;
          continue;
        }
        if (c === QUOTE) i = skipString(b, i);
        else if (c === 0x74) i = skipLiteral(b, i, "true");
        else if (c === 0x66) i = skipLiteral(b, i, "false");
        else if (c === 0x6e) i = skipLiteral(b, i, "null");
        else i = skipNumber(b, i);
        if (i < 0) return false;
        expect = afterValue();
        continue;
      }
    }
  }
  return expect === Expect.End;
}

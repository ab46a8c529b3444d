import { expect } from "chai";
import fs from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";

const ROOT = path.join(__dirname, "..");

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sources(full) : e.name.endsWith(".ts") ? [full] : [];
  });
}

/** The package a bare import specifier names (`@scope/name/sub` → `@scope/name`). */
const packageOf = (spec: string): string =>
  spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];

describe("the project's layout", () => {
  it("src/ imports only Node built-ins and runtime dependencies (no devDependency: test tooling stays in test/)", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
    const offending: string[] = [];
    for (const file of sources(path.join(ROOT, "src"))) {
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*)"([^".][^"]*)"/g)) {
        const name = packageOf(m[1].replace(/^node:/, ""));
        if (!allowed.has(name)) offending.push(`${path.relative(ROOT, file)}: ${m[1]}`);
      }
    }
    expect(offending).to.deep.equal([]);
  });
});

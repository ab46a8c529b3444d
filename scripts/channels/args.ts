/**
 * Command-line options of the channel daemons: `--name value` or `--name=value` (repeatable ones collect), each
 * falling back to an environment variable.
 */
export class Args {
  private readonly values = new Map<string, string[]>();

  constructor(argv: string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (!arg.startsWith("--")) throw new Error(`unexpected argument "${arg}"`);
      const eq = arg.indexOf("=");
      let name: string;
      let value: string;
      if (eq > 0) {
        name = arg.slice(2, eq);
        value = arg.slice(eq + 1);
      } else {
        name = arg.slice(2);
        const next = argv[i + 1];
        if (next === undefined || next.startsWith("--")) value = "true";
        else {
          value = next;
          i++;
        }
      }
      const list = this.values.get(name) ?? [];
      list.push(value);
      this.values.set(name, list);
    }
  }

  /** The option's last value, else the environment variable's, else `fallback`. */
  get(name: string, env?: string, fallback?: string): string | undefined {
    const list = this.values.get(name);
    if (list && list.length > 0) return list[list.length - 1];
    if (env && process.env[env] !== undefined && process.env[env] !== "") return process.env[env];
    return fallback;
  }

  require(name: string, env?: string): string {
    const v = this.get(name, env);
    if (v === undefined) throw new Error(`missing --${name}${env ? ` (or ${env})` : ""}`);
    return v;
  }

  all(name: string): string[] {
    return this.values.get(name) ?? [];
  }

  int(name: string, env?: string, fallback?: number): number | undefined {
    const v = this.get(name, env);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new Error(`--${name} must be an integer, got "${v}"`);
    return n;
  }

  bigint(name: string, env?: string): bigint | undefined {
    const v = this.get(name, env);
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v)) throw new Error(`--${name} must be a non-negative integer, got "${v}"`);
    return BigInt(v);
  }
}

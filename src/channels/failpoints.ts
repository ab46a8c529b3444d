/*
 * Failpoints: named places where a process can be made to crash on purpose, so that tests can kill a real daemon
 * at the exact moment a bug hid in (as etcd's gofail or TiKV's fail-rs do). A failpoint is armed only by the
 * environment variable BILAYER_FAILPOINTS, a comma-separated list of names; unarmed it costs a set lookup.
 */

const armed = new Set(
  (process.env.BILAYER_FAILPOINTS ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name.length > 0),
);

/** Kills this process at once (SIGKILL: no cleanup, no flush) if the failpoint `name` is armed. */
export function failpoint(name: string): void {
  if (!armed.has(name)) return;
  process.stderr.write(`failpoint ${name}: killing process ${process.pid}\n`);
  process.kill(process.pid, "SIGKILL");
  // Nothing after the failpoint may run while the signal lands: block this thread until it does.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

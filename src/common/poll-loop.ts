/**
 * The loop of a service that follows L1 (the operator's driver, the
 * verifier): one step, then a sleep of `pollMs` unless the step had more to
 * do or someone pokes it awake (a batch closed), until it is stopped. A step
 * that throws is reported and tried again after the sleep; the loop never
 * ends by itself.
 */
export interface PollLoopOptions {
  pollMs: number;
  /** One round of work; `true` when there is more to do at once (no sleep). */
  step(): Promise<boolean | void>;
  /** A step threw (not called once stopping). */
  onError(err: unknown): void;
}

export class PollLoop {
  private wake: (() => void) | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(private readonly o: PollLoopOptions) {}

  start(): void {
    this.running ??= this.run();
  }

  /** Whether stop() was called: long steps check it between their parts. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** Ends the sleep now, if it sleeps. */
  poke(): void {
    this.wake?.();
  }

  /** Stops after the current step; with `boundMs`, waits at most that long for it (a frozen L1 node). */
  async stop(boundMs?: number): Promise<void> {
    this.stopped = true;
    this.poke();
    const running = this.running ?? Promise.resolve();
    if (boundMs === undefined) return running;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
    await Promise.race([running, bound]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let busy = false;
      try {
        busy = (await this.o.step()) === true;
      } catch (err) {
        if (this.stopped) break;
        this.o.onError(err);
      }
      if (busy || this.stopped) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}

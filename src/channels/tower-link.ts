import type { ClientChannel } from "./client-channel";
import type { ClientContext } from "./client-context";
import { peerRequest } from "./messages";
import { errText } from "./errors";

/*
 * The client's link to its watchtower (./watchtower.ts): it dials the tower until it answers, asks it to watch
 * every channel that is open, and keeps it informed — each channel's latest state signed by both (`wt.state`, on a
 * timer and on stop) and the secrets of the locks this client is owed (`wt.secret`) — so the tower can refute and
 * reveal while this client is offline.
 */

/** The client's side of its watchtower. */
export class TowerLink {
  private towerAddress: string | undefined;
  /** Secrets handed to the watchtower. */
  private readonly sent = new Set<string>();

  constructor(private readonly ctx: ClientContext) {}

  /** The watchtower's address, once connected. */
  get address(): string | undefined {
    return this.towerAddress;
  }

  /** Dials the tower at `url` (again every second until it answers), then has it watch every live channel. */
  connect(url: string, address?: string): void {
    const { transport, log } = this.ctx.services;
    const attempt = () => {
      if (this.ctx.stopped) return;
      transport.dial(url, address).then(
        (addr) => {
          this.towerAddress = addr;
          transport.setPeerUrl(addr, url);
          log.info({ tower: addr }, "connected to the watchtower");
          for (const chan of this.ctx.chans.values()) {
            if (chan.rec.phase !== "opening" && chan.rec.phase !== "closed") this.watch(chan);
          }
        },
        () => setTimeout(attempt, 1_000).unref(),
      );
    };
    attempt();
  }

  /** Asks the tower to watch `chan` (once); its latest state follows with the next flush. */
  watch(chan: ClientChannel): void {
    const tower = this.towerAddress;
    if (!tower || chan.towerWatched) return;
    chan.towerWatched = true;
    peerRequest(this.ctx.services.transport, tower, "wt.watch", chan.rec.params).then(
      () => {
        chan.towerDirty = true;
      },
      (err: unknown) => {
        chan.towerWatched = false;
        this.ctx.services.log.warn(
          { channelId: chan.id, err: errText(err) },
          "the watchtower did not take the channel",
        );
      },
    );
  }

  /** Hands the tower a secret this client is owed by (once), so it can reveal it in time. */
  secret(secret: string): void {
    const tower = this.towerAddress;
    if (!tower || this.sent.has(secret)) return;
    this.sent.add(secret);
    peerRequest(this.ctx.services.transport, tower, "wt.secret", secret).catch(() => this.sent.delete(secret));
  }

  /** Sends the latest state of every channel that changed to the watchtower. */
  async flush(): Promise<void> {
    const { transport, log } = this.ctx.services;
    const tower = this.towerAddress;
    if (!tower || !transport.isConnected(tower)) return;
    const sends: Promise<void>[] = [];
    for (const chan of this.ctx.chans.values()) {
      if (!chan.towerDirty || !chan.towerWatched || !chan.full) continue;
      chan.towerDirty = false;
      const signed = chan.full;
      sends.push(
        peerRequest(transport, tower, "wt.state", signed).then(
          () => {
            if (signed.state.version > chan.towerVersion) chan.towerVersion = signed.state.version;
          },
          (err: unknown) => {
            chan.towerDirty = true;
            log.debug({ channelId: chan.id, err: errText(err) }, "the watchtower did not take a state");
          },
        ),
      );
    }
    await Promise.all(sends);
  }
}

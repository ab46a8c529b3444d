import type { LevelStore, StoreOp } from "../common/store";
import { byVersion, type LiveChannel, type Proposal } from "./live-channel";
import {
  decodeProposal,
  decodeRequest,
  decodeResize,
  decodeSignedRecord,
  decodeSignedVersion,
  keyParts,
  storePrefix,
} from "./records";

/*
 * Reading the update protocol's records back after a restart, into channels whose records (`ch:`) the client has
 * loaded: the latest state signed by both, the highest version this side signed, a resize waiting for the chain,
 * the leader's pending and void proposals and the follower's requests. A void proposal a later state supersedes
 * is deleted; a channel with anything in flight is synced first.
 */

/** Restores the engine's records of `chans` from `store`. */
export async function restoreChannels<C extends LiveChannel>(
  store: LevelStore,
  chans: ReadonlyMap<string, C>,
): Promise<void> {
  const of = (key: string) => chans.get(keyParts(key).id);
  for (const [k, v] of await store.list(storePrefix.full)) {
    const chan = of(k);
    if (!chan) continue;
    chan.full = decodeSignedRecord(v);
    chan.latest = chan.full;
    chan.maxSigned = chan.full.state.version;
  }
  for (const [k, v] of await store.list(storePrefix.signedVersion)) {
    const chan = of(k);
    const sv = decodeSignedVersion(v);
    if (chan && sv > chan.maxSigned) chan.maxSigned = sv;
  }
  for (const [k, v] of await store.list(storePrefix.resize)) {
    const chan = of(k);
    if (!chan) continue;
    chan.resize = decodeResize(v);
    if (chan.resize.signed.state.version > chan.maxSigned) chan.maxSigned = chan.resize.signed.state.version;
  }
  for (const [k, v] of await store.list(storePrefix.pending)) {
    const chan = of(k);
    if (!chan) continue;
    const rec = decodeProposal(v);
    if (chan.full && rec.version <= chan.full.state.version) continue;
    const p: Proposal = { ...rec, waiters: [], durable: true, sent: false, dead: false, committing: false };
    chan.pending.push(p);
    if (p.ref !== undefined) chan.refs.set(p.ref, p);
    if (p.version > chan.maxSigned) chan.maxSigned = p.version;
  }
  const superseded: StoreOp[] = [];
  for (const [k, v] of await store.list(storePrefix.voided)) {
    const chan = of(k);
    if (!chan) continue;
    const rec = decodeProposal(v);
    if (chan.full && rec.version <= chan.full.state.version) {
      superseded.push({ type: "del", key: k });
      continue;
    }
    chan.voided.push(rec);
    if (rec.version > chan.maxSigned) chan.maxSigned = rec.version;
  }
  if (superseded.length > 0) await store.write(superseded);
  for (const [k, v] of await store.list(storePrefix.request)) {
    const chan = of(k);
    if (!chan) continue;
    const rec = decodeRequest(v);
    chan.requests.set(rec.ref, { ...rec, waiters: [], durable: true, sent: false });
  }
  for (const chan of chans.values()) {
    chan.pending.sort(byVersion);
    chan.voided.sort(byVersion);
    if (chan.pending.length > 0 || chan.requests.size > 0) chan.needsSync = true;
  }
}

/**
 * A hostile channel follower as its own process (no tests of its own; run by the channel attack tests): it holds a
 * participant's key, countersigns every proposal it gets and answers as told — honestly, with a refusal, or never
 * (test/channels/hostile-peer.ts). Its control API hands the test the states it holds signed by both, so the test
 * can play the rest of the attack on chain.
 *
 *   node -r ts-node/register/transpile-only test/e2e/hostile-peer.proc.ts --key 0x… --chain-id 31337 \
 *     --adjudicator 0x… --channel 0x… --deposits 1000,0 --me 1 --behaviour refuse --victim 0xADDR=ws://… --rpc-port 0
 *
 * Prints `{"ready":true,"address":…,"rpcUrl":…}` when ready; SIGTERM stops it.
 */
import { Wallet } from "ethers";
import { ControlServer } from "../../src/channels/rpc";
import { depositSnapshot } from "../../src/channels/updates";
import { encodeSigned } from "../../src/channels/wire";
import { Args } from "../../scripts/channels/args";
import { HostileFollower, type HostileBehaviour } from "../channels/hostile-peer";

const BEHAVIOURS: HostileBehaviour[] = ["honest", "refuse", "silent"];

function behaviourOf(value: unknown): HostileBehaviour {
  if (!BEHAVIOURS.includes(value as HostileBehaviour)) throw new Error(`behaviour must be one of ${BEHAVIOURS}`);
  return value as HostileBehaviour;
}

async function main(): Promise<void> {
  const args = new Args();
  const key = args.require("key");
  const [victimAddress, victimUrl] = args.require("victim").split("=");
  const deposits = args.require("deposits").split(",").map(BigInt) as [bigint, bigint];
  const peer = await HostileFollower.start({
    key,
    me: args.int("me", undefined, 1) === 0 ? 0 : 1,
    chainId: BigInt(args.require("chain-id")),
    adjudicator: args.require("adjudicator"),
    base: depositSnapshot(args.require("channel"), deposits),
    behaviour: behaviourOf(args.require("behaviour")),
    victim: { address: victimAddress, url: victimUrl },
  });
  const control = new ControlServer(
    {
      hostile_held: () => [...peer.held.values()].map(encodeSigned),
      hostile_proposals: () => peer.proposals,
      hostile_behaviour: (params) => {
        peer.behaviour = behaviourOf((params as { behaviour?: unknown }).behaviour);
        return true;
      },
    },
    { port: args.int("rpc-port", undefined, 0) as number },
  );
  await control.start();
  process.stdout.write(JSON.stringify({ ready: true, address: new Wallet(key).address, rpcUrl: control.url }) + "\n");
  await new Promise<void>((resolve) => process.once("SIGTERM", () => resolve()));
  await control.stop();
  await peer.stop();
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

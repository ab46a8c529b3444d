/**
 * A thread of the verifier's {@link AggregatePool}: answers each packed
 * aggregate check it is sent (./aggregate-pool.ts). It holds no state.
 */
import { parentPort } from "node:worker_threads";
import { BilayerError } from "../protocol/errors";
import { checkPackedAggregate, type AggregateMessage } from "./aggregate-pool";

const port = parentPort;
if (!port) throw new BilayerError("NOT_A_WORKER", "aggregate-thread.ts runs as a worker thread");

port.on("message", (msg: AggregateMessage) => {
  port.postMessage({ id: msg.id, packed: new Uint8Array(0), holds: checkPackedAggregate(msg.packed) });
});

// A message it cannot read cannot be answered: it exits, and the pool makes its checks on the replay's thread.
port.on("messageerror", () => process.exit(1));

port.postMessage({ id: 0, packed: new Uint8Array(0) } satisfies AggregateMessage);

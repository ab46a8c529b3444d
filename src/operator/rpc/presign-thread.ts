/**
 * A thread of the HTTP thread's {@link PresignPool}: recovers the packed
 * records it is sent (../presign.ts), in place, and sends them back. It
 * holds no state: each record's signer is `recoverCompactBytes` of its
 * digest and signature.
 */
import { parentPort } from "node:worker_threads";
import { initHashing } from "../../protocol/hash";
import { recoverRecords } from "../presign";
import { BilayerError } from "../../protocol/errors";
import type { PresignMessage } from "./presign-pool";

const port = parentPort;
if (!port) throw new BilayerError("NOT_A_WORKER", "presign-thread.ts runs as a worker thread");

port.on("message", (msg: PresignMessage) => {
  recoverRecords(msg.records);
  port.postMessage(msg, [msg.records.buffer as ArrayBuffer]);
});

// A message it cannot read cannot be answered: it exits, and the pool retires it (its recoveries are left to the sequencer).
port.on("messageerror", () => process.exit(1));

void initHashing();

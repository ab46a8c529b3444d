import { expect } from "chai";
import fc from "fast-check";
import { getBytes } from "ethers";
import { RollupInbox__factory } from "../../typechain-types";
import { initHashing } from "../../src/protocol/hash";
import { decodeAppendBatchChunks } from "../../src/l1/calldata";

const inbox = RollupInbox__factory.createInterface();

describe("verifier L1 reader", function () {
  before(initHashing);

  it("decodes the chunks of any appendBatch calldata exactly as the ABI encodes them", function () {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 20 }),
        fc.bigUintN(64),
        fc.nat(2 ** 32 - 1),
        (chunks, queueCount, feeRecipient) => {
          const data = getBytes(inbox.encodeFunctionData("appendBatch", [chunks, queueCount, feeRecipient]));
          expect(decodeAppendBatchChunks(data)).to.deep.equal(chunks);
        },
      ),
    );
  });

  it("refuses another function, and offsets or lengths that point outside the calldata", function () {
    const data = getBytes(inbox.encodeFunctionData("appendBatch", [[new Uint8Array([1, 2, 3])], 0, 0]));
    expect(decodeAppendBatchChunks(getBytes(inbox.encodeFunctionData("forceInclude", [3])))).to.equal(undefined);
    expect(decodeAppendBatchChunks(data.subarray(0, data.length - 32))).to.equal(undefined);
    const badLength = data.slice();
    badLength[4 + 32 * 5 - 1] = 0xff; // the chunk's length word
    expect(decodeAppendBatchChunks(badLength)).to.equal(undefined);
    const badCount = data.slice();
    badCount[4 + 32 * 4 - 1] = 0xff; // the array's length word
    expect(decodeAppendBatchChunks(badCount)).to.equal(undefined);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { BilayerError } from "../../src/protocol/errors";
import { createLogger } from "../../src/operator/log";

describe("operator log", () => {
  it("writes an error's type, message, stack and cause, and bigints as decimal strings", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bilayer-log-"));
    const file = path.join(dir, "log");
    const fd = fs.openSync(file, "w");
    try {
      const logger = createLogger({ fd });
      const err = new BilayerError("L1_TX_TOO_LARGE", "too large", { cause: new Error("below"), context: { size: 1 } });
      logger.error({ err, amount: 10n ** 30n }, "it failed");
      const line = JSON.parse(fs.readFileSync(file, "utf8").trim()) as {
        err: { type: string; message: string; stack: string; cause?: { message: string } };
        amount: string;
      };
      expect(line.err.message).to.match(/too large/);
      expect(line.err.type).to.equal("BilayerError");
      expect(line.err.stack).to.match(/log\.test/);
      expect(JSON.stringify(line.err)).to.match(/below/);
      expect(line.amount).to.equal((10n ** 30n).toString());
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

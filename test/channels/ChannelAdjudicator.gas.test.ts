import { expect } from "chai";
import { ethers } from "hardhat";
import {
  DISPUTE_PATH_GAS_TARGET,
  ERC20_HAPPY_PATH_GAS_TARGET,
  HAPPY_PATH_GAS_TARGET,
  measureChannelGas,
  type ChannelGasReport,
} from "../../bench/suites/channel-gas";

/*
 * The gas targets of issues 6 and 13, measured from real receipts on the in-process network
 * (bench/suites/channel-gas.ts).
 */

describe("ChannelAdjudicator gas", function () {
  let report: ChannelGasReport;

  before(async function () {
    report = await measureChannelGas(ethers);
    const rows = Object.entries(report).map(
      ([operation, gas]) => `    ${operation.padEnd(26)} ${gas.toLocaleString("en-US").padStart(9)}`,
    );
    console.log(`    gas per operation (ETH unless noted):\n${rows.join("\n")}`);
  });

  it(`keeps the happy path (open + fund, fund, cooperative close) under ${HAPPY_PATH_GAS_TARGET.toLocaleString("en-US")} gas`, function () {
    expect(report.happyPathGas).to.equal(report.openGas + report.fundGas + report.cooperativeCloseGas);
    expect(report.happyPathGas).to.be.lessThan(HAPPY_PATH_GAS_TARGET);
  });

  it(`keeps the dispute path (register, refute, conclude) under ${DISPUTE_PATH_GAS_TARGET.toLocaleString("en-US")} gas`, function () {
    expect(report.disputePathGas).to.equal(report.registerGas + report.refuteGas + report.concludeGas);
    expect(report.disputePathGas).to.be.lessThan(DISPUTE_PATH_GAS_TARGET);
  });

  it(`keeps the ERC-20 life cycle (open funded by both, cooperative close) within ${ERC20_HAPPY_PATH_GAS_TARGET.toLocaleString("en-US")} gas`, function () {
    expect(report.erc20HappyPathGas).to.be.at.most(ERC20_HAPPY_PATH_GAS_TARGET);
    // Opening funded by both saves a whole transaction over open, fund, close.
    expect(report.erc20HappyPathGas).to.be.lessThan(report.erc20ThreeStepGas);
  });

  it("measures every operation from a mined transaction", function () {
    for (const [operation, gas] of Object.entries(report)) {
      // Every transaction pays at least the 21,000 intrinsic gas; nothing is estimated or hard-coded.
      expect(gas, operation).to.be.greaterThan(21_000);
    }
  });
});

// Configuration of `npm run coverage` (hardhat coverage, solidity-coverage 0.8).
module.exports = {
  // Test contracts (harnesses, mock tokens, attackers) are not measured: they exist to drive the real ones.
  skipFiles: ["test/"],
  mocha: {
    // End-to-end suites run real processes (`hardhat node`, anvil, the operator, the verifier, channel clients);
    // their titles say "real processes". Those processes deploy to and run their own chains, not the instrumented
    // in-process one, so they measure nothing; the instrumented bytecode is also too large for a real node, and a
    // spawned Hardhat may recompile artifacts/ in this checkout. They run in `npm test`.
    grep: "real processes",
    invert: true,
  },
};

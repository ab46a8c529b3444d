/**
 * `npm run demo` (`npx hardhat demo`): the rollup end to end on the in-process network (scripts/demo.ts);
 * `--explore` leaves its chain, operator and the explorer running and prints their URLs.
 */
import { task } from "hardhat/config";

task("demo", "Runs the rollup end to end on the in-process network and prints what it cost")
  .addFlag("explore", "Leave the chain, the operator and the explorer running afterwards (Ctrl-C stops them)")
  .addOptionalParam("screenshots", "Save the explorer's overview and risks pages as PNG in this directory", "")
  .setAction(async (args: { explore: boolean; screenshots: string }, hre) => {
    // A fresh clone has no artifacts or TypeChain types yet (what `hardhat run` would compile first).
    await hre.run("compile", { quiet: true });
    const { runDemo } = await import("../scripts/demo");
    try {
      await runDemo({ explore: args.explore, screenshots: args.screenshots || undefined });
    } catch (err) {
      console.error(err);
      process.exit(1);
    }
    // The in-process network and the operator's clients may keep handles open: the demo is done.
    process.exit(0);
  });

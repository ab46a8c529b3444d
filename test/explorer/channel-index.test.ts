import { expect } from "chai";
import { ethers } from "hardhat";
import type { Provider } from "ethers";
import { ChannelIndex } from "../../src/explorer/channel-index";
import { deployChannelsFixture, openFunded } from "../channels/helpers";

describe("explorer: the adjudicator's channels from its events", () => {
  it("follows a channel from open to a dispute with its deadline, and another to its cooperative close", async () => {
    const start = await ethers.provider.getBlockNumber();
    const fx = await deployChannelsFixture();
    const index = new ChannelIndex(ethers.provider as unknown as Provider, await fx.adjudicator.getAddress(), start);
    const disputed = await openFunded(fx, [10n ** 18n, 5n * 10n ** 17n]);
    const closed = await openFunded(fx, [10n ** 17n, 0n]);
    await index.poll();
    const d = index.channels.get(disputed.id);
    expect(d).to.include({ status: "open", holdings: 15n * 10n ** 17n });
    expect(d?.participants).to.deep.equal([fx.alice.address, fx.bob.address]);

    const registered = await (await disputed.register(disputed.state(3n, [10n ** 18n, 5n * 10n ** 17n]))).wait();
    await (await closed.close(closed.state(1n, [5n * 10n ** 16n, 5n * 10n ** 16n], [], true))).wait();
    await index.poll();
    const at = BigInt((await ethers.provider.getBlock(registered?.blockNumber ?? 0))?.timestamp ?? 0);
    expect(index.channels.get(disputed.id)).to.include({ status: "disputed", version: 3n, deadline: at + 3600n });
    expect(index.channels.get(closed.id)).to.include({ status: "closed", version: 1n });
  });
});

import { signResize, verifyResize } from "./resize";
import {
  signStateWithKey,
  verifyStateSignature,
  verifyStateSignatures,
  type ChannelState,
  type CompactSignature,
} from "./state";
import type { ResizeUpdate } from "./updates";

/**
 * One participant's signing key bound to one adjudicator on one chain: every state and resize message the update
 * protocol signs or checks is for that domain, so the domain is given once here instead of at every call.
 */
export class StateSigner {
  constructor(
    /** The participant's 32-byte private key (native signing). */
    private readonly key: Uint8Array,
    readonly chainId: bigint,
    readonly adjudicatorAddress: string,
  ) {}

  /** This participant's signature of `state`. */
  sign(state: ChannelState): CompactSignature {
    return signStateWithKey(this.key, state, this.chainId, this.adjudicatorAddress);
  }

  /** Whether `sig` is `signer`'s signature of `state`. */
  verify(state: ChannelState, sig: CompactSignature, signer: string): boolean {
    return verifyStateSignature(state, sig, signer, this.chainId, this.adjudicatorAddress);
  }

  /** Whether `sigs` are both participants' signatures of `state`: what the adjudicator needs. */
  verifyBoth(
    state: ChannelState,
    sigs: readonly [CompactSignature, CompactSignature],
    participants: readonly [string, string],
  ): boolean {
    return verifyStateSignatures(state, sigs, participants, this.chainId, this.adjudicatorAddress);
  }

  /** This participant's signature of the on-chain message (`TopUp` or `Withdrawal`) of a resize to `state`. */
  signResize(update: ResizeUpdate, state: ChannelState): CompactSignature {
    return signResize(this.key, update, state, this.chainId, this.adjudicatorAddress);
  }

  /** Whether `sig` is `signer`'s signature of the on-chain message of a resize to `state`. */
  verifyResize(update: ResizeUpdate, state: ChannelState, sig: CompactSignature, signer: string): boolean {
    return verifyResize(update, state, sig, signer, this.chainId, this.adjudicatorAddress);
  }
}

/**
 * What the verifier's server answers a user (docs/USING.md, "verifier"): the account view, the withdrawals of an
 * address and a withdrawal's proof, from the state rebuilt from L1 alone — the shapes and error codes of the
 * operator's `l2_getAccount`, `l2_getWithdrawals` and `l2_getWithdrawalProof` (../operator/rpc/views.ts), so the
 * user CLI (`balance`, `claim --rpc`) and the escape command can ask either.
 */
import type { RpcParams } from "../common/json-rpc-server";
import { answerGetAccount } from "../operator/rpc/api";
import { parseAddress, parseOptionalUint, parseUint, readParams } from "../operator/rpc/params";
import type { Verifier } from "./verifier";

/**
 * The JSON-RPC methods of the verifier's server: the user's questions, with the shapes and error codes of the
 * operator's (`l2_getAccount`, `l2_getWithdrawals`, `l2_getWithdrawalProof`), so the user CLI can ask either.
 */
export function userMethods(v: Verifier): Record<string, (params: RpcParams) => unknown> {
  return {
    l2_getAccount: (params: RpcParams) => answerGetAccount(params, v),
    l2_getWithdrawals: (params: RpcParams) => {
      const p = readParams(params, ["recipient"]);
      return v.withdrawalsOf(parseAddress(p.recipient, "recipient"));
    },
    l2_getWithdrawalProof: (params: RpcParams) => {
      const p = readParams(params, ["index", "batchIndex"]);
      return v.withdrawalProof(parseUint(p.index, "index"), parseOptionalUint(p.batchIndex, "batchIndex"));
    },
  };
}

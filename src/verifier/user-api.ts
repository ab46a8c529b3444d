/**
 * What the verifier's server answers a user (docs/USING.md, "verifier"): the account view, the withdrawals of an
 * address and a withdrawal's proof, from the state rebuilt from L1 alone — the shapes and error codes of the
 * operator's `l2_getAccount`, `l2_getWithdrawals` and `l2_getWithdrawalProof` (../operator/rpc/views.ts), so the
 * user CLI (`balance`, `claim --rpc`) and the escape command can ask either.
 */
import { getAddress } from "ethers";
import type { RpcParams } from "../common/json-rpc-server";
import { RpcCode, RpcError } from "../operator/errors";
import { parseAddress, parseOptionalUint, parseUint, readParams } from "../operator/rpc/params";
import type { Verifier } from "./verifier";

/**
 * The JSON-RPC methods of the verifier's server: the user's questions, with the shapes and error codes of the
 * operator's (`l2_getAccount`, `l2_getWithdrawals`, `l2_getWithdrawalProof`), so the user CLI can ask either.
 */
export function userMethods(v: Verifier): Record<string, (params: RpcParams) => unknown> {
  return {
    l2_getAccount: (params: RpcParams) => {
      const p = readParams(params, ["account"]);
      if (typeof p.account === "string" && p.account.startsWith("0x")) {
        const owner = getAddress(parseAddress(p.account, "account"));
        const indices = v.accountsOf(owner);
        if (indices.length === 0)
          throw new RpcError(RpcCode.UnknownAccount, `no L2 account is owned by ${owner}`, { owner });
        return { owner, accounts: indices.map((i) => v.account(i)) };
      }
      const index = parseUint(p.account, "account");
      const account = v.account(index);
      if (!account) throw new RpcError(RpcCode.UnknownAccount, `account ${index} does not exist`, { account: index });
      return account;
    },
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

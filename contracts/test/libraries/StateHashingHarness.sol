// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {StateHashing} from "../../libraries/StateHashing.sol";
import {Account, StateHeader} from "../../libraries/L2Types.sol";

/// @title StateHashingHarness
/// @notice Test-only external entry points to StateHashing.
contract StateHashingHarness {
    function accountLeaf(Account calldata account) external pure returns (bytes32) {
        return StateHashing.accountLeaf(account);
    }

    function withdrawalLeaf(address recipient, uint256 tokenId, uint256 amount) external pure returns (bytes32) {
        return StateHashing.withdrawalLeaf(recipient, tokenId, amount);
    }

    function stateRoot(StateHeader calldata header) external pure returns (bytes32) {
        return StateHashing.stateRoot(header);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

/// @title EtherRejector
/// @notice Test-only receiver whose code is installed at a participant's address (hardhat_setCode) so that ETH
/// payouts to it fail: it reverts, or with `burn` set, burns all the gas it is given.
contract EtherRejector {
    /// @notice Every ETH transfer is refused.
    error EtherRejectorRefused();

    // solhint-disable-next-line no-complex-fallback
    receive() external payable {
        // Storage slot 0 chooses the behaviour, so the same code can be installed anywhere and switched per address.
        uint256 burn;
        assembly ("memory-safe") {
            burn := sload(0)
        }
        if (burn != 0) {
            // Spin until the forwarded gas runs out.
            while (true) {
                burn = uint256(keccak256(abi.encode(burn)));
            }
        }
        revert EtherRejectorRefused();
    }
}

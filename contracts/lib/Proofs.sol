// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IZkVerifier} from "../interfaces/IZkVerifier.sol";

/// @title Proofs
/// @notice One way to ask a ZK verifier, shared by the hub (ZK delivery) and the dispute contract (a proof settling a
///         dispute).
library Proofs {
    /// @notice Whether `verifier` accepts `proof` on `instances`: a STATICCALL (a verifier can neither change state nor
    ///         re-enter), its revert data dropped (EZKL's carry none), at most one word of return data copied, true
    ///         only for exactly 1. A verifier without code succeeds with no return data: false.
    function accepted(address verifier, bytes calldata proof, uint256[] memory instances)
        internal
        view
        returns (bool valid)
    {
        bytes memory data = abi.encodeCall(IZkVerifier.verifyProof, (proof, instances));
        assembly ("memory-safe") {
            mstore(0x00, 0)
            let ok := staticcall(gas(), verifier, add(data, 0x20), mload(data), 0x00, 0x20)
            valid := and(ok, and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1)))
        }
    }
}

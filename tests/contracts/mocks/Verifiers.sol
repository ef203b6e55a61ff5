// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IZkVerifier} from "../../../contracts/interfaces/IZkVerifier.sol";

/// @notice Accepts exactly one (proof, instances) pair: the one whose ABI encoding hashes to `expected`. Lets a test
///         check which instances the hub built without a real proof.
contract ExpectingVerifier is IZkVerifier {
    bytes32 public immutable expected;

    constructor(bytes32 expected_) {
        expected = expected_;
    }

    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool) {
        return keccak256(abi.encode(proof, instances)) == expected;
    }
}

/// @notice Reverts with a custom error, as a hostile or buggy verifier might; the hub must not bubble it.
contract RevertingVerifier {
    error Nope(uint256 code);

    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        revert Nope(42);
    }
}

/// @notice Returns false instead of reverting.
contract FalseVerifier {
    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        return false;
    }
}

/// @notice Succeeds with no return data at all.
contract SilentVerifier {
    fallback() external {}
}

/// @notice Returns a word that is non-zero but not 1 (a sloppy `true`).
contract DirtyTrueVerifier {
    fallback() external {
        assembly {
            mstore(0x00, 2)
            return(0x00, 0x20)
        }
    }
}

/// @notice Tries to write storage: under the hub's STATICCALL that fails.
contract StatefulVerifier {
    uint256 public calls;

    function verifyProof(bytes calldata, uint256[] calldata) external returns (bool) {
        ++calls;
        return true;
    }
}

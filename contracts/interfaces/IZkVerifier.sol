// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IZkVerifier
/// @notice The proof check the hub calls for Mode.ZK: the entry point of the Halo2 (KZG, BN254) verifier EZKL generates
///         for one model (`verinfer.zk` writes and deploys it; one verifier per model, its key baked into the code).
/// @dev The hub calls it with STATICCALL, so a verifier can never change state or re-enter; EZKL's verifiers only read
///      calldata and call precompiles. EZKL reads the proof at fixed calldata offsets: the call must be the standard
///      ABI encoding of `verifyProof(proof, instances)` with nothing before it, as `abi.encodeCall` produces.
interface IZkVerifier {
    /// @notice Whether `proof` proves the model's circuit on the public `instances`.
    /// @param proof The proof bytes (EZKL's `hex_proof`).
    /// @param instances BN254 scalar-field elements: the input tensor's elements, then the output tensor's, each a
    ///        signed fixed-point integer v encoded as v (v >= 0) or p - |v| (v < 0). See {ZkInstances}.
    /// @return valid True when the proof verifies. EZKL's verifiers revert (with no data) instead of returning false.
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external view returns (bool valid);
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RequestParams} from "../interfaces/IInferenceHub.sol";

/// @title Commitments
/// @notice The hashes that bind requests and results. The node and the SDK compute the same values
///         (`verinfer.chain.commitments`); a differential test keeps them equal.
library Commitments {
    /// @notice Hash of a request's parameters, stored by the hub and checked whenever someone acts on the request.
    function requestHash(uint256 requestId, RequestParams memory p) internal pure returns (bytes32 h) {
        h = keccak256(abi.encode(requestId, p));
    }

    /// @notice `requestHash` for parameters passed in calldata: the struct's 11 static words are copied as they
    ///         are, without the field-by-field decoding `abi.encode` does (~700 gas saved on every delivery and batch
    ///         item). Equal to `requestHash` for well-formed parameters; a word with dirty bits (an address or a
    ///         uint32 with high bits set) hashes to something else, so it can never match a hash the hub stored.
    function requestHashCalldata(uint256 requestId, RequestParams calldata p) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            // Scratch memory past the free pointer, left unallocated.
            let m := mload(0x40)
            mstore(m, requestId)
            calldatacopy(add(m, 0x20), p, 0x160)
            h := keccak256(m, 0x180)
        }
    }

    /// @notice The result commitment: binds the request, the model's weights, the input, the output, the environment
    ///         the node ran in, and the node.
    function result(
        uint256 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        bytes32 envHash,
        address node
    ) internal pure returns (bytes32 h) {
        h = keccak256(abi.encode(requestId, modelId, inputHash, outputHash, envHash, node));
    }

    /// @notice A consensus vote: hides the output until the reveal; the node's address stops copying another's vote.
    function vote(bytes32 outputHash, bytes32 salt, address node) internal pure returns (bytes32 h) {
        h = keccak256(abi.encode(outputHash, salt, node));
    }

    /// @notice The commitment of a consensus result: binds the agreed output to every agreeing node's own result
    ///         commitment (in commit order).
    function consensus(uint256 requestId, bytes32 outputHash, bytes32[] memory nodeCommitments)
        internal
        pure
        returns (bytes32 h)
    {
        h = keccak256(abi.encode(requestId, outputHash, nodeCommitments));
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TensorCodec} from "../../../contracts/lib/TensorCodec.sol";
import {Commitments} from "../../../contracts/lib/Commitments.sol";
import {RequestParams} from "../../../contracts/interfaces/IInferenceHub.sol";

/// @notice External wrappers over the codec and commitment libraries, so the Python twins
///         (`verinfer.inference.codec`, `verinfer.chain.commitments`) can be checked against them on anvil
///         (tests/node/integration/test_differential.py).
contract CodecHarness {
    function encode(int64[] memory values) external pure returns (bytes memory) {
        return TensorCodec.encode(values);
    }

    /// @dev The range-checked overload (reverts with TensorValueOutOfRange outside int64).
    function encodeChecked(int256[] memory values) external pure returns (bytes memory) {
        return TensorCodec.encode(values);
    }

    function decode(bytes memory tensor) external pure returns (int64[] memory) {
        return TensorCodec.decode(tensor);
    }

    function valueAt(bytes memory tensor, uint256 index) external pure returns (int64) {
        return TensorCodec.valueAt(tensor, index);
    }

    function size(bytes memory tensor) external pure returns (uint256) {
        return TensorCodec.size(tensor);
    }

    function requestHash(uint256 requestId, RequestParams memory p) external pure returns (bytes32) {
        return Commitments.requestHash(requestId, p);
    }

    /// @dev The calldata variant the hub uses when a request is acted on; must equal `requestHash`.
    function requestHashCalldata(uint256 requestId, RequestParams calldata p) external pure returns (bytes32) {
        return Commitments.requestHashCalldata(requestId, p);
    }

    function result(
        uint256 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        bytes32 envHash,
        address node
    ) external pure returns (bytes32) {
        return Commitments.result(requestId, modelId, inputHash, outputHash, envHash, node);
    }

    function vote(bytes32 outputHash, bytes32 salt, address node) external pure returns (bytes32) {
        return Commitments.vote(outputHash, salt, node);
    }

    function consensus(uint256 requestId, bytes32 outputHash, bytes32[] memory nodeCommitments)
        external
        pure
        returns (bytes32)
    {
        return Commitments.consensus(requestId, outputHash, nodeCommitments);
    }
}

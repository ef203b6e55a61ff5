// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IInferenceConsumer
/// @notice What a requester contract implements to receive results.
interface IInferenceConsumer {
    /// @notice Called by the hub with the canonical output tensor (see `TensorCodec`) and exactly the callback gas the
    ///         request asked for. A revert here is recorded as `CallbackFailed`; it never undoes the result.
    function onInferenceResult(uint256 requestId, bytes calldata output) external;
}

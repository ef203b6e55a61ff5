// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IInferenceConsumer
/// @notice What a requester contract implements to receive results.
interface IInferenceConsumer {
    /// @notice Called by the hub with the canonical output tensor (see `TensorCodec`) and exactly the callback gas the
    ///         request asked for. A revert here is recorded as `CallbackFailed`; it never undoes the result.
    function onInferenceResult(uint256 requestId, bytes calldata output) external;
}

/// @title IInferenceOverturnConsumer
/// @notice What a requester contract that acts on provisional SINGLE results implements to learn that one was
///         overturned. A requester that asked for its callback at finality never needs it: it only ever receives
///         final outputs.
interface IInferenceOverturnConsumer {
    /// @notice Called by the hub, with the request's callback gas, when a dispute replaced the output it was called
    ///         back with: `output` is the committee's (or proven) output, now final. A revert is recorded as
    ///         `CallbackFailed`.
    function onInferenceOverturned(uint256 requestId, bytes calldata output) external;
}

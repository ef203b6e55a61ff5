// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceHub} from "../interfaces/IInferenceHub.sol";
import {Mode} from "../interfaces/IModelRegistry.sol";

/// @title InferenceConsumer
/// @notice Base contract for dApps: request an inference with `_requestInference`, receive the output in
///         `_onInferenceResult`. The raw entry point only checks that the caller is the hub.
abstract contract InferenceConsumer is IInferenceConsumer {
    /// @notice Only the hub delivers results.
    error CallerNotHub(address caller, address hub);

    IInferenceHub internal immutable _hub;

    constructor(IInferenceHub hub_) {
        _hub = hub_;
    }

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(_hub)) revert CallerNotHub(msg.sender, address(_hub));
        _onInferenceResult(requestId, output);
    }

    /// @notice The hub this consumer trusts.
    function inferenceHub() external view returns (IInferenceHub) {
        return _hub;
    }

    /// @dev Requests an inference paying `fee` from this contract's balance; this contract is the requester, so it
    ///      receives the callback and any refund (withdraw refunds with `_withdrawFromHub`).
    function _requestInference(
        bytes32 modelId,
        bytes memory input,
        Mode mode,
        uint8 redundancy,
        uint32 callbackGasLimit,
        uint64 deadline,
        uint256 fee
    ) internal returns (uint256 requestId) {
        requestId = _hub.requestInference{value: fee}(modelId, input, mode, redundancy, callbackGasLimit, deadline);
    }

    /// @dev Pulls this contract's refunds from the hub to `to`.
    function _withdrawFromHub(address payable to) internal returns (uint256) {
        return _hub.withdraw(to);
    }

    /// @dev Receives a result. Runs with exactly the callback gas of the request; a revert is recorded by the hub as
    ///      `CallbackFailed` and the result stays on chain.
    function _onInferenceResult(uint256 requestId, bytes calldata output) internal virtual;
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {InferenceConsumer} from "../../../contracts/consumers/InferenceConsumer.sol";
import {IInferenceHub, Status} from "../../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @notice A consumer of the base's recovery paths: its callback can be made to revert, and it counts every delivery
///         and failure the base hands it.
contract TrackingConsumer is InferenceConsumer {
    error Refused(uint256 requestId);

    bool public refusing;
    uint256 public deliveries;
    uint256 public failures;
    uint256 public lastRequestId;
    bytes public lastOutput;
    Status public lastFailure;

    constructor(IInferenceHub hub_) InferenceConsumer(hub_) {}

    receive() external payable {}

    function request(bytes32 modelId, bytes calldata input, Mode mode, uint8 k, uint32 cbGas, uint64 deadline)
        external
        payable
        returns (uint256)
    {
        return _requestInference(modelId, input, mode, k, cbGas, deadline, msg.value);
    }

    function setRefusing(bool refusing_) external {
        refusing = refusing_;
    }

    function withdrawRefunds(address payable to) external returns (uint256) {
        return _withdrawFromHub(to);
    }

    function _onInferenceResult(uint256 requestId, bytes calldata output) internal override {
        if (refusing) revert Refused(requestId);
        ++deliveries;
        lastRequestId = requestId;
        lastOutput = output;
    }

    function _onInferenceFailed(uint256 requestId, Status status) internal override {
        ++failures;
        lastRequestId = requestId;
        lastFailure = status;
    }
}

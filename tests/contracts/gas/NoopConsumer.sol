// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IInferenceConsumer} from "../../../contracts/interfaces/IInferenceConsumer.sol";
import {IInferenceHub} from "../../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @notice Requests straight through the hub; its callback does nothing (the gas baseline). It implements the raw
///         consumer interface rather than `InferenceConsumer`, whose per-request bookkeeping (reclaim and recovery)
///         is the dApp's cost, not the hub's: the hub's gas figures measure the hub.
/// @dev The one test source compiled under both profiles (foundry.toml). The mocks that extend it and the unit
///      tests use its legacy-pipeline build; GasTest deploys its default-profile artifact, compiled like a dApp's
///      consumer would ship (via-IR, 1,000 runs), because its callback runs inside the hub's gas figures.
contract NoopConsumer is IInferenceConsumer {
    /// @notice Only the hub delivers results (the same error as `InferenceConsumer`'s).
    error CallerNotHub(address caller, address hub);

    IInferenceHub internal immutable _hub;

    constructor(IInferenceHub hub_) {
        _hub = hub_;
    }

    receive() external payable {}

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(_hub)) revert CallerNotHub(msg.sender, address(_hub));
        _onInferenceResult(requestId, output);
    }

    function request(bytes32 modelId, bytes calldata input, Mode mode, uint8 k, uint32 cbGas, uint64 deadline)
        external
        payable
        returns (uint256)
    {
        return _hub.requestInference{value: msg.value}(modelId, input, mode, k, cbGas, deadline);
    }

    function withdrawRefunds(address payable to) external returns (uint256) {
        return _hub.withdraw(to);
    }

    function inferenceHub() external view returns (IInferenceHub) {
        return _hub;
    }

    function _onInferenceResult(uint256, bytes calldata) internal virtual {}
}

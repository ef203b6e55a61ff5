// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {InferenceConsumer} from "../../../contracts/consumers/InferenceConsumer.sol";
import {IInferenceHub} from "../../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @notice Requests through the base contract; its callback does nothing (the gas baseline).
/// @dev The one test source compiled under both profiles (foundry.toml). The mocks that extend it and the unit
///      tests use its legacy-pipeline build; GasTest deploys its default-profile artifact, compiled like a dApp's
///      consumer would ship (via-IR, 20,000 runs), because its callback runs inside the hub's gas figures.
contract NoopConsumer is InferenceConsumer {
    constructor(IInferenceHub hub_) InferenceConsumer(hub_) {}

    function request(bytes32 modelId, bytes calldata input, Mode mode, uint8 k, uint32 cbGas, uint64 deadline)
        external
        payable
        returns (uint256)
    {
        return _requestInference(modelId, input, mode, k, cbGas, deadline, msg.value);
    }

    function withdrawRefunds(address payable to) external returns (uint256) {
        return _withdrawFromHub(to);
    }

    function _onInferenceResult(uint256, bytes calldata) internal virtual override {}

    receive() external payable {}
}

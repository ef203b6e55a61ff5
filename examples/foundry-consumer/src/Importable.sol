// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// Everything verinfer lets other projects import (interfaces, the consumer base, the libraries and the example
// consumer), so this project's build checks all of it with the oldest compiler their `pragma ^0.8.24` admits.
import {InferenceConsumer} from "verinfer/consumers/InferenceConsumer.sol";
import {LendingPool} from "verinfer/consumers/examples/LendingPool.sol";
import {IInferenceConsumer} from "verinfer/interfaces/IInferenceConsumer.sol";
import {IInferenceHub} from "verinfer/interfaces/IInferenceHub.sol";
import {IModelRegistry} from "verinfer/interfaces/IModelRegistry.sol";
import {INodeRegistry} from "verinfer/interfaces/INodeRegistry.sol";
import {IOwned2Step} from "verinfer/interfaces/IOwned2Step.sol";
import {IZkVerifier} from "verinfer/interfaces/IZkVerifier.sol";
import {Commitments} from "verinfer/lib/Commitments.sol";
import {TensorCodec} from "verinfer/lib/TensorCodec.sol";
import {ZkInstances} from "verinfer/lib/ZkInstances.sol";

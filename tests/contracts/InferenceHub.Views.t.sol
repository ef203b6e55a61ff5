// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams} from "../../contracts/interfaces/IInferenceHub.sol";
import {IModelRegistry, ModelTerms} from "../../contracts/interfaces/IModelRegistry.sol";

/// @notice What a client reads: the full-commitment check, the terms a client encodes with, not-found behaviour.
contract InferenceHubViewsTest is BaseTest {
    /// @dev EIP-170: a chain refuses to deploy runtime code over 24,576 bytes, and forge's test EVM does not check.
    function test_contractsFitEip170() public view {
        vm.assertLe(address(hub).code.length, 24_576, "hub");
        vm.assertLe(address(models).code.length, 24_576, "model registry");
        vm.assertLe(address(nodes).code.length, 24_576, "node registry");
    }

    function test_isCommitment_acceptsTheEventsCommitment() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(node1);
        hub.submitResult(id, p, output32(3));
        bytes32 commitment = resultCommitment(id, p, output32(3), ENV_A, node1);
        vm.assertTrue(hub.isCommitment(id, commitment), "the commitment ResultSubmitted carries");
        vm.assertFalse(hub.commitmentOf(id) == commitment, "commitmentOf alone is not equal (low byte is the status)");
        vm.assertFalse(hub.isCommitment(id, resultCommitment(id, p, output32(4), ENV_A, node1)), "another output");
        vm.assertFalse(hub.isCommitment(id + 1, commitment), "another request");
    }

    function test_isCommitment_falseWhilePending() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        // While pending the slot holds the parameter hash: passing it must not read as a result.
        vm.assertFalse(hub.isCommitment(id, keccak256(abi.encode(id, p))), "parameter hash is no result");
    }

    function test_modelTermsOf_carriesScale() public view {
        ModelTerms memory terms = hub.modelTermsOf(MODEL);
        vm.assertEq(terms.scale, 1_000_000, "scale, as registered");
        vm.assertEq(models.termsOf(MODEL).scale, 1_000_000, "registry copy");
    }

    function test_RevertWhen_ModelTermsOfUnknown() public {
        bytes32 unknown = keccak256("never registered");
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.UnknownModel.selector, unknown));
        hub.modelTermsOf(unknown);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, unknown));
        models.termsOf(unknown);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, unknown));
        models.getModel(unknown);
        vm.assertFalse(models.isRegistered(unknown), "the probe does not revert");
        vm.assertTrue(models.isRegistered(MODEL), "a registered model");
    }
}

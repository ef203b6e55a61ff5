// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {ModelSpec, Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {Eligibility} from "../../contracts/interfaces/INodeRegistry.sol";
import {TensorCodec} from "../../contracts/lib/TensorCodec.sol";
import {
    DirtyTrueVerifier,
    ExpectingVerifier,
    FalseVerifier,
    RevertingVerifier,
    SilentVerifier,
    StatefulVerifier
} from "./mocks/Verifiers.sol";

/// @notice ZK delivery against mock verifiers: which instances the hub builds, what it refuses before and after the
///         proof check, and that an accepted proof is recorded, paid and called back like a SINGLE result.
///         (InferenceHub.ZkProof.t.sol runs the same path against a real EZKL verifier and proof.)
contract InferenceHubZkTest is BaseTest {
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    bytes internal constant PROOF =
        hex"c0ffee00000000000000000000000000000000000000000000000000000000000000000000000001";

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The instances an EZKL proof of `output` on `input` carries, computed without the hub's library.
    function _instances(bytes memory input, bytes memory output) internal pure returns (uint256[] memory all) {
        int64[] memory a = TensorCodec.decode(input);
        int64[] memory b = TensorCodec.decode(output);
        all = new uint256[](a.length + b.length);
        for (uint256 i; i < all.length; ++i) {
            int256 v = i < a.length ? int256(a[i]) : int256(b[i - a.length]);
            all[i] = v < 0 ? uint256(int256(P) + v) : uint256(v);
        }
    }

    /// @dev A verifier accepting exactly PROOF for `output` on input32().
    function _expecting(bytes memory output) internal returns (address) {
        return address(new ExpectingVerifier(keccak256(abi.encode(PROOF, _instances(input32(), output)))));
    }

    /// @dev Registers a ZK model (id derived from the verifier) served by node1, node2 and node3.
    function _zkModel(address verifier) internal returns (bytes32 modelId) {
        modelId = keccak256(abi.encode("zk model", verifier));
        ModelSpec memory s = spec(Mode.SINGLE, Mode.ZK);
        s.scale = 1 << 20;
        s.verifier = verifier;
        registerModel(modelId, s);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = modelId;
        vm.prank(node1);
        nodes.setModels(ids, true);
        vm.prank(node2);
        nodes.setModels(ids, true);
        // Tickets go to services older than the request.
        vm.warp(block.timestamp + 1);
    }

    function _requestZk(bytes32 modelId) internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = consumer.request{value: PRICE}(modelId, input32(), Mode.ZK, 1, CB_GAS, deadline);
        p = paramsWithoutLottery(address(consumer), input32(), Mode.ZK, 1, CB_GAS, deadline, PRICE);
        p.modelId = modelId;
        withLottery(p, id);
        openAllWindows();
    }

    function _submit(address node, uint256 id, RequestParams memory p, bytes memory output) internal {
        vm.prank(node);
        hub.submitZkResult(id, p, input32(), output, PROOF);
    }

    /*//////////////////////////////////////////////////////////////
                                REQUESTS
    //////////////////////////////////////////////////////////////*/

    function test_requestInference_zkAccepted() public {
        bytes32 modelId = _zkModel(_expecting(output32(1)));
        (uint256 id,) = _requestZk(modelId);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.PENDING), "pending");
    }

    function test_RevertWhen_ZkRedundancyNotOne() public {
        bytes32 modelId = _zkModel(_expecting(output32(1)));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyInvalid.selector, Mode.ZK, 2, 1, 1));
        vm.prank(alice);
        hub.requestInference{value: PRICE * 2}(modelId, input32(), Mode.ZK, 2, 0, uint64(block.timestamp + 1 hours));
    }

    function test_RevertWhen_ZkNotAllowedForModel() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ModeNotAllowed.selector, MODEL, Mode.ZK, 3));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(MODEL, input32(), Mode.ZK, 1, 0, uint64(block.timestamp + 1 hours));
    }

    /*//////////////////////////////////////////////////////////////
                               HAPPY PATH
    //////////////////////////////////////////////////////////////*/

    function test_submitZkResult_recordsCommitmentPaysAndCallsBack() public {
        bytes memory out = output32(7);
        bytes32 modelId = _zkModel(_expecting(out));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        bytes32 commitment = resultCommitment(id, p, out, ENV_A, node1);

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultSubmitted(id, node1, ENV_A, commitment, out);
        _submit(node1, id, p, out);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "status");
        vm.assertEq(hub.commitmentOf(id), maskedResult(commitment), "same commitment shape as SINGLE");
        vm.assertTrue(hub.verifyResult(id, modelId, p.inputHash, keccak256(out), ENV_A, node1), "verifyResult");
        vm.assertEq(hub.balanceOf(node1), PRICE, "fee credited to the prover");
        vm.assertEq(consumer.calls(), 1, "callback ran");
        vm.assertEq(consumer.lastRequestId(), id, "callback id");
        vm.assertEq(consumer.lastOutput(), out, "callback output");
    }

    function test_submitZkResult_instancesAreInputThenOutputInTheField() public {
        // Hand-written field elements for input32() = [1e6, -2.5e6, 0, 42] and output32(-3) = [2.5e5, 7.5e5, -3, -1].
        uint256[] memory expected = new uint256[](8);
        expected[0] = 1_000_000;
        expected[1] = P - 2_500_000;
        expected[2] = 0;
        expected[3] = 42;
        expected[4] = 250_000;
        expected[5] = 750_000;
        expected[6] = P - 3;
        expected[7] = P - 1;
        bytes memory out = output32(-3);
        vm.assertEq(abi.encode(_instances(input32(), out)), abi.encode(expected), "test helper");
        bytes32 modelId = _zkModel(address(new ExpectingVerifier(keccak256(abi.encode(PROOF, expected)))));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        _submit(node1, id, p, out);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "accepted");
    }

    function testFuzz_submitZkResult_acceptsExactlyTheProvenOutput(int64 a, int64 b, int64 c, int64 d) public {
        bytes memory out = abi.encodePacked(a, b, c, d);
        bytes32 modelId = _zkModel(_expecting(out));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        bytes memory other = abi.encodePacked(a ^ int64(1), b, c, d);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ProofRejected.selector, id, hub.verifierOf(modelId)));
        _submit(node1, id, p, other);
        _submit(node1, id, p, out);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "accepted");
    }

    function test_verifierOf_isTheRegisteredOne() public {
        address verifier = _expecting(output32(1));
        vm.assertEq(hub.verifierOf(_zkModel(verifier)), verifier, "verifier");
    }

    /*//////////////////////////////////////////////////////////////
                               REFUSALS
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_ZkOutputTampered() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ProofRejected.selector, id, hub.verifierOf(modelId)));
        _submit(node1, id, p, output32(8));
    }

    function test_RevertWhen_ZkInputMismatch() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        bytes memory otherInput = abi.encodePacked(int64(1), int64(2), int64(3), int64(4));
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.InputMismatch.selector, id, p.inputHash, keccak256(otherInput))
        );
        vm.prank(node1);
        hub.submitZkResult(id, p, otherInput, output32(7), PROOF);
    }

    function test_RevertWhen_ZkProofForAnotherModel() public {
        // The proof is valid for model B's verifier; model A's own verifier decides, and the caller cannot pick it.
        bytes memory out = output32(7);
        bytes32 modelA = _zkModel(address(new FalseVerifier()));
        bytes32 modelB = _zkModel(_expecting(out));
        (uint256 idA, RequestParams memory pA) = _requestZk(modelA);
        (uint256 idB, RequestParams memory pB) = _requestZk(modelB);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ProofRejected.selector, idA, hub.verifierOf(modelA)));
        _submit(node1, idA, pA, out);
        _submit(node1, idB, pB, out);
        vm.assertEq(uint256(hub.statusOf(idB)), uint256(Status.FULFILLED), "valid for its own model");
    }

    function test_RevertWhen_ZkAfterDeadline() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.warp(p.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestExpired.selector, id, p.deadline));
        _submit(node1, id, p, output32(7));
    }

    function test_submitZkResult_atDeadline() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.warp(p.deadline);
        _submit(node1, id, p, output32(7));
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "accepted at the deadline");
    }

    function test_RevertWhen_ZkAlreadyFulfilled() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        _submit(node1, id, p, output32(7));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestNotPending.selector, id, Status.FULFILLED));
        _submit(node2, id, p, output32(7));
    }

    function test_RevertWhen_ZkParamsMismatch() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        p.fee = 1;
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestParamsMismatch.selector, id));
        _submit(node1, id, p, output32(7));
    }

    function test_RevertWhen_ZkResultForSingleRequest() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WrongMode.selector, id, Mode.SINGLE));
        _submit(node1, id, p, output32(7));
    }

    function test_RevertWhen_SingleResultForZkRequest() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WrongMode.selector, id, Mode.ZK));
        vm.prank(node1);
        hub.submitResult(id, p, output32(7));
    }

    function test_RevertWhen_ZkOutputLengthMismatch() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.OutputLengthMismatch.selector, 24, 32));
        _submit(node1, id, p, new bytes(24));
    }

    function test_RevertWhen_ZkNodeNotEligible() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.NodeNotEligible.selector, node3, modelId, Eligibility.MODEL_NOT_SERVED)
        );
        _submit(node3, id, p, output32(7));
    }

    function test_reclaimFee_zkAfterDeadline() public {
        bytes32 modelId = _zkModel(_expecting(output32(7)));
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.warp(p.deadline + 1);
        hub.reclaimFee(id, p);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.REFUNDED), "refunded");
        vm.assertEq(hub.balanceOf(address(consumer)), PRICE, "fee back");
    }

    /*//////////////////////////////////////////////////////////////
                          ADVERSARIAL VERIFIERS
    //////////////////////////////////////////////////////////////*/

    function _assertRejectedBy(address verifier) internal {
        bytes32 modelId = _zkModel(verifier);
        (uint256 id, RequestParams memory p) = _requestZk(modelId);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ProofRejected.selector, id, verifier));
        _submit(node1, id, p, output32(7));
    }

    function test_RevertWhen_VerifierReverts_notBubbled() public {
        _assertRejectedBy(address(new RevertingVerifier()));
    }

    function test_RevertWhen_VerifierReturnsFalse() public {
        _assertRejectedBy(address(new FalseVerifier()));
    }

    function test_RevertWhen_VerifierReturnsNothing() public {
        _assertRejectedBy(address(new SilentVerifier()));
    }

    function test_RevertWhen_VerifierReturnsDirtyTrue() public {
        _assertRejectedBy(address(new DirtyTrueVerifier()));
    }

    function test_RevertWhen_VerifierWritesState() public {
        StatefulVerifier verifier = new StatefulVerifier();
        _assertRejectedBy(address(verifier));
        vm.assertEq(verifier.calls(), 0, "no state change under STATICCALL");
    }

    function test_RevertWhen_SyncModelVerifierNotRegistry() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CallerNotModelRegistry.selector, alice, address(models)));
        vm.prank(alice);
        hub.syncModelVerifier(MODEL, alice);
    }
}

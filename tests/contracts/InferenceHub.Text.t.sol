// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams} from "../../contracts/interfaces/IInferenceHub.sol";
import {
    IModelRegistry,
    FORMAT_BUNDLE,
    FORMAT_VARIABLE_INPUT,
    FORMAT_VARIABLE_OUTPUT,
    LENGTH_UP_TO,
    ModelSpec,
    ModelTerms,
    Mode
} from "../../contracts/interfaces/IModelRegistry.sol";

/// @notice Variable-length inputs and outputs (text models): a prompt of up to 64 bytes in, an answer of up to 40
///         bytes out, in SINGLE and CONSENSUS; the hub commits to their hashes and the events carry the bytes.
contract InferenceHubTextTest is BaseTest {
    bytes32 internal constant TEXT = keccak256("bundle manifest of a text model");
    uint32 internal constant MAX_IN = 64;
    uint32 internal constant MAX_OUT = 40;

    function setUp() public override {
        super.setUp();
        registerModel(TEXT, textSpec());
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = TEXT;
        vm.prank(node1);
        nodes.setModels(ids, true);
        vm.prank(node2);
        nodes.setModels(ids, true);
        vm.prank(node3);
        nodes.setModels(ids, true);
        vm.warp(block.timestamp + 1);
    }

    function textSpec() internal pure returns (ModelSpec memory s) {
        s = spec(Mode.SINGLE, Mode.CONSENSUS);
        s.uri = "http://models.example/text/";
        s.inputShape = new uint32[](1);
        s.inputShape[0] = MAX_IN;
        s.outputShape = new uint32[](1);
        s.outputShape[0] = MAX_OUT;
        s.format = FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT | FORMAT_BUNDLE;
    }

    function textParams(bytes memory prompt, Mode mode, uint8 k, uint64 deadline, uint256 fee)
        internal
        returns (RequestParams memory p)
    {
        p = paramsWithoutLottery(alice, prompt, mode, k, 0, deadline, fee);
        p.modelId = TEXT;
        p.outputBytes = MAX_OUT | LENGTH_UP_TO;
        withLottery(p, hub.nextRequestId() - 1);
        openAllWindows();
    }

    function requestText(bytes memory prompt, Mode mode, uint8 k)
        internal
        returns (uint256 id, RequestParams memory p)
    {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 fee = uint256(PRICE) * k;
        vm.prank(alice);
        id = hub.requestInference{value: fee}(TEXT, prompt, mode, k, 0, deadline);
        p = textParams(prompt, mode, k, deadline, fee);
    }

    /*//////////////////////////////////////////////////////////////
                                REGISTRY
    //////////////////////////////////////////////////////////////*/

    function test_terms_carryLengthUpTo() public view {
        ModelTerms memory terms = hub.modelTermsOf(TEXT);
        vm.assertEq(terms.inputBytes, MAX_IN | LENGTH_UP_TO, "hub input bound");
        vm.assertEq(terms.outputBytes, MAX_OUT | LENGTH_UP_TO, "hub output bound");
        vm.assertEq(models.termsOf(TEXT).inputBytes, MAX_IN | LENGTH_UP_TO, "registry input bound");
        vm.assertEq(hub.modelTermsOf(MODEL).outputBytes, 32, "a tensor model keeps its exact size");
    }

    function test_RevertWhen_FormatUnknownBits() public {
        ModelSpec memory s = textSpec();
        s.format = 8;
        _expectRegisterRevert(
            keccak256("unknown format"), s, abi.encodeWithSelector(IModelRegistry.FormatInvalid.selector, 8, s.modes)
        );
    }

    function test_RevertWhen_VariableWithZk() public {
        ModelSpec memory s = textSpec();
        s.modes = uint8(1 << uint8(Mode.ZK));
        s.verifier = address(hub); // any contract: the format is refused after the verifier checks
        s.format = FORMAT_VARIABLE_INPUT;
        bytes32 id = keccak256("zk text");
        _expectRegisterRevert(
            id,
            s,
            keccak256(abi.encode("vk", id)),
            abi.encodeWithSelector(IModelRegistry.FormatInvalid.selector, FORMAT_VARIABLE_INPUT, s.modes)
        );
    }

    function test_RevertWhen_VariableShapeNotOneDimension() public {
        ModelSpec memory s = textSpec();
        s.inputShape = shape(1, 64);
        _expectRegisterRevert(
            keccak256("rank 2"),
            s,
            abi.encodeWithSelector(IModelRegistry.VariableLengthInvalid.selector, "input", 2, 0, 65_536)
        );
    }

    function test_RevertWhen_VariableLengthTooLarge() public {
        ModelSpec memory s = textSpec();
        s.outputShape[0] = 65_537;
        _expectRegisterRevert(
            keccak256("too long"),
            s,
            abi.encodeWithSelector(IModelRegistry.VariableLengthInvalid.selector, "output", 1, 65_537, 65_536)
        );
    }

    /*//////////////////////////////////////////////////////////////
                                REQUESTS
    //////////////////////////////////////////////////////////////*/

    function test_request_takesAnyLengthUpToMax() public {
        vm.expectEmit(true, true, true, false, address(hub));
        emit IInferenceHub.InferenceRequested(
            hub.nextRequestId(), TEXT, alice, PRICE, 0, 0, Mode.SINGLE, 1, 0, bytes("Beautiful is")
        );
        requestText(bytes("Beautiful is"), Mode.SINGLE, 1);
        requestText(new bytes(MAX_IN), Mode.SINGLE, 1);
    }

    function test_RevertWhen_VariableInputTooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InputTooLarge.selector, MAX_IN + 1, MAX_IN));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(TEXT, new bytes(MAX_IN + 1), Mode.SINGLE, 1, 0, uint64(block.timestamp + 60));
    }

    function test_RevertWhen_FixedInputShorter() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InputLengthMismatch.selector, 8, 32));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(MODEL, new bytes(8), Mode.SINGLE, 1, 0, uint64(block.timestamp + 60));
    }

    function testFuzz_single_recordsAnyLengthUpToMax(uint256 length) public {
        length = bound(length, 0, MAX_OUT);
        (uint256 id, RequestParams memory p) = requestText(bytes("Q: hi A:"), Mode.SINGLE, 1);
        bytes memory answer = new bytes(length);
        for (uint256 i; i < length; ++i) {
            answer[i] = bytes1(uint8(65 + i % 26));
        }
        vm.expectEmit(true, true, false, true, address(hub));
        emit IInferenceHub.ResultSubmitted(id, node1, ENV_A, resultCommitment(id, p, answer, ENV_A, node1), answer);
        vm.prank(node1);
        hub.submitResult(id, p, answer);
        vm.assertTrue(hub.verifyResult(id, TEXT, p.inputHash, keccak256(answer), ENV_A, node1), "verifies");
    }

    function test_single_recordsShortAnswer() public {
        testFuzz_single_recordsAnyLengthUpToMax(5);
    }

    function test_RevertWhen_VariableOutputTooLarge() public {
        (uint256 id, RequestParams memory p) = requestText(bytes("Q: hi A:"), Mode.SINGLE, 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.OutputTooLarge.selector, MAX_OUT + 1, MAX_OUT));
        vm.prank(node1);
        hub.submitResult(id, p, new bytes(MAX_OUT + 1));
    }

    function test_RevertWhen_FixedOutputShorter() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.OutputLengthMismatch.selector, 31, 32));
        vm.prank(node1);
        hub.submitResult(id, p, new bytes(31));
    }

    function test_consensus_revealsAndSettlesVariableOutput() public {
        (uint256 id, RequestParams memory p) = requestText(bytes("Errors should"), Mode.CONSENSUS, 3);
        bytes memory answer = bytes(" never pass silently.");
        commit(node1, id, p, answer);
        commit(node2, id, p, answer);
        commit(node3, id, p, answer);
        reveal(node1, id, p, answer);
        reveal(node2, id, p, answer);
        reveal(node3, id, p, answer);
        hub.finalizeConsensus(id, p, answer);
        vm.assertEq(hub.roundOf(id).winningOutputHash, keccak256(answer), "winner");
    }

    function test_RevertWhen_RevealTooLarge() public {
        (uint256 id, RequestParams memory p) = requestText(bytes("Errors should"), Mode.CONSENSUS, 3);
        bytes memory tooLong = new bytes(MAX_OUT + 1);
        commit(node1, id, p, tooLong);
        commit(node2, id, p, tooLong);
        commit(node3, id, p, tooLong);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.OutputTooLarge.selector, MAX_OUT + 1, MAX_OUT));
        reveal(node1, id, p, tooLong);
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    function _expectRegisterRevert(bytes32 id, ModelSpec memory s, bytes memory err) internal {
        _expectRegisterRevert(id, s, bytes32(0), err);
    }

    function _expectRegisterRevert(bytes32 id, ModelSpec memory s, bytes32 vkHash, bytes memory err) internal {
        bytes32 salt = keccak256(abi.encode("salt", id));
        models.commitRegistration(models.registrationCommitment(id, s, vkHash, address(this), salt));
        vm.roll(block.number + 1);
        vm.expectRevert(err);
        models.registerModel(id, s, vkHash, address(this), salt);
    }
}

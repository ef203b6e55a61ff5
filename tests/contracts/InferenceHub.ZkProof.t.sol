// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {IZkVerifier} from "../../contracts/interfaces/IZkVerifier.sol";
import {ZkInstances} from "../../contracts/lib/ZkInstances.sol";
import {ZkFixture} from "./fixtures/ZkFixture.sol";
import {ZkInstancesHarness} from "./harness/ZkInstancesHarness.sol";

/// @notice ZK delivery against a real EZKL verifier and real proofs (tests/contracts/fixtures/ZkFixture.sol, made by
///         scripts/zk_fixture.py): a valid proof is accepted; a tampered output, a proof for another input, a proof
///         made with another model's circuit and a proof after the deadline are refused with their errors.
contract InferenceHubZkProofTest is BaseTest {
    address internal verifier;
    address internal otherVerifier;
    ZkInstancesHarness internal instances;

    function setUp() public override {
        super.setUp();
        verifier = deployZkFixtureVerifier();
        registerZkFixtureModel(ZkFixture.MODEL_ID, verifier);
        instances = new ZkInstancesHarness();
    }

    function _request(bytes memory input) internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = consumer.request{value: PRICE}(ZkFixture.MODEL_ID, input, Mode.ZK, 1, CB_GAS, deadline);
        p = zkParams(ZkFixture.MODEL_ID, address(consumer), input, CB_GAS, deadline, PRICE);
    }

    function _submit(uint256 id, RequestParams memory p, bytes memory input, bytes memory output, bytes memory proof)
        internal
    {
        vm.prank(node1);
        hub.submitZkResult(id, p, input, output, proof);
    }

    function _rejected(uint256 id) internal view returns (bytes memory) {
        return abi.encodeWithSelector(IInferenceHub.ProofRejected.selector, id, verifier);
    }

    /*//////////////////////////////////////////////////////////////
                               THE VERIFIER
    //////////////////////////////////////////////////////////////*/

    function test_verifier_acceptsFixtureProofDirectly() public view {
        uint256[] memory publicValues = instances.fromTensors(ZkFixture.INPUT, ZkFixture.OUTPUT);
        vm.assertEq(publicValues.length, ZkFixture.FEATURES + ZkFixture.CLASSES, "18 instances");
        vm.assertTrue(IZkVerifier(verifier).verifyProof(ZkFixture.PROOF, publicValues), "valid");
    }

    function test_verifier_fitsContractSizeLimit() public view {
        vm.assertLe(verifier.code.length, 24_576, "EIP-170");
    }

    function test_verifier_revertsOnTamperedInstance() public {
        uint256[] memory publicValues = instances.fromTensors(ZkFixture.INPUT, ZkFixture.OUTPUT);
        publicValues[publicValues.length - 1] =
            addmod(publicValues[publicValues.length - 1], 1, ZkInstances.FIELD_MODULUS);
        vm.expectRevert(bytes(""));
        IZkVerifier(verifier).verifyProof(ZkFixture.PROOF, publicValues);
    }

    /*//////////////////////////////////////////////////////////////
                                ACCEPTED
    //////////////////////////////////////////////////////////////*/

    function test_submitZkResult_realProofRecordsPaysAndCallsBack() public {
        (uint256 id, RequestParams memory p) = _request(ZkFixture.INPUT);
        bytes32 commitment = resultCommitment(id, p, ZkFixture.OUTPUT, ENV_A, node1);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultSubmitted(id, node1, ENV_A, commitment, ZkFixture.OUTPUT);
        _submit(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "status");
        vm.assertTrue(
            hub.verifyResult(
                id, ZkFixture.MODEL_ID, keccak256(ZkFixture.INPUT), keccak256(ZkFixture.OUTPUT), ENV_A, node1
            ),
            "verifyResult"
        );
        vm.assertEq(hub.balanceOf(node1), PRICE, "prover paid");
        vm.assertEq(consumer.lastOutput(), ZkFixture.OUTPUT, "callback got the proven output");
    }

    /*//////////////////////////////////////////////////////////////
                                REFUSED
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_RealProofTamperedOutput() public {
        (uint256 id, RequestParams memory p) = _request(ZkFixture.INPUT);
        bytes memory tampered = bytes.concat(ZkFixture.OUTPUT);
        tampered[15] = bytes1(uint8(tampered[15]) ^ 0x01); // last byte of the first class
        vm.expectRevert(_rejected(id));
        _submit(id, p, ZkFixture.INPUT, tampered, ZkFixture.PROOF);
    }

    function test_RevertWhen_RealProofForAnotherInput() public {
        // A request for another input: the proof of the fixture input does not verify on it.
        bytes memory otherInput = bytes.concat(ZkFixture.INPUT);
        otherInput[7] = bytes1(uint8(otherInput[7]) ^ 0x02);
        (uint256 id, RequestParams memory p) = _request(otherInput);
        vm.expectRevert(_rejected(id));
        _submit(id, p, otherInput, ZkFixture.OUTPUT, ZkFixture.PROOF);
    }

    function test_RevertWhen_RealProofWithInputNotTheRequests() public {
        bytes memory otherInput = bytes.concat(ZkFixture.INPUT);
        otherInput[7] = bytes1(uint8(otherInput[7]) ^ 0x02);
        (uint256 id, RequestParams memory p) = _request(otherInput);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.InputMismatch.selector, id, keccak256(otherInput), keccak256(ZkFixture.INPUT)
            )
        );
        _submit(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
    }

    function test_RevertWhen_RealProofFromAnotherModelsCircuit() public {
        (uint256 id, RequestParams memory p) = _request(ZkFixture.INPUT);
        vm.expectRevert(_rejected(id));
        _submit(id, p, ZkFixture.INPUT, ZkFixture.OTHER_OUTPUT, ZkFixture.OTHER_PROOF);
    }

    function test_RevertWhen_RealProofAfterDeadline() public {
        (uint256 id, RequestParams memory p) = _request(ZkFixture.INPUT);
        vm.warp(p.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestExpired.selector, id, p.deadline));
        _submit(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
    }

    function test_RevertWhen_RealProofCopiedAfterAcceptance() public {
        (uint256 id, RequestParams memory p) = _request(ZkFixture.INPUT);
        _submit(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestNotPending.selector, id, Status.FULFILLED));
        vm.prank(node2);
        hub.submitZkResult(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TensorCodec} from "../../contracts/lib/TensorCodec.sol";
import {ZkInstances} from "../../contracts/lib/ZkInstances.sol";
import {ZkInstancesHarness} from "./harness/ZkInstancesHarness.sol";

/// @notice The instance layout of an EZKL proof: input elements, then output elements, negatives as p - |v|.
contract ZkInstancesTest is Test {
    uint256 internal constant P = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    ZkInstancesHarness internal harness;

    function setUp() public {
        harness = new ZkInstancesHarness();
    }

    function _field(int64 v) internal pure returns (uint256) {
        return v < 0 ? P - uint256(-int256(v)) : uint256(int256(v));
    }

    function test_modulusIsBn254ScalarField() public pure {
        vm.assertEq(ZkInstances.FIELD_MODULUS, P, "p");
    }

    function test_toField_edges() public view {
        vm.assertEq(harness.toField(0), 0, "zero");
        vm.assertEq(harness.toField(1), 1, "one");
        vm.assertEq(harness.toField(-1), P - 1, "minus one");
        vm.assertEq(harness.toField(type(int64).max), uint256(uint64(type(int64).max)), "int64 max");
        vm.assertEq(harness.toField(type(int64).min), P - 2 ** 63, "int64 min");
    }

    function testFuzz_toField_isSignedValueModP(int64 v) public view {
        uint256 f = harness.toField(v);
        vm.assertLt(f, P, "in the field");
        vm.assertEq(addmod(f, v < 0 ? uint256(-int256(v)) : 0, P), v < 0 ? 0 : uint256(int256(v)), "f + |v| = 0 mod p");
    }

    function test_fromTensors_inputThenOutput() public view {
        bytes memory input = abi.encodePacked(int64(5), int64(-7));
        bytes memory output = abi.encodePacked(int64(type(int64).min), int64(0), int64(3));
        uint256[] memory got = harness.fromTensors(input, output);
        vm.assertEq(got.length, 5, "length");
        vm.assertEq(got[0], 5, "in 0");
        vm.assertEq(got[1], P - 7, "in 1");
        vm.assertEq(got[2], P - 2 ** 63, "out 0");
        vm.assertEq(got[3], 0, "out 1");
        vm.assertEq(got[4], 3, "out 2");
    }

    function testFuzz_fromTensors_matchesElementwise(int64[] memory a, int64[] memory b) public view {
        uint256[] memory got = harness.fromTensors(TensorCodec.encode(a), TensorCodec.encode(b));
        vm.assertEq(got.length, a.length + b.length, "length");
        for (uint256 i; i < a.length; ++i) {
            vm.assertEq(got[i], _field(a[i]), "input element");
        }
        for (uint256 i; i < b.length; ++i) {
            vm.assertEq(got[a.length + i], _field(b[i]), "output element");
        }
    }

    function test_fromTensors_empty() public view {
        vm.assertEq(harness.fromTensors("", "").length, 0, "no instances");
    }

    function test_RevertWhen_InputLengthNotMultipleOfEight() public {
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorLengthInvalid.selector, 9));
        harness.fromTensors(new bytes(9), new bytes(8));
    }

    function test_RevertWhen_OutputLengthNotMultipleOfEight() public {
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorLengthInvalid.selector, 7));
        harness.fromTensors(new bytes(8), new bytes(7));
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {TensorCodec} from "../../contracts/lib/TensorCodec.sol";
import {CodecHarness} from "./harness/CodecHarness.sol";

/// @notice The canonical tensor encoding: big-endian int64, 8 bytes per element, no header.
contract TensorCodecTest is Test {
    CodecHarness internal codec;

    function setUp() public {
        codec = new CodecHarness();
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The first `n` (at most 64) fuzzed values.
    function _take(int64[] memory raw, uint256 n) internal pure returns (int64[] memory values) {
        n = bound(n, 0, raw.length < 64 ? raw.length : 64);
        values = new int64[](n);
        for (uint256 i; i < n; ++i) {
            values[i] = raw[i];
        }
    }

    /// @dev Element `index` decoded by hand, byte by byte, most significant first.
    function _manual(bytes memory tensor, uint256 index) internal pure returns (int64) {
        uint64 u;
        for (uint256 j; j < 8; ++j) {
            u = (u << 8) | uint64(uint8(tensor[index * 8 + j]));
        }
        return int64(u);
    }

    function _vector() internal pure returns (int64[] memory v) {
        v = new int64[](5);
        v[0] = 1;
        v[1] = -1;
        v[2] = 0;
        v[3] = type(int64).max;
        v[4] = type(int64).min;
    }

    function _assertValuesEq(int64[] memory a, int64[] memory b) internal pure {
        vm.assertEq(a.length, b.length, "length");
        for (uint256 i; i < a.length; ++i) {
            vm.assertEq(int256(a[i]), int256(b[i]), "element");
        }
    }

    /*//////////////////////////////////////////////////////////////
                                ENCODE
    //////////////////////////////////////////////////////////////*/

    function test_encode_knownVector() public view {
        bytes memory expected = hex"0000000000000001" hex"ffffffffffffffff" hex"0000000000000000" hex"7fffffffffffffff"
            hex"8000000000000000";
        vm.assertEq(codec.encode(_vector()), expected, "exact bytes");
    }

    function test_encode_matchesEncodePacked() public view {
        int64[] memory v = new int64[](3);
        v[0] = 1_000_000;
        v[1] = -2_500_000;
        v[2] = 42;
        vm.assertEq(
            codec.encode(v), abi.encodePacked(int64(1_000_000), int64(-2_500_000), int64(42)), "== encodePacked"
        );
    }

    function test_encode_empty() public view {
        vm.assertEq(codec.encode(new int64[](0)).length, 0, "no header");
        vm.assertEq(codec.decode("").length, 0, "decodes to nothing");
    }

    function test_encodeChecked_inRangeEqualsInt64Encoding() public view {
        int256[] memory wide = new int256[](5);
        int64[] memory narrow = _vector();
        for (uint256 i; i < 5; ++i) {
            wide[i] = narrow[i];
        }
        vm.assertEq(codec.encodeChecked(wide), codec.encode(narrow), "same bytes");
    }

    function test_RevertWhen_EncodeValueAboveInt64() public {
        int256[] memory wide = new int256[](2);
        wide[0] = 7;
        wide[1] = int256(type(int64).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorValueOutOfRange.selector, wide[1]));
        codec.encodeChecked(wide);
    }

    function test_RevertWhen_EncodeValueBelowInt64() public {
        int256[] memory wide = new int256[](1);
        wide[0] = int256(type(int64).min) - 1;
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorValueOutOfRange.selector, wide[0]));
        codec.encodeChecked(wide);
    }

    function testFuzz_RevertWhen_EncodeValueOutOfRange(int256 x, bool negative) public {
        int256 v = negative
            ? boundInt(x, type(int256).min, int256(type(int64).min) - 1)
            : boundInt(x, int256(type(int64).max) + 1, type(int256).max);
        int256[] memory wide = new int256[](1);
        wide[0] = v;
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorValueOutOfRange.selector, v));
        codec.encodeChecked(wide);
    }

    function testFuzz_encodeChecked_inRangeEqualsInt64Encoding(int64[] memory raw, uint256 n) public view {
        int64[] memory narrow = _take(raw, n);
        int256[] memory wide = new int256[](narrow.length);
        for (uint256 i; i < narrow.length; ++i) {
            wide[i] = narrow[i];
        }
        vm.assertEq(codec.encodeChecked(wide), codec.encode(narrow), "same bytes");
    }

    /*//////////////////////////////////////////////////////////////
                             DECODE / VALUEAT
    //////////////////////////////////////////////////////////////*/

    function test_decode_knownVector() public view {
        bytes memory tensor = hex"0000000000000001" hex"ffffffffffffffff" hex"0000000000000000" hex"7fffffffffffffff"
            hex"8000000000000000";
        _assertValuesEq(codec.decode(tensor), _vector());
        vm.assertEq(codec.size(tensor), 5, "size");
    }

    function test_valueAt_negativeValues() public view {
        bytes memory tensor = abi.encodePacked(int64(-2), int64(-2_500_000), int64(type(int64).min + 1));
        vm.assertEq(int256(codec.valueAt(tensor, 0)), -2, "-2");
        vm.assertEq(int256(codec.valueAt(tensor, 1)), -2_500_000, "-2.5 in fixed point");
        vm.assertEq(int256(codec.valueAt(tensor, 2)), int256(type(int64).min) + 1, "min + 1");
    }

    function test_valueAt_matchesManualDecoding() public view {
        bytes memory tensor = codec.encode(_vector());
        for (uint256 i; i < 5; ++i) {
            vm.assertEq(int256(codec.valueAt(tensor, i)), int256(_manual(tensor, i)), "valueAt == manual");
        }
    }

    function testFuzz_valueAt_matchesManualDecoding(int64[] memory raw, uint256 n) public view {
        int64[] memory values = _take(raw, n);
        bytes memory tensor = codec.encode(values);
        for (uint256 i; i < values.length; ++i) {
            int64 v = codec.valueAt(tensor, i);
            vm.assertEq(int256(v), int256(_manual(tensor, i)), "valueAt == manual");
            vm.assertEq(int256(v), int256(values[i]), "valueAt == input");
        }
    }

    function test_roundTrip() public view {
        bytes memory tensor = codec.encode(_vector());
        vm.assertEq(tensor.length, 40, "8 bytes per element");
        _assertValuesEq(codec.decode(tensor), _vector());
    }

    function testFuzz_roundTrip(int64[] memory raw, uint256 n) public view {
        int64[] memory values = _take(raw, n);
        bytes memory tensor = codec.encode(values);
        vm.assertEq(tensor.length, values.length * 8, "8 bytes per element");
        vm.assertEq(codec.size(tensor), values.length, "size");
        _assertValuesEq(codec.decode(tensor), values);
        vm.assertEq(codec.encode(codec.decode(tensor)), tensor, "bytes -> values -> bytes");
    }

    /// @dev valueAt and decode load a whole 32-byte word; the bytes of the following elements must not leak in.
    function test_valueAt_ignoresFollowingElements() public view {
        bytes memory tensor = abi.encodePacked(int64(0), int64(-1), int64(-1), int64(-1));
        vm.assertEq(int256(codec.valueAt(tensor, 0)), 0, "zero followed by 0xff bytes");
        vm.assertEq(int256(codec.decode(tensor)[0]), 0, "decode agrees");
        vm.assertEq(int256(codec.valueAt(tensor, 3)), -1, "last element");
    }

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_TensorLengthInvalid() public {
        bytes memory tensor = new bytes(7);
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorLengthInvalid.selector, 7));
        codec.size(tensor);
    }

    function test_RevertWhen_DecodingInvalidLength() public {
        bytes memory tensor = new bytes(17);
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorLengthInvalid.selector, 17));
        codec.decode(tensor);
    }

    function test_RevertWhen_ValueAtInvalidLength() public {
        bytes memory tensor = new bytes(9);
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorLengthInvalid.selector, 9));
        codec.valueAt(tensor, 0);
    }

    function test_RevertWhen_IndexOutOfBounds() public {
        bytes memory tensor = codec.encode(_vector());
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorIndexOutOfBounds.selector, 5, 5));
        codec.valueAt(tensor, 5);
    }

    function test_RevertWhen_IndexIntoEmptyTensor() public {
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorIndexOutOfBounds.selector, 0, 0));
        codec.valueAt("", 0);
    }

    function testFuzz_RevertWhen_IndexOutOfBounds(uint256 elements, uint256 index) public {
        elements = bound(elements, 0, 64);
        index = bound(index, elements, type(uint256).max);
        bytes memory tensor = new bytes(elements * 8);
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorIndexOutOfBounds.selector, index, elements));
        codec.valueAt(tensor, index);
    }

    function testFuzz_RevertWhen_TensorLengthInvalid(uint256 length) public {
        length = bound(length, 1, 1_024);
        if (length % 8 == 0) length -= 1; // a deterministic remap, not a discarded run
        bytes memory tensor = new bytes(length);
        vm.expectRevert(abi.encodeWithSelector(TensorCodec.TensorLengthInvalid.selector, length));
        codec.size(tensor);
    }
}

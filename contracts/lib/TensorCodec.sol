// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title TensorCodec
/// @notice The canonical tensor encoding shared by the hub, the node and consumers: the tensor's elements in
///         row-major (C) order, each a signed 64-bit integer in big-endian two's complement, 8 bytes per element,
///         with no header (the shape lives in the model registry). A real value x travels as round-half-even(x * scale)
///         where `scale` is the model's fixed-point multiplier. Python twin: `verinfer.inference.codec`.
library TensorCodec {
    /// @notice Bytes per element.
    uint256 internal constant ELEMENT_BYTES = 8;

    /// @notice The byte length is not a multiple of 8.
    error TensorLengthInvalid(uint256 length);
    /// @notice Element `index` does not exist in a tensor of `size` elements.
    error TensorIndexOutOfBounds(uint256 index, uint256 size);
    /// @notice A value does not fit a signed 64-bit element.
    error TensorValueOutOfRange(int256 value);

    /// @notice Number of elements in an encoded tensor.
    function size(bytes memory tensor) internal pure returns (uint256) {
        if (tensor.length % ELEMENT_BYTES != 0) revert TensorLengthInvalid(tensor.length);
        return tensor.length / ELEMENT_BYTES;
    }

    /// @notice Element `index` of an encoded tensor.
    function valueAt(bytes memory tensor, uint256 index) internal pure returns (int64 value) {
        uint256 n = size(tensor);
        if (index >= n) revert TensorIndexOutOfBounds(index, n);
        assembly ("memory-safe") {
            // The 8 bytes of element `index` are the top bytes of the word loaded at their offset; `sar` keeps the sign.
            value := sar(192, mload(add(add(tensor, 0x20), mul(index, 8))))
        }
    }

    /// @notice Decodes every element.
    function decode(bytes memory tensor) internal pure returns (int64[] memory values) {
        uint256 n = size(tensor);
        values = new int64[](n);
        for (uint256 i; i < n; ++i) {
            int64 v;
            assembly ("memory-safe") {
                v := sar(192, mload(add(add(tensor, 0x20), mul(i, 8))))
            }
            values[i] = v;
        }
    }

    /// @notice Encodes `values` (each must fit int64).
    function encode(int256[] memory values) internal pure returns (bytes memory tensor) {
        tensor = new bytes(values.length * ELEMENT_BYTES);
        for (uint256 i; i < values.length; ++i) {
            int256 v = values[i];
            if (v < type(int64).min || v > type(int64).max) revert TensorValueOutOfRange(v);
            _store(tensor, i, v);
        }
    }

    /// @notice Encodes `values`.
    function encode(int64[] memory values) internal pure returns (bytes memory tensor) {
        tensor = new bytes(values.length * ELEMENT_BYTES);
        for (uint256 i; i < values.length; ++i) {
            _store(tensor, i, values[i]);
        }
    }

    /// @dev Writes the low 8 bytes of `v` (two's complement) at element `i` without touching its neighbours.
    function _store(bytes memory tensor, uint256 i, int256 v) private pure {
        assembly ("memory-safe") {
            let ptr := add(add(tensor, 0x20), mul(i, 8))
            let keep := and(mload(ptr), 0x0000000000000000ffffffffffffffffffffffffffffffffffffffffffffffff)
            mstore(ptr, or(keep, shl(192, and(v, 0xffffffffffffffff))))
        }
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TensorCodec} from "./TensorCodec.sol";

/// @title ZkInstances
/// @notice Maps canonical tensors (see {TensorCodec}) to the public instances of an EZKL proof: the BN254 scalar-field
///         elements the verifier checks. EZKL lays out the instances as the flattened input, then the flattened output;
///         a signed fixed-point integer v is the field element v when v >= 0 and p - |v| when v < 0.
///         A model served in Mode.ZK is registered with `scale` = 2^k where k is the circuit's input and output scale
///         (`verinfer.zk` fixes both to k), so the canonical int64 values *are* the circuit's integers and no rescaling
///         happens on chain. Python twin: `verinfer.zk.instances`.
library ZkInstances {
    /// @notice The BN254 scalar field modulus p.
    uint256 internal constant FIELD_MODULUS =
        21_888_242_871_839_275_222_246_405_745_257_275_088_548_364_400_416_034_343_698_204_186_575_808_495_617;

    /// @notice The instances of a proof that `output` is the model's output on `input` (both canonical tensors).
    function fromTensors(bytes calldata input, bytes calldata output)
        internal
        pure
        returns (uint256[] memory instances)
    {
        if (input.length % TensorCodec.ELEMENT_BYTES != 0) {
            revert TensorCodec.TensorLengthInvalid(input.length);
        }
        if (output.length % TensorCodec.ELEMENT_BYTES != 0) revert TensorCodec.TensorLengthInvalid(output.length);
        uint256 nIn = input.length / TensorCodec.ELEMENT_BYTES;
        uint256 n = nIn + output.length / TensorCodec.ELEMENT_BYTES;
        instances = new uint256[](n);
        assembly ("memory-safe") {
            let dst := add(instances, 0x20)
            let src := input.offset
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                if eq(i, nIn) { src := output.offset }
                // The 8 bytes of the element are the top bytes of the word at `src`; `sar` sign-extends them to
                // int256. A negative v reads as 2^256 - |v|; adding p wraps it to p - |v| (mod 2^256 by design).
                let v := sar(192, calldataload(src))
                mstore(dst, add(v, mul(slt(v, 0), FIELD_MODULUS)))
                src := add(src, 8)
                dst := add(dst, 0x20)
            }
        }
    }

    /// @notice The field element of one signed fixed-point value.
    function toField(int64 value) internal pure returns (uint256) {
        // A negative int64 has |value| <= 2^63 < p, so p - |value| is in the field.
        return value < 0 ? FIELD_MODULUS - uint256(-int256(value)) : uint256(int256(value));
    }
}

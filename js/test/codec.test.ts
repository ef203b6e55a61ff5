import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CodecError,
  decodeInts,
  decodeTensor,
  encodeInts,
  encodeTensor,
  encodedSize,
  quantize,
  roundHalfEven,
  valueAt,
} from "../src/index.js";

test("encode decode round trip", () => {
  const scale = 1_000_000n;
  const values = [[0.125, -2.5, 3.000001, -0.000001, 0, 1e6, -123.456789]];
  const encoded = encodeTensor(values, { scale });
  assert.equal((encoded.length - 2) / 2, encodedSize([1, 7]));
  // Big-endian two's complement, 8 bytes per element, no header (abi.encodePacked of int64s).
  assert.equal(encoded.slice(0, 18), "0x000000000001e848");
  assert.equal(encoded.slice(18, 34), "ffffffffffd9da60");
  assert.deepEqual(Array.from(decodeInts(encoded, { shape: [1, 7] })), [
    125000n,
    -2500000n,
    3000001n,
    -1n,
    0n,
    1000000000000n,
    -123456789n,
  ]);
  assert.deepEqual(Array.from(decodeTensor(encoded, { shape: [1, 7], scale })), values[0]);
  assert.equal(valueAt(encoded, 1), -2500000n);
  // Integers travel exactly, at any size int64 holds.
  const ints = [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n];
  assert.deepEqual(Array.from(decodeInts(encodeInts(ints))), ints);
  assert.deepEqual(quantize([2n ** 53n + 1n], { scale: 3n }), [3n * (2n ** 53n + 1n)]);
  // Typed arrays encode like arrays.
  assert.equal(encodeTensor(Float32Array.from([0.5, -0.25]), { scale: 4 }), encodeTensor([0.5, -0.25], { scale: 4 }));
});

test("rounding is half to even, as numpy's rint", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 2 ** 52 + 1].map(roundHalfEven), [
    0,
    2,
    2,
    -0,
    -2,
    -2,
    0,
    2 ** 52 + 1,
  ]);
  assert.deepEqual(quantize([0.0000025, 0.0000035, -0.0000025], { scale: 1_000_000n }), [2n, 4n, -2n]);
});

test("the codec refuses what the Python codec refuses", () => {
  assert.throws(() => encodeTensor([Number.NaN], { scale: 1 }), CodecError);
  assert.throws(() => encodeTensor([2 ** 63], { scale: 1 }), /does not fit int64/);
  assert.throws(() => encodeTensor([1], { scale: 0 }), /scale must be an integer/);
  assert.throws(() => encodeTensor([1], { scale: 2n ** 64n }), /scale must be an integer/);
  assert.throws(() => encodeInts([2n ** 63n]), /does not fit int64/);
  assert.throws(() => encodeInts([0.5]), /takes integers/);
  assert.throws(() => decodeInts("0x0001"), /not a multiple of 8 bytes/);
  assert.throws(() => decodeInts("0x0000000000000001", { shape: [2] }), /takes 16 bytes, got 8/);
  assert.throws(() => valueAt("0x0000000000000001", 1), /element 1 does not exist in a tensor of 1 elements/);
});

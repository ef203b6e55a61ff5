/** The canonical tensor codec, twin of contracts/lib/TensorCodec.sol and `verinfer.inference.codec`.
 *
 *  A tensor travels as its elements in row-major (C) order, each a signed 64-bit big-endian two's-complement integer,
 *  8 bytes per element, with no header (the shape lives in the model registry): the same bytes as Solidity's
 *  `abi.encodePacked(int64(a), int64(b), …)`, not `abi.encode(int64[])`. A real value x travels as
 *  round-half-even(x * scale), computed in IEEE float64, where `scale` is the model's fixed-point multiplier; a
 *  bigint travels exactly as x * scale.
 *
 *  The element type is a parameter (`dtype`, only "int64" today) so that more wire types can be added without a new
 *  API: each one is an entry of `ELEMENT_CODECS`.
 */
import { bytesToHex, hexToBytes, isHex, type Hex } from "viem";
import { CodecError } from "./errors.js";

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
/** The registry stores the scale as uint64. */
export const SCALE_MAX = 2n ** 64n - 1n;

/** How one wire element type is laid out. */
export interface ElementCodec {
  readonly bytes: number;
  readonly min: bigint;
  readonly max: bigint;
  read(view: DataView, offset: number): bigint;
  write(view: DataView, offset: number, value: bigint): void;
}

export const ELEMENT_CODECS = {
  int64: {
    bytes: 8,
    min: INT64_MIN,
    max: INT64_MAX,
    read: (view, offset) => view.getBigInt64(offset, false),
    write: (view, offset, value) => view.setBigInt64(offset, value, false),
  },
} as const satisfies Record<string, ElementCodec>;

/** A wire element type. */
export type Dtype = keyof typeof ELEMENT_CODECS;

/** Bytes per element of the default (and today only) wire type. */
export const ELEMENT_BYTES = ELEMENT_CODECS.int64.bytes;

/** A tensor's values: a flat or nested array (row-major), or a typed array. */
export type TensorValues =
  | number
  | bigint
  | readonly TensorValues[]
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export interface EncodeOptions {
  /** The model's fixed-point multiplier (`ModelSpec.scale`), 1 .. 2^64 - 1. */
  scale: bigint | number;
  /** The wire element type; "int64" is the default and the only one so far. */
  dtype?: Dtype;
}

export interface DecodeOptions {
  /** The tensor's shape; the byte length must match it exactly. Omit for a flat tensor of any length. */
  shape?: readonly number[];
  dtype?: Dtype;
}

function codecOf(dtype: Dtype | undefined): ElementCodec {
  const codec = ELEMENT_CODECS[dtype ?? "int64"];
  if (!codec)
    throw new CodecError(`unknown wire dtype ${String(dtype)}; known: ${Object.keys(ELEMENT_CODECS).join(", ")}`);
  return codec;
}

/** `scale` as a bigint in [1, 2^64 - 1]. */
export function checkScale(scale: bigint | number): bigint {
  let value: bigint;
  if (typeof scale === "bigint") value = scale;
  else if (Number.isSafeInteger(scale)) value = BigInt(scale);
  else throw new CodecError(`scale must be an integer in [1, 2**64 - 1], got ${scale}`);
  if (value < 1n || value > SCALE_MAX) throw new CodecError(`scale must be an integer in [1, 2**64 - 1], got ${value}`);
  return value;
}

function checkShape(shape: readonly number[]): readonly number[] {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0)
      throw new CodecError(`shape [${shape.join(", ")}] has an invalid dimension ${d}`);
  }
  return shape;
}

/** Number of elements in a tensor of `shape`. */
export function elementCount(shape: readonly number[]): number {
  return checkShape(shape).reduce((n, d) => n * d, 1);
}

/** Bytes of the canonical encoding of a tensor of `shape`. */
export function encodedSize(shape: readonly number[], dtype?: Dtype): number {
  return elementCount(shape) * codecOf(dtype).bytes;
}

/** The elements of `values` in row-major order. Elements of integer typed arrays come out as bigints (they scale
 *  exactly, as numpy's integer arrays do in the Python codec); floats and plain numbers stay numbers. */
export function flatten(values: TensorValues): (number | bigint)[] {
  const out: (number | bigint)[] = [];
  const walk = (v: TensorValues): void => {
    if (typeof v === "number" || typeof v === "bigint") out.push(v);
    else if (v instanceof Float32Array || v instanceof Float64Array) for (const x of v) out.push(x);
    else if (v instanceof BigInt64Array || v instanceof BigUint64Array) for (const x of v) out.push(x);
    else if (ArrayBuffer.isView(v)) for (const x of v as Iterable<number>) out.push(BigInt(x));
    else if (Array.isArray(v)) for (const x of v) walk(x);
    else throw new CodecError(`a tensor holds numbers or bigints, got ${typeof v}`);
  };
  walk(values);
  return out;
}

/** round-half-even for a float64, as numpy's `rint`: ties go to the even neighbour. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 2 ** 52) return x; // from 2^52 on every float64 is an integer
  const r = Math.round(x); // ties toward +infinity
  // r - x is exact here (|x| < 2^52); a tie rounded up to an odd integer goes down to the even one.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** round-half-even(x * scale) for every element, as fixed-point integers (the `quantize` of the Python codec). A
 *  number is scaled in float64; a bigint is scaled exactly. Throws `CodecError` for a value that is not finite after
 *  scaling or does not fit the wire type. */
export function quantize(values: TensorValues, options: EncodeOptions): bigint[] {
  const scale = checkScale(options.scale);
  const codec = codecOf(options.dtype);
  const scaleFloat = Number(scale); // float(scale): correctly rounded, as Python's
  const limit = Number(codec.max) + 1; // 2^63 is exact in float64, the first value that does not fit
  return flatten(values).map((value, index) => {
    if (typeof value === "bigint") {
      const scaled = value * scale;
      if (scaled < codec.min || scaled > codec.max) {
        throw new CodecError(
          `element ${index} = ${value} times scale ${scale} does not fit ${options.dtype ?? "int64"}`,
        );
      }
      return scaled;
    }
    if (typeof value !== "number") throw new CodecError(`element ${index} is a ${typeof value}, not a number`);
    const scaled = value * scaleFloat;
    if (!Number.isFinite(scaled)) throw new CodecError(`element ${index} is not finite after scaling: ${scaled}`);
    const rounded = roundHalfEven(scaled);
    if (rounded < Number(codec.min) || rounded >= limit) {
      throw new CodecError(`element ${index} = ${value} times scale ${scale} does not fit ${options.dtype ?? "int64"}`);
    }
    return BigInt(rounded);
  });
}

/** The canonical bytes of already fixed-point integers (row-major). */
export function encodeIntsToBytes(values: TensorValues, dtype?: Dtype): Uint8Array {
  const codec = codecOf(dtype);
  const flat = flatten(values);
  const out = new Uint8Array(flat.length * codec.bytes);
  const view = new DataView(out.buffer);
  flat.forEach((value, index) => {
    let v: bigint;
    if (typeof value === "bigint") v = value;
    else if (Number.isSafeInteger(value)) v = BigInt(value);
    else throw new CodecError(`encodeInts takes integers, got element ${index} = ${value}: use encodeTensor for reals`);
    if (v < codec.min || v > codec.max)
      throw new CodecError(`element ${index} = ${v} does not fit ${dtype ?? "int64"}`);
    codec.write(view, index * codec.bytes, v);
  });
  return out;
}

/** The canonical bytes (hex) of already fixed-point integers. */
export function encodeInts(values: TensorValues, dtype?: Dtype): Hex {
  return bytesToHex(encodeIntsToBytes(values, dtype));
}

/** The canonical bytes of a real-valued tensor, as raw bytes. */
export function encodeTensorToBytes(values: TensorValues, options: EncodeOptions): Uint8Array {
  return encodeIntsToBytes(quantize(values, options), options.dtype);
}

/** The canonical bytes (hex, ready for `requestInference`) of a real-valued tensor at the model's scale. */
export function encodeTensor(values: TensorValues, options: EncodeOptions): Hex {
  return bytesToHex(encodeTensorToBytes(values, options));
}

/** The bytes behind hex (0x, an even number of digits) or a byte array; `CodecError` for anything else. */
export function bytesOf(data: Hex | Uint8Array): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (!isHex(data, { strict: true }) || data.length % 2 !== 0)
    throw new CodecError(`not hex bytes: ${String(data).slice(0, 40)}`);
  return hexToBytes(data);
}

/** The fixed-point elements of canonical bytes, flat (row-major); with `shape`, the length must match it. */
export function decodeInts(data: Hex | Uint8Array, options: DecodeOptions = {}): BigInt64Array {
  const bytes = bytesOf(data);
  const codec = codecOf(options.dtype);
  if (bytes.length % codec.bytes !== 0) {
    throw new CodecError(`tensor length ${bytes.length} is not a multiple of ${codec.bytes} bytes`);
  }
  if (options.shape) {
    const expected = encodedSize(options.shape, options.dtype);
    if (bytes.length !== expected) {
      throw new CodecError(
        `tensor of shape [${options.shape.join(", ")}] takes ${expected} bytes, got ${bytes.length}`,
      );
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new BigInt64Array(bytes.length / codec.bytes);
  for (let i = 0; i < out.length; i++) out[i] = codec.read(view, i * codec.bytes);
  return out;
}

/** The real values behind canonical bytes (element / scale, in float64), flat in row-major order. */
export function decodeTensor(
  data: Hex | Uint8Array,
  options: DecodeOptions & { scale: bigint | number },
): Float64Array {
  const scale = Number(checkScale(options.scale));
  const ints = decodeInts(data, options);
  const out = new Float64Array(ints.length);
  // Number(bigint) rounds to nearest, ties to even, as numpy's int64 -> float64 cast.
  for (let i = 0; i < ints.length; i++) out[i] = Number(ints[i]) / scale;
  return out;
}

/** Element `index` (row-major) of canonical bytes, as `TensorCodec.valueAt` reads it. */
export function valueAt(data: Hex | Uint8Array, index: number, dtype?: Dtype): bigint {
  const bytes = bytesOf(data);
  const codec = codecOf(dtype);
  if (bytes.length % codec.bytes !== 0) {
    throw new CodecError(`tensor length ${bytes.length} is not a multiple of ${codec.bytes} bytes`);
  }
  const size = bytes.length / codec.bytes;
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new CodecError(`element ${index} does not exist in a tensor of ${size} elements`);
  }
  return codec.read(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), index * codec.bytes);
}

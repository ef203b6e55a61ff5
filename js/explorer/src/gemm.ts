/** An exact browser path for Gemm/Relu graphs: the graph read from the ONNX file (a minimal protobuf reader for the
 *  fields these graphs use) and run in JavaScript with native onnxruntime's arithmetic emulated. MLAS's CPU sgemm
 *  accumulates each output from zero with fused multiply-adds, in order along K, then adds the bias; WASM has no
 *  fused multiply-add. In float64 a product of two float32 values is exact (24 + 24 bits), so
 *  fround(a * b + acc) is a fused multiply-add up to a double rounding, which differs only when the float64 sum
 *  falls exactly on a float32 tie. bench/explorer_wasm.py measured this order against native: 1,000 rows of 1,000
 *  equal on the demo regressor. Graphs with any other operator (Softmax's exponential is MLAS's own polynomial)
 *  get no emulation: `parseGemmGraph` returns null. */

/** One Gemm (Y = alpha·A'·B' + beta·C) or Relu, with its weights. */
type Op =
  | { op: "Gemm"; input: string; output: string; b: Float32Array; k: number; n: number; c: Float32Array | null }
  | { op: "Relu"; input: string; output: string };

export interface GemmGraph {
  input: string;
  output: string;
  ops: Op[];
}

/** K beyond this is split into blocks by MLAS, which changes the accumulation order: no emulation then. */
const MAX_K = 128;

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}
  varint(): bigint {
    let result = 0n,
      shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new Error("truncated varint");
      const byte = this.buf[this.pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
      shift += 7n;
    }
  }
  /** The fields of one message: (field number, wire type, value or sub-reader). */
  *fields(): Generator<{ field: number; wire: number; value: bigint; bytes: Uint8Array }> {
    while (this.pos < this.end) {
      const key = Number(this.varint());
      const field = key >> 3,
        wire = key & 7;
      if (wire === 0) yield { field, wire, value: this.varint(), bytes: new Uint8Array() };
      else if (wire === 2) {
        const length = Number(this.varint());
        const bytes = this.buf.subarray(this.pos, this.pos + length);
        this.pos += length;
        yield { field, wire, value: 0n, bytes };
      } else if (wire === 5) {
        const bytes = this.buf.subarray(this.pos, this.pos + 4);
        this.pos += 4;
        yield { field, wire, value: 0n, bytes };
      } else if (wire === 1) {
        const bytes = this.buf.subarray(this.pos, this.pos + 8);
        this.pos += 8;
        yield { field, wire, value: 0n, bytes };
      } else throw new Error(`unsupported protobuf wire type ${wire}`);
    }
  }
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const f32le = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);

function packedVarints(bytes: Uint8Array): bigint[] {
  const r = new Reader(bytes);
  const out: bigint[] = [];
  while (r.pos < r.end) out.push(r.varint());
  return out;
}

interface Tensor {
  dims: number[];
  data: Float32Array;
}

function readTensor(bytes: Uint8Array): [string, Tensor] {
  let name = "",
    type = 0;
  const dims: number[] = [];
  let raw: Uint8Array | null = null;
  const floats: number[] = [];
  for (const f of new Reader(bytes).fields()) {
    if (f.field === 1) {
      if (f.wire === 2) dims.push(...packedVarints(f.bytes).map(Number));
      else dims.push(Number(f.value));
    } else if (f.field === 2) type = Number(f.value);
    else if (f.field === 4) {
      if (f.wire === 2) for (let i = 0; i + 4 <= f.bytes.length; i += 4) floats.push(f32le(f.bytes.subarray(i)));
      else floats.push(f32le(f.bytes));
    } else if (f.field === 8) name = text(f.bytes);
    else if (f.field === 9) raw = f.bytes;
  }
  if (type !== 1) throw new Error(`initializer ${name} is not float32`);
  const data = raw
    ? new Float32Array(raw.slice().buffer, 0, raw.length / 4) // little-endian, as ONNX stores raw_data
    : Float32Array.from(floats);
  return [name, { dims, data }];
}

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, number>;
}

function readNode(bytes: Uint8Array): Node {
  const node: Node = { op: "", inputs: [], outputs: [], attrs: new Map() };
  for (const f of new Reader(bytes).fields()) {
    if (f.field === 1) node.inputs.push(text(f.bytes));
    else if (f.field === 2) node.outputs.push(text(f.bytes));
    else if (f.field === 4) node.op = text(f.bytes);
    else if (f.field === 5) {
      let name = "",
        value = NaN;
      for (const a of new Reader(f.bytes).fields()) {
        if (a.field === 1) name = text(a.bytes);
        else if (a.field === 2) value = f32le(a.bytes);
        else if (a.field === 3) value = Number(BigInt.asIntN(64, a.value));
      }
      node.attrs.set(name, value);
    }
  }
  return node;
}

function valueName(bytes: Uint8Array): string {
  for (const f of new Reader(bytes).fields()) if (f.field === 1) return text(f.bytes);
  return "";
}

/** The model as a chain of Gemm (alpha = beta = 1, no transposed A, constant B and C) and Relu nodes on one
 *  [1, K] input, or null when it is anything else. */
export function parseGemmGraph(model: Uint8Array): GemmGraph | null {
  try {
    let graphBytes: Uint8Array | null = null;
    for (const f of new Reader(model).fields()) if (f.field === 7) graphBytes = f.bytes;
    if (!graphBytes) return null;
    const nodes: Node[] = [];
    const inits = new Map<string, Tensor>();
    const inputs: string[] = [];
    const outputs: string[] = [];
    for (const f of new Reader(graphBytes).fields()) {
      if (f.field === 1) nodes.push(readNode(f.bytes));
      else if (f.field === 5) {
        const [name, tensor] = readTensor(f.bytes);
        inits.set(name, tensor);
      } else if (f.field === 11) inputs.push(valueName(f.bytes));
      else if (f.field === 12) outputs.push(valueName(f.bytes));
    }
    const input = inputs.find((i) => !inits.has(i));
    if (!input || outputs.length !== 1) return null;
    const ops: Op[] = [];
    let current = input;
    for (const node of nodes) {
      if (node.inputs[0] !== current || node.outputs.length !== 1) return null;
      const output = node.outputs[0] as string;
      if (node.op === "Relu") ops.push({ op: "Relu", input: current, output });
      else if (node.op === "Gemm") {
        const a = node.attrs;
        if ((a.get("alpha") ?? 1) !== 1 || (a.get("beta") ?? 1) !== 1 || (a.get("transA") ?? 0) !== 0) return null;
        const weights = inits.get(node.inputs[1] ?? "");
        if (!weights || weights.dims.length !== 2) return null;
        const transB = (a.get("transB") ?? 0) !== 0;
        const [d0, d1] = weights.dims as [number, number];
        const k = transB ? d1 : d0,
          n = transB ? d0 : d1;
        if (k > MAX_K) return null;
        // B as [k][n], row-major
        const b = new Float32Array(k * n);
        for (let i = 0; i < k; i++)
          for (let j = 0; j < n; j++) b[i * n + j] = weights.data[transB ? j * k + i : i * n + j] as number;
        const bias = node.inputs[2] ? inits.get(node.inputs[2]) : undefined;
        if (node.inputs[2] && !bias) return null;
        let c: Float32Array | null = null;
        if (bias) {
          if (bias.data.length !== n && bias.data.length !== 1) return null;
          c = bias.data.length === n ? bias.data : new Float32Array(n).fill(bias.data[0] as number);
        }
        ops.push({ op: "Gemm", input: current, output, b, k, n, c });
      } else return null;
      current = output;
    }
    return current === outputs[0] ? { input, output: current, ops } : null;
  } catch {
    return null;
  }
}

/** The graph on one float32 row, with MLAS's order: per output, acc = fma(x_k, b_kj, acc) from zero along K, then
 *  + bias; Relu = max(0, x). */
export function runEmulated(graph: GemmGraph, row: Float32Array): Float32Array {
  let x = row;
  for (const op of graph.ops) {
    if (op.op === "Relu") {
      x = x.map((v) => (v > 0 ? v : 0));
      continue;
    }
    if (x.length !== op.k) throw new Error(`Gemm expects ${op.k} values, got ${x.length}`);
    const y = new Float32Array(op.n);
    for (let j = 0; j < op.n; j++) {
      let acc = 0;
      for (let i = 0; i < op.k; i++) acc = Math.fround((x[i] as number) * (op.b[i * op.n + j] as number) + acc);
      y[j] = op.c ? Math.fround(acc + (op.c[j] as number)) : acc;
    }
    x = y;
  }
  return x;
}

/** Verification by re-execution, without a runtime of its own: everything of `verifyResult` except running the
 *  model, so that any ONNX runtime (onnxruntime-node in `@verinfer/sdk/node`, onnxruntime-web in a browser) plugs in
 *  as a `ModelExecutor`. It reads the chain through the context's public client alone: the request and result
 *  events, the stored commitment, the hub's `verifyResult`, and for ZK the proof in the delivering transaction and
 *  the model's verifier. Also the canonical tensor path a node runs (input bytes -> float32 feeds; output values ->
 *  bytes, each port at its scale from the entry's card) and a comparison of two canonical outputs that says by how
 *  much they differ. */
import { keccak256, type Address, type Hex } from "viem";
import { inferenceHubAbi } from "./abi/InferenceHub.js";
import { commitmentOf, waitForResult, type InferenceResult, type VerinferContext } from "./actions.js";
import { decodeInts, decodeTensor, encodeTensor, type TensorValues } from "./codec.js";
import { committedOutputs, isFloatPort, parseModelCard, type PortCard } from "./card.js";
import { consensusCommitment, resultCommitment, storedForm } from "./commitments.js";
import { CodecError, VerinferError } from "./errors.js";
import { readZkSubmission, verifyProofOnChain } from "./zk.js";
import { Mode, type ModelSpec } from "./types.js";

/** One compared field: what re-execution says it should be, what the chain (or the file) holds, whether they agree. */
export interface Check {
  field:
    | "model hash"
    | "output bytes"
    | "output hash"
    | "commitment"
    | "on-chain verifyResult"
    | "proof in the result transaction"
    | "proof input"
    | "proof output"
    | "proof (on-chain verifier)";
  expected: Hex | boolean | string;
  actual: Hex | boolean | string;
  ok: boolean;
}

export interface VerificationReport {
  requestId: bigint;
  checks: readonly Check[];
  /** Every check agrees. */
  matches: boolean;
  /** The fields that disagree. */
  failed: readonly Check["field"][];
  result: InferenceResult;
  /** The recomputed canonical output. */
  output: Hex;
}

/** Runs a model file on canonical input bytes and returns the canonical output bytes, as a node computes them. */
export type ModelExecutor = (model: Uint8Array, input: Hex, spec: ModelSpec) => Promise<Hex>;

export function check(field: Check["field"], expected: Check["expected"], actual: Check["actual"]): Check {
  const same =
    typeof expected === "string" && typeof actual === "string"
      ? expected.toLowerCase() === actual.toLowerCase()
      : expected === actual;
  return { field, expected, actual, ok: same };
}

/** Checks request `requestId` (which must be FULFILLED) against `model`'s bytes: re-executed with `execute`, or for a
 *  ZK result through its proof (read from the delivering transaction, checked by the model's verifier on chain),
 *  besides the model hash and the commitment. `result` skips reading it again when the caller already has it. */
export async function verifyWith(
  ctx: VerinferContext,
  requestId: bigint,
  model: Uint8Array,
  execute: ModelExecutor,
  options: { fromBlock?: bigint; result?: InferenceResult } = {},
): Promise<VerificationReport> {
  const result =
    options.result ??
    (await waitForResult(ctx, requestId, {
      timeoutMs: 0,
      ...(options.fromBlock === undefined ? {} : { fromBlock: options.fromBlock }),
    }));
  if (result.mode === Mode.ZK) return verifyZk(ctx, result, keccak256(model));
  return compare(ctx, result, keccak256(model), await execute(model, result.request.input, result.spec));
}

/** A ZK result: the model hash, the commitment and the proof (the output is the circuit's fixed-point result,
 *  bound by the proof, so it is not compared with itself: "proof output" ties the recorded output to the proof). */
export async function verifyZk(
  ctx: VerinferContext,
  result: InferenceResult,
  fileHash: Hex,
): Promise<VerificationReport> {
  const report = await compare(ctx, result, fileHash, result.outputBytes);
  const kept = report.checks.filter((c) => c.field !== "output bytes" && c.field !== "output hash");
  const checks = [...kept, ...(await zkChecks(ctx, result))];
  return {
    ...report,
    checks,
    matches: checks.every((c) => c.ok),
    failed: checks.filter((c) => !c.ok).map((c) => c.field),
  };
}

/** A ZK result's proof, read back from the delivering transaction: for this request's input and output, and
 *  accepted by the model's verifier. */
export async function zkChecks(ctx: VerinferContext, result: InferenceResult): Promise<Check[]> {
  const submission = await readZkSubmission(ctx, result);
  if (typeof submission === "string")
    return [check("proof in the result transaction", "a submitZkResult call", submission)];
  const { verifier, input, output, proof } = submission;
  return [
    check("proof input", result.request.input, input),
    check("proof output", result.outputBytes, output),
    check("proof (on-chain verifier)", true, await verifyProofOnChain(ctx, verifier, input, output, proof)),
  ];
}

/** The report for a recomputed `output` of a model file hashing to `fileHash`. */
export async function compare(
  ctx: VerinferContext,
  result: InferenceResult,
  fileHash: Hex,
  output: Hex,
): Promise<VerificationReport> {
  const { requestId, modelId } = result;
  const inputHash = keccak256(result.request.input);
  const outputHash = keccak256(output);
  const nodeCommitments = result.nodes.map((node, i) =>
    resultCommitment(requestId, modelId, inputHash, outputHash, envOf(result, i), node),
  );
  const recomputed =
    result.mode === Mode.CONSENSUS
      ? consensusCommitment(requestId, outputHash, nodeCommitments)
      : (nodeCommitments[0] as Hex);
  const stored = await commitmentOf(ctx, requestId);
  const onChain = await Promise.all(
    result.nodes.map((node: Address, i) =>
      ctx.publicClient.readContract({
        address: ctx.deployment.contracts.InferenceHub.address,
        abi: inferenceHubAbi,
        functionName: "verifyResult",
        args: [requestId, modelId, inputHash, outputHash, envOf(result, i), node],
      }),
    ),
  );
  const checks = [
    check("model hash", modelId, fileHash),
    check("output bytes", output, result.outputBytes),
    check("output hash", outputHash, result.outputHash),
    check("commitment", storedForm(recomputed), stored),
    check("on-chain verifyResult", true, onChain.every(Boolean)),
  ];
  return {
    requestId,
    checks,
    matches: checks.every((c) => c.ok),
    failed: checks.filter((c) => !c.ok).map((c) => c.field),
    result,
    output,
  };
}

function envOf(result: InferenceResult, i: number): Hex {
  const env = result.envHashes[i];
  if (env === undefined)
    throw new VerinferError(
      `result of request ${result.requestId} has ${result.nodes.length} nodes but ${result.envHashes.length} environment hashes`,
    );
  return env;
}

/* ---------------------------------------------------------------- the canonical tensor path */

/** How a model of one input tensor and one committed output lays them on the canonical tensors: the entry's shapes,
 *  and each side's scale from the entry's card (a float port's own, else the entry's; 1 for a port that travels
 *  exactly, as integers and bools do). */
export interface TensorLayout {
  inputShape: readonly number[];
  outputShape: readonly number[];
  inputScale: bigint;
  outputScale: bigint;
  /** The card's name of the input, and of the committed output; undefined where the card lists no ports. */
  inputName?: string;
  outputName?: string;
}

/** The layout of `spec`'s single input and single committed output (`TensorLayout`), read from its card;
 *  `CodecError` if the card is not valid, lists several inputs or commits several outputs (the canonical tensors
 *  then concatenate ports, which this path does not split). */
export function tensorLayout(spec: Pick<ModelSpec, "inputShape" | "outputShape" | "scale" | "card">): TensorLayout {
  const card = parseModelCard(spec.card);
  const names = (ports: readonly PortCard[]) => ports.map((p) => JSON.stringify(p.name)).join(", ");
  if (card.inputs && card.inputs.length !== 1) {
    throw new CodecError(
      `the model's card lists ${card.inputs.length} inputs (${names(card.inputs)}): this check re-runs models of one input`,
    );
  }
  const committed = committedOutputs(card);
  if (committed && committed.length !== 1) {
    throw new CodecError(
      `the model's card commits ${committed.length} outputs (${names(committed)}): this check re-runs models that commit one`,
    );
  }
  const [input] = card.inputs ?? [];
  const [output] = committed ?? [];
  // As portScale, by position rather than by name (an input and an output may share one).
  const scaleOf = (port: PortCard | undefined) =>
    port === undefined ? spec.scale : isFloatPort(port) ? (port.scale ?? spec.scale) : 1n;
  return {
    inputShape: spec.inputShape,
    outputShape: spec.outputShape,
    inputScale: scaleOf(input),
    outputScale: scaleOf(output),
    ...(input ? { inputName: input.name } : {}),
    ...(output ? { outputName: output.name } : {}),
  };
}

/** The model's feed for canonical input bytes, as a node builds it: element / the input's scale in float64, rounded
 *  to float32 (round to nearest even, as numpy's astype), widened back for a double input. */
export function canonicalFeed(
  input: Hex | Uint8Array,
  layout: Pick<TensorLayout, "inputShape" | "inputScale">,
  inputType: "float32" | "float64",
): Float32Array | Float64Array {
  const f32 = Float32Array.from(decodeTensor(input, { shape: layout.inputShape, scale: layout.inputScale }));
  return inputType === "float32" ? f32 : Float64Array.from(f32);
}

/** Canonical output bytes for the model's output values, as the Python codec gives them: floats times the output's
 *  scale in float64 with round-half-even; integer and bool typed arrays (what the runtime gives for such outputs)
 *  exactly, unscaled. */
export function canonicalOutput(values: TensorValues, layout: Pick<TensorLayout, "outputScale">): Hex {
  const exact = ArrayBuffer.isView(values) && !(values instanceof Float32Array || values instanceof Float64Array);
  return encodeTensor(values, { scale: exact ? 1n : layout.outputScale });
}

/* ---------------------------------------------------------------- how far apart two outputs are */

/** Float32 arithmetic done in another order, or with and without fused multiply-adds, moves a result by a few units
 *  in its last place. The bound used here: 2^-16 of the value (128 float32 ulps), plus one unit of the canonical
 *  encoding (the two results may round to neighbouring fixed-point values). A larger difference is not explained by
 *  float arithmetic: the output is wrong. */
export const FLOAT32_RELATIVE_TOLERANCE = 2 ** -16;

export interface OutputDifference {
  /** Elements whose canonical integers differ. */
  differing: number;
  elements: number;
  /** The first differing element (row-major), or -1. */
  firstIndex: number;
  /** The largest difference in canonical units (integers of the encoding) and in real value (units / scale). */
  maxUnits: bigint;
  maxReal: number;
  /** The largest difference relative to the element's magnitude (|a - b| / max(|a|, |b|)); 0 when equal. */
  maxRelative: number;
  /** Every element within `FLOAT32_RELATIVE_TOLERANCE` of the value plus one canonical unit. */
  withinTolerance: boolean;
}

/** How `recomputed` and `recorded` (canonical bytes of one model output) differ, element by element. */
export function outputDifference(
  recomputed: Hex,
  recorded: Hex,
  layout: Pick<TensorLayout, "outputScale">,
): OutputDifference {
  const a = decodeInts(recomputed);
  const b = decodeInts(recorded);
  if (a.length !== b.length)
    return {
      differing: Math.max(a.length, b.length),
      elements: Math.max(a.length, b.length),
      firstIndex: 0,
      maxUnits: -1n,
      maxReal: Infinity,
      maxRelative: Infinity,
      withinTolerance: false,
    };
  let differing = 0,
    firstIndex = -1,
    maxUnits = 0n,
    maxRelative = 0,
    within = true;
  const scale = Number(layout.outputScale);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as bigint,
      y = b[i] as bigint;
    if (x === y) continue;
    differing++;
    if (firstIndex < 0) firstIndex = i;
    const units = x > y ? x - y : y - x;
    if (units > maxUnits) maxUnits = units;
    const magnitude = Math.max(Math.abs(Number(x)), Math.abs(Number(y)));
    maxRelative = Math.max(maxRelative, Number(units) / magnitude);
    if (Number(units) > 1 + magnitude * FLOAT32_RELATIVE_TOLERANCE) within = false;
  }
  return {
    differing,
    elements: a.length,
    firstIndex,
    maxUnits,
    maxReal: Number(maxUnits) / scale,
    maxRelative,
    withinTolerance: within,
  };
}

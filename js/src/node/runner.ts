/** Re-execution with onnxruntime-node, with the node's canonical runner settings (CPU provider, one intra-op and one
 *  inter-op thread, sequential execution, "basic" graph optimisation, denormals kept) and the node's exact tensor
 *  path: canonical input -> float64 (element / scale) -> float32 -> model -> output in float64 * scale,
 *  round-half-even -> canonical output. The Python twin is `verinfer.node.compute` with `verinfer.inference.runner`. */
import * as ort from "onnxruntime-node";
import type { Hex } from "viem";
import { elementCount, type TensorValues } from "../codec.js";
import { ModelError } from "../errors.js";
import type { ModelSpec } from "../types.js";
import { canonicalFeed, canonicalOutput, tensorLayout } from "../verify-core.js";

/** The session options a node runs with (its environment manifest names them). */
export const CANONICAL_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ["cpu"],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "basic",
  logSeverityLevel: 3,
  extra: { session: { set_denormal_as_zero: "0", intra_op: { allow_spinning: "0" } } },
};

/** One loaded model. */
export class ModelRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputName: string,
    readonly outputName: string,
    readonly inputType: "float32" | "float64",
  ) {}

  /** Loads an ONNX file's bytes. The model must have one tensor input of float or double and one output. */
  static async load(model: Uint8Array): Promise<ModelRunner> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model, CANONICAL_SESSION_OPTIONS);
    } catch (error) {
      throw new ModelError(`onnxruntime cannot load the model: ${(error as Error).message}`);
    }
    const inputs = session.inputMetadata;
    const outputs = session.outputMetadata;
    const input = inputs[0];
    const output = outputs[0];
    if (inputs.length !== 1 || outputs.length !== 1 || !input || !output) {
      throw new ModelError(
        `the model has ${inputs.length} inputs and ${outputs.length} outputs: nodes serve models with exactly one of each`,
      );
    }
    if (!input.isTensor || (input.type !== "float32" && input.type !== "float64")) {
      const type = input.isTensor ? input.type : "non-tensor";
      throw new ModelError(
        `the model's input ${input.name} takes ${type}: nodes feed float32 values (float or double inputs only)`,
      );
    }
    return new ModelRunner(session, input.name, output.name, input.type);
  }

  /** The canonical output bytes for canonical input bytes, as a node computes them. */
  async run(
    input: Hex | Uint8Array,
    spec: Pick<ModelSpec, "inputShape" | "outputShape" | "scale" | "card">,
  ): Promise<Hex> {
    const layout = tensorLayout(spec); // each side at its own scale (the entry's card), as a node lays it out
    const data = canonicalFeed(input, layout, this.inputType);
    const feeds = { [this.inputName]: new ort.Tensor(this.inputType, data, spec.inputShape.slice()) };
    let results: ort.InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run(feeds);
    } catch (error) {
      throw new ModelError(`onnxruntime failed on the model: ${(error as Error).message}`);
    }
    const out = results[this.outputName] as ort.Tensor | undefined;
    if (!out) throw new ModelError(`the model gave no output ${this.outputName}`);
    const expected = elementCount(spec.outputShape);
    if (out.size !== expected) {
      throw new ModelError(
        `the model produced ${out.size} output values; the registry says [${spec.outputShape.join(", ")}]`,
      );
    }
    const values = out.data;
    // Floats scale in float64 with round-half-even; integer outputs travel exactly (both as the Python codec does).
    if (ArrayBuffer.isView(values)) return canonicalOutput(values as TensorValues, layout);
    throw new ModelError(`the model's output ${this.outputName} is ${out.type}, not a numeric tensor`);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

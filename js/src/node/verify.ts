/** Verification by re-execution, from the chain's data alone: the registered model (fetched from its URI and
 *  hash-checked), the request's input (its `InferenceRequested` event) and the result's events. The model is re-run
 *  with the node's canonical settings (onnxruntime-node), the canonical output and the commitment are recomputed,
 *  and each field is compared with what the chain holds; the report names every field that differs. The
 *  runtime-independent part is `verify-core` (shared with the browser); the Python twin is `verinfer.sdk.verify`. */
import type { Hex } from "viem";
import { waitForResult, type VerinferContext } from "../actions.js";
import { verifyWith, type ModelExecutor, type VerificationReport } from "../verify-core.js";
import { readModelUri, type FetchOptions } from "./model.js";
import { ModelRunner } from "./runner.js";

export { compare, type Check, type VerificationReport } from "../verify-core.js";

export interface VerifyOptions extends FetchOptions {
  /** The model file's bytes, instead of fetching them from the registered URI (their hash is checked, not trusted). */
  model?: Uint8Array;
  /** Where the log scan starts (default: the hub's deployment block). */
  fromBlock?: bigint;
}

/** Runs the model with onnxruntime-node and the node's canonical settings. */
export const runWithOnnxruntimeNode: ModelExecutor = async (model, input, spec): Promise<Hex> => {
  const runner = await ModelRunner.load(model);
  try {
    return await runner.run(input, spec);
  } finally {
    await runner.release();
  }
};

/** Re-executes request `requestId` (which must be FULFILLED) and compares with what the chain recorded. A ZK
 *  result is checked through its proof instead (read from the delivering transaction, checked by the model's
 *  verifier on chain), besides the model hash and the commitment. */
export async function verifyResult(
  ctx: VerinferContext,
  requestId: bigint,
  options: VerifyOptions = {},
): Promise<VerificationReport> {
  const result = await waitForResult(ctx, requestId, {
    timeoutMs: 0,
    ...(options.fromBlock === undefined ? {} : { fromBlock: options.fromBlock }),
  });
  const model = options.model ?? (await readModelUri(result.spec.uri, options));
  return verifyWith(ctx, requestId, model, runWithOnnxruntimeNode, { result });
}

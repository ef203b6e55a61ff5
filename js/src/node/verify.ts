/** Verification by re-execution, from the chain's data alone: the registered model (fetched from its URI and
 *  hash-checked), the request's input (its `InferenceRequested` event) and the result's events. The model is re-run
 *  with the node's canonical settings, the canonical output and the commitment are recomputed, and each field is
 *  compared with what the chain holds; the report names every field that differs. The Python twin is
 *  `verinfer.sdk.verify`. */
import { keccak256, type Address, type Hex } from "viem";
import { inferenceHubAbi } from "../abi/InferenceHub.js";
import { commitmentOf, waitForResult, type InferenceResult, type VerinferContext } from "../actions.js";
import { consensusCommitment, resultCommitment, storedForm } from "../commitments.js";
import { VerinferError } from "../errors.js";
import { readZkSubmission, verifyProofOnChain } from "../zk.js";
import { Mode } from "../types.js";
import { readModelUri, type FetchOptions } from "./model.js";
import { ModelRunner } from "./runner.js";

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

export interface VerifyOptions extends FetchOptions {
  /** The model file's bytes, instead of fetching them from the registered URI (their hash is checked, not trusted). */
  model?: Uint8Array;
  /** Where the log scan starts (default: the hub's deployment block). */
  fromBlock?: bigint;
}

function check(field: Check["field"], expected: Check["expected"], actual: Check["actual"]): Check {
  const same =
    typeof expected === "string" && typeof actual === "string"
      ? expected.toLowerCase() === actual.toLowerCase()
      : expected === actual;
  return { field, expected, actual, ok: same };
}

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
  if (result.mode === Mode.ZK) {
    // The output is the circuit's fixed-point result, bound by the proof: the proof is what is re-checked.
    // (so the output is not compared with itself: "proof output" ties the recorded output to the proof).
    const report = await compare(ctx, result, keccak256(model), result.outputBytes);
    const kept = report.checks.filter((c) => c.field !== "output bytes" && c.field !== "output hash");
    const checks = [...kept, ...(await zkChecks(ctx, result))];
    return {
      ...report,
      checks,
      matches: checks.every((c) => c.ok),
      failed: checks.filter((c) => !c.ok).map((c) => c.field),
    };
  }
  const runner = await ModelRunner.load(model);
  let output: Hex;
  try {
    output = await runner.run(result.request.input, result.spec);
  } finally {
    await runner.release();
  }
  return compare(ctx, result, keccak256(model), output);
}

/** A ZK result's proof, read back from the delivering transaction: for this request's input and output, and
 *  accepted by the model's verifier. */
async function zkChecks(ctx: VerinferContext, result: InferenceResult): Promise<Check[]> {
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

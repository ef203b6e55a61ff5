/** The check a reader runs in their own browser: the chain read through the RPC (viem), the model's bytes hashed
 *  against its id, the model re-run with onnxruntime-web (WASM), the output re-encoded canonically, the commitment
 *  recomputed and compared. Nothing here reads the explorer's API: its only inputs are the RPC URL, the hub's
 *  address, the request id and the model's bytes (which count only once their keccak256 is the model id). */
import * as ort from "onnxruntime-web/wasm";
import { createPublicClient, http, keccak256, type Address, type Hex } from "viem";
import {
  decodeTensor,
  inferenceHubAbi,
  readResult,
  type Deployment,
  type InferenceResult,
  type VerinferContext,
} from "../../src/index.js";
import {
  canonicalFeed,
  canonicalOutput,
  compare,
  outputDifference,
  tensorLayout,
  verifyZk,
  type Check,
  type OutputDifference,
  type TensorLayout,
  type VerificationReport,
} from "../../src/verify-core.js";
import { Mode } from "../../src/types.js";
import { parseGemmGraph, runEmulated } from "./gemm.js";

ort.env.wasm.numThreads = 1; // one thread, as a node runs; a page without cross-origin isolation has no others
ort.env.wasm.wasmPaths = new URL("./", import.meta.url).href; // the WASM next to this bundle: nothing from outside

/** onnxruntime-web's session options closest to the node's canonical ones (CPU, one thread, sequential, "basic"). */
export const WEB_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ["wasm"],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: "sequential",
  graphOptimizationLevel: "basic",
  logSeverityLevel: 3,
};

export type StepState = "ok" | "fail" | "warn" | "info";
export interface Step {
  id: string;
  title: string;
  state: StepState;
  detail: string;
}

export type Verdict =
  | { kind: "checked"; text: string }
  | { kind: "wasm-difference"; text: string; difference: OutputDifference; command: string }
  | { kind: "mismatch"; text: string; field: string }
  | { kind: "error"; text: string };

export interface CheckInput {
  rpcUrl: string;
  hub: Address;
  hubBlock: bigint;
  requestId: bigint;
  /** Where to get the model's bytes for a URI: http(s) URIs are fetched directly, file:// ones through `fileProxy`. */
  fileProxy: (modelId: Hex) => string;
  /** A file the reader opened themselves, used instead of the URI. */
  localModel?: Uint8Array;
  onStep: (step: Step) => void;
}

export interface CheckOutcome {
  verdict: Verdict;
  result?: InferenceResult;
  report?: VerificationReport;
  browserOutput?: Hex;
  labels?: { input: string; output: string };
}

/** The deployment as the chain itself tells it: the hub the reader named, the registries the hub points to. */
async function deploymentFromHub(ctx: Pick<VerinferContext, "publicClient">, hub: Address, block: bigint) {
  const read = (functionName: "modelRegistry" | "nodeRegistry") =>
    ctx.publicClient.readContract({ address: hub, abi: inferenceHubAbi, functionName }) as Promise<Address>;
  const [models, nodes] = await Promise.all([read("modelRegistry"), read("nodeRegistry")]);
  const chainId = await ctx.publicClient.getChainId();
  const zero = `0x${"0".repeat(64)}` as Hex;
  const deployment: Deployment = {
    chainId,
    deployer: hub,
    contracts: {
      InferenceHub: { address: hub, block, txHash: zero },
      ModelRegistry: { address: models, block, txHash: zero },
      NodeRegistry: { address: nodes, block, txHash: zero },
    },
    params: {
      minStake: 0n,
      unbondingDelay: 0,
      hub: {
        maxCallbackGas: 0,
        maxInputBytes: 0,
        revealWindow: 0,
        maxDeadlineHorizon: 0,
        slashBps: 0,
        maxRedundancy: 0,
      },
    },
  };
  return deployment;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) {
    let why = `${response.status} ${response.statusText}`;
    try {
      why += `: ${((await response.json()) as { error?: string }).error ?? ""}`;
    } catch {
      // not JSON: the status says enough
    }
    throw new Error(`GET ${url} answered ${why}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** Runs the model as a node does, with onnxruntime-web, on each canonical input: canonical input -> float32 ->
 *  model -> canonical output, each side at its scale (`layout`, from the entry's card: `tensorLayout`). One session
 *  for all of them. A model of one input and one output only; the card's names, where it lists ports, must be the
 *  session's. */
export async function runRows(
  model: Uint8Array,
  inputs: readonly Hex[],
  layout: Pick<TensorLayout, "inputShape" | "inputScale" | "outputScale" | "inputName" | "outputName">,
): Promise<{ outputs: Hex[]; inputName: string; outputName: string }> {
  const session = await ort.InferenceSession.create(model, WEB_SESSION_OPTIONS);
  try {
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1 || !inputName || !outputName)
      throw new Error(`the model has ${session.inputNames.length} inputs and ${session.outputNames.length} outputs`);
    for (const [side, card, graph] of [
      ["input", layout.inputName, inputName],
      ["committed output", layout.outputName, outputName],
    ] as const) {
      if (card !== undefined && card !== graph)
        throw new Error(
          `the card's ${side} is ${JSON.stringify(card)}, the model's is ${JSON.stringify(graph)}: the card does not describe this file (a node refuses it)`,
        );
    }
    const meta = session.inputMetadata[0];
    const type = meta && meta.isTensor && meta.type === "float64" ? "float64" : "float32";
    if (meta && meta.isTensor && meta.type !== type)
      throw new Error(`input ${JSON.stringify(inputName)} is ${meta.type}: this check feeds float inputs only`);
    const outputs: Hex[] = [];
    for (const input of inputs) {
      const feed = canonicalFeed(input, layout, type);
      const results = await session.run({ [inputName]: new ort.Tensor(type, feed, layout.inputShape.slice()) });
      const out = results[outputName];
      if (!out || !ArrayBuffer.isView(out.data)) throw new Error(`the model gave no numeric output ${outputName}`);
      outputs.push(canonicalOutput(out.data as Float32Array, layout));
    }
    return { outputs, inputName, outputName };
  } finally {
    await session.release();
  }
}

/** One input through `runRows`. */
export async function runInBrowser(
  model: Uint8Array,
  input: Hex,
  layout: TensorLayout,
): Promise<{ output: Hex; inputName: string; outputName: string }> {
  const { outputs, inputName, outputName } = await runRows(model, [input], layout);
  return { output: outputs[0] as Hex, inputName, outputName };
}

/** A scale as people read it: 2^40 rather than 1099511627776. */
function showScale(scale: bigint): string {
  const bits = scale.toString(2);
  return scale > 1024n && /^10*$/.test(bits) ? `2^${bits.length - 1}` : scale.toString();
}

const short = (hex: string) => (hex.length > 22 ? `${hex.slice(0, 12)}…${hex.slice(-8)}` : hex);

function describe(check: Check): string {
  const show = (v: Check["expected"]) => (typeof v === "string" ? short(v) : String(v));
  return check.ok
    ? `${check.field}: ${show(check.actual)}`
    : `${check.field}: expected ${show(check.expected)}, the chain has ${show(check.actual)}`;
}

/** The whole check, step by step (each reported through `onStep` as it completes). */
export async function checkInBrowser(input: CheckInput): Promise<CheckOutcome> {
  const step = (id: string, title: string, state: StepState, detail: string) =>
    input.onStep({ id, title, state, detail });
  const publicClient = createPublicClient({ transport: http(input.rpcUrl) });
  let result: InferenceResult;
  let ctx: VerinferContext;
  try {
    const deployment = await deploymentFromHub({ publicClient }, input.hub, input.hubBlock);
    ctx = { publicClient, deployment };
    result = await readResult(ctx, input.requestId);
  } catch (error) {
    const text = `could not read request ${input.requestId} through ${input.rpcUrl}: ${(error as Error).message}`;
    step("chain", "Read the request and its result from the chain", "fail", text);
    return { verdict: { kind: "error", text } };
  }
  step(
    "chain",
    "Read the request and its result from the chain",
    "ok",
    `through ${input.rpcUrl}: hub ${input.hub}, request in block ${result.request.blockNumber}, result in block ${result.resultBlock} (tx ${short(result.resultTx)}), ${result.nodes.length} node(s)`,
  );

  let model: Uint8Array;
  const uri = result.spec.uri;
  try {
    if (input.localModel) {
      model = input.localModel;
      step("fetch", "Fetch the model", "ok", `the file you opened (${model.length} bytes); registered URI ${uri}`);
    } else if (/^https?:/i.test(uri)) {
      model = await fetchBytes(uri);
      step("fetch", "Fetch the model", "ok", `${model.length} bytes from its registered URI ${uri}`);
    } else {
      model = await fetchBytes(input.fileProxy(result.modelId));
      step(
        "fetch",
        "Fetch the model",
        "ok",
        `${model.length} bytes through the explorer (the registered URI ${uri} is a local file a page cannot read); trusted only if the hash matches`,
      );
    }
  } catch (error) {
    const text = `could not fetch the model: ${(error as Error).message}; open the file with "Use a local model file"`;
    step("fetch", "Fetch the model", "fail", text);
    return { verdict: { kind: "error", text }, result };
  }
  const fileHash = keccak256(model);
  if (fileHash !== result.modelId.toLowerCase()) {
    const text = `the model's bytes hash to ${fileHash}, not the model id ${result.modelId}: these are not the registered model`;
    step("hash", "keccak256(model) = model id", "fail", text);
    return { verdict: { kind: "mismatch", text, field: "model hash" }, result };
  }
  step("hash", "keccak256(model) = model id", "ok", `${fileHash}`);

  if (result.mode === Mode.ZK) {
    const report = await verifyZk(ctx, result, fileHash);
    for (const c of report.checks) step(`zk:${c.field}`, c.field, c.ok ? "ok" : "fail", describe(c));
    if (report.matches)
      return {
        report,
        result,
        verdict: {
          kind: "checked",
          text: "checked in this browser: the proof is for this request's input and the recorded output, and the model's verifier accepts it (an eth_call through your RPC); the commitment recomputes",
        },
      };
    const field = report.failed[0] ?? "proof";
    return { report, result, verdict: { kind: "mismatch", text: `MISMATCH: ${field} differs`, field } };
  }

  let layout: TensorLayout;
  const cardTitle = "Read the model's card: its ports and their scales";
  try {
    layout = tensorLayout(result.spec);
  } catch (error) {
    const text = `this page cannot re-run this model: ${(error as Error).message}; the exact check runs natively: verinfer verify ${result.requestId} --rpc-url ${input.rpcUrl}`;
    step("card", cardTitle, "fail", text);
    return { verdict: { kind: "error", text }, result };
  }
  const side = (name: string | undefined, scale: bigint) =>
    `${name ? `${JSON.stringify(name)} ` : ""}at ${showScale(scale)}`;
  step(
    "card",
    cardTitle,
    "ok",
    `input ${side(layout.inputName, layout.inputScale)}, output ${side(layout.outputName, layout.outputScale)}${layout.inputName || layout.outputName ? "" : " (the entry's scale: its card lists no ports)"}`,
  );

  let run: Awaited<ReturnType<typeof runInBrowser>>;
  try {
    run = await runInBrowser(model, result.request.input, layout);
  } catch (error) {
    const text = `onnxruntime-web could not run the model: ${(error as Error).message}`;
    step("run", "Run the model with onnxruntime-web (WASM)", "fail", text);
    return { verdict: { kind: "error", text }, result };
  }
  step(
    "run",
    "Run the model with onnxruntime-web (WASM)",
    "ok",
    `one thread, sequential, "basic" optimisation; output ${short(run.output)}`,
  );
  const labels = { input: run.inputName, output: run.outputName };

  const report = await compare(ctx, result, fileHash, run.output);
  if (run.output.toLowerCase() === result.outputBytes.toLowerCase()) {
    for (const c of report.checks) step(`cmp:${c.field}`, c.field, c.ok ? "ok" : "fail", describe(c));
    if (report.matches)
      return {
        report,
        result,
        labels,
        browserOutput: run.output,
        verdict: {
          kind: "checked",
          text: "checked in this browser: the canonical output, its hash, the commitment and the hub's verifyResult all agree with what the chain holds",
        },
      };
    const field = report.failed[0] ?? "commitment";
    return {
      report,
      result,
      labels,
      browserOutput: run.output,
      verdict: { kind: "mismatch", text: `MISMATCH: the output agrees but ${field} does not`, field },
    };
  }

  const difference = outputDifference(run.output, result.outputBytes, layout);
  const exact = await emulatedCheck(ctx, result, layout, model, fileHash, difference, step);
  if (exact) return { ...exact, labels, browserOutput: run.output };
  const recorded = await compare(ctx, result, fileHash, result.outputBytes);
  const i = difference.firstIndex;
  // Both at the output's own scale (the result's `output` is at the entry's).
  const valuesOf = (bytes: Hex) => decodeTensor(bytes, { shape: layout.outputShape, scale: layout.outputScale });
  const first = `${labels.output}[${i}]: chain ${valuesOf(result.outputBytes)[i]}, this browser ${valuesOf(run.output)[i]}`;
  const command = `verinfer verify ${result.requestId} --rpc-url ${input.rpcUrl}`;
  const howMuch = `${difference.differing} of ${difference.elements} output value(s) differ, by at most ${difference.maxUnits} unit(s) of the encoding (${difference.maxReal.toPrecision(3)} in value, ${difference.maxRelative.toExponential(2)} relative); first: ${first}`;
  const commitmentOfRecord = recorded.checks.find((c) => c.field === "commitment");
  if (difference.withinTolerance) {
    step("cmp:output bytes", "output bytes", "warn", howMuch);
    step(
      "cmp:record",
      "the chain's own output against its commitment",
      commitmentOfRecord?.ok ? "info" : "fail",
      commitmentOfRecord?.ok
        ? "the recorded output, the node(s) and environment(s) recompute to the stored commitment (this binds the record; it does not show the output right)"
        : "the recorded output does not recompute to the stored commitment",
    );
    return {
      report,
      result,
      labels,
      browserOutput: run.output,
      verdict: {
        kind: "wasm-difference",
        difference,
        command,
        text: `not checked exactly in this browser: ${howMuch}. That is within what float32 arithmetic explains (2^-16 of the value plus one unit: native onnxruntime's CPU kernels use fused multiply-adds and their own exponential, WASM's do not, and this page emulates native arithmetic only for graphs of Gemm and Relu), so it is no sign of a wrong result, but this browser cannot confirm the exact bytes. The exact check runs natively: ${command}`,
      },
    };
  }
  step("cmp:output bytes", "output bytes", "fail", howMuch);
  return {
    report,
    result,
    labels,
    browserOutput: run.output,
    verdict: {
      kind: "mismatch",
      field: "output bytes",
      text: `MISMATCH: the recorded output is not what the model computes. ${howMuch} — beyond anything float arithmetic explains (2^-16 of the value plus one unit). Confirm natively: ${command}`,
    },
  };
}

/** For Gemm/Relu graphs: the model re-run in JavaScript with native onnxruntime's fused multiply-add Gemm emulated
 *  (`gemm.ts`); an exact check when its canonical output is the chain's, else null (and a step saying so). */
async function emulatedCheck(
  ctx: VerinferContext,
  result: InferenceResult,
  layout: TensorLayout,
  model: Uint8Array,
  fileHash: Hex,
  wasm: OutputDifference,
  step: (id: string, title: string, state: StepState, detail: string) => void,
): Promise<Pick<CheckOutcome, "verdict" | "report" | "result"> | null> {
  const graph = parseGemmGraph(model);
  if (!graph) return null;
  const title = "Re-run with native arithmetic emulated (Gemm with fused multiply-adds, in JavaScript)";
  const feed = canonicalFeed(result.request.input, layout, "float32") as Float32Array;
  let output: Hex;
  try {
    output = canonicalOutput(runEmulated(graph, feed), layout);
  } catch (error) {
    step("emulate", title, "warn", `the emulation failed: ${(error as Error).message}`);
    return null;
  }
  const wasmSays = `WASM's output differed from the chain's by ${wasm.maxUnits} unit(s)`;
  if (output.toLowerCase() !== result.outputBytes.toLowerCase()) {
    step("emulate", title, "warn", `${wasmSays}; the emulation gives ${short(output)}, which differs too`);
    return null;
  }
  step("emulate", title, "ok", `${wasmSays}; the emulation of native Gemm gives exactly the chain's bytes`);
  const report = await compare(ctx, result, fileHash, output);
  for (const c of report.checks) step(`cmp:${c.field}`, c.field, c.ok ? "ok" : "fail", describe(c));
  if (!report.matches) {
    const field = report.failed[0] ?? "commitment";
    return {
      report,
      result,
      verdict: { kind: "mismatch", text: `MISMATCH: the output agrees but ${field} does not`, field },
    };
  }
  return {
    report,
    result,
    verdict: {
      kind: "checked",
      text: `checked in this browser, with native onnxruntime's fused multiply-add Gemm emulated in JavaScript (${wasmSays}, as float32 arithmetic without fused multiply-adds does): the canonical output, its hash, the commitment and the hub's verifyResult all agree with what the chain holds`,
    },
  };
}

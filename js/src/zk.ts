/** ZK results: the public instances the hub hands the model's verifier (twin of contracts/lib/ZkInstances.sol and
 *  `verinfer.zk.instances`), and the re-check of a recorded result's proof, read back from the calldata of the
 *  transaction that delivered it. A ZK result is checked through its proof, not by re-execution: its output is the
 *  circuit's fixed-point result, which a float runtime need not reproduce bit for bit. */
import { BaseError, ContractFunctionRevertedError, decodeFunctionData, type Address, type Hex } from "viem";
import { inferenceHubAbi } from "./abi/InferenceHub.js";
import { zkVerifierAbi } from "./abi/IZkVerifier.js";
import type { InferenceResult, VerinferContext } from "./actions.js";
import { decodeInts } from "./codec.js";

/** The BN254 scalar field's modulus: EZKL's instances live in it. */
export const FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

/** A signed value as a field element: negative v -> p - |v|. */
export function toField(value: bigint): bigint {
  return ((value % FIELD_MODULUS) + FIELD_MODULUS) % FIELD_MODULUS;
}

/** The instances for canonical `input` and `output`: every input element, then every output element, as field
 *  elements (`ZkInstances.fromTensors`). */
export function zkInstances(input: Hex | Uint8Array, output: Hex | Uint8Array): bigint[] {
  return [...decodeInts(input), ...decodeInts(output)].map(toField);
}

/** A ZK result's delivery, decoded from the calldata of its transaction. */
export interface ZkSubmission {
  verifier: Address;
  input: Hex;
  output: Hex;
  proof: Hex;
}

/** The `submitZkResult` call that delivered `result`, or a sentence saying why it cannot be read (the result came
 *  through a contract that called the hub, or through another function). */
export async function readZkSubmission(ctx: VerinferContext, result: InferenceResult): Promise<ZkSubmission | string> {
  const tx = await ctx.publicClient.getTransaction({ hash: result.resultTx });
  let call;
  try {
    call = decodeFunctionData({ abi: inferenceHubAbi, data: tx.input });
  } catch {
    return `transaction ${result.resultTx} is not a call of the hub (undecodable calldata)`;
  }
  if (call.functionName !== "submitZkResult")
    return `transaction ${result.resultTx} calls ${call.functionName}, not submitZkResult`;
  const [, , input, output, proof] = call.args;
  const verifier = await ctx.publicClient.readContract({
    address: ctx.deployment.contracts.InferenceHub.address,
    abi: inferenceHubAbi,
    functionName: "verifierOf",
    args: [result.modelId],
  });
  return { verifier, input, output, proof };
}

/** Whether `verifier` accepts `proof` for `output` on `input` (an eth_call; EZKL's verifiers revert on a bad proof,
 *  read here as false). */
export async function verifyProofOnChain(
  ctx: VerinferContext,
  verifier: Address,
  input: Hex,
  output: Hex,
  proof: Hex,
): Promise<boolean> {
  try {
    return await ctx.publicClient.readContract({
      address: verifier,
      abi: zkVerifierAbi,
      functionName: "verifyProof",
      args: [proof, zkInstances(input, output)],
    });
  } catch (error) {
    if (error instanceof BaseError && error.walk((e) => e instanceof ContractFunctionRevertedError)) return false;
    throw error; // not a verdict: the RPC failed
  }
}

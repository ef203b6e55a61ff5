/** Twins of contracts/lib/Commitments.sol (and `verinfer.chain.commitments`): the hashes that bind requests and
 *  results. The hub stores a hash with its lowest byte replaced by the request's status; `storedForm` gives what
 *  `commitmentOf` returns for a hash. */
import { encodeAbiParameters, getAbiItem, keccak256, type AbiParameter, type Address, type Hex } from "viem";
import { inferenceHubAbi } from "./abi/InferenceHub.js";
import type { RequestParams } from "./types.js";

/** The ABI of the `RequestParams` struct, taken from the hub's `reclaimFee(uint256, RequestParams)`. */
export const requestParamsAbi = getAbiItem({ abi: inferenceHubAbi, name: "reclaimFee" }).inputs[1];

/** keccak256(abi.encode(requestId, params)): the hash the hub keeps while a request is open. */
export function requestHash(requestId: bigint, params: RequestParams): Hex {
  return keccak256(encodeAbiParameters([{ type: "uint256" }, requestParamsAbi], [requestId, params]));
}

/** The result commitment: binds the request, the model's weights, the input, the output, the environment the node
 *  ran in, and the node. */
export function resultCommitment(
  requestId: bigint,
  modelId: Hex,
  inputHash: Hex,
  outputHash: Hex,
  envHash: Hex,
  node: Address,
): Hex {
  const types: AbiParameter[] = ["uint256", "bytes32", "bytes32", "bytes32", "bytes32", "address"].map((type) => ({
    type,
  }));
  return keccak256(encodeAbiParameters(types, [requestId, modelId, inputHash, outputHash, envHash, node]));
}

/** A consensus vote's commit hash: keccak256(abi.encode(outputHash, salt, node)). */
export function voteCommitment(outputHash: Hex, salt: Hex, node: Address): Hex {
  return keccak256(
    encodeAbiParameters([{ type: "bytes32" }, { type: "bytes32" }, { type: "address" }], [outputHash, salt, node]),
  );
}

/** The commitment of a consensus result: the agreed output bound to every agreeing node's result commitment, in
 *  commit order. */
export function consensusCommitment(requestId: bigint, outputHash: Hex, nodeCommitments: readonly Hex[]): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "bytes32" }, { type: "bytes32[]" }],
      [requestId, outputHash, nodeCommitments],
    ),
  );
}

/** A result `commitment` as `commitmentOf` returns it: its top 128 bits, the rest zeroed (the hub's result slot keeps
 *  the request parameters' hash prefix, the result's age and the status below them). */
export function storedForm(commitment: Hex): Hex {
  return `${commitment.slice(0, 2 + 32)}${"0".repeat(32)}` as Hex;
}

/** A request's parameter hash as `commitmentOf` returns it while the request is open or refunded: the lowest byte
 *  (where the hub keeps the status) zeroed. */
export function storedParamsForm(paramsHash: Hex): Hex {
  return `${paramsHash.slice(0, -2)}00` as Hex;
}

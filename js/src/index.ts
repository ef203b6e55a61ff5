/** @verinfer/sdk: request verifiable inferences, wait for their results and check their commitments, from any
 *  JavaScript runtime (no ML runtime and no Node built-ins here). Re-execution with onnxruntime-node and reading
 *  the address book from disk are in `@verinfer/sdk/node`. */
export * from "./abi/index.js";
export * from "./actions.js";
export * from "./card.js";
export * from "./codec.js";
export * from "./commitments.js";
export * from "./deployments.js";
export * from "./disputes.js";
export * from "./errors.js";
export * from "./revert.js";
export * from "./text.js";
export * from "./types.js";
export * from "./zk.js";

/** @verinfer/sdk/node: what needs Node.js: the address book read from disk, model files fetched by URI, and
 *  verification by re-execution with onnxruntime-node. */
export * from "./deployments.js";
export * from "./model.js";
export * from "./runner.js";
export * from "./verify.js";

/** @verinfer/sdk/browser: verification by re-execution for any runtime, the browser's above all. Bring the model's
 *  bytes and a `ModelExecutor` (onnxruntime-web, say); the chain is read through the context's public client only.
 *  No ML runtime and no Node built-ins here. */
export * from "../verify-core.js";

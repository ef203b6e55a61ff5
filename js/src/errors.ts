/** The package's errors. One root, `VerinferError`, and a subclass per concern:
 *
 *  VerinferError
 *  ├── CodecError            a tensor cannot be encoded or decoded canonically
 *  ├── DeploymentError       a deployments/<chainId>.json file is missing, unreadable or for another chain
 *  ├── ContractRevertError   a contract reverted; `errorName` and `args` come from the ABIs (`InsufficientFee(paid=1, required=5)`)
 *  ├── ChainError            the chain's data is not what the request needs (a missing log, a reverted transaction)
 *  │   ├── ResultTimeoutError    still pending after the time `waitForResult` was given
 *  │   └── RequestFailedError    ended without a result (NO_CONSENSUS or REFUNDED)
 *  └── ModelError            a model file cannot be fetched or run
 *      └── ModelHashMismatchError  the bytes at a URI are not the model the id names
 */
import type { Hex } from "viem";
import { memberName, type Status } from "./types.js";

export class VerinferError extends Error {
  override name = "VerinferError";
}

export class CodecError extends VerinferError {
  override name = "CodecError";
}

export class DeploymentError extends VerinferError {
  override name = "DeploymentError";
}

export class ChainError extends VerinferError {
  override name = "ChainError";
}

export class ModelError extends VerinferError {
  override name = "ModelError";
}

export class ModelHashMismatchError extends ModelError {
  override name = "ModelHashMismatchError";
  constructor(
    readonly expected: Hex,
    readonly actual: Hex,
    readonly uri: string,
  ) {
    super(
      `the file at ${uri} is not model ${expected}: its keccak256 is ${actual}. A model id is keccak256 of the exact ` +
        `ONNX file; point the registry entry at that file, or register this file as model ${actual}`,
    );
  }
}

export class ResultTimeoutError extends ChainError {
  override name = "ResultTimeoutError";
  constructor(
    readonly requestId: bigint,
    readonly timeoutMs: number,
    readonly status: Status,
  ) {
    super(
      `request ${requestId} is still ${memberName("Status", status)} after ${timeoutMs} ms; ` +
        "call waitForResult again to wait longer",
    );
  }
}

export class RequestFailedError extends ChainError {
  override name = "RequestFailedError";
  constructor(
    readonly requestId: bigint,
    readonly status: Status,
  ) {
    super(`request ${requestId} ended ${memberName("Status", status)}: it will never have a result`);
  }
}

/** A contract reverted with a decodable reason. `errorName` is the Solidity error's name (`Error` for a revert
 *  string, `Panic` for a panic code), `args` maps each parameter name to its decoded value, `data` is the raw revert
 *  data. The message reads like the Solidity call: `InsufficientFee(paid=1, required=5)`. */
export class ContractRevertError extends VerinferError {
  override name = "ContractRevertError";
  constructor(
    readonly errorName: string,
    readonly args: Readonly<Record<string, unknown>>,
    readonly data: Hex,
    readonly signature: string,
    rendered: string,
    options?: { cause?: unknown },
  ) {
    super(rendered, options);
  }
}

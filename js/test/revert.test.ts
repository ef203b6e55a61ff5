import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeErrorResult, getAddress } from "viem";
import { ContractRevertError, decodeRevert, decodeRevertData, inferenceHubAbi, nodeRegistryAbi } from "../src/index.js";

test("reverts decode to named errors", () => {
  const fee = encodeErrorResult({ abi: inferenceHubAbi, errorName: "InsufficientFee", args: [1n, 5n] });
  const decoded = decodeRevertData(fee);
  assert.ok(decoded instanceof ContractRevertError);
  assert.equal(decoded.message, "InsufficientFee(paid=1, required=5)");
  assert.deepEqual(decoded.args, { paid: 1n, required: 5n });
  assert.equal(decoded.signature, "InsufficientFee(uint256,uint256)");

  const notPending = encodeErrorResult({ abi: inferenceHubAbi, errorName: "RequestNotPending", args: [7n, 2] });
  assert.equal(decodeRevertData(notPending).message, "RequestNotPending(requestId=7, status=Status.FULFILLED)");

  const node = getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  const modelId = `0x${"ab".repeat(32)}` as const;
  const eligible = encodeErrorResult({ abi: inferenceHubAbi, errorName: "NodeNotEligible", args: [node, modelId, 3] });
  assert.equal(
    decodeRevertData(eligible).message,
    `NodeNotEligible(node=${node}, modelId=${modelId}, reason=Eligibility.UNBONDING)`,
  );

  const bounds = encodeErrorResult({
    abi: inferenceHubAbi,
    errorName: "ParameterOutOfBounds",
    args: ["slashBps", 10001n, 0n, 5000n],
  });
  assert.equal(decodeRevertData(bounds).message, "ParameterOutOfBounds(name='slashBps', value=10001, min=0, max=5000)");

  // An error of another contract than the hub (the node registry's), and the builtins.
  const registryError = nodeRegistryAbi.find((e) => e.type === "error" && e.inputs.length === 0);
  assert.ok(registryError && registryError.type === "error");
  assert.equal(
    decodeRevertData(encodeErrorResult({ abi: nodeRegistryAbi, errorName: registryError.name } as never)).message,
    `${registryError.name}()`,
  );
  assert.equal(
    decodeRevertData("0x4e487b710000000000000000000000000000000000000000000000000000000000000011").message,
    "Panic(code=0x11, reason='arithmetic overflow or underflow')",
  );
  assert.equal(decodeRevertData("0xdeadbeef01").errorName, "UnknownError");

  // Found inside the error chain viem (or an RPC) throws.
  const wrapped = new Error("execution reverted", { cause: { code: 3, data: fee } });
  assert.equal(decodeRevert(wrapped)?.message, "InsufficientFee(paid=1, required=5)");
  assert.equal(decodeRevert(new Error("no data")), undefined);
});

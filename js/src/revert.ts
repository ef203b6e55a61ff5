/** Revert data -> `ContractRevertError` with named arguments, using the error selectors of every generated ABI (the
 *  hub, the registries, the consumer base and example, the codec library), like the Python `RevertDecoder`. */
import { BaseError, decodeErrorResult, isHex, toFunctionSelector, type Abi, type AbiParameter, type Hex } from "viem";
import { abis } from "./abi/index.js";
import { ContractRevertError } from "./errors.js";
import { memberName } from "./types.js";

type AbiError = Extract<Abi[number], { type: "error" }>;

export const PANIC_REASONS: Readonly<Record<number, string>> = {
  0x00: "generic compiler panic",
  0x01: "assert failed",
  0x11: "arithmetic overflow or underflow",
  0x12: "division or modulo by zero",
  0x21: "value out of an enum's range",
  0x22: "corrupt storage byte array",
  0x31: "pop() on an empty array",
  0x32: "array index out of bounds",
  0x41: "out of memory",
  0x51: "call to a zero internal function",
};

function signatureOf(error: AbiError): string {
  const type = (p: AbiParameter): string =>
    p.type.startsWith("tuple")
      ? `(${("components" in p ? p.components : []).map(type).join(",")})${p.type.slice(5)}`
      : p.type;
  return `${error.name}(${error.inputs.map(type).join(",")})`;
}

/** Every custom error of the system's contracts, once per signature. */
export const systemErrorsAbi: readonly AbiError[] = (() => {
  const seen = new Map<string, AbiError>();
  for (const abi of Object.values(abis) as readonly Abi[]) {
    for (const item of abi) {
      if (item.type === "error" && !seen.has(signatureOf(item))) seen.set(signatureOf(item), item);
    }
  }
  return [...seen.values()];
})();

/** How a decoded argument reads: hex as is, enums by name (`Status.PENDING`), addresses bare, strings quoted. */
export function formatValue(value: unknown, param?: AbiParameter): string {
  const internal = param?.internalType ?? "";
  if (internal.startsWith("enum ") && !internal.endsWith("]") && typeof value === "number") {
    const enumType = internal.slice(5).split(".").pop() ?? "";
    const member = memberName(enumType, value);
    return member === String(value) ? member : `${enumType}.${member}`;
  }
  if (typeof value === "string") return isHex(value) ? value : `'${value}'`;
  if (Array.isArray(value)) {
    const inner =
      param && param.type.endsWith("]")
        ? { ...param, type: param.type.replace(/\[\d*\]$/, ""), internalType: internal.replace(/\[\d*\]$/, "") }
        : undefined;
    return `[${value.map((v) => formatValue(v, inner)).join(", ")}]`;
  }
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([k, v]) => `${k}: ${formatValue(v)}`)
      .join(", ")}}`;
  }
  return String(value);
}

function revert(
  name: string,
  args: Record<string, unknown>,
  params: readonly (AbiParameter | undefined)[],
  data: Hex,
  signature: string,
  cause?: unknown,
): ContractRevertError {
  const rendered = Object.entries(args)
    .map(([key, value], i) => `${key}=${formatValue(value, params[i])}`)
    .join(", ");
  return new ContractRevertError(name, args, data, signature, `${name}(${rendered})`, { cause });
}

/** The named error behind revert `data`. Unknown selectors give `UnknownError(selector=…, data=…)`, empty data
 *  `EmptyRevert()`. */
export function decodeRevertData(data: Hex, cause?: unknown): ContractRevertError {
  if (data === "0x") return revert("EmptyRevert", {}, [], data, "", cause);
  const selector = data.slice(0, 10) as Hex;
  let decoded;
  try {
    decoded = decodeErrorResult({ abi: systemErrorsAbi, data });
  } catch {
    return revert("UnknownError", { selector, data: `0x${data.slice(10)}` }, [], data, "", cause);
  }
  const item = decoded.abiItem as AbiError;
  const values = (decoded.args ?? []) as readonly unknown[];
  if (item.name === "Panic" && selector === toFunctionSelector("Panic(uint256)")) {
    const code = Number(values[0]);
    const args = { code: `0x${code.toString(16)}`, reason: PANIC_REASONS[code] ?? "unknown panic code" };
    return revert("Panic", args, [], data, "Panic(uint256)", cause);
  }
  if (item.name === "Error" && selector === toFunctionSelector("Error(string)")) {
    return revert("Error", { message: values[0] }, [], data, "Error(string)", cause);
  }
  const args: Record<string, unknown> = {};
  item.inputs.forEach((input, i) => (args[input.name || `arg${i}`] = values[i]));
  return revert(item.name, args, item.inputs, data, signatureOf(item), cause);
}

/** The revert data an error from viem (or a raw RPC error) carries, if any. */
export function revertDataOf(error: unknown): Hex | undefined {
  const found = (e: unknown): Hex | undefined => {
    if (e === null || typeof e !== "object") return undefined;
    for (const key of ["raw", "data"] as const) {
      const value = (e as Record<string, unknown>)[key];
      if (typeof value === "string" && isHex(value)) return value;
      if (value !== null && typeof value === "object" && "data" in value) {
        const inner = (value as { data: unknown }).data;
        if (typeof inner === "string" && isHex(inner)) return inner;
      }
    }
    return undefined;
  };
  if (error instanceof BaseError) {
    let data: Hex | undefined;
    error.walk((e) => {
      data ??= found(e);
      return false;
    });
    return data;
  }
  let current: unknown = error;
  for (let depth = 0; current && depth < 10; depth++) {
    const data = found(current);
    if (data) return data;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The decoded `ContractRevertError` behind `error` (a viem error of a call, a simulation, a gas estimate), or
 *  `undefined` when it is not a revert with data. */
export function decodeRevert(error: unknown): ContractRevertError | undefined {
  if (error instanceof ContractRevertError) return error;
  const data = revertDataOf(error);
  return data === undefined ? undefined : decodeRevertData(data, error);
}

/** Runs `action`; a revert it throws is re-thrown as the decoded `ContractRevertError` (the original as its cause). */
export async function withDecodedRevert<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw decodeRevert(error) ?? error;
  }
}

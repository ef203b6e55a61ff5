/** Model files by URI: `file://` and `http(s)://`, with a size limit and a timeout; `fetchModel` checks that
 *  keccak256 of the bytes is the model id (a model id is keccak256 of its ONNX file). */
import { readFile, stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { keccak256, type Hex } from "viem";
import { ModelError, ModelHashMismatchError } from "../errors.js";

export const MAX_MODEL_BYTES = 500_000_000;
export const FETCH_TIMEOUT_MS = 30_000;

export interface FetchOptions {
  maxBytes?: number;
  /** Bounds the whole download of an http(s) URI. */
  timeoutMs?: number;
}

/** The bytes at `uri` (file:///absolute/path, http://, https://), unchecked. */
export async function readModelUri(uri: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? MAX_MODEL_BYTES;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ModelError(`${JSON.stringify(uri)} is not a URI: use file:///absolute/path, http:// or https://`);
  }
  if (url.protocol === "file:") {
    if (url.host !== "" && url.host !== "localhost") {
      throw new ModelError(`${uri} names host ${url.host}: a file URI must be file:///absolute/path`);
    }
    const path = fileURLToPath(url);
    try {
      const size = (await stat(path)).size;
      if (size > maxBytes)
        throw new ModelError(
          `${path} is ${size} bytes, over the ${maxBytes}-byte limit: raise maxBytes if it is expected`,
        );
      return new Uint8Array(await readFile(path));
    } catch (error) {
      if (error instanceof ModelError) throw error;
      throw new ModelError(`cannot read the model file ${path} (${uri}): ${(error as Error).message}`);
    }
  }
  if (url.protocol === "http:" || url.protocol === "https:")
    return download(uri, maxBytes, options.timeoutMs ?? FETCH_TIMEOUT_MS);
  throw new ModelError(
    `cannot fetch a model from ${uri}: the ${url.protocol.slice(0, -1)} scheme is not supported; use file://, http:// or https://`,
  );
}

async function download(uri: string, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  let response: Response;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    // identity: a compressed body could expand far past the limit
    response = await fetch(uri, { signal, headers: { "accept-encoding": "identity" }, redirect: "follow" });
  } catch (error) {
    throw new ModelError(`cannot download ${uri}: ${(error as Error).message}`);
  }
  if (response.status !== 200) throw new ModelError(`GET ${uri} answered ${response.status} ${response.statusText}`);
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes)
    throw new ModelError(
      `${uri} announces ${declared} bytes, over the ${maxBytes}-byte limit: raise maxBytes if it is expected`,
    );
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > maxBytes)
        throw new ModelError(
          `the model at ${uri} is over the ${maxBytes}-byte limit: raise maxBytes if it is expected`,
        );
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`downloading ${uri} failed after ${size} bytes: ${(error as Error).message}`);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** The model file `modelId` names, from `uri`; `ModelHashMismatchError` when the bytes there hash to another id. */
export async function fetchModel(modelId: Hex, uri: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const bytes = await readModelUri(uri, options);
  const actual = keccak256(bytes);
  if (actual !== modelId.toLowerCase()) throw new ModelHashMismatchError(modelId, actual, uri);
  return bytes;
}

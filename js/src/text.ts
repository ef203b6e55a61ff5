/** The bytes a text request and its answer travel as (docs/text.md, "On chain"), as `verinfer.text.codec` writes
 *  them: a prompt is a 2-byte big-endian `maxNewTokens` (0: the model's bound) then UTF-8; an answer is a 4-byte
 *  big-endian count n, n token ids of 4 bytes each (big-endian), then the decoded text's UTF-8. A text classifier's
 *  input is the UTF-8 text alone. */
import { bytesToHex, type Hex } from "viem";
import { bytesOf } from "./codec.js";
import { CodecError } from "./errors.js";

export const MAX_NEW_TOKENS = 0xffff;
const ID_BYTES = 4;

/** A generation answer: the token ids nodes agree on, and the text decoded from them. */
export interface TextAnswer {
  tokenIds: number[];
  text: string;
}

function utf8(data: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    throw new CodecError(`${what} is not UTF-8 text`);
  }
}

/** The input of a generation request: `maxNewTokens` (0: the model's bound) then the prompt's UTF-8. */
export function encodePrompt(prompt: string, maxNewTokens = 0): Hex {
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0 || maxNewTokens > MAX_NEW_TOKENS)
    throw new CodecError(`maxNewTokens is 0 (the model's bound) to ${MAX_NEW_TOKENS}, got ${maxNewTokens}`);
  const text = new TextEncoder().encode(prompt);
  const out = new Uint8Array(2 + text.length);
  out[0] = maxNewTokens >> 8;
  out[1] = maxNewTokens & 0xff;
  out.set(text, 2);
  return bytesToHex(out);
}

/** The input of a text classifier: the UTF-8 text alone. */
export function encodeText(text: string): Hex {
  return bytesToHex(new TextEncoder().encode(text));
}

/** A generation answer's token ids and text, from the output bytes a node committed to. */
export function decodeAnswer(data: Hex | Uint8Array): TextAnswer {
  const bytes = bytesOf(data);
  if (bytes.length < ID_BYTES)
    throw new CodecError(`an answer starts with a ${ID_BYTES}-byte token count; got ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(0);
  const end = ID_BYTES * (1 + n);
  if (bytes.length < end)
    throw new CodecError(
      `the answer counts ${n} token ids (${end} bytes with the count) but has ${bytes.length} bytes`,
    );
  const tokenIds: number[] = [];
  for (let at = ID_BYTES; at < end; at += ID_BYTES) tokenIds.push(view.getUint32(at));
  return { tokenIds, text: utf8(bytes.subarray(end), "the answer's text") };
}

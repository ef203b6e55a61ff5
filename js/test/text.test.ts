import assert from "node:assert/strict";
import { test } from "node:test";
import { CodecError, decodeAnswer, encodePrompt, encodeText } from "../src/index.js";

// Vectors written by verinfer.text.codec (Python): encode_prompt("Errors hé", 12), encode_answer([32, 110], " n").
test("a prompt is its max_new_tokens then UTF-8, as the node reads it", () => {
  assert.equal(encodePrompt("Errors hé", 12), "0x000c4572726f72732068c3a9");
  assert.equal(encodePrompt("x"), "0x000078");
  assert.equal(encodeText("spam?"), "0x7370616d3f");
  assert.throws(() => encodePrompt("x", 70_000), CodecError);
  assert.throws(() => encodePrompt("x", -1), CodecError);
});

test("an answer decodes to the token ids nodes agree on and their text", () => {
  assert.deepEqual(decodeAnswer("0x00000002000000200000006e206e"), {
    tokenIds: [32, 110],
    text: " n",
  });
  assert.deepEqual(decodeAnswer("0x00000000"), { tokenIds: [], text: "" });
  assert.throws(() => decodeAnswer("0x000000"), /4-byte token count/);
  assert.throws(() => decodeAnswer("0x0000000300000020"), /counts 3 token ids/);
  assert.throws(() => decodeAnswer("0x00000000ff"), /not UTF-8/);
});

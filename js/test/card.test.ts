/** The model card against its Python twin (`verinfer.inference.card`, in a subprocess): the same cards encode to the
 *  same bytes, and every byte string below is accepted by both or refused by both. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { before, test } from "node:test";
import { promisify } from "node:util";
import {
  bytesToHex,
  createPublicClient,
  custom,
  decodeFunctionData,
  encodeFunctionResult,
  getAddress,
  stringToHex,
  zeroAddress,
  type Hex,
} from "viem";
import {
  CodecError,
  MAX_CARD_BYTES,
  committedOutputs,
  decodeOutputs,
  encodeInts,
  encodeModelCard,
  inputScale,
  labelOf,
  modelRegistryAbi,
  parseModelCard,
  portScale,
  readModel,
  type Deployment,
  type ModelCard,
  type VerinferContext,
} from "../src/index.js";
import { PYTHON, REPO_ROOT } from "./helpers/paths.js";

const EXAMPLE =
  '{"inputs":[{"dtype":"float32","name":"x","scale":"1099511627776","shape":[-1,4]},{"dtype":"int64","name":"ids",' +
  '"shape":[-1,2]}],"limits":{"memory_mb":256,"timeout_ms":2000},"outputs":[{"dtype":"int64","labels":["setosa",' +
  '"versicolor","virginica"],"name":"label","shape":[-1]},{"commit":false,"dtype":"float32","name":"probabilities",' +
  '"scale":"32768","shape":[-1,3]}],"v":1}';

const EXAMPLE_CARD: ModelCard = {
  inputs: [
    { name: "x", dtype: "float32", shape: [-1, 4], scale: 2n ** 40n, labels: [], commit: true },
    { name: "ids", dtype: "int64", shape: [-1, 2], labels: [], commit: true },
  ],
  outputs: [
    { name: "label", dtype: "int64", shape: [-1], labels: ["setosa", "versicolor", "virginica"], commit: true },
    { name: "probabilities", dtype: "float32", shape: [-1, 3], scale: 32768n, labels: [], commit: false },
  ],
  limits: { timeoutMs: 2000, memoryMb: 256 },
};

/** Cards built in code on both sides: [the JS card, the same card as a Python expression]. */
const BUILT: [ModelCard, string][] = [
  [EXAMPLE_CARD, "ModelCard.from_bytes(EXAMPLE)"],
  [{ limits: {} }, "ModelCard()"],
  [
    {
      outputs: [
        {
          name: "classe",
          dtype: "int32",
          shape: [1],
          labels: ["été", "日本語", "🌸 fleur", 'a "b" \\c'],
          commit: true,
        },
        { name: "p q\u00a0\u2028\u200d", dtype: "float64", shape: [-1, 2, 2], labels: ["α", "β"], commit: false },
      ],
      limits: { timeoutMs: 1 },
    },
    `ModelCard(outputs=(PortCard("classe", "int32", (1,), labels=("été", "日本語", "🌸 fleur", 'a "b" \\\\c')),
      PortCard("p q\\xa0\\u2028\\u200d", "float64", (-1, 2, 2), labels=("α", "β"), commit=False)),
      limits=CardLimits(timeout_ms=1))`,
  ],
  [
    {
      inputs: [],
      outputs: [
        {
          name: "y",
          dtype: "float16",
          shape: [1, 2, 3, 4, 5, 6, 7, 8],
          scale: 2n ** 64n - 1n,
          labels: [],
          commit: true,
        },
      ],
      limits: { memoryMb: 1 << 20 },
    },
    `ModelCard(inputs=(), outputs=(PortCard("y", "float16", (1, 2, 3, 4, 5, 6, 7, 8), scale=2**64 - 1),),
      limits=CardLimits(memory_mb=1 << 20))`,
  ],
  [
    { inputs: [{ name: "b".repeat(256), dtype: "bool", shape: [-1], labels: [], commit: true }], limits: {} },
    `ModelCard(inputs=(PortCard("b" * 256, "bool", (-1,)),))`,
  ],
  [
    { outputs: [{ name: "\u00a0", dtype: "uint8", shape: [-1, 2 ** 32 - 1], labels: [], commit: true }], limits: {} },
    `ModelCard(outputs=(PortCard("\\xa0", "uint8", (-1, 2**32 - 1)),))`,
  ],
];

const port = (fields: string): string => `{${fields}}`;
const outputsCard = (...ports: string[]): string => `{"outputs":[${ports.join(",")}],"v":1}`;
const LABEL = port('"dtype":"int64","name":"label","shape":[-1]');

/** Byte strings both sides must judge alike, with the reason each is refused (null: accepted). */
const CASES: [string, Uint8Array | string, RegExp | null][] = [
  ["the example", EXAMPLE, null],
  ["outputs only", outputsCard(LABEL), null],
  ["inputs listed as none", `{"inputs":[],"outputs":[${LABEL}],"v":1}`, null],
  ["raw non-ASCII", outputsCard(port('"dtype":"int64","name":"été","shape":[1]')), null],
  [
    "raw U+00A0, U+2028 and U+200D in a name",
    outputsCard(port('"dtype":"int64","name":"a\u00a0\u2028\u200d","shape":[1]')),
    null,
  ],
  ["a DEL in a name", outputsCard(port('"dtype":"int64","name":"a\u007f","shape":[1]')), /none a control character/],
  ["a C1 control in a name", outputsCard(port('"dtype":"int64","name":"a\u009f","shape":[1]')), /control character/],
  ["an escaped newline in a name", outputsCard(port('"dtype":"int64","name":"a\\nb","shape":[1]')), /control/],
  ["an escaped U+001F in a name", outputsCard(port('"dtype":"int64","name":"\\u001f","shape":[1]')), /control/],
  ["limits alone", '{"limits":{"timeout_ms":5},"v":1}', null],
  ["whitespace added", EXAMPLE.replace('"v":1', '"v": 1'), /not in canonical form/],
  ["a trailing newline", EXAMPLE + "\n", /not in canonical form/],
  ["keys out of order", EXAMPLE.replace('{"dtype":"int64","name":"ids"', '{"name":"ids","dtype":"int64"'), /canonical/],
  ["a duplicate key", EXAMPLE.replace('"v":1', '"v":1,"v":1'), /not in canonical form/],
  ["an unknown field", EXAMPLE.replace('"v":1', '"v":1,"w":2'), /unknown fields \["w"\]/],
  ["an unknown port field", outputsCard(port('"dtype":"int64","name":"a","shape":[1],"unit":"cm"')), /has fields/],
  [
    "commit on an input",
    `{"inputs":[${port('"commit":true,"dtype":"int64","name":"a","shape":[1]')}],"v":1}`,
    /fields/,
  ],
  ["a missing name", outputsCard(port('"dtype":"int64","shape":[1]')), /name, dtype, shape required/],
  ["a scale on an int port", outputsCard(port('"dtype":"int64","name":"a","scale":"2","shape":[1]')), /no scale/],
  ["a scale as a number", outputsCard(port('"dtype":"float32","name":"a","scale":2,"shape":[1]')), /decimal string/],
  ["a scale with a sign", outputsCard(port('"dtype":"float32","name":"a","scale":"+2","shape":[1]')), /decimal/],
  ["a scale with a leading zero", outputsCard(port('"dtype":"float32","name":"a","scale":"02","shape":[1]')), /canon/],
  ["a scale of 0", outputsCard(port('"dtype":"float32","name":"a","scale":"0","shape":[1]')), /outside \[1/],
  ["a scale of 2^64", outputsCard(port(`"dtype":"float32","name":"a","scale":"${2n ** 64n}","shape":[1]`)), /outside/],
  ["a null scale", outputsCard(port('"dtype":"float32","name":"a","scale":null,"shape":[1]')), /canonical/],
  [
    "labels count mismatch",
    outputsCard(port('"dtype":"float32","labels":["a","b"],"name":"p","shape":[-1,3]')),
    /2 labels/,
  ],
  [
    "labels on a float batch axis",
    outputsCard(port('"dtype":"float32","labels":["a"],"name":"p","shape":[-1]')),
    /labels/,
  ],
  [
    "labels on several ints a row",
    outputsCard(port('"dtype":"int64","labels":["a"],"name":"p","shape":[-1,2]')),
    /has 2/,
  ],
  [
    "labels on an input",
    `{"inputs":[${port('"dtype":"int64","labels":["a"],"name":"a","shape":[1]')}],"v":1}`,
    /outputs only/,
  ],
  ["empty labels", outputsCard(port('"dtype":"int64","labels":[],"name":"a","shape":[1]')), /canonical/],
  [
    "an empty label",
    outputsCard(port('"dtype":"int64","labels":[""],"name":"a","shape":[1]')),
    /none a control character or surrogate/,
  ],
  [
    "a label of 129 characters",
    outputsCard(port(`"dtype":"int64","labels":["${"é".repeat(129)}"],"name":"a","shape":[1]`)),
    /none a control character or surrogate/,
  ],
  [
    "a label of 128 characters",
    outputsCard(port(`"dtype":"int64","labels":["${"😀".repeat(128)}"],"name":"a","shape":[1]`)),
    null,
  ],
  [
    "a label with a tab",
    outputsCard(port('"dtype":"int64","labels":["a\\tb"],"name":"a","shape":[1]')),
    /none a control character or surrogate/,
  ],
  [
    "a label with a no-break space",
    outputsCard(port('"dtype":"int64","labels":["a\u00a0b"],"name":"a","shape":[1]')),
    null,
  ],
  [
    "a label with a zero-width joiner",
    outputsCard(port('"dtype":"int64","labels":["a\u200db"],"name":"a","shape":[1]')),
    null,
  ],
  // Not Unicode categories: a code point unassigned today (U+0378), or private use, is accepted by every version.
  [
    "a label with an unassigned code point",
    outputsCard(port('"dtype":"int64","labels":["a\u0378\ue000\u{10ffff}"],"name":"a","shape":[1]')),
    null,
  ],
  [
    "a label with a C1 control",
    outputsCard(port('"dtype":"int64","labels":["a\u0085"],"name":"a","shape":[1]')),
    /none a control character or surrogate/,
  ],
  [
    "a label with DEL",
    outputsCard(port('"dtype":"int64","labels":["\u007f"],"name":"a","shape":[1]')),
    /none a control character or surrogate/,
  ],
  [
    "a label with a lone surrogate",
    outputsCard(port('"dtype":"int64","labels":["\\ud800"],"name":"a","shape":[1]')),
    /none a control character or surrogate/,
  ],
  ["a name with a lone surrogate", outputsCard(port('"dtype":"int64","name":"\\udfff","shape":[1]')), /control/],
  ["an escaped surrogate pair", outputsCard(port('"dtype":"int64","name":"\\ud83d\\ude00","shape":[1]')), /canonical/],
  ["an escaped é", outputsCard(port('"dtype":"int64","name":"\\u00e9","shape":[1]')), /canonical/],
  ["an empty name", outputsCard(port('"dtype":"int64","name":"","shape":[1]')), /port name is 1 to 256/],
  ["a name of 257 characters", outputsCard(port(`"dtype":"int64","name":"${"n".repeat(257)}","shape":[1]`)), /name/],
  ["a number for a name", outputsCard(port('"dtype":"int64","name":7,"shape":[1]')), /port name/],
  ["a list for a name", outputsCard(port('"dtype":"int64","name":[],"shape":[1]')), /port name/],
  ["an object for a name", outputsCard(port('"dtype":"int64","name":{"a":1},"shape":[1]')), /port name/],
  [
    "a deeply nested name",
    outputsCard(port(`"dtype":"int64","name":${"[".repeat(4000)}${"]".repeat(4000)},"shape":[1]`)),
    /port name/,
  ],
  ["a name twice", outputsCard(LABEL, LABEL), /each name once/],
  ["an unknown dtype", outputsCard(port('"dtype":"string","name":"a","shape":[1]')), /no canonical encoding/],
  ["an empty shape", outputsCard(port('"dtype":"int64","name":"a","shape":[]')), /1 to 8 dimensions/],
  ["rank 9", outputsCard(port('"dtype":"int64","name":"a","shape":[1,1,1,1,1,1,1,1,1]')), /1 to 8/],
  ["the batch not first", outputsCard(port('"dtype":"int64","name":"a","shape":[2,-1]')), /first only/],
  ["a zero dimension", outputsCard(port('"dtype":"int64","name":"a","shape":[0]')), /each in \[1, 4294967295\]/],
  ["a dimension of -2", outputsCard(port('"dtype":"int64","name":"a","shape":[-2]')), /each in/],
  ["a dimension of 2^32 - 1", outputsCard(port('"dtype":"int64","name":"a","shape":[4294967295]')), null],
  ["a dimension of 2^32", outputsCard(port('"dtype":"int64","name":"a","shape":[-1,4294967296]')), /each in/],
  [
    "a dimension above 2^53",
    outputsCard(port('"dtype":"int64","name":"a","shape":[9007199254740994]')),
    /each in \[1, 4294967295\]/,
  ],
  ["a float dimension", outputsCard(port('"dtype":"int64","name":"a","shape":[1.0]')), /canonical/],
  ["an exponent dimension", outputsCard(port('"dtype":"int64","name":"a","shape":[1e1]')), /canonical/],
  ["a bool dimension", outputsCard(port('"dtype":"int64","name":"a","shape":[true]')), /list of integers/],
  [
    "no committed output",
    outputsCard(port('"commit":false,"dtype":"int64","name":"a","shape":[1]')),
    /commits no output/,
  ],
  ["no outputs", '{"outputs":[],"v":1}', /commits no output/],
  ["commit true spelled out", outputsCard(port('"commit":true,"dtype":"int64","name":"a","shape":[1]')), /canonical/],
  ["commit as 0", outputsCard(port('"commit":0,"dtype":"int64","name":"a","shape":[1]')), /true or false/],
  ["timeout 0", '{"limits":{"timeout_ms":0},"v":1}', /timeout_ms is an integer in \[1, 3600000\]/],
  ["timeout above an hour", '{"limits":{"timeout_ms":3600001},"v":1}', /timeout_ms/],
  ["memory below 16 MB", '{"limits":{"memory_mb":15},"v":1}', /memory_mb is an integer in \[16, 1048576\]/],
  ["memory above 1 TB", `{"limits":{"memory_mb":${(1 << 20) + 1}},"v":1}`, /memory_mb/],
  ["a fractional limit", '{"limits":{"memory_mb":16.5},"v":1}', /memory_mb/],
  ["a bool limit", '{"limits":{"memory_mb":true},"v":1}', /memory_mb/],
  ["an unknown limit", '{"limits":{"cpus":1},"v":1}', /limits are an object/],
  ["empty limits", '{"limits":{},"v":1}', /canonical/],
  ["a null limit", '{"limits":{"memory_mb":null,"timeout_ms":5},"v":1}', /canonical/],
  ["the empty card spelled out", '{"v":1}', /expected ""/],
  ["version 2", EXAMPLE.replace('"v":1', '"v":2'), /version is 2/],
  ["version true", EXAMPLE.replace('"v":1', '"v":true'), /version/],
  ["version 1.0", EXAMPLE.replace('"v":1', '"v":1.0'), /canonical/],
  ["no version", EXAMPLE.replace(',"v":1', ""), /version/],
  ["a list", "[]", /a JSON object, got list/],
  ["NaN", '{"limits":{"memory_mb":NaN},"v":1}', /not UTF-8 JSON/],
  ["a BOM", "\ufeff" + EXAMPLE, /not UTF-8 JSON/],
  ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), /not UTF-8 JSON/],
  ["deep nesting", `{"outputs":${"[".repeat(4085)}${"]".repeat(4085)},"v":1}`, /object/],
  ["8193 bytes", EXAMPLE + " ".repeat(MAX_CARD_BYTES + 1 - EXAMPLE.length), /at most 8192 bytes, got 8193/],
];

const bytesOfCase = (data: Uint8Array | string): Uint8Array =>
  typeof data === "string" ? new TextEncoder().encode(data) : data;

const PYTHON_SCRIPT = `
import json, sys
from verinfer.errors import ModelCardError
from verinfer.inference.card import CardLimits, ModelCard, PortCard
request = json.load(sys.stdin)
EXAMPLE = bytes.fromhex(request["example"][2:])
def accepts(data):
    try:
        ModelCard.from_bytes(data)
        return True
    except ModelCardError:  # any other exception fails the test: Python refuses with ModelCardError only
        return False
print(json.dumps({
    "built": ["0x" + eval(expr).to_bytes().hex() for expr in request["built"]],
    "accepts": [accepts(bytes.fromhex(data[2:])) for data in request["cases"]],
}))
`;

let python: { built: Hex[]; accepts: boolean[] };

before(async () => {
  const run = promisify(execFile)(PYTHON, ["-c", PYTHON_SCRIPT], {
    cwd: REPO_ROOT,
    env: { ...process.env, PYTHONPATH: "node" },
  });
  run.child.stdin!.end(
    JSON.stringify({
      example: stringToHex(EXAMPLE),
      built: BUILT.map(([, expr]) => expr.replace(/\n\s*/g, " ")),
      cases: CASES.map(([, data]) => bytesToHex(bytesOfCase(data))),
    }),
  );
  python = JSON.parse((await run).stdout) as typeof python;
});

test("the example card round-trips", () => {
  const card = parseModelCard(stringToHex(EXAMPLE));
  assert.deepEqual(card, EXAMPLE_CARD);
  assert.equal(encodeModelCard(card), stringToHex(EXAMPLE));
  assert.deepEqual(parseModelCard(new TextEncoder().encode(EXAMPLE)), EXAMPLE_CARD);
});

test("the empty card is empty bytes", () => {
  assert.deepEqual(parseModelCard("0x"), { limits: {} });
  assert.equal(encodeModelCard({ limits: {} }), "0x");
});

test("cards built in code encode to the bytes Python gives, and read back", () => {
  BUILT.forEach(([card], i) => {
    assert.equal(encodeModelCard(card), python.built[i], `card ${i}`);
    assert.deepEqual(parseModelCard(python.built[i]!), card, `card ${i}`);
  });
});

test("every byte string is accepted or refused as Python does, for the reason named", () => {
  CASES.forEach(([name, data, refusal], i) => {
    const bytes = bytesOfCase(data);
    if (refusal === null) {
      assert.doesNotThrow(() => parseModelCard(bytes), name);
      assert.equal(encodeModelCard(parseModelCard(bytes)), bytesToHex(bytes), name);
    } else {
      assert.throws(
        () => parseModelCard(bytes),
        (exc) => exc instanceof CodecError && refusal.test(exc.message),
        name,
      );
    }
    assert.equal(python.accepts[i], refusal === null, `Python on ${name}`);
  });
});

test("encodeModelCard refuses what parseModelCard would", () => {
  const output = EXAMPLE_CARD.outputs![0]!;
  const refuses = (card: ModelCard, reason: RegExp): void =>
    assert.throws(
      () => encodeModelCard(card),
      (exc) => exc instanceof CodecError && reason.test(exc.message),
    );
  refuses({ outputs: [{ ...output, commit: false }], limits: {} }, /commits no output/);
  refuses({ outputs: [{ ...output, scale: 2n }], limits: {} }, /takes no scale/);
  refuses({ outputs: [output], limits: { timeoutMs: 0 } }, /timeout_ms/);
  refuses({ inputs: [{ ...output, commit: false }], limits: {} }, /labels name outputs only/);
  refuses({ outputs: [{ ...output, name: "a\tb" }], limits: {} }, /none a control character/);
  refuses({ outputs: [{ ...output, labels: ["\ud800"] }], limits: {} }, /surrogate/);
  refuses({ outputs: [{ ...output, shape: [2 ** 32] }], limits: {} }, /each in \[1, 4294967295\]/);
  const labels = Array.from({ length: 80 }, (_, i) => `${i}`.padStart(100, "x"));
  refuses({ outputs: [{ ...output, shape: [-1, 80], dtype: "float32", labels }], limits: {} }, /at most 8192/);
});

test("portScale, committedOutputs and labelOf read the card as a dApp needs", () => {
  const spec = { scale: 1_000_000n };
  assert.equal(portScale(EXAMPLE_CARD, spec, "x"), 2n ** 40n);
  assert.equal(portScale(EXAMPLE_CARD, spec, "probabilities"), 32768n);
  assert.equal(portScale(EXAMPLE_CARD, spec, "ids"), spec.scale);
  assert.equal(portScale({ limits: {} }, spec, "anything"), spec.scale);
  assert.throws(() => portScale(EXAMPLE_CARD, spec, "z"), /no port "z"/);

  assert.deepEqual(committedOutputs(EXAMPLE_CARD), [EXAMPLE_CARD.outputs![0]]);
  assert.equal(committedOutputs({ limits: {} }), undefined);

  const [label, probabilities] = EXAMPLE_CARD.outputs!;
  assert.equal(labelOf(label!, 1n), "versicolor");
  assert.equal(labelOf(label!, 2), "virginica");
  assert.equal(labelOf(label!, 3n), undefined);
  assert.equal(labelOf(label!, -1n), undefined);
  assert.equal(labelOf(probabilities!, 0), undefined);
});

test("decodeOutputs and inputScale lay a result out as a node does, from the entry alone", () => {
  const card = parseModelCard(
    stringToHex(
      '{"inputs":[{"dtype":"float32","name":"x","scale":"1099511627776","shape":[-1,4]}],' +
        '"outputs":[{"dtype":"int64","labels":["no","yes"],"name":"label","shape":[-1]},' +
        '{"dtype":"float32","name":"p","scale":"32768","shape":[-1,2]},' +
        '{"commit":false,"dtype":"float32","name":"raw","shape":[-1,2]}],"v":1}',
    ),
  );
  const spec = { scale: 1_000_000n, inputShape: [2, 4] };
  assert.equal(inputScale(card, spec), 2n ** 40n);
  // Two rows: the labels (exact), then the probabilities at 2^15; the uncommitted output is not in the bytes.
  const output = encodeInts([1n, 0n, 16384n, 16384n, 32768n, 0n]);
  const named = decodeOutputs(card, spec, output)!;
  assert.deepEqual(
    named.map((o) => [o.port.name, Array.from(o.values)]),
    [
      ["label", [1, 0]],
      ["p", [0.5, 0.5, 1, 0]],
    ],
  );
  assert.equal(labelOf(named[0]!.port, named[0]!.values[0]!), "yes");
  assert.throws(() => decodeOutputs(card, spec, encodeInts([1n])), /hold 6 values, the output has 1/);
  assert.equal(decodeOutputs({ limits: {} }, spec, output), undefined);
  const two = parseModelCard(
    stringToHex(
      '{"inputs":[{"dtype":"float32","name":"a","shape":[1]},{"dtype":"int64","name":"b","shape":[1]}],"v":1}',
    ),
  );
  assert.throws(() => inputScale(two, spec), /takes 2 inputs \(a, b\): encode each at its own scale/);
});

test("readModel returns the entry's card", async () => {
  const registry = getAddress("0x00000000000000000000000000000000000000a2");
  const spec = {
    uri: "file:///model.onnx",
    inputShape: [1, 4],
    outputShape: [1],
    scale: 2n ** 40n,
    price: 1n,
    modes: 1,
    allowedEnvironments: [],
    challengeWindow: 0,
    stakeAtRisk: 0n,
    arithmeticClasses: 0,
    verifier: zeroAddress,
    format: 0,
    card: stringToHex(EXAMPLE),
  };
  const terms = { price: 1n, inputBytes: 32, outputBytes: 8, modes: 1, deprecated: false, envRestricted: false };
  const request = async ({ method, params }: { method: string; params?: unknown }): Promise<unknown> => {
    assert.equal(method, "eth_call");
    const [call] = params as [{ to: string; data: Hex }];
    assert.equal(getAddress(call.to), registry);
    assert.equal(decodeFunctionData({ abi: modelRegistryAbi, data: call.data }).functionName, "getModel");
    return encodeFunctionResult({
      abi: modelRegistryAbi,
      functionName: "getModel",
      result: [zeroAddress, spec, { ...terms, exists: true, scale: spec.scale }],
    });
  };
  const ctx: VerinferContext = {
    publicClient: createPublicClient({ transport: custom({ request }) }),
    // readModel reads the registry's address only.
    deployment: { contracts: { ModelRegistry: { address: registry } } } as unknown as Deployment,
  };
  const read = await readModel(ctx, `0x${"ab".repeat(32)}`);
  assert.equal(read.card, spec.card);
  assert.deepEqual(parseModelCard(read.card), EXAMPLE_CARD);
});

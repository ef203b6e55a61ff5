/** JS against Python on the same vectors: the Python package (test/python/vectors.py, in a subprocess) computes
 *  canonical encodings, commitments and every demo model's canonical outputs; the JS side must give the same bytes. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { keccak256, type Address, type Hex } from "viem";
import {
  consensusCommitment,
  decodeTensor,
  encodeInts,
  encodeTensor,
  requestHash,
  resultCommitment,
  storedForm,
  voteCommitment,
  zkInstances,
  type Mode,
} from "../src/index.js";
import { ModelRunner } from "../src/node/index.js";
import { PACKAGE_ROOT, PYTHON, REPO_ROOT } from "./helpers/paths.js";

interface Vectors {
  codec: (
    | { values: number[]; scale: string; encoded: Hex; decoded: number[] }
    | { values: number[]; scale: string; rejected: true }
    | { ints: string[]; encoded: Hex }
  )[];
  commitments: {
    requestId: string;
    params: {
      modelId: Hex;
      inputHash: Hex;
      requester: Address;
      fee: string;
      deadline: string;
      callbackGasLimit: number;
      outputBytes: number;
      mode: number;
      redundancy: number;
      envRestricted: boolean;
      lottery: string;
    };
    requestHash: Hex;
    input: Hex;
    output: Hex;
    env: Hex;
    salt: Hex;
    nodes: Address[];
    results: Hex[];
    vote: Hex;
    consensus: Hex;
    storedForm: Hex;
  }[];
  zkInstances: { input: Hex; output: Hex; instances: string[] }[];
  models: {
    name: string;
    path: string;
    modelId: Hex;
    scale: string;
    inputShape: number[];
    outputShape: number[];
    cases: { input: Hex; output: Hex }[];
  }[];
}

const work = mkdtempSync(join(tmpdir(), "verinfer-js-vectors-"));
after(() => rmSync(work, { recursive: true, force: true }));

async function pythonVectors(): Promise<Vectors> {
  const script = join(PACKAGE_ROOT, "test", "python", "vectors.py");
  const { stdout } = await promisify(execFile)(PYTHON, [script, join(work, "models")], {
    cwd: REPO_ROOT,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Vectors;
}

test("differential against python", async () => {
  const vectors = await pythonVectors();

  // The codec: every encoding, decoding and refusal.
  assert.ok(vectors.codec.length >= 10);
  for (const vector of vectors.codec) {
    if ("ints" in vector) {
      assert.equal(encodeInts(vector.ints.map(BigInt)), vector.encoded);
    } else if ("rejected" in vector) {
      assert.throws(
        () => encodeTensor(vector.values, { scale: BigInt(vector.scale) }),
        /does not fit int64|not finite/,
        `${vector.values} at scale ${vector.scale}`,
      );
    } else {
      const scale = BigInt(vector.scale);
      assert.equal(encodeTensor(vector.values, { scale }), vector.encoded, `${vector.values} at scale ${vector.scale}`);
      assert.deepEqual(Array.from(decodeTensor(vector.encoded, { scale })), vector.decoded);
    }
  }

  // The commitments.
  assert.equal(vectors.commitments.length, 4);
  for (const v of vectors.commitments) {
    const requestId = BigInt(v.requestId);
    const params = {
      ...v.params,
      fee: BigInt(v.params.fee),
      deadline: BigInt(v.params.deadline),
      mode: v.params.mode as Mode,
      lottery: BigInt(v.params.lottery),
    };
    assert.equal(requestHash(requestId, params), v.requestHash);
    const inputHash = keccak256(v.input);
    const outputHash = keccak256(v.output);
    const results = v.nodes.map((node) =>
      resultCommitment(requestId, params.modelId, inputHash, outputHash, v.env, node),
    );
    assert.deepEqual(results, v.results);
    assert.equal(voteCommitment(outputHash, v.salt, v.nodes[0]!), v.vote);
    assert.equal(consensusCommitment(requestId, outputHash, results), v.consensus);
    assert.equal(storedForm(results[0]!), v.storedForm);
  }

  // The public instances of a ZK proof.
  assert.equal(vectors.zkInstances.length, 4);
  for (const v of vectors.zkInstances) assert.deepEqual(zkInstances(v.input, v.output), v.instances.map(BigInt));

  // Every demo model: the same canonical output from onnxruntime-node as from the Python runner.
  assert.deepEqual(
    vectors.models.map((m) => m.name),
    ["credit_risk", "iris", "diabetes_regressor", "credit_risk_zk"],
  );
  for (const model of vectors.models) {
    const bytes = new Uint8Array(readFileSync(model.path));
    assert.equal(keccak256(bytes), model.modelId, `${model.name}: model id`);
    const runner = await ModelRunner.load(bytes);
    const spec = {
      inputShape: model.inputShape,
      outputShape: model.outputShape,
      scale: BigInt(model.scale),
      card: "0x" as const,
    };
    try {
      assert.ok(model.cases.length > 0);
      for (const [i, c] of model.cases.entries()) {
        assert.equal(
          encodeTensor(decodeTensor(c.input, { scale: spec.scale }), spec),
          c.input,
          `${model.name} case ${i}: input`,
        );
        assert.equal(await runner.run(c.input, spec), c.output, `${model.name} case ${i}: output`);
      }
    } finally {
      await runner.release();
    }
  }
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { CodecError, encodeInts, encodeModelCard, type ModelCard, type PortCard } from "../src/index.js";
import { canonicalFeed, canonicalOutput, outputDifference, tensorLayout } from "../src/browser/index.js";

const scale = 1_000_000n;

test("outputDifference: equal outputs differ nowhere", () => {
  const a = encodeInts([500_000n, -3n]);
  const d = outputDifference(a, a, { outputScale: scale });
  assert.equal(d.differing, 0);
  assert.equal(d.firstIndex, -1);
  assert.equal(d.maxUnits, 0n);
  assert.equal(d.withinTolerance, true);
});

test("outputDifference: one unit, or 2^-16 of the value, is float arithmetic", () => {
  const chain = encodeInts([180_355_942n, 20_202n]);
  const browser = encodeInts([180_355_957n, 20_201n]); // 15 units at 180.36 (2^-16 allows 2,752); 1 unit
  const d = outputDifference(browser, chain, { outputScale: scale });
  assert.equal(d.differing, 2);
  assert.equal(d.firstIndex, 0);
  assert.equal(d.maxUnits, 15n);
  assert.equal(d.maxReal, 15 / 1e6);
  assert.equal(d.withinTolerance, true);
});

test("outputDifference: beyond the bound is a wrong output", () => {
  const chain = encodeInts([100_000n, 200_000n, 700_000n]); // a lie
  const browser = encodeInts([996_284n, 3_715n, 1n]);
  const d = outputDifference(browser, chain, { outputScale: scale });
  assert.equal(d.withinTolerance, false);
  assert.equal(d.maxUnits, 896_284n);
  // two units at a value of 1,000 units: just past 1 + 1000 * 2^-16
  assert.equal(
    outputDifference(encodeInts([1_002n]), encodeInts([1_000n]), { outputScale: scale }).withinTolerance,
    false,
  );
});

test("outputDifference: outputs of different sizes are never within tolerance", () => {
  const d = outputDifference(encodeInts([1n]), encodeInts([1n, 2n]), { outputScale: scale });
  assert.equal(d.withinTolerance, false);
  assert.equal(d.elements, 2);
});

test("canonicalFeed rounds element / scale to float32 as a node does; canonicalOutput rounds half to even", () => {
  const feed = canonicalFeed(encodeInts([1n, 100_000n]), { inputShape: [1, 2], inputScale: scale }, "float32");
  assert.ok(feed instanceof Float32Array);
  assert.deepEqual(Array.from(feed), [Math.fround(1e-6), Math.fround(0.1)]);
  const wide = canonicalFeed(encodeInts([100_000n]), { inputShape: [1, 1], inputScale: scale }, "float64");
  assert.ok(wide instanceof Float64Array);
  assert.equal(wide[0], Math.fround(0.1)); // through float32 first, then widened
  assert.equal(
    canonicalOutput(Float64Array.from([0.0000025, 0.0000035]), { outputScale: scale }),
    encodeInts([2n, 4n]),
  );
});

test("canonicalOutput: integer outputs travel exactly, at no scale", () => {
  assert.equal(canonicalOutput(BigInt64Array.from([2n, -1n]), { outputScale: scale }), encodeInts([2n, -1n]));
  assert.equal(canonicalOutput(Int32Array.from([3]), { outputScale: scale }), encodeInts([3n]));
});

const port = (name: string, dtype: string, fields: Partial<PortCard> = {}): PortCard => ({
  name,
  dtype,
  shape: [1, 2],
  labels: [],
  commit: true,
  ...fields,
});
const entry = (card: ModelCard) => ({ inputShape: [1, 2], outputShape: [1, 2], scale, card: encodeModelCard(card) });

test("tensorLayout: each side at its card's scale, else the entry's", () => {
  assert.deepEqual(tensorLayout({ ...entry({ limits: {} }) }), {
    inputShape: [1, 2],
    outputShape: [1, 2],
    inputScale: scale,
    outputScale: scale,
  });
  const card = {
    inputs: [port("features", "float32", { scale: 2n ** 40n })],
    outputs: [port("prediction", "float32", { scale: 2n ** 15n })],
    limits: {},
  };
  assert.deepEqual(tensorLayout(entry(card)), {
    inputShape: [1, 2],
    outputShape: [1, 2],
    inputScale: 2n ** 40n,
    outputScale: 2n ** 15n,
    inputName: "features",
    outputName: "prediction",
  });
  const unscaled = { ...card, inputs: [port("features", "float64")] };
  assert.equal(tensorLayout(entry(unscaled)).inputScale, scale);
});

test("tensorLayout: the one committed output of several, and an integer one travels exactly", () => {
  const card = {
    inputs: [port("x", "float32")],
    outputs: [port("label", "int64", { commit: false }), port("probabilities", "float32", { scale: 32768n })],
    limits: {},
  };
  const layout = tensorLayout(entry(card));
  assert.equal(layout.outputName, "probabilities");
  assert.equal(layout.outputScale, 32768n);
  const labels = { ...card, outputs: [port("label", "int64"), port("p", "float32", { commit: false })] };
  assert.deepEqual([tensorLayout(entry(labels)).outputName, tensorLayout(entry(labels)).outputScale], ["label", 1n]);
});

test("tensorLayout refuses cards of several inputs or several committed outputs, and bad cards", () => {
  const refuses = (spec: Parameters<typeof tensorLayout>[0], reason: RegExp) =>
    assert.throws(
      () => tensorLayout(spec),
      (exc) => exc instanceof CodecError && reason.test(exc.message),
    );
  const two = [port("a", "float32"), port("b", "float32")];
  refuses(entry({ inputs: two, outputs: [port("y", "float32")], limits: {} }), /lists 2 inputs \("a", "b"\)/);
  refuses(entry({ outputs: two, limits: {} }), /commits 2 outputs \("a", "b"\)/);
  refuses({ ...entry({ limits: {} }), card: "0x7b7d" }, /not in canonical form|version/);
});

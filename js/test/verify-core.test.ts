import assert from "node:assert/strict";
import { test } from "node:test";
import { encodeInts } from "../src/index.js";
import { canonicalFeed, canonicalOutput, outputDifference } from "../src/browser/index.js";

const scale = 1_000_000n;

test("outputDifference: equal outputs differ nowhere", () => {
  const a = encodeInts([500_000n, -3n]);
  const d = outputDifference(a, a, { scale });
  assert.equal(d.differing, 0);
  assert.equal(d.firstIndex, -1);
  assert.equal(d.maxUnits, 0n);
  assert.equal(d.withinTolerance, true);
});

test("outputDifference: one unit, or 2^-16 of the value, is float arithmetic", () => {
  const chain = encodeInts([180_355_942n, 20_202n]);
  const browser = encodeInts([180_355_957n, 20_201n]); // 15 units at 180.36 (2^-16 allows 2,752); 1 unit
  const d = outputDifference(browser, chain, { scale });
  assert.equal(d.differing, 2);
  assert.equal(d.firstIndex, 0);
  assert.equal(d.maxUnits, 15n);
  assert.equal(d.maxReal, 15 / 1e6);
  assert.equal(d.withinTolerance, true);
});

test("outputDifference: beyond the bound is a wrong output", () => {
  const chain = encodeInts([100_000n, 200_000n, 700_000n]); // a lie
  const browser = encodeInts([996_284n, 3_715n, 1n]);
  const d = outputDifference(browser, chain, { scale });
  assert.equal(d.withinTolerance, false);
  assert.equal(d.maxUnits, 896_284n);
  // two units at a value of 1,000 units: just past 1 + 1000 * 2^-16
  assert.equal(outputDifference(encodeInts([1_002n]), encodeInts([1_000n]), { scale }).withinTolerance, false);
});

test("outputDifference: outputs of different sizes are never within tolerance", () => {
  const d = outputDifference(encodeInts([1n]), encodeInts([1n, 2n]), { scale });
  assert.equal(d.withinTolerance, false);
  assert.equal(d.elements, 2);
});

test("canonicalFeed rounds element / scale to float32 as a node does; canonicalOutput rounds half to even", () => {
  const feed = canonicalFeed(encodeInts([1n, 100_000n]), { inputShape: [1, 2], scale }, "float32");
  assert.ok(feed instanceof Float32Array);
  assert.deepEqual(Array.from(feed), [Math.fround(1e-6), Math.fround(0.1)]);
  const wide = canonicalFeed(encodeInts([100_000n]), { inputShape: [1, 1], scale }, "float64");
  assert.ok(wide instanceof Float64Array);
  assert.equal(wide[0], Math.fround(0.1)); // through float32 first, then widened
  assert.equal(canonicalOutput(Float64Array.from([0.0000025, 0.0000035]), { scale }), encodeInts([2n, 4n]));
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { PACKAGE_ROOT } from "./helpers/paths.js";

/** Every module the compiled file at `entry` imports, transitively, within the package; and the bare imports. */
function importGraph(entry: string): { files: Set<string>; external: Set<string> } {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    for (const [, spec] of readFileSync(file, "utf8").matchAll(
      /(?:^|\n)\s*(?:import|export)[^"']*?from\s*["']([^"']+)["']/g,
    )) {
      if (spec!.startsWith(".")) visit(resolve(dirname(file), spec!));
      else external.add(spec!);
    }
  };
  visit(entry);
  return { files, external };
}

test("the package face loads no ML runtime and no Node built-ins", async () => {
  const face = importGraph(join(PACKAGE_ROOT, "dist", "src", "index.js"));
  assert.deepEqual([...face.external].sort(), ["viem"]);
  const node = importGraph(join(PACKAGE_ROOT, "dist", "src", "node", "index.js"));
  assert.ok(node.external.has("onnxruntime-node"));
  // Both entry points resolve through the package's exports map.
  const sdk = await import("@verinfer/sdk");
  const sdkNode = await import("@verinfer/sdk/node");
  assert.equal(typeof sdk.requestInference, "function");
  assert.equal(typeof sdkNode.verifyResult, "function");
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { PACKAGE_ROOT } from "./helpers/paths.js";

interface Generator {
  render(outDir?: string): Record<string, string>;
  REGENERATE: string;
}

test("abis match the forge build", async () => {
  const generator = (await import(pathToFileURL(join(PACKAGE_ROOT, "scripts", "gen-abi.mjs")).href)) as Generator;
  const expected = generator.render(); // throws, naming `forge build`, when out/ is missing
  const stale: string[] = [];
  for (const [name, text] of Object.entries(expected)) {
    let committed = "";
    try {
      committed = readFileSync(join(PACKAGE_ROOT, "src", "abi", name), "utf8");
    } catch {
      committed = "(missing)";
    }
    if (committed !== text) stale.push(name);
  }
  assert.deepEqual(
    stale,
    [],
    `src/abi/{${stale.join(", ")}} differ from the forge build in out/: run \`${generator.REGENERATE}\``,
  );
});

/** Where things are, from the compiled test (dist/test/helpers/) or its source (test/helpers/). */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function packageRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "scripts", "gen-abi.mjs"))) return dir;
  }
  throw new Error("cannot find the js/ package root above the test file");
}

export const PACKAGE_ROOT = packageRoot();
export const REPO_ROOT = resolve(PACKAGE_ROOT, "..");
/** The repository's Python (set VERINFER_PYTHON to use another interpreter with verinfer installed). */
export const PYTHON = process.env.VERINFER_PYTHON ?? join(REPO_ROOT, ".venv", "bin", "python");

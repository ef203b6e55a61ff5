// Builds the explorer page into the Python package (node/verinfer/explorer/static), which `verinfer explorer`
// serves: the bundle (the SDK, viem and onnxruntime-web's JavaScript), the HTML and CSS, and onnxruntime-web's WASM
// runtime, so that the page loads nothing from outside the explorer.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "node", "verinfer", "explorer", "static");
const ort = join(here, "..", "node_modules", "onnxruntime-web", "dist");

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  outfile: join(out, "explorer.js"),
  minify: true,
  sourcemap: false,
  logLevel: "warning",
  // the WASM glue is loaded from env.wasm.wasmPaths (next to the bundle), not inlined
  conditions: ["onnxruntime-web-use-extern-wasm"],
});
for (const file of ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs"])
  await copyFile(join(ort, file), join(out, file));
for (const file of ["index.html", "explorer.css"]) await copyFile(join(here, "public", file), join(out, file));
console.log(`explorer page built into ${out}`);

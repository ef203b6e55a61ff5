import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { keccak256 } from "viem";
import { ModelError, ModelHashMismatchError } from "../src/index.js";
import { fetchModel, readModelUri } from "../src/node/index.js";

test("models fetch by file and http URI, checked against their id", async () => {
  const bytes = new TextEncoder().encode("not really onnx, but bytes with a hash");
  const id = keccak256(bytes);
  const dir = mkdtempSync(join(tmpdir(), "verinfer-js-model-"));
  const server = createServer((req, res) => {
    if (req.url === "/model.onnx") res.writeHead(200, { "content-length": bytes.length }).end(bytes);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const path = join(dir, "model.onnx");
    writeFileSync(path, bytes);
    assert.deepEqual(await fetchModel(id, pathToFileURL(path).href), bytes);
    assert.deepEqual(await fetchModel(id, `${base}/model.onnx`), bytes);

    const other = keccak256("0x00");
    await assert.rejects(fetchModel(other, `${base}/model.onnx`), (error: unknown) => {
      assert.ok(error instanceof ModelHashMismatchError);
      assert.equal(error.actual, id);
      return true;
    });
    await assert.rejects(readModelUri(`${base}/missing.onnx`), /answered 404/);
    await assert.rejects(readModelUri(`${base}/model.onnx`, { maxBytes: 4 }), /over the 4-byte limit/);
    await assert.rejects(readModelUri(pathToFileURL(join(dir, "absent.onnx")).href), ModelError);
    await assert.rejects(readModelUri("ipfs://bafy"), /the ipfs scheme is not supported/);
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DeploymentError, parseDeployment, startBlock } from "../src/index.js";
import { loadDeployment } from "../src/node/index.js";

/** The shape `verinfer.chain.deploy.to_json` writes. */
const document = {
  chainId: 31337,
  deployer: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
  contracts: {
    ModelRegistry: { address: "0x5FbDB2315678afecb367f032d93F642f64180aa3", block: 1, txHash: `0x${"11".repeat(32)}` },
    NodeRegistry: { address: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", block: 2, txHash: `0x${"22".repeat(32)}` },
    InferenceHub: { address: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0", block: 3, txHash: `0x${"33".repeat(32)}` },
  },
  params: {
    minStake: "1000000000000000000",
    unbondingDelay: 86400,
    hub: {
      maxCallbackGas: 2000000,
      maxInputBytes: 65536,
      revealWindow: 60,
      maxDeadlineHorizon: 86400,
      slashBps: 1000,
      maxRedundancy: 9,
    },
  },
};

test("the address book loads typed", () => {
  const deployment = parseDeployment(JSON.stringify(document));
  assert.equal(deployment.deployer, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"); // checksummed
  assert.equal(deployment.contracts.InferenceHub.block, 3n);
  assert.equal(deployment.params.minStake, 10n ** 18n);
  assert.equal(deployment.params.hub.maxRedundancy, 9);
  assert.equal(startBlock(deployment), 1n);

  const broken = structuredClone(document) as Record<string, unknown>;
  (broken.contracts as Record<string, Record<string, unknown>>).NodeRegistry!.address = "0x1234";
  assert.throws(
    () => parseDeployment(broken, "d.json"),
    /^DeploymentError: deployment d\.json: contracts\.NodeRegistry\.address must be an address/,
  );
  assert.throws(() => parseDeployment("{", "d.json"), DeploymentError);

  const dir = mkdtempSync(join(tmpdir(), "verinfer-js-deployments-"));
  try {
    writeFileSync(join(dir, "31337.json"), JSON.stringify(document));
    assert.deepEqual(loadDeployment({ chainId: 31337, dir }), deployment);
    assert.throws(() => loadDeployment({ chainId: 1, dir }), /no deployment at .*1\.json: deploy first/);
    assert.throws(() => loadDeployment({ chainId: 1, path: join(dir, "31337.json") }), /is for chain 31337, not 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

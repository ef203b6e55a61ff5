/** A real devnet for the tests: the Python `verinfer devnet up --json` (anvil, the contracts, the demo models, staked
 *  nodes running the real node service), spawned from the repository root and stopped with SIGTERM, which makes the
 *  CLI stop every process it started (tests/node/integration/test_devnet.py checks that it does). */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Address, Hex } from "viem";
import { PYTHON, REPO_ROOT } from "./paths.js";

/** The document `verinfer devnet up --json` prints (see `DevnetInfo.to_json`). */
export interface DevnetInfo {
  rpcUrl: string;
  chainId: number;
  anvilPid: number;
  stateDir: string;
  deploymentFile: string;
  contracts: { ModelRegistry: Address; NodeRegistry: Address; InferenceHub: Address };
  deployer: Address;
  user: { address: Address; privateKey: Hex };
  models: { name: string; modelId: Hex; uri: string; path: string }[];
  nodes: { address: Address; config: string; metricsPort: number; log: string; pid: number }[];
}

export interface RunningDevnet {
  info: DevnetInfo;
  /** The folder holding `<chainId>.json` (the devnet writes its deployment there). */
  deploymentsDir: string;
  stop(): Promise<void>;
}

const STDERR_KEPT = 8_000;

/** Starts a devnet with `nodes` nodes; resolves once it printed its JSON document (everything is up then). */
export async function startDevnet(nodes: number): Promise<RunningDevnet> {
  const home = mkdtempSync(join(tmpdir(), "verinfer-js-devnet-"));
  const deploymentsDir = join(home, "deployments");
  const child = spawn(
    PYTHON,
    [
      "-m",
      "verinfer",
      "devnet",
      "up",
      "--json",
      "--nodes",
      String(nodes),
      "--state-dir",
      join(home, "state"),
      "--deployment-file",
      join(deploymentsDir, "31337.json"),
    ],
    { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } },
  );
  // If this test process dies first, the devnet still gets its SIGTERM and stops what it started.
  const onExit = (): void => void child.kill("SIGTERM");
  process.on("exit", onExit);
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_KEPT)));
  let stopping = false;
  let up = false;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => {
      // A devnet that dies while tests use it fails them with connection errors that name no cause: print it now.
      if (up && !stopping) console.error(`the devnet exited (code ${code}, signal ${signal}) mid-test: ${stderr}`);
      resolve(code);
    }),
  );

  const stop = async (): Promise<void> => {
    stopping = true;
    process.off("exit", onExit);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const code = await exited;
    rmSync(home, { recursive: true, force: true });
    if (code !== 0 && code !== null) throw new Error(`the devnet exited with code ${code} on SIGTERM: ${stderr}`);
  };

  try {
    const info = await readDocument(child, exited, () => stderr);
    up = true;
    return { info, deploymentsDir, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

function readDocument(child: ChildProcess, exited: Promise<number | null>, stderr: () => string): Promise<DevnetInfo> {
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout!.setEncoding("utf8");
    const onData = (chunk: string): void => {
      text += chunk;
      // The document ends with a closing brace alone on its line (the Python test reads it the same way).
      const end = text.search(/^\}\s*$/m);
      if (end < 0) return;
      child.stdout!.off("data", onData);
      child.stdout!.resume(); // keep draining: nothing more is expected, but a full pipe must never block the CLI
      try {
        resolve(JSON.parse(text.slice(0, end + 1)) as DevnetInfo);
      } catch (error) {
        reject(new Error(`the devnet printed something that is not its JSON document: ${text}\n${String(error)}`));
      }
    };
    child.stdout!.on("data", onData);
    void exited.then((code) => reject(new Error(`the devnet exited with code ${code} before it was up: ${stderr()}`)));
  });
}

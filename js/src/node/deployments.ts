/** Reading the deployments address book from disk: `deployments/<chainId>.json` at the repository root (found by
 *  its foundry.toml, as the Python package does), or the folder `$VERINFER_DEPLOYMENTS` names, or an explicit path. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseDeployment, type Deployment } from "../deployments.js";
import { DeploymentError } from "../errors.js";

export const ENV_DEPLOYMENTS = "VERINFER_DEPLOYMENTS";

/** The repository root above `from` (the first folder holding foundry.toml), or undefined. */
export function findRepoRoot(from: string = process.cwd()): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "foundry.toml"))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** `$VERINFER_DEPLOYMENTS`, else `deployments/` at the repository root. */
export function deploymentsDir(): string {
  const override = process.env[ENV_DEPLOYMENTS];
  if (override) return resolve(override);
  const root = findRepoRoot();
  if (root === undefined) {
    throw new DeploymentError(
      `cannot find the repository root (no foundry.toml above ${process.cwd()}): set ${ENV_DEPLOYMENTS} or pass a path`,
    );
  }
  return join(root, "deployments");
}

export interface LoadDeploymentOptions {
  /** The chain the deployment must be for; also names the file (`<dir>/<chainId>.json`) when `path` is not given. */
  chainId?: number;
  /** The deployment file itself. */
  path?: string;
  /** The folder of `<chainId>.json` files (default: `deploymentsDir()`). */
  dir?: string;
}

/** Reads a deployment written by the Python `save_deployment`. */
export function loadDeployment(options: LoadDeploymentOptions): Deployment {
  const { chainId } = options;
  let path = options.path;
  if (path === undefined) {
    if (chainId === undefined) throw new DeploymentError("loadDeployment needs a chainId or a path");
    path = join(options.dir ?? deploymentsDir(), `${chainId}.json`);
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new DeploymentError(`no deployment at ${path}: deploy first with \`verinfer deploy\``);
    throw new DeploymentError(`cannot read the deployment file ${path}: ${(error as Error).message}`);
  }
  const deployment = parseDeployment(text, path);
  if (chainId !== undefined && deployment.chainId !== chainId) {
    throw new DeploymentError(`deployment file ${path} is for chain ${deployment.chainId}, not ${chainId}`);
  }
  return deployment;
}

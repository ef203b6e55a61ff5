/** The deployments address book: the JSON that the Python deploy writes to `deployments/<chainId>.json`
 *  (`verinfer.chain.deploy.to_json`), typed. `parseDeployment` works anywhere; reading the file from disk is
 *  `loadDeployment` in `@verinfer/sdk/node`. */
import { getAddress, isAddress, isHex, type Address, type Hex } from "viem";
import { DeploymentError } from "./errors.js";

/** Where one contract of a deployment lives. */
export interface DeployedContract {
  address: Address;
  /** The block of the deploying transaction: where an event scan for this contract starts. */
  block: bigint;
  txHash: Hex;
}

/** The hub's tunable parameters at deployment (`HubParams` in IInferenceHub.sol). */
export interface HubParams {
  maxCallbackGas: number;
  maxInputBytes: number;
  revealWindow: number;
  maxDeadlineHorizon: number;
  slashBps: number;
  maxRedundancy: number;
}

export const CONTRACT_NAMES = ["ModelRegistry", "NodeRegistry", "InferenceHub"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

/** A deployed system: the three contracts, who deployed them, and the parameters they were deployed with. */
export interface Deployment {
  chainId: number;
  deployer: Address;
  contracts: Readonly<Record<ContractName, DeployedContract>>;
  params: {
    minStake: bigint;
    unbondingDelay: number;
    hub: HubParams;
  };
}

const HUB_PARAM_NAMES = [
  "maxCallbackGas",
  "maxInputBytes",
  "revealWindow",
  "maxDeadlineHorizon",
  "slashBps",
  "maxRedundancy",
] as const satisfies readonly (keyof HubParams)[];

type Json = Record<string, unknown>;

class Reader {
  constructor(readonly source: string) {}

  fail(field: string, problem: string): never {
    throw new DeploymentError(`deployment ${this.source}: ${field} ${problem}`);
  }

  object(value: unknown, field: string): Json {
    if (value === null || typeof value !== "object" || Array.isArray(value)) this.fail(field, "must be an object");
    return value as Json;
  }

  int(value: unknown, field: string): number {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      this.fail(field, `must be a non-negative integer, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  bigint(value: unknown, field: string): bigint {
    // Amounts in wei are decimal strings (they overflow JSON numbers); small ones may be plain numbers.
    if (typeof value === "string" && /^\d+$/.test(value)) return BigInt(value);
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
    this.fail(field, `must be a non-negative integer or a decimal string, got ${JSON.stringify(value)}`);
  }

  address(value: unknown, field: string): Address {
    if (typeof value !== "string" || !isAddress(value, { strict: false })) {
      this.fail(field, `must be an address (0x + 40 hex digits), got ${JSON.stringify(value)}`);
    }
    return getAddress(value);
  }

  hash(value: unknown, field: string): Hex {
    if (typeof value !== "string" || !isHex(value) || value.length !== 66) {
      this.fail(field, `must be a 32-byte hex hash, got ${JSON.stringify(value)}`);
    }
    return value.toLowerCase() as Hex;
  }
}

/** A deployment from its JSON document (parsed or as text). `source` names it in error messages. */
export function parseDeployment(raw: unknown, source = "(in memory)"): Deployment {
  const r = new Reader(source);
  let doc = raw;
  if (typeof raw === "string") {
    try {
      doc = JSON.parse(raw);
    } catch (error) {
      throw new DeploymentError(`deployment ${source} is not JSON: ${(error as Error).message}`);
    }
  }
  const top = r.object(doc, "the document");
  const contractsJson = r.object(top.contracts, "contracts");
  const contracts = {} as Record<ContractName, DeployedContract>;
  for (const name of CONTRACT_NAMES) {
    const c = r.object(contractsJson[name], `contracts.${name}`);
    contracts[name] = {
      address: r.address(c.address, `contracts.${name}.address`),
      block: BigInt(r.int(c.block, `contracts.${name}.block`)),
      txHash: r.hash(c.txHash, `contracts.${name}.txHash`),
    };
  }
  const params = r.object(top.params, "params");
  const hubJson = r.object(params.hub, "params.hub");
  const hub = {} as HubParams;
  for (const name of HUB_PARAM_NAMES) hub[name] = r.int(hubJson[name], `params.hub.${name}`);
  return {
    chainId: r.int(top.chainId, "chainId"),
    deployer: r.address(top.deployer, "deployer"),
    contracts,
    params: {
      minStake: r.bigint(params.minStake, "params.minStake"),
      unbondingDelay: r.int(params.unbondingDelay, "params.unbondingDelay"),
      hub,
    },
  };
}

/** The first block holding any of the contracts: where an event scan starts. */
export function startBlock(deployment: Deployment): bigint {
  return CONTRACT_NAMES.map((n) => deployment.contracts[n].block).reduce((a, b) => (a < b ? a : b));
}

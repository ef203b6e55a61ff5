/** Enums and records mirroring the contracts' (field order = Solidity declaration order, so they encode as the
 *  structs do). The Python twins live in `verinfer.types`. */
import type { Address, Hex } from "viem";

/** How a result is shown to be correct (`Mode` in IModelRegistry.sol). */
export const Mode = { SINGLE: 0, CONSENSUS: 1, ZK: 2 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

/** Where a request stands (`Status` in IInferenceHub.sol). */
export const Status = {
  NONE: 0,
  PENDING: 1,
  FULFILLED: 2,
  NO_CONSENSUS: 3,
  REFUNDED: 4,
  CONFIRMED: 5,
  DISPUTED: 6,
  OVERTURNED: 7,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/** Where a challenge of a SINGLE result stands (`DisputeState` in IDisputes.sol). */
export const DisputeState = { NONE: 0, OPEN: 1, UPHELD: 2, OVERTURNED: 3, VOID: 4 } as const;
export type DisputeState = (typeof DisputeState)[keyof typeof DisputeState];

/** Set in a request's `callbackGasLimit` to have its callback wait until the SINGLE result is final (the hub's
 *  `CALLBACK_ON_FINAL`); the low 31 bits are the gas. */
export const CALLBACK_ON_FINAL = 2 ** 31;

/** The gas of a request's callback: its `callbackGasLimit` without the `CALLBACK_ON_FINAL` flag. */
export function callbackGas(callbackGasLimit: number): number {
  return callbackGasLimit % CALLBACK_ON_FINAL;
}

/** Why a node may or may not take work (`Eligibility` in INodeRegistry.sol). */
export const Eligibility = {
  ELIGIBLE: 0,
  NOT_REGISTERED: 1,
  STAKE_BELOW_MINIMUM: 2,
  UNBONDING: 3,
  MODEL_NOT_SERVED: 4,
  /** Stake below the model's stake at risk (after a slash). */
  STAKE_BELOW_MODEL_RISK: 5,
} as const;
export type Eligibility = (typeof Eligibility)[keyof typeof Eligibility];

/** Why a batch item was skipped (`SkipReason`). */
export const SkipReason = { NOT_PENDING: 0, EXPIRED: 1 } as const;
/** Why a consumer callback did not complete (`CallbackFailure`). */
export const CallbackFailure = { NO_CODE: 0, REVERTED: 1 } as const;

/** Solidity enum name -> its members by value, for rendering ABI values whose internalType is `enum <Name>`. */
export const ENUMS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  Mode,
  Status,
  Eligibility,
  SkipReason,
  CallbackFailure,
  DisputeState,
};

/** The member name of `value` in the Solidity enum `enumType` (`FULFILLED`), or the bare number when it has none. */
export function memberName(enumType: string, value: number): string {
  const members = ENUMS[enumType];
  const found = members && Object.entries(members).find(([, v]) => v === value);
  return found ? found[0] : String(value);
}

/** The bitmask of allowed modes the registry stores: bit i set for Mode(i). */
export function modeMask(modes: Iterable<Mode>): number {
  let bits = 0;
  for (const mode of modes) bits |= 1 << mode;
  return bits;
}

/** The parameters of a request (`RequestParams` in IInferenceHub.sol). The hub stores only their hash; whoever acts
 *  on a request (a node delivering, anyone reclaiming) passes them back. */
export interface RequestParams {
  modelId: Hex;
  /** keccak256 of the input bytes. */
  inputHash: Hex;
  requester: Address;
  fee: bigint;
  deadline: bigint;
  callbackGasLimit: number;
  outputBytes: number;
  mode: Mode;
  redundancy: number;
  envRestricted: boolean;
  /** The request's lottery word (from its `InferenceRequested` event). */
  lottery: bigint;
}

/** What the hub needs to accept a request for a model (`ModelTerms`). */
export interface ModelTerms {
  price: bigint;
  inputBytes: number;
  outputBytes: number;
  modes: number;
  deprecated: boolean;
  envRestricted: boolean;
  exists: boolean;
}

/** Everything a model owner declared at registration (`ModelSpec`). */
export interface ModelSpec {
  uri: string;
  inputShape: readonly number[];
  outputShape: readonly number[];
  /** Fixed-point multiplier of the canonical tensor encoding. */
  scale: bigint;
  price: bigint;
  modes: number;
  allowedEnvironments: readonly Hex[];
  /** Seconds a SINGLE result stays challengeable (0: the hub's window, which also caps it). */
  challengeWindow: number;
  /** Wei one result may move: the stake a node needs to serve the model, lost at least if a result is overturned. */
  stakeAtRisk: bigint;
  /** Arithmetic classes whose nodes may serve the model (bit i = class i; 0: any). */
  arithmeticClasses: number;
  verifier: Address;
  /** `FORMAT_*` bits: variable-length input (1) / output (2), a bundle (4); 0 for one ONNX file of fixed tensors. */
  format: number;
  /** The model card: canonical JSON of the ports' scales, committed outputs, labels and limits (0x: the empty card;
   *  read it with `parseModelCard`). */
  card: Hex;
}

/** The `InferenceRequested` event of one request, decoded, with where it was emitted. */
export interface InferenceRequest {
  requestId: bigint;
  modelId: Hex;
  requester: Address;
  fee: bigint;
  deadline: bigint;
  callbackGasLimit: number;
  mode: Mode;
  redundancy: number;
  /** The lottery and terms the hub fixed at the request: seed | requestedAt | serving stake (gwei) | ticket delay |
   *  callback gas price cap | slashBps | revealWindow (layout on `RequestParams` in IInferenceHub.sol). */
  lottery: bigint;
  /** The canonical input bytes (see `encodeTensor`). */
  input: Hex;
  blockNumber: bigint;
  transactionHash: Hex;
}

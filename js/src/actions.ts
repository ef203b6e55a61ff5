/** viem actions on a deployment: read models and requests, request an inference, wait for its result (decoded, with
 *  its provenance from the logs, and the one a dispute put in place of an overturned one), read whether it is final,
 *  reclaim the fee of an expired request, withdraw. Every revert surfaces as a
 *  `ContractRevertError` named from the ABIs: `InsufficientFee(paid=1, required=1000000000000000)`. */
import {
  keccak256,
  parseEventLogs,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from "viem";
import { inferenceHubAbi } from "./abi/InferenceHub.js";
import { modelRegistryAbi } from "./abi/ModelRegistry.js";
import { decodeOutputs, inputScale, parseModelCard } from "./card.js";
import { decodeTensor, elementCount, encodeTensor, type TensorValues, flatten } from "./codec.js";
import type { Deployment } from "./deployments.js";
import { readDispute, readOverturned, type Dispute } from "./disputes.js";
import { ChainError, CodecError, RequestFailedError, ResultTimeoutError, VerinferError } from "./errors.js";
import { withDecodedRevert } from "./revert.js";
import {
  CALLBACK_ON_FINAL,
  Mode,
  Status,
  memberName,
  type InferenceRequest,
  type ModelSpec,
  type ModelTerms,
  type RequestParams,
} from "./types.js";

/** The clients and deployment every action works on. `walletClient` (with an account) only for writes. */
export interface VerinferContext {
  publicClient: PublicClient<Transport, Chain | undefined>;
  walletClient?: WalletClient<Transport, Chain | undefined, Account | undefined>;
  deployment: Deployment;
}

const hubOf = (ctx: VerinferContext): Address => ctx.deployment.contracts.InferenceHub.address;
const registryOf = (ctx: VerinferContext): Address => ctx.deployment.contracts.ModelRegistry.address;

/* ---------------------------------------------------------------- reads */

/** The model's registered spec (`ModelRegistry.getModel`). */
export async function readModel(ctx: VerinferContext, modelId: Hex): Promise<ModelSpec> {
  const [, spec, terms] = await withDecodedRevert(() =>
    ctx.publicClient.readContract({
      address: registryOf(ctx),
      abi: modelRegistryAbi,
      functionName: "getModel",
      args: [modelId],
    }),
  );
  if (!terms.exists) throw new ChainError(`no model ${modelId} in registry ${registryOf(ctx)}`);
  return {
    uri: spec.uri,
    inputShape: spec.inputShape,
    outputShape: spec.outputShape,
    scale: spec.scale,
    price: spec.price,
    modes: spec.modes,
    allowedEnvironments: spec.allowedEnvironments,
    challengeWindow: spec.challengeWindow,
    stakeAtRisk: spec.stakeAtRisk,
    arithmeticClasses: spec.arithmeticClasses,
    verifier: spec.verifier,
    format: spec.format,
    card: spec.card,
  };
}

/** The hub's copy of the model's request terms (`InferenceHub.modelTermsOf`). */
export async function readTerms(ctx: VerinferContext, modelId: Hex, blockNumber?: bigint): Promise<ModelTerms> {
  const terms = await ctx.publicClient.readContract({
    address: hubOf(ctx),
    abi: inferenceHubAbi,
    functionName: "modelTermsOf",
    args: [modelId],
    ...(blockNumber === undefined ? {} : { blockNumber }),
  });
  return { ...terms };
}

/** The request's status. */
export async function statusOf(ctx: VerinferContext, requestId: bigint, blockNumber?: bigint): Promise<Status> {
  const status = await ctx.publicClient.readContract({
    address: hubOf(ctx),
    abi: inferenceHubAbi,
    functionName: "statusOf",
    args: [requestId],
    ...(blockNumber === undefined ? {} : { blockNumber }),
  });
  return status as Status;
}

/** The stored hash: the parameter hash with its lowest byte zeroed while pending or refunded (compare with
 *  `storedParamsForm(...)`), the result commitment's top 128 bits once a result is recorded (`storedForm(...)`). */
export async function commitmentOf(ctx: VerinferContext, requestId: bigint, blockNumber?: bigint): Promise<Hex> {
  return ctx.publicClient.readContract({
    address: hubOf(ctx),
    abi: inferenceHubAbi,
    functionName: "commitmentOf",
    args: [requestId],
    ...(blockNumber === undefined ? {} : { blockNumber }),
  });
}

async function hubLogs<const E extends HubEvent>(
  ctx: VerinferContext,
  eventName: E,
  requestId: bigint,
  fromBlock?: bigint,
) {
  return ctx.publicClient.getContractEvents({
    address: hubOf(ctx),
    abi: inferenceHubAbi,
    eventName,
    args: { requestId } as never,
    fromBlock: fromBlock ?? ctx.deployment.contracts.InferenceHub.block,
    toBlock: "latest",
    strict: true,
  });
}

type HubEvent =
  "InferenceRequested" | "ResultSubmitted" | "ConsensusReached" | "ResultCommitted" | "ResultRevealed" | "FeeReclaimed";

/** The request's `InferenceRequested` event (any requester). `fromBlock` narrows the scan (default: the hub's
 *  deployment block). */
export async function getRequest(
  ctx: VerinferContext,
  requestId: bigint,
  fromBlock?: bigint,
): Promise<InferenceRequest> {
  const logs = await hubLogs(ctx, "InferenceRequested", requestId, fromBlock);
  const log = logs[0];
  if (!log) throw new ChainError(`no request ${requestId} on hub ${hubOf(ctx)} (no InferenceRequested log)`);
  return requestFromLog(log);
}

function requestFromLog(log: {
  args: {
    requestId: bigint;
    modelId: Hex;
    requester: Address;
    fee: bigint;
    deadline: bigint;
    callbackGasLimit: number;
    mode: number;
    redundancy: number;
    lottery: bigint;
    input: Hex;
  };
  blockNumber: bigint | null;
  transactionHash: Hex | null;
}): InferenceRequest {
  const a = log.args;
  if (log.blockNumber === null || log.transactionHash === null) {
    throw new ChainError(`the InferenceRequested log of request ${a.requestId} is not mined yet`);
  }
  return {
    requestId: a.requestId,
    modelId: a.modelId,
    requester: a.requester,
    fee: a.fee,
    deadline: a.deadline,
    callbackGasLimit: a.callbackGasLimit,
    mode: a.mode as Mode,
    redundancy: a.redundancy,
    lottery: a.lottery,
    input: a.input,
    blockNumber: log.blockNumber,
    transactionHash: log.transactionHash,
  };
}

/** The request's parameters as the hub hashed them, from its event and the model's terms (`outputBytes` and
 *  `envRestricted` are immutable per model). */
export function requestParams(
  request: InferenceRequest,
  terms: Pick<ModelTerms, "outputBytes" | "envRestricted">,
): RequestParams {
  return {
    modelId: request.modelId,
    inputHash: keccak256(request.input),
    requester: request.requester,
    fee: request.fee,
    deadline: request.deadline,
    callbackGasLimit: request.callbackGasLimit,
    outputBytes: terms.outputBytes,
    mode: request.mode,
    redundancy: request.redundancy,
    envRestricted: terms.envRestricted,
    lottery: request.lottery,
  };
}

/** The parameters `reclaimFee` (or any other action on the request) needs, read from the chain. */
export async function readRequestParams(
  ctx: VerinferContext,
  requestId: bigint,
  fromBlock?: bigint,
): Promise<RequestParams> {
  const request = await getRequest(ctx, requestId, fromBlock);
  return requestParams(request, await readTerms(ctx, request.modelId));
}

/* ---------------------------------------------------------------- writes */

function wallet(ctx: VerinferContext): { client: NonNullable<VerinferContext["walletClient"]>; account: Account } {
  const client = ctx.walletClient;
  if (!client?.account) throw new VerinferError("this action sends a transaction: pass a walletClient with an account");
  return { client, account: client.account };
}

async function send(
  ctx: VerinferContext,
  call: { functionName: "requestInference" | "reclaimFee" | "withdraw"; args: readonly unknown[]; value?: bigint },
): Promise<TransactionReceipt> {
  const { client, account } = wallet(ctx);
  const { request } = await withDecodedRevert(() =>
    ctx.publicClient.simulateContract({
      address: hubOf(ctx),
      abi: inferenceHubAbi,
      functionName: call.functionName,
      args: call.args,
      account,
      ...(call.value === undefined ? {} : { value: call.value }),
    } as never),
  );
  const hash = await withDecodedRevert(() =>
    client.writeContract({ ...(request as object), account, chain: client.chain ?? null } as never),
  );
  const receipt = await ctx.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new ChainError(`${call.functionName} transaction ${hash} reverted`);
  return receipt;
}

export interface RequestInferenceArgs {
  modelId: Hex;
  /** The input values, shaped like the model's input (or without its batch dimension of 1); encoded at the model's
   *  scale. Give `input` instead to send canonical bytes as they are. */
  values?: TensorValues;
  input?: Hex;
  mode?: Mode;
  /** 1 for SINGLE and ZK; k (2..maxRedundancy) for CONSENSUS. */
  redundancy?: number;
  /** Exact gas for the consumer callback (below 2^31); 0 (the default) for none. */
  callbackGasLimit?: number;
  /** Have the callback of a SINGLE result wait until the result is final (`CALLBACK_ON_FINAL`): its challenge
   *  window passed (then anyone delivers it with `deliverFinal`) or a dispute ended. Needs a `callbackGasLimit`. */
  callbackOnFinal?: boolean;
  /** Unix seconds after which no result is accepted and the fee can be reclaimed. Default: the latest block's time
   *  plus `deadlineSeconds`. */
  deadline?: bigint;
  deadlineSeconds?: number;
  /** Wei to escrow; default: the model's price times `redundancy`. */
  fee?: bigint;
}

export interface RequestHandle {
  requestId: bigint;
  request: InferenceRequest;
  receipt: TransactionReceipt;
}

/** A result's output values, flat: each committed output at its own scale when the card lists them (integers
 *  exactly), else every element at the entry's scale. */
function outputValues(spec: ModelSpec, outputBytes: Hex): Float64Array {
  const named = decodeOutputs(parseModelCard(spec.card), spec, outputBytes);
  if (!named) return decodeTensor(outputBytes, { shape: spec.outputShape, scale: spec.scale });
  const flat = new Float64Array(named.reduce((n, o) => n + o.values.length, 0));
  let at = 0;
  for (const { values } of named) {
    flat.set(values, at);
    at += values.length;
  }
  return flat;
}

/** Requests an inference; returns once the request is mined, with its id and event. */
export async function requestInference(ctx: VerinferContext, args: RequestInferenceArgs): Promise<RequestHandle> {
  const mode = args.mode ?? Mode.SINGLE;
  const redundancy = args.redundancy ?? 1;
  let input = args.input;
  if (input === undefined) {
    if (args.values === undefined)
      throw new CodecError("requestInference needs `values` (real numbers) or `input` (canonical bytes)");
    const spec = await readModel(ctx, args.modelId);
    const count = flatten(args.values).length;
    const expected = elementCount(spec.inputShape);
    if (count !== expected) {
      throw new CodecError(
        `model ${args.modelId} takes ${expected} input values (shape [${spec.inputShape.join(", ")}]), got ${count}`,
      );
    }
    input = encodeTensor(args.values, { scale: inputScale(parseModelCard(spec.card), spec) }); // its own, if any
  }
  const gas = args.callbackGasLimit ?? 0;
  if (!Number.isSafeInteger(gas) || gas < 0 || gas >= CALLBACK_ON_FINAL) {
    throw new VerinferError(
      `callbackGasLimit must be an integer in [0, 2^31), got ${gas} (bit 31 is the CALLBACK_ON_FINAL flag: set callbackOnFinal)`,
    );
  }
  if (args.callbackOnFinal && gas === 0) {
    throw new VerinferError("callbackOnFinal without a callbackGasLimit: there is no callback to wait for");
  }
  const fee = args.fee ?? (await readTerms(ctx, args.modelId)).price * BigInt(redundancy);
  let deadline = args.deadline;
  if (deadline === undefined) {
    const latest = await ctx.publicClient.getBlock({ blockTag: "latest" });
    deadline = latest.timestamp + BigInt(args.deadlineSeconds ?? 3600);
  }
  const receipt = await send(ctx, {
    functionName: "requestInference",
    args: [args.modelId, input, mode, redundancy, args.callbackOnFinal ? gas + CALLBACK_ON_FINAL : gas, deadline],
    value: fee,
  });
  const logs = parseEventLogs({
    abi: inferenceHubAbi,
    eventName: "InferenceRequested",
    logs: receipt.logs,
    strict: true,
  }).filter((log) => log.address.toLowerCase() === hubOf(ctx).toLowerCase());
  const log = logs[0];
  if (logs.length !== 1 || !log)
    throw new ChainError(`requestInference emitted ${logs.length} InferenceRequested logs, expected 1`);
  const request = requestFromLog(log);
  return { requestId: request.requestId, request, receipt };
}

/** A fulfilled request's output, decoded, and where it came from. */
export interface InferenceResult {
  requestId: bigint;
  mode: Mode;
  /** The request's status when the result was read: FULFILLED (a SINGLE result is provisional until its window
   *  passes: `readFinality`), CONFIRMED, DISPUTED (the recorded result stands until the dispute ends) or OVERTURNED
   *  (output, nodes, environments and commitment are those of the result the dispute put in its place). */
  status: Status;
  modelId: Hex;
  /** The output's real values (element / scale), flat in row-major order; its shape is `spec.outputShape`. */
  output: Float64Array;
  outputBytes: Hex;
  inputHash: Hex;
  outputHash: Hex;
  /** One per answering node: the node for SINGLE and ZK, the agreeing nodes in commit order for CONSENSUS. */
  envHashes: readonly Hex[];
  nodes: readonly Address[];
  /** The result commitment as the event carries it (`commitmentOf` returns its top 128 bits); for an overturned
   *  result, the one the hub recorded for the dispute's output. */
  commitment: Hex;
  request: InferenceRequest;
  spec: ModelSpec;
  resultBlock: bigint;
  resultTx: Hex;
}

export interface WaitOptions {
  /** How long to wait for the request to be fulfilled (default 60 000 ms); 0 reads the result only if it is there. */
  timeoutMs?: number;
  /** First poll interval; it grows by half each time up to 5 s (default 200 ms). */
  pollIntervalMs?: number;
  /** Where the log scan starts (default: the hub's deployment block). */
  fromBlock?: bigint;
}

const MAX_POLL_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The statuses of a request that holds a result (see `InferenceResult.status`). */
const RESULT_STATUSES: ReadonlySet<Status> = new Set([
  Status.FULFILLED,
  Status.CONFIRMED,
  Status.DISPUTED,
  Status.OVERTURNED,
]);

/** Waits until the request holds a result and returns it: the recorded one (a SINGLE result may still be
 *  provisional or disputed: `readFinality` says), or for an OVERTURNED request the one the dispute put in its place.
 *  Throws `ResultTimeoutError` if it is still pending after `timeoutMs`, `RequestFailedError` if it ended without a
 *  result. */
export async function waitForResult(
  ctx: VerinferContext,
  requestId: bigint,
  options: WaitOptions = {},
): Promise<InferenceResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  let delay = options.pollIntervalMs ?? 200;
  if (!(timeoutMs >= 0) || !(delay > 0)) {
    throw new VerinferError(`timeoutMs must be >= 0 and pollIntervalMs > 0, got ${timeoutMs} and ${delay}`);
  }
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const status = await statusOf(ctx, requestId);
    if (RESULT_STATUSES.has(status)) return resultOf(ctx, requestId, status, options.fromBlock);
    if (status === Status.NO_CONSENSUS || status === Status.REFUNDED) throw new RequestFailedError(requestId, status);
    if (status === Status.NONE) throw new ChainError(`no request ${requestId} on hub ${hubOf(ctx)}`);
    const left = giveUp - Date.now();
    if (left <= 0) throw new ResultTimeoutError(requestId, timeoutMs, status);
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 1.5, MAX_POLL_MS);
  }
}

/** The result of a request that holds one, from its logs: `ResultSubmitted` for SINGLE and ZK; `ConsensusReached`
 *  with the agreeing nodes' `ResultCommitted` (commit order) for CONSENSUS; for an OVERTURNED request, the dispute
 *  contract's record of the output that replaced it (`readOverturned`). */
export async function readResult(
  ctx: VerinferContext,
  requestId: bigint,
  fromBlock?: bigint,
): Promise<InferenceResult> {
  const status = await statusOf(ctx, requestId);
  if (!RESULT_STATUSES.has(status))
    throw new ChainError(`request ${requestId} is ${memberName("Status", status)}: it holds no result`);
  return resultOf(ctx, requestId, status, fromBlock);
}

async function resultOf(
  ctx: VerinferContext,
  requestId: bigint,
  status: Status,
  fromBlock?: bigint,
): Promise<InferenceResult> {
  const request = await getRequest(ctx, requestId, fromBlock);
  const spec = await readModel(ctx, request.modelId);
  const from = request.blockNumber;
  const inputHash = keccak256(request.input);
  let outputBytes: Hex,
    commitment: Hex,
    envHashes: readonly Hex[],
    nodes: readonly Address[],
    resultBlock: bigint | null,
    resultTx: Hex | null;
  if (status === Status.OVERTURNED) {
    ({ outputBytes, commitment, envHashes, nodes, resultBlock, resultTx } = await readOverturned(
      ctx,
      requestId,
      request.modelId,
      inputHash,
      from,
    ));
  } else if (request.mode === Mode.CONSENSUS) {
    const reached = (await hubLogs(ctx, "ConsensusReached", requestId, from))[0];
    if (!reached) throw new ChainError(`request ${requestId} is FULFILLED but has no ConsensusReached log`);
    const winning = reached.args.outputHash;
    const revealed = await hubLogs(ctx, "ResultRevealed", requestId, from);
    const voted = new Set(revealed.filter((r) => r.args.outputHash === winning).map((r) => r.args.node));
    const committed = (await hubLogs(ctx, "ResultCommitted", requestId, from)).filter((c) => voted.has(c.args.node));
    ({ output: outputBytes, commitment } = reached.args);
    nodes = committed.map((c) => c.args.node);
    envHashes = committed.map((c) => c.args.envHash);
    ({ blockNumber: resultBlock, transactionHash: resultTx } = reached);
  } else {
    const submitted = (await hubLogs(ctx, "ResultSubmitted", requestId, from))[0];
    if (!submitted) throw new ChainError(`request ${requestId} is FULFILLED but has no ResultSubmitted log`);
    ({ output: outputBytes, commitment } = submitted.args);
    nodes = [submitted.args.node];
    envHashes = [submitted.args.envHash];
    ({ blockNumber: resultBlock, transactionHash: resultTx } = submitted);
  }
  if (resultBlock === null || resultTx === null)
    throw new ChainError(`the result log of request ${requestId} is not mined yet`);
  return {
    requestId,
    mode: request.mode,
    status,
    modelId: request.modelId,
    output: outputValues(spec, outputBytes),
    outputBytes,
    inputHash,
    outputHash: keccak256(outputBytes),
    envHashes,
    nodes,
    commitment,
    request,
    spec,
    resultBlock,
    resultTx,
  };
}

/** Where a request's result stands, in a word (Python's `Finality.phase`). */
export type FinalityPhase = "pending" | "failed" | "provisional" | "final" | "disputed" | "overturned";

/** Whether a request's result is final, and its dispute when it has one. */
export interface Finality {
  requestId: bigint;
  status: Status;
  isFinal: boolean;
  /** When a SINGLE result's window ends (or ended); 0 for a result final when recorded (CONSENSUS, ZK, or one a
   *  dispute put in place) and for a request without a result. */
  finalAt: bigint;
  phase: FinalityPhase;
  dispute: Dispute | null;
}

/** The phase of a request with `status` whose result is final or not (`finalityOf`). */
export function finalityPhase(status: Status, isFinal: boolean): FinalityPhase {
  if (status === Status.NONE || status === Status.PENDING) return "pending";
  if (status === Status.NO_CONSENSUS || status === Status.REFUNDED) return "failed";
  if (status === Status.DISPUTED) return "disputed";
  if (status === Status.OVERTURNED) return "overturned";
  return isFinal ? "final" : "provisional";
}

/** Whether the request's result is final (`InferenceHub.finalityOf`) and when, with its dispute. */
export async function readFinality(ctx: VerinferContext, requestId: bigint, fromBlock?: bigint): Promise<Finality> {
  const params = await readRequestParams(ctx, requestId, fromBlock);
  const [status, [isFinal, finalAt], dispute] = await Promise.all([
    statusOf(ctx, requestId),
    ctx.publicClient.readContract({
      address: hubOf(ctx),
      abi: inferenceHubAbi,
      functionName: "finalityOf",
      args: [requestId, params],
    }),
    readDispute(ctx, requestId),
  ]);
  return { requestId, status, isFinal, finalAt, phase: finalityPhase(status, isFinal), dispute };
}

export interface ReclaimResult {
  /** Wei credited back to the requester's withdrawable balance (`withdraw` pays it out). */
  amount: bigint;
  requester: Address;
  receipt: TransactionReceipt;
}

/** Reclaims the fee of a request whose deadline passed without a result (anyone may call it); the fee is credited
 *  to the requester's withdrawable balance. Before the deadline it throws `DeadlineNotPassed(requestId=…, deadline=…)`. */
export async function reclaim(ctx: VerinferContext, requestId: bigint, fromBlock?: bigint): Promise<ReclaimResult> {
  const params = await readRequestParams(ctx, requestId, fromBlock);
  const receipt = await send(ctx, { functionName: "reclaimFee", args: [requestId, params] });
  const log = parseEventLogs({ abi: inferenceHubAbi, eventName: "FeeReclaimed", logs: receipt.logs, strict: true })[0];
  if (!log) throw new ChainError(`reclaimFee for request ${requestId} emitted no FeeReclaimed log`);
  return { amount: log.args.amount, requester: log.args.requester, receipt };
}

/** The withdrawable balance of `account` on the hub (earned fees, refunds, slash shares). */
export async function balanceOf(ctx: VerinferContext, account: Address): Promise<bigint> {
  return ctx.publicClient.readContract({
    address: hubOf(ctx),
    abi: inferenceHubAbi,
    functionName: "balanceOf",
    args: [account],
  });
}

/** Sends the wallet account's whole withdrawable balance to `to` (default: itself). */
export async function withdraw(ctx: VerinferContext, to?: Address): Promise<TransactionReceipt> {
  return send(ctx, { functionName: "withdraw", args: [to ?? wallet(ctx).account.address] });
}

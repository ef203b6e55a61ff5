/** Optimistic SINGLE results and their disputes, read from the dispute contract (the Python twin is
 *  `verinfer.sdk.disputes`): a request's dispute, and the result a dispute put in place of an overturned one. The
 *  dispute contract is the hub's (`InferenceHub.disputes`), so no address book entry is needed. */
import { decodeFunctionData, keccak256, zeroAddress, zeroHash, type Address, type Hex } from "viem";
import { disputesAbi } from "./abi/Disputes.js";
import { inferenceHubAbi } from "./abi/InferenceHub.js";
import { resultCommitment } from "./commitments.js";
import { ChainError } from "./errors.js";
import type { VerinferContext } from "./actions.js";
import { DisputeState } from "./types.js";

/** A challenge of a SINGLE result, as `Disputes.disputeOf` shows it. */
export interface Dispute {
  requestId: bigint;
  state: DisputeState;
  challenger: Address;
  bond: bigint;
  /** The node whose result is challenged, and the challenged output's hash. */
  node: Address;
  outputHash: Hex;
  /** The current committee's draw (a lottery word: its seed and time are the challenge's, or its escalation's). */
  lottery: bigint;
  /** The current committee's seats taken so far, and revealed. */
  commits: number;
  reveals: number;
  commitEndsAt: bigint;
  /** When reveals close (0 while commits are open). */
  revealEndsAt: bigint;
  /** After when anyone may resolve it (earlier once every seat taken revealed). */
  resolvableAt: bigint;
  /** The committee's majority output hash once resolved (zero without one). */
  winner: Hex;
  /** Every member of either committee, in the order they first committed. */
  members: readonly Address[];
  /** 0: the first committee; 1: its escalation, drawn because the first had no majority. */
  round: number;
  /** The current committee's seats (3, or 7 once escalated). */
  seatCount: number;
  /** When the dispute opened: stake and service older than this hold tickets, in either committee. */
  openedAt: bigint;
}

/** The result that replaced an overturned one: its output, who the hub recorded it under and its commitment. */
export interface OverturnedRecord {
  outputBytes: Hex;
  /** The first committee member (in the order members first committed, either committee) that revealed the winning output; the dispute contract itself
   *  when a ZK proof settled the dispute (its environment is then zero). */
  nodes: readonly Address[];
  envHashes: readonly Hex[];
  /** The commitment the hub recorded for it (`resultCommitment` of the parts above). */
  commitment: Hex;
  /** The `DisputeResolved` log's block and transaction. */
  resultBlock: bigint;
  resultTx: Hex;
}

const REVEAL_WINDOW_SHIFT = 232n; // the lottery word's revealWindow field (layout on `RequestParams`)

/** The dispute contract's address, or null when the hub has none (a deployment from before disputes). */
export async function disputesAddress(ctx: VerinferContext): Promise<Address | null> {
  const address = await ctx.publicClient.readContract({
    address: ctx.deployment.contracts.InferenceHub.address,
    abi: inferenceHubAbi,
    functionName: "disputes",
  });
  return address === zeroAddress ? null : address;
}

async function requireDisputes(ctx: VerinferContext): Promise<Address> {
  const address = await disputesAddress(ctx);
  if (address === null) throw new ChainError("the hub has no dispute contract: its deployment predates disputes");
  return address;
}

/** The request's dispute, or null without one (or without a dispute contract). */
export async function readDispute(ctx: VerinferContext, requestId: bigint): Promise<Dispute | null> {
  const address = await disputesAddress(ctx);
  if (address === null) return null;
  const d = await ctx.publicClient.readContract({
    address,
    abi: disputesAbi,
    functionName: "disputeOf",
    args: [requestId],
  });
  if (d.state === DisputeState.NONE) return null;
  return {
    requestId,
    state: d.state as DisputeState,
    challenger: d.challenger,
    bond: d.bond,
    node: d.node,
    outputHash: d.outputHash,
    lottery: d.lottery,
    commits: d.commits,
    reveals: d.reveals,
    commitEndsAt: d.commitEndsAt,
    revealEndsAt: d.revealEndsAt,
    resolvableAt: d.revealEndsAt !== 0n ? d.revealEndsAt : d.commitEndsAt + (d.lottery >> REVEAL_WINDOW_SHIFT),
    winner: d.winner,
    members: d.members,
    round: d.round,
    seatCount: d.seatCount,
    openedAt: d.openedAt,
  };
}

/** The result a dispute put in place of request `requestId`'s (status OVERTURNED): the committee's majority output
 *  under its first agreeing member and that member's environment, as the dispute contract hands it to the hub, or
 *  a proof's output under the dispute contract itself. `fromBlock`: where the log scan starts (the request's). */
export async function readOverturned(
  ctx: VerinferContext,
  requestId: bigint,
  modelId: Hex,
  inputHash: Hex,
  fromBlock: bigint,
): Promise<OverturnedRecord> {
  const address = await requireDisputes(ctx);
  const scan = { address, abi: disputesAbi, args: { requestId }, fromBlock, toBlock: "latest", strict: true } as const;
  const resolved = (await ctx.publicClient.getContractEvents({ ...scan, eventName: "DisputeResolved" })).at(-1);
  if (!resolved) throw new ChainError(`request ${requestId} is OVERTURNED but has no DisputeResolved log`);
  const { blockNumber: resultBlock, transactionHash: resultTx } = resolved;
  if (resultBlock === null || resultTx === null)
    throw new ChainError(`the DisputeResolved log of request ${requestId} is not mined yet`);
  const winner = resolved.args.outputHash;
  const revealed = new Map<Address, Hex>();
  for (const log of await ctx.publicClient.getContractEvents({ ...scan, eventName: "DisputeRevealed" })) {
    if (log.args.outputHash === winner) revealed.set(log.args.member, log.args.output);
  }
  const dispute = await readDispute(ctx, requestId);
  const by = dispute?.members.find((member) => revealed.has(member));
  let node: Address, envHash: Hex, outputBytes: Hex;
  if (by !== undefined) {
    const vote = await ctx.publicClient.readContract({
      address,
      abi: disputesAbi,
      functionName: "voteOf",
      args: [requestId, by],
    });
    [node, envHash, outputBytes] = [by, vote.envHash, revealed.get(by)!];
  } else {
    // Settled by a proof: no member revealed the winner, and the output is in the settling call.
    [node, envHash, outputBytes] = [address, zeroHash, await provenOutput(ctx, resultTx)];
  }
  if (keccak256(outputBytes) !== winner)
    throw new ChainError(`request ${requestId}'s overturning output does not hash to the dispute's winner ${winner}`);
  const commitment = resultCommitment(requestId, modelId, inputHash, winner, envHash, node);
  return { outputBytes, nodes: [node], envHashes: [envHash], commitment, resultBlock, resultTx };
}

async function provenOutput(ctx: VerinferContext, hash: Hex): Promise<Hex> {
  const tx = await ctx.publicClient.getTransaction({ hash });
  let call;
  try {
    call = decodeFunctionData({ abi: disputesAbi, data: tx.input });
  } catch (error) {
    throw new ChainError(`the settling transaction ${hash} is not a call of the dispute contract`, { cause: error });
  }
  if (call.functionName !== "settleByProof")
    throw new ChainError(`the settling transaction ${hash} calls ${call.functionName}, not settleByProof`);
  return call.args[3];
}

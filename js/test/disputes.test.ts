/** Reading an overturned result without a devnet: a fake JSON-RPC endpoint answers the hub's, the registry's and the
 *  dispute contract's calls and logs (ABI-encoded with viem, as a node would), and `waitForResult`, `readResult` and
 *  `readFinality` read the result a dispute put in place of a lie, by a committee or by a proof. (A dispute played
 *  on a real chain, with the devnet's nodes as the committee, is in devnet.test.ts.) */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createPublicClient,
  custom,
  decodeFunctionData,
  encodeAbiParameters,
  encodeEventTopics,
  encodeFunctionData,
  encodeFunctionResult,
  getAbiItem,
  getAddress,
  keccak256,
  numberToHex,
  zeroHash,
  type Abi,
  type Address,
  type Hex,
} from "viem";
import {
  DisputeState,
  Mode,
  Status,
  disputesAbi,
  encodeTensor,
  finalityPhase,
  inferenceHubAbi,
  modelRegistryAbi,
  readFinality,
  readResult,
  resultCommitment,
  waitForResult,
  type Deployment,
  type VerinferContext,
} from "../src/index.js";

const HUB = getAddress("0x00000000000000000000000000000000000000a1");
const REGISTRY = getAddress("0x00000000000000000000000000000000000000a2");
const DISPUTES = getAddress("0x00000000000000000000000000000000000000a4");
const LIAR = getAddress("0x00000000000000000000000000000000000000b1");
const CHALLENGER = getAddress("0x00000000000000000000000000000000000000b2");
const [M1, M2, M3] = ["c1", "c2", "c3"].map((n) => getAddress(`0x${"00".repeat(19)}${n}`)) as [
  Address,
  Address,
  Address,
];
const REQUESTER = getAddress("0x00000000000000000000000000000000000000d1");
const REQUEST_ID = 7n;
const MODEL_ID: Hex = `0x${"ab".repeat(32)}`;
const SCALE = 1_000_000n;
const INPUT = encodeTensor([0.1, -1.2, 0.3, 2.0], { scale: SCALE });
const LIE = encodeTensor([0.9, 0.1], { scale: SCALE });
const HONEST = encodeTensor([0.1, 0.9], { scale: SCALE });
const ENV_OF: Record<Address, Hex> = {
  [M1]: `0x${"e1".repeat(32)}`,
  [M2]: `0x${"e2".repeat(32)}`,
  [M3]: `0x${"e3".repeat(32)}`,
};
const REVEAL_WINDOW = 600n;
const LOTTERY = (REVEAL_WINDOW << 232n) | 12345n;
const tx = (n: number): Hex => numberToHex(n, { size: 32 });

const deployment: Deployment = {
  chainId: 31337,
  deployer: REQUESTER,
  contracts: {
    ModelRegistry: { address: REGISTRY, block: 1n, txHash: tx(1) },
    NodeRegistry: { address: getAddress("0x00000000000000000000000000000000000000a3"), block: 1n, txHash: tx(2) },
    InferenceHub: { address: HUB, block: 1n, txHash: tx(3) },
  },
  params: {
    minStake: 1n,
    unbondingDelay: 1,
    hub: {
      maxCallbackGas: 1,
      maxInputBytes: 1,
      revealWindow: 600,
      maxDeadlineHorizon: 1,
      slashBps: 1,
      maxRedundancy: 3,
    },
  },
};

interface RpcLog {
  address: Address;
  topics: Hex[];
  data: Hex;
  blockNumber: Hex;
  transactionHash: Hex;
  logIndex: Hex;
  blockHash: Hex;
  transactionIndex: Hex;
  removed: false;
}

/** An event log as the chain would serve it. */
function log(abi: Abi, address: Address, eventName: string, args: Record<string, unknown>, block: number): RpcLog {
  const event = getAbiItem({ abi, name: eventName }) as { inputs: readonly { name: string; indexed?: boolean }[] };
  const indexed = Object.fromEntries(event.inputs.filter((i) => i.indexed).map((i) => [i.name, args[i.name]]));
  const plain = event.inputs.filter((i) => !i.indexed);
  return {
    address,
    topics: encodeEventTopics({ abi, eventName, args: indexed } as never) as Hex[],
    data: encodeAbiParameters(plain as never, plain.map((i) => args[i.name]) as never),
    blockNumber: numberToHex(block),
    transactionHash: tx(block),
    logIndex: "0x0",
    blockHash: tx(1000 + block),
    transactionIndex: "0x0",
    removed: false,
  };
}

/** A chain holding request 7: answered by the liar, challenged, and overturned either by a committee whose
 *  members M2 and M3 revealed the honest output (M1 the lie; M3 revealed first) or by a proof. */
function fakeChain(options: { status: Status; byProof?: boolean }) {
  const logs: RpcLog[] = [
    log(
      inferenceHubAbi,
      HUB,
      "InferenceRequested",
      {
        requestId: REQUEST_ID,
        modelId: MODEL_ID,
        requester: REQUESTER,
        fee: 10n ** 15n,
        deadline: 2_000_000_000n,
        callbackGasLimit: 0,
        mode: Mode.SINGLE,
        redundancy: 1,
        lottery: LOTTERY,
        input: INPUT,
      },
      10,
    ),
    log(
      inferenceHubAbi,
      HUB,
      "ResultSubmitted",
      {
        requestId: REQUEST_ID,
        node: LIAR,
        envHash: ENV_OF[M1],
        commitment: resultCommitment(REQUEST_ID, MODEL_ID, keccak256(INPUT), keccak256(LIE), ENV_OF[M1]!, LIAR),
        output: LIE,
      },
      11,
    ),
  ];
  const revealed = options.byProof ? [] : ([M3, M1, M2] as const);
  revealed.forEach((member, i) => {
    const output = member === M1 ? LIE : HONEST;
    const args = { requestId: REQUEST_ID, member, outputHash: keccak256(output), output };
    logs.push(log(disputesAbi, DISPUTES, "DisputeRevealed", args, 20 + i));
  });
  const resolvedArgs = {
    requestId: REQUEST_ID,
    state: DisputeState.OVERTURNED,
    outputHash: keccak256(HONEST),
    slashed: 5n,
  };
  logs.push(log(disputesAbi, DISPUTES, "DisputeResolved", resolvedArgs, 30));
  const settle = encodeFunctionData({
    abi: disputesAbi,
    functionName: "settleByProof",
    args: [
      REQUEST_ID,
      {
        modelId: MODEL_ID,
        inputHash: keccak256(INPUT),
        requester: REQUESTER,
        fee: 10n ** 15n,
        deadline: 2_000_000_000n,
        callbackGasLimit: 0,
        outputBytes: 16,
        mode: Mode.SINGLE,
        redundancy: 1,
        envRestricted: false,
        lottery: LOTTERY,
      },
      INPUT,
      HONEST,
      "0x1234",
    ],
  });

  const terms = {
    price: 10n ** 15n,
    inputBytes: 32,
    outputBytes: 16,
    modes: 3,
    deprecated: false,
    envRestricted: false,
    exists: true,
    scale: SCALE,
  };
  const contracts: Record<Address, { abi: Abi; answer: (fn: string, args: readonly unknown[]) => unknown }> = {
    [HUB]: {
      abi: inferenceHubAbi,
      answer: (fn) =>
        ({
          statusOf: options.status,
          disputes: DISPUTES,
          modelTermsOf: terms,
          finalityOf: [options.status === Status.OVERTURNED, 0n],
        })[fn],
    },
    [REGISTRY]: {
      abi: modelRegistryAbi,
      answer: () => [
        REQUESTER,
        {
          uri: "file:///model.onnx",
          inputShape: [1, 4],
          outputShape: [1, 2],
          scale: SCALE,
          price: 10n ** 15n,
          modes: 3,
          allowedEnvironments: [],
          challengeWindow: 0,
          stakeAtRisk: 0n,
          arithmeticClasses: 0,
          verifier: "0x0000000000000000000000000000000000000000",
          format: 0,
          card: "0x",
        },
        terms,
      ],
    },
    [DISPUTES]: {
      abi: disputesAbi,
      answer: (fn, args) =>
        fn === "voteOf"
          ? {
              commitHash: zeroHash,
              outputHash: keccak256(HONEST),
              envHash: ENV_OF[args[1] as Address]!,
              seats: 1,
              revealed: true,
              round: 0,
            }
          : {
              state: options.status === Status.OVERTURNED ? DisputeState.OVERTURNED : DisputeState.OPEN,
              challenger: CHALLENGER,
              bond: 3n * 10n ** 15n,
              node: LIAR,
              outputHash: keccak256(LIE),
              modelId: MODEL_ID,
              lottery: LOTTERY,
              commits: options.byProof ? 0 : 3,
              reveals: options.byProof ? 0 : 3,
              commitEndsAt: 1_000n,
              revealEndsAt: 0n,
              winner: keccak256(HONEST),
              members: options.byProof ? [] : [M1, M2, M3],
              round: 0,
              seatCount: 3,
              openedAt: 900n,
            },
    },
  };

  const request = async ({ method, params }: { method: string; params?: unknown }): Promise<unknown> => {
    const [first] = (params ?? []) as [Record<string, unknown>];
    if (method === "eth_call") {
      const contract = contracts[getAddress(first.to as string)];
      if (!contract) throw new Error(`no contract at ${String(first.to)}`);
      const { functionName, args } = decodeFunctionData({ abi: contract.abi, data: first.data as Hex });
      const result = contract.answer(functionName, (args ?? []) as readonly unknown[]);
      return encodeFunctionResult({ abi: contract.abi, functionName, result } as never);
    }
    if (method === "eth_getLogs") {
      const topics = first.topics as (Hex | null)[];
      return logs.filter(
        (l) =>
          getAddress(l.address) === getAddress(first.address as string) &&
          topics.every((t, i) => t === null || t === l.topics[i]),
      );
    }
    if (method === "eth_getTransactionByHash") {
      assert.equal(first, tx(30), "only the settling transaction is read");
      return {
        hash: tx(30),
        input: settle,
        from: CHALLENGER,
        to: DISPUTES,
        blockHash: tx(1030),
        blockNumber: "0x1e",
        transactionIndex: "0x0",
        nonce: "0x0",
        gas: "0x5208",
        gasPrice: "0x1",
        value: "0x0",
        type: "0x0",
        v: "0x1b",
        r: tx(1),
        s: tx(2),
      };
    }
    throw new Error(`the fake chain does not answer ${method}`);
  };
  const ctx: VerinferContext = { publicClient: createPublicClient({ transport: custom({ request }) }), deployment };
  return ctx;
}

test("an overturned result reads as the committee's", async () => {
  const ctx = fakeChain({ status: Status.OVERTURNED });
  const result = await waitForResult(ctx, REQUEST_ID, { timeoutMs: 0 });
  assert.equal(result.status, Status.OVERTURNED);
  assert.equal(result.outputBytes, HONEST);
  assert.equal(result.outputHash, keccak256(HONEST));
  assert.deepEqual(Array.from(result.output), [0.1, 0.9]);
  // Named after the first agreeing member in seat order (M2), not the first to reveal (M3), nor the liar.
  assert.deepEqual(result.nodes, [M2]);
  assert.deepEqual(result.envHashes, [ENV_OF[M2]]);
  assert.equal(
    result.commitment,
    resultCommitment(REQUEST_ID, MODEL_ID, keccak256(INPUT), keccak256(HONEST), ENV_OF[M2]!, M2),
  );
  assert.equal(result.resultBlock, 30n);
  assert.equal(result.resultTx, tx(30));
  assert.deepEqual(await readResult(ctx, REQUEST_ID), result);

  const finality = await readFinality(ctx, REQUEST_ID);
  assert.equal(finality.phase, "overturned");
  assert.equal(finality.isFinal, true);
  assert.equal(finality.dispute?.state, DisputeState.OVERTURNED);
  assert.equal(finality.dispute?.winner, keccak256(HONEST));
  assert.equal(finality.dispute?.resolvableAt, 1_000n + REVEAL_WINDOW);
});

test("an overturned result settled by a proof reads as the dispute contract's", async () => {
  const result = await waitForResult(fakeChain({ status: Status.OVERTURNED, byProof: true }), REQUEST_ID, {
    timeoutMs: 0,
  });
  assert.equal(result.status, Status.OVERTURNED);
  assert.equal(result.outputBytes, HONEST);
  assert.deepEqual(result.nodes, [DISPUTES]);
  assert.deepEqual(result.envHashes, [zeroHash]);
  assert.equal(
    result.commitment,
    resultCommitment(REQUEST_ID, MODEL_ID, keccak256(INPUT), keccak256(HONEST), zeroHash, DISPUTES),
  );
});

test("a disputed result still reads as the node's", async () => {
  const ctx = fakeChain({ status: Status.DISPUTED });
  const result = await waitForResult(ctx, REQUEST_ID, { timeoutMs: 0 });
  assert.equal(result.status, Status.DISPUTED);
  assert.equal(result.outputBytes, LIE);
  assert.deepEqual(result.nodes, [LIAR]);
  const finality = await readFinality(ctx, REQUEST_ID);
  assert.equal(finality.phase, "disputed");
  assert.equal(finality.dispute?.state, DisputeState.OPEN);
  assert.equal(finality.dispute?.challenger, CHALLENGER);
});

test("finality phases", () => {
  assert.equal(finalityPhase(Status.PENDING, false), "pending");
  assert.equal(finalityPhase(Status.FULFILLED, false), "provisional");
  assert.equal(finalityPhase(Status.FULFILLED, true), "final");
  assert.equal(finalityPhase(Status.CONFIRMED, true), "final");
  assert.equal(finalityPhase(Status.DISPUTED, false), "disputed");
  assert.equal(finalityPhase(Status.OVERTURNED, true), "overturned");
  assert.equal(finalityPhase(Status.REFUNDED, false), "failed");
});

test("a pending request holds no result to read", async () => {
  await assert.rejects(
    readResult(fakeChain({ status: Status.PENDING }), REQUEST_ID),
    /request 7 is PENDING: it holds no result/,
  );
});

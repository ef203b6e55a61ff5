// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "./utils/Test.sol";
import {IInferenceHub, HubParams, RequestParams, Submission} from "../../contracts/interfaces/IInferenceHub.sol";
import {IModelRegistry, ModelSpec, Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {INodeRegistry} from "../../contracts/interfaces/INodeRegistry.sol";
import {IDisputes} from "../../contracts/interfaces/IDisputes.sol";
import {Commitments} from "../../contracts/lib/Commitments.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {RecordingConsumer} from "./mocks/Consumers.sol";
import {ZkFixture} from "./fixtures/ZkFixture.sol";

/// @notice Deploys the whole system, registers a 32-byte-in / 32-byte-out model and three staked nodes.
/// @dev The contracts come from their via-IR build artifacts (the bytecode that ships), never from an import: an
///      import would compile them again inside this test's legacy-pipeline unit (foundry.toml says why).
abstract contract BaseTest is Test {
    uint96 internal constant MIN_STAKE = 1 ether;
    uint64 internal constant UNBONDING = 1 days;
    uint96 internal constant PRICE = 0.01 ether;
    uint32 internal constant REVEAL_WINDOW = 5 minutes;
    uint32 internal constant HORIZON = 1 days;
    uint16 internal constant SLASH_BPS = 1_000;
    uint32 internal constant CB_GAS = 100_000;
    /// @dev Seconds per unit of ticket; every window is open 8 units after a request (Lottery.MAX_TICKET_UNITS).
    uint32 internal constant TICKET_DELAY = 2;
    uint256 internal constant ALL_WINDOWS_OPEN = 8 * uint256(TICKET_DELAY);
    bytes32 internal constant ENV_A = keccak256("env: onnxruntime 1.20 cpu, 1 thread");
    bytes32 internal constant ENV_B = keccak256("env: onnxruntime 1.20 cpu, 4 threads");
    bytes32 internal constant MODEL = keccak256("onnx bytes of the test model");
    /// @dev The smallest bond of a challenge.
    uint256 internal constant MIN_BOND = 0.05 ether;

    address internal owner;
    address internal alice;
    address internal node1;
    address internal node2;
    address internal node3;
    address internal outsider;

    IModelRegistry internal models;
    INodeRegistry internal nodes;
    IInferenceHub internal hub;
    IDisputes internal disputes;
    RecordingConsumer internal consumer;
    /// @dev requestId => the seat `commit` takes next.
    mapping(uint256 id => uint256) internal _nextSeat;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        owner = makeAddr("owner");
        alice = makeAddr("alice");
        node1 = makeAddr("node1");
        node2 = makeAddr("node2");
        node3 = makeAddr("node3");
        outsider = makeAddr("outsider");

        models = deployModelRegistry(owner);
        nodes = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        hub = deployHub(owner, models, nodes, defaultParams());
        vm.startPrank(owner);
        nodes.setHub(address(hub));
        models.setHub(address(hub));
        vm.stopPrank();
        disputes = IDisputes(vm.deployCode("Disputes.sol:Disputes", abi.encode(hub, MIN_BOND)));
        vm.startPrank(owner);
        hub.setDisputes(address(disputes));
        nodes.setDisputes(address(disputes));
        vm.stopPrank();
        consumer = new RecordingConsumer(hub);

        registerModel(MODEL, spec(Mode.SINGLE, Mode.CONSENSUS));
        registerNode(node1, ENV_A);
        registerNode(node2, ENV_A);
        registerNode(node3, ENV_B);
        // Tickets go to stakes older than the request: requests in these tests come a second after registration.
        vm.warp(block.timestamp + 1);
        vm.deal(alice, 100 ether);
        vm.deal(address(consumer), 100 ether);
    }

    /*//////////////////////////////////////////////////////////////
                               DEPLOYERS
    //////////////////////////////////////////////////////////////*/

    function deployModelRegistry(address owner_) internal returns (IModelRegistry) {
        return IModelRegistry(vm.deployCode("ModelRegistry.sol:ModelRegistry", abi.encode(owner_)));
    }

    function deployNodeRegistry(address owner_, uint96 minStake, uint64 unbonding) internal returns (INodeRegistry) {
        return INodeRegistry(vm.deployCode("NodeRegistry.sol:NodeRegistry", abi.encode(owner_, minStake, unbonding)));
    }

    function deployHub(address owner_, IModelRegistry models_, INodeRegistry nodes_, HubParams memory params)
        internal
        returns (IInferenceHub)
    {
        return IInferenceHub(
            vm.deployCode("InferenceHub.sol:InferenceHub", abi.encode(owner_, models_, nodes_, params))
        );
    }

    /*//////////////////////////////////////////////////////////////
                                BUILDERS
    //////////////////////////////////////////////////////////////*/

    function defaultParams() internal pure returns (HubParams memory) {
        return HubParams({
            maxCallbackGas: 2_000_000,
            maxInputBytes: 65_536,
            revealWindow: REVEAL_WINDOW,
            maxDeadlineHorizon: HORIZON,
            slashBps: SLASH_BPS,
            maxRedundancy: 9,
            ticketDelay: TICKET_DELAY
        });
    }

    function shape(uint32 a, uint32 b) internal pure returns (uint32[] memory s) {
        s = new uint32[](2);
        s[0] = a;
        s[1] = b;
    }

    function spec(Mode m1, Mode m2) internal pure returns (ModelSpec memory s) {
        s.uri = "file:///models/test.onnx";
        s.inputShape = shape(1, 4);
        s.outputShape = shape(1, 4);
        s.scale = 1_000_000;
        s.price = PRICE;
        s.modes = uint8((1 << uint8(m1)) | (1 << uint8(m2)));
    }

    /// @dev The verifying-key hash the tests declare for a ZK model (zero for the others, as the registry requires).
    function vkHashFor(bytes32 modelId, ModelSpec memory s) internal pure returns (bytes32) {
        return s.modes & (1 << uint8(Mode.ZK)) == 0 ? bytes32(0) : keccak256(abi.encode("vk", modelId));
    }

    /// @dev Registers `modelId` with this test contract as its publisher: commit, one block, reveal.
    function registerModel(bytes32 modelId, ModelSpec memory s) internal {
        registerModelAs(address(this), modelId, s);
    }

    /// @dev Registers `modelId` as `publisher` (commit from `publisher`, one block, reveal).
    function registerModelAs(address publisher, bytes32 modelId, ModelSpec memory s) internal {
        bytes32 vkHash = vkHashFor(modelId, s);
        bytes32 salt = keccak256(abi.encode("salt", publisher, modelId));
        bytes32 commitment = models.registrationCommitment(modelId, s, vkHash, publisher, salt);
        vm.prank(publisher);
        models.commitRegistration(commitment);
        vm.roll(block.number + 1);
        vm.prank(publisher);
        models.registerModel(modelId, s, vkHash, publisher, salt);
    }

    function registerNode(address node, bytes32 env) internal {
        vm.deal(node, 10 ether);
        bytes32[] memory served = new bytes32[](1);
        served[0] = MODEL;
        vm.prank(node);
        nodes.register{value: 2 ether}(env, 0, served);
    }

    function input32() internal pure returns (bytes memory) {
        return abi.encodePacked(int64(1_000_000), int64(-2_500_000), int64(0), int64(42));
    }

    function output32(int64 tag) internal pure returns (bytes memory) {
        return abi.encodePacked(int64(250_000), int64(750_000), tag, int64(-1));
    }

    /// @dev The parameters the hub hashed for the latest request, made by `requester` in this block (mirrors
    ///      `requestInference`, lottery fields included), then moves the clock past every lottery window: most
    ///      tests are about delivery, not assignment (the lottery has its own tests, which use `withLottery`).
    function paramsFor(
        address requester,
        bytes memory input,
        Mode mode,
        uint8 k,
        uint32 cbGas,
        uint64 deadline,
        uint256 fee
    ) internal returns (RequestParams memory p) {
        p = paramsWithoutLottery(requester, input, mode, k, cbGas, deadline, fee);
        withLottery(p, hub.nextRequestId() - 1);
        openAllWindows();
    }

    /// @dev Fills in the lottery fields of request `id` made in this block for `p.modelId`.
    function withLottery(RequestParams memory p, uint256 id) internal view {
        p.lottery = hub.lotteryWordOf(p.modelId, id, p.fee, p.redundancy, p.callbackGasLimit);
    }

    function paramsWithoutLottery(
        address requester,
        bytes memory input,
        Mode mode,
        uint8 k,
        uint32 cbGas,
        uint64 deadline,
        uint256 fee
    ) internal pure returns (RequestParams memory) {
        return RequestParams({
            modelId: MODEL,
            inputHash: keccak256(input),
            requester: requester,
            fee: fee,
            deadline: deadline,
            callbackGasLimit: cbGas,
            outputBytes: 32,
            mode: mode,
            redundancy: k,
            envRestricted: false,
            lottery: 0
        });
    }

    /// @dev Moves the clock past every lottery window of the requests just made.
    function openAllWindows() internal {
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
    }

    /// @dev When `node`'s window on `seat` of request `id` opens.
    function windowOf(uint256 id, RequestParams memory p, address node, uint256 seat) internal view returns (uint256) {
        return hub.windowOf(id, p, node, seat);
    }

    /// @dev Of `candidates`, the node whose window on `seat` opens first (the lottery's assignment).
    function bestOf(uint256 id, RequestParams memory p, address[] memory candidates, uint256 seat)
        internal
        view
        returns (address best, uint256 opensAt)
    {
        opensAt = type(uint256).max;
        for (uint256 i; i < candidates.length; ++i) {
            uint256 t = hub.windowOf(id, p, candidates[i], seat);
            if (t < opensAt) (best, opensAt) = (candidates[i], t);
        }
    }

    /// @dev A SINGLE request through the recording consumer.
    function requestSingle() internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = consumer.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, deadline);
        p = paramsFor(address(consumer), input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
    }

    /// @dev A CONSENSUS request with redundancy `k` through the recording consumer.
    function requestConsensus(uint8 k) internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 fee = uint256(PRICE) * k;
        id = consumer.request{value: fee}(MODEL, input32(), Mode.CONSENSUS, k, CB_GAS, deadline);
        p = paramsFor(address(consumer), input32(), Mode.CONSENSUS, k, CB_GAS, deadline, fee);
    }

    /// @dev The seats of a k-seat round split over `committers` in turn (seat j to committer j % n): with every window
    ///      open (after `requestConsensus`) any eligible node may take any free seat.
    function seatsOf(uint256 index, uint256 n, uint8 k) internal pure returns (uint16 seats) {
        for (uint256 j = index; j < k; j += n) {
            seats |= uint16(1 << j);
        }
    }

    function voteHash(bytes memory output, bytes32 salt, address node) internal pure returns (bytes32) {
        return keccak256(abi.encode(keccak256(output), salt, node));
    }

    /// @dev Commits `output` for `node` on the single seat `seat`.
    function commitSeat(address node, uint256 id, RequestParams memory p, bytes memory output, uint256 seat) internal {
        vm.prank(node);
        hub.commitResult(id, p, voteHash(output, bytes32(uint256(uint160(node))), node), uint16(1 << seat));
    }

    /// @dev Commits `output` for `node` on the next seat of request `id` (seats 0, 1, 2, ... in call order; no
    ///      external call before the commit, so an `expectRevert` just before applies to the commit itself).
    function commit(address node, uint256 id, RequestParams memory p, bytes memory output) internal {
        commitSeat(node, id, p, output, _nextSeat[id]++);
    }

    function reveal(address node, uint256 id, RequestParams memory p, bytes memory output) internal {
        vm.prank(node);
        hub.revealResult(id, p, output, bytes32(uint256(uint160(node))));
    }

    function resultCommitment(uint256 id, RequestParams memory p, bytes memory output, bytes32 env, address node)
        internal
        pure
        returns (bytes32)
    {
        return Commitments.result(id, p.modelId, p.inputHash, keccak256(output), env, node);
    }

    /// @dev Deploys the real EZKL verifier of the fixture model (creation code compiled by verinfer.zk).
    function deployZkFixtureVerifier() internal returns (address verifier) {
        bytes memory code = ZkFixture.VERIFIER_CREATION_CODE;
        assembly ("memory-safe") {
            verifier := create(0, add(code, 0x20), mload(code))
        }
        vm.assertTrue(verifier != address(0), "verifier deployed");
    }

    /// @dev Registers the fixture's 16-8-2 MLP for ZK with `verifier` under `modelId`, served by node1 and node2.
    function registerZkFixtureModel(bytes32 modelId, address verifier) internal {
        ModelSpec memory s = spec(Mode.ZK, Mode.ZK);
        s.inputShape = shape(1, ZkFixture.FEATURES);
        s.outputShape = shape(1, ZkFixture.CLASSES);
        s.scale = ZkFixture.SCALE;
        s.verifier = verifier;
        registerModel(modelId, s);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = modelId;
        vm.prank(node1);
        nodes.setModels(ids, true);
        vm.prank(node2);
        nodes.setModels(ids, true);
        // Tickets go to services older than the request.
        vm.warp(block.timestamp + 1);
    }

    /// @dev The parameters of a ZK request for `modelId` on `input` made by `requester` now, with `fee`.
    function zkParams(
        bytes32 modelId,
        address requester,
        bytes memory input,
        uint32 cbGas,
        uint64 deadline,
        uint256 fee
    ) internal returns (RequestParams memory p) {
        p = paramsWithoutLottery(requester, input, Mode.ZK, 1, cbGas, deadline, fee);
        p.modelId = modelId;
        p.outputBytes = ZkFixture.CLASSES * 8;
        withLottery(p, hub.nextRequestId() - 1);
        openAllWindows();
    }

    function masked(bytes32 h) internal pure returns (bytes32) {
        return bytes32(uint256(h) & ~uint256(0xff));
    }

    /// @dev A result commitment as `commitmentOf` returns it: its top 128 bits (the slot holds the parameter hash's
    ///      prefix, the result's age and the status below them).
    function maskedResult(bytes32 h) internal pure returns (bytes32) {
        return bytes32(uint256(h) & ~uint256(type(uint128).max));
    }
}

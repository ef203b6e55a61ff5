// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {IInferenceHub, RequestParams, Status, Submission} from "../../../contracts/interfaces/IInferenceHub.sol";
import {INodeRegistry} from "../../../contracts/interfaces/INodeRegistry.sol";
import {Mode} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @notice Drives random sequences of requests, deliveries, commits, reveals, finalizations, refunds, withdrawals,
///         stake changes and clock moves, and keeps the ghost state the invariants compare against.
contract HubHandler is Test {
    IInferenceHub internal immutable hub;
    INodeRegistry internal immutable nodes;
    bytes32 internal immutable model;
    uint96 internal immutable price;
    address internal immutable owner;

    address[] public nodeActors;
    address[] public requesters;
    uint256[] public ids;
    mapping(uint256 id => RequestParams) internal _params;
    mapping(uint256 id => bytes) internal _outputs; // the honest output each request's nodes agree on
    mapping(uint256 id => uint256) public settlements; // successful final transitions per request

    // Ghosts: ETH that came in and went out of the two contracts, and safety flags.
    uint256 public ghostIn;
    uint256 public ghostOut;
    bool public acceptedAfterDeadline;
    bool public paidBelowMinimum;
    bool public slashMismatch;
    uint256 public ghostSlashed;
    uint256 public calls;

    constructor(
        IInferenceHub hub_,
        INodeRegistry nodes_,
        bytes32 model_,
        uint96 price_,
        address owner_,
        address[] memory ns,
        address[] memory rs,
        uint256 stakeIn
    ) {
        hub = hub_;
        nodes = nodes_;
        model = model_;
        price = price_;
        owner = owner_;
        nodeActors = ns;
        requesters = rs;
        ghostIn = stakeIn;
    }

    /*//////////////////////////////////////////////////////////////
                                 HELPERS
    //////////////////////////////////////////////////////////////*/

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function paramsOf(uint256 id) external view returns (RequestParams memory) {
        return _params[id];
    }

    function _pick(uint256 seed) internal view returns (uint256 id, bool ok) {
        if (ids.length == 0) return (0, false);
        return (ids[seed % ids.length], true);
    }

    function _node(uint256 seed) internal view returns (address) {
        return nodeActors[seed % nodeActors.length];
    }

    function _balancesSnapshot() internal view returns (uint256[] memory b) {
        b = new uint256[](nodeActors.length);
        for (uint256 i; i < nodeActors.length; ++i) {
            b[i] = hub.balanceOf(nodeActors[i]);
        }
    }

    /// @dev After any action: a node whose balance grew must have been staked at that moment.
    function _checkPaid(uint256[] memory before) internal {
        for (uint256 i; i < nodeActors.length; ++i) {
            if (hub.balanceOf(nodeActors[i]) > before[i] && !nodes.isStaked(nodeActors[i])) paidBelowMinimum = true;
        }
    }

    function _output(uint256 id, bool honest) internal view returns (bytes memory) {
        return honest ? _outputs[id] : abi.encodePacked(int64(-7), int64(-7), int64(-7), int64(-7));
    }

    function _salt(address node) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", node));
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    function request(uint256 seed, bool consensus, uint8 k, uint96 extra, uint32 ttl) external {
        ++calls;
        address requester = requesters[seed % requesters.length];
        k = consensus ? uint8(bound(k, 2, 3)) : 1;
        uint256 fee = uint256(price) * k + bound(extra, 0, 1 ether);
        uint64 deadline = uint64(block.timestamp + bound(ttl, 6 minutes, 2 hours));
        bytes memory input = abi.encodePacked(int64(int256(seed % 1000)), int64(1), int64(2), int64(3));
        vm.deal(requester, requester.balance + fee);
        vm.prank(requester);
        uint256 id =
            hub.requestInference{value: fee}(model, input, consensus ? Mode.CONSENSUS : Mode.SINGLE, k, 0, deadline);
        ghostIn += fee;
        ids.push(id);
        _params[id] = RequestParams({
            modelId: model,
            inputHash: keccak256(input),
            requester: requester,
            fee: fee,
            deadline: deadline,
            callbackGasLimit: 0,
            outputBytes: 32,
            mode: consensus ? Mode.CONSENSUS : Mode.SINGLE,
            redundancy: k,
            envRestricted: false
        });
        _outputs[id] = abi.encodePacked(int64(int256(seed % 97)), int64(0), int64(1), int64(2));
    }

    function submit(uint256 seed, uint256 nodeSeed) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        address node = _node(nodeSeed);
        uint256[] memory before = _balancesSnapshot();
        vm.prank(node);
        try hub.submitResult(id, _params[id], _outputs[id]) {
            ++settlements[id];
            if (block.timestamp > _params[id].deadline) acceptedAfterDeadline = true;
        } catch {}
        _checkPaid(before);
    }

    function submitBatch(uint256 seed, uint256 nodeSeed, uint8 n) external {
        ++calls;
        if (ids.length == 0) return;
        n = uint8(bound(n, 1, 8));
        Submission[] memory items = new Submission[](n);
        for (uint256 i; i < n; ++i) {
            uint256 id = ids[(seed + i * 7919) % ids.length];
            items[i] = Submission({requestId: id, params: _params[id], output: _outputs[id]});
        }
        Status[] memory statusBefore = new Status[](n);
        for (uint256 i; i < n; ++i) {
            statusBefore[i] = hub.statusOf(items[i].requestId);
        }
        address node = _node(nodeSeed);
        uint256[] memory before = _balancesSnapshot();
        vm.prank(node);
        try hub.submitResults(items) {
            for (uint256 i; i < n; ++i) {
                uint256 id = items[i].requestId;
                if (statusBefore[i] == Status.PENDING && hub.statusOf(id) == Status.FULFILLED) {
                    // A batch may name one request twice: count the transition once.
                    for (uint256 j = i; j < n; ++j) {
                        if (items[j].requestId == id) statusBefore[j] = Status.FULFILLED;
                    }
                    ++settlements[id];
                    if (block.timestamp > _params[id].deadline) acceptedAfterDeadline = true;
                }
            }
        } catch {}
        _checkPaid(before);
    }

    function commit(uint256 seed, uint256 nodeSeed, bool honest) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        address node = _node(nodeSeed);
        bytes32 h = keccak256(abi.encode(keccak256(_output(id, honest)), _salt(node), node));
        vm.prank(node);
        try hub.commitResult(id, _params[id], h) {
            if (block.timestamp > _params[id].deadline) acceptedAfterDeadline = true;
        } catch {}
    }

    function reveal(uint256 seed, uint256 nodeSeed, bool honest) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        address node = _node(nodeSeed);
        vm.prank(node);
        try hub.revealResult(id, _params[id], _output(id, honest), _salt(node)) {
            if (block.timestamp > _params[id].deadline) acceptedAfterDeadline = true;
        } catch {}
    }

    function finalize(uint256 seed, bool honestOutput) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        RequestParams memory p = _params[id];
        uint256 stakesBefore = nodes.totalStake();
        uint256 creditsBefore = _allCredits(p.requester);
        uint256[] memory before = _balancesSnapshot();
        try hub.finalizeConsensus(id, p, _output(id, honestOutput)) {
            ++settlements[id];
            uint256 slashed = stakesBefore - nodes.totalStake();
            ghostSlashed += slashed;
            // Everything slashed and the whole fee must land in balances, to the wei.
            if (_allCredits(p.requester) - creditsBefore != p.fee + slashed) slashMismatch = true;
        } catch {}
        _checkPaid(before);
    }

    function reclaim(uint256 seed) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        try hub.reclaimFee(id, _params[id]) {
            ++settlements[id];
        } catch {}
    }

    function withdraw(uint256 seed, bool fromNode) external {
        ++calls;
        address who = fromNode ? _node(seed) : requesters[seed % requesters.length];
        uint256 amount = hub.balanceOf(who);
        if (amount == 0) return;
        vm.prank(who);
        hub.withdraw(payable(who));
        ghostOut += amount;
    }

    function warp(uint32 secs) external {
        ++calls;
        vm.warp(block.timestamp + bound(secs, 1, 30 minutes));
    }

    function addStake(uint256 nodeSeed, uint96 amount) external {
        ++calls;
        address node = _node(nodeSeed);
        amount = uint96(bound(amount, 1, 2 ether));
        vm.deal(node, node.balance + amount);
        vm.prank(node);
        try nodes.addStake{value: amount}() {
            ghostIn += amount;
        } catch {}
    }

    function unbond(uint256 nodeSeed) external {
        ++calls;
        vm.prank(_node(nodeSeed));
        try nodes.beginUnbonding() {} catch {}
    }

    function withdrawStake(uint256 nodeSeed) external {
        ++calls;
        address node = _node(nodeSeed);
        uint256 stake = nodes.nodeInfo(node).stake;
        vm.prank(node);
        try nodes.withdrawStake(payable(node)) {
            ghostOut += stake;
        } catch {}
    }

    function reRegister(uint256 nodeSeed) external {
        ++calls;
        address node = _node(nodeSeed);
        bytes32[] memory served = new bytes32[](1);
        served[0] = model;
        vm.deal(node, node.balance + 2 ether);
        vm.prank(node);
        try nodes.register{value: 2 ether}(keccak256("env"), served) {
            ghostIn += 2 ether;
        } catch {}
    }

    function setMinStake(uint96 minStake) external {
        ++calls;
        vm.prank(owner);
        nodes.setMinStake(uint96(bound(minStake, 0.5 ether, 2.5 ether)));
    }

    function _allCredits(address requester) internal view returns (uint256 sum) {
        sum = hub.balanceOf(requester);
        for (uint256 i; i < nodeActors.length; ++i) {
            sum += hub.balanceOf(nodeActors[i]);
        }
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {IInferenceHub, RequestParams, Status, Submission} from "../../../contracts/interfaces/IInferenceHub.sol";
import {INodeRegistry, Standing} from "../../../contracts/interfaces/INodeRegistry.sol";
import {Lottery} from "../../../contracts/lib/Lottery.sol";
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
    uint256 public ghostBurned;
    bool public paidUnassigned;
    bool public slashedAgreeing;
    uint256 public calls;
    /// @dev The gas price of deliveries and finalizations: callbacks are reimbursed at min(this, the request's cap).
    ///      Reset to 0 after each call, or forge would charge the test's own calls for gas and break the ETH ghosts.
    uint256 internal constant GAS_PRICE = 1 gwei;

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

    /// @dev Whether `node` held an open window on `seat` of request `id` now, recomputed from the registry's standing
    ///      with the Lottery library (the hub's rule, written out again on the test side).
    function _windowOpen(uint256 id, address node, uint256 seat) internal view returns (bool) {
        RequestParams memory p = _params[id];
        Standing memory s = nodes.standing(node, p.modelId);
        uint256 requestedAt = Lottery.requestedAtOf(p.lottery);
        if (s.stake == 0 || s.since >= requestedAt) return false;
        uint256 x = Lottery.ticket(p.lottery, id, node, seat, s.stake);
        return block.timestamp >= requestedAt + Lottery.delay(x, Lottery.ticketDelayOf(p.lottery));
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
        k = consensus ? 3 : 1;
        RequestParams memory p;
        p.modelId = model;
        p.requester = requesters[seed % requesters.length];
        p.fee = uint256(price) * k + bound(extra, 0, 1 ether);
        p.deadline = uint64(block.timestamp + bound(ttl, 6 minutes, 2 hours));
        p.outputBytes = 32;
        p.mode = consensus ? Mode.CONSENSUS : Mode.SINGLE;
        p.redundancy = k;
        // Half the requests have a callback: their fee above the price is its gas escrow (requesters are EOAs, so
        // the callback is a NO_CODE event, but its gas is reimbursed and the rest of the escrow refunded all the same).
        p.callbackGasLimit = seed % 2 == 0 ? 0 : 100_000;
        bytes memory input = abi.encodePacked(int64(int256(seed % 1000)), int64(1), int64(2), int64(3));
        p.inputHash = keccak256(input);
        vm.deal(p.requester, p.requester.balance + p.fee);
        vm.prank(p.requester);
        // Refused while too few nodes serve (NoNodeServes, RedundancyUnavailable): nothing escrowed then.
        try hub.requestInference{value: p.fee}(model, input, p.mode, k, p.callbackGasLimit, p.deadline) returns (
            uint256 id
        ) {
            _recordRequest(id, p, seed);
        } catch {}
    }

    function _recordRequest(uint256 id, RequestParams memory p, uint256 seed) internal {
        ghostIn += p.fee;
        ids.push(id);
        p.lottery = hub.lotteryWordOf(model, id, p.fee, p.redundancy, p.callbackGasLimit);
        _params[id] = p;
        _outputs[id] = abi.encodePacked(int64(int256(seed % 97)), int64(0), int64(1), int64(2));
    }

    function submit(uint256 seed, uint256 nodeSeed) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        address node = _node(nodeSeed);
        uint256[] memory before = _balancesSnapshot();
        bool open = _windowOpen(id, node, 0);
        vm.txGasPrice(GAS_PRICE);
        vm.prank(node);
        try hub.submitResult(id, _params[id], _outputs[id]) {
            ++settlements[id];
            if (!open) paidUnassigned = true;
            if (block.timestamp > _params[id].deadline) acceptedAfterDeadline = true;
        } catch {}
        vm.txGasPrice(0);
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
        address node = _node(nodeSeed);
        bool[] memory open = new bool[](n);
        for (uint256 i; i < n; ++i) {
            statusBefore[i] = hub.statusOf(items[i].requestId);
            open[i] = _windowOpen(items[i].requestId, node, 0);
        }
        uint256[] memory before = _balancesSnapshot();
        vm.txGasPrice(GAS_PRICE);
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
                    if (!open[i]) paidUnassigned = true;
                }
            }
        } catch {}
        vm.txGasPrice(0);
        _checkPaid(before);
    }

    function commit(uint256 seed, uint256 nodeSeed, bool honest) external {
        ++calls;
        (uint256 id, bool ok) = _pick(seed);
        if (!ok) return;
        address node = _node(nodeSeed);
        bytes32 h = keccak256(abi.encode(keccak256(_output(id, honest)), _salt(node), node));
        // The open phase's seats: the round's [0, k), or its escalation's [k, k + e).
        uint256 k = _params[id].redundancy;
        uint256 e = hub.roundOf(id).escalationSeats;
        uint256 seat = e == 0 ? (nodeSeed >> 8) % k : k + (nodeSeed >> 8) % e;
        vm.prank(node);
        try hub.commitResult(id, _params[id], h, uint16(1 << seat)) {
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
        // A node finalizes (and is reimbursed the callback's gas), so every credit lands in `_allCredits`.
        address finalizer = _node(seed >> 8);
        uint256 stakesBefore = nodes.totalStake();
        uint256 creditsBefore = _allCredits(p.requester);
        uint256 burnedBefore = hub.burned();
        uint256[] memory before = _balancesSnapshot();
        uint256[] memory stakeBefore = _stakesSnapshot();
        vm.txGasPrice(GAS_PRICE);
        vm.prank(finalizer);
        try hub.finalizeConsensus(id, p, _output(id, honestOutput)) {
            if (hub.statusOf(id) == Status.PENDING) {
                // Escalated: nothing is paid, refunded or slashed until the escalation settles.
                if (_allCredits(p.requester) != creditsBefore || nodes.totalStake() != stakesBefore) {
                    slashMismatch = true;
                }
                vm.txGasPrice(0);
                return;
            }
            ++settlements[id];
            uint256 slashed = stakesBefore - nodes.totalStake();
            ghostSlashed += slashed;
            ghostBurned += hub.burned() - burnedBefore;
            // The whole fee lands in balances and everything slashed is burned, to the wei: no voter is paid a slash.
            if (_allCredits(p.requester) - creditsBefore != p.fee) slashMismatch = true;
            if (hub.burned() - burnedBefore != slashed) slashMismatch = true;
            _checkAgreeingUnslashed(id, stakeBefore);
        } catch {}
        vm.txGasPrice(0);
        _checkPaidVoters(id, before, finalizer);
    }

    /// @dev After a finalization: a node credited below the minimum stake must have earned it in this round, as an
    ///      agreeing voter (seats are paid under the terms they were won under) or as the finalizer (its callback
    ///      gas); any other credit below the minimum is a fault.
    function _checkPaidVoters(uint256 id, uint256[] memory before, address finalizer) internal {
        bytes32 winner = hub.roundOf(id).winningOutputHash;
        for (uint256 i; i < nodeActors.length; ++i) {
            address node = nodeActors[i];
            if (hub.balanceOf(node) <= before[i] || nodes.isStaked(node) || node == finalizer) continue;
            bool agreed =
                winner != bytes32(0) && hub.voteOf(id, node).revealed && hub.voteOf(id, node).outputHash == winner;
            if (!agreed) paidBelowMinimum = true;
        }
    }

    function _stakesSnapshot() internal view returns (uint256[] memory b) {
        b = new uint256[](nodeActors.length);
        for (uint256 i; i < nodeActors.length; ++i) {
            b[i] = nodes.nodeInfo(nodeActors[i]).stake;
        }
    }

    /// @dev A node whose revealed output is the round's final outcome must not have lost stake in the finalization.
    function _checkAgreeingUnslashed(uint256 id, uint256[] memory stakeBefore) internal {
        bytes32 winner = hub.roundOf(id).winningOutputHash;
        if (winner == bytes32(0)) return;
        for (uint256 i; i < nodeActors.length; ++i) {
            if (hub.voteOf(id, nodeActors[i]).revealed && hub.voteOf(id, nodeActors[i]).outputHash == winner) {
                if (nodes.nodeInfo(nodeActors[i]).stake < stakeBefore[i]) slashedAgreeing = true;
            }
        }
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
        try nodes.register{value: 2 ether}(keccak256("env"), 0, served) {
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

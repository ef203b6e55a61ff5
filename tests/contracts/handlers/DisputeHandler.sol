// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Test} from "../utils/Test.sol";
import {IInferenceHub, RequestParams, Status} from "../../../contracts/interfaces/IInferenceHub.sol";
import {IDisputes, DisputeState} from "../../../contracts/interfaces/IDisputes.sol";
import {INodeRegistry} from "../../../contracts/interfaces/INodeRegistry.sol";
import {Commitments} from "../../../contracts/lib/Commitments.sol";
import {Mode} from "../../../contracts/interfaces/IModelRegistry.sol";

/// @notice Drives random sequences of SINGLE requests, honest and lying deliveries, challenges, committee votes,
///         resolutions, withdrawals, unbonding and clock moves, and keeps the ghosts the dispute invariants check.
///         Committee members vote the true output (the honest-majority assumption every committee rests on); nodes
///         deliver lies at random.
contract DisputeHandler is Test {
    IInferenceHub internal immutable hub;
    IDisputes internal immutable disputes;
    INodeRegistry internal immutable nodes;
    bytes32 internal immutable model;
    uint96 internal immutable price;

    address[] public nodeActors;
    address public requester;
    address public challenger;
    uint256[] public ids;
    mapping(uint256 id => RequestParams) internal _params;
    mapping(uint256 id => bytes) internal _truth;
    mapping(uint256 id => bytes) public delivered;
    mapping(uint256 id => address) public deliveredBy;
    mapping(uint256 id => bool) public lied;
    /// @dev The first final status a request reached (CONFIRMED or OVERTURNED), 0 before.
    mapping(uint256 id => Status) public firstFinal;

    uint256 public ghostIn;
    uint256 public ghostOut;
    bool public finalChanged;
    bool public honestOverturned;
    bool public stakeLeftWhileAtRisk;
    /// @dev How many disputes ended each way (the suite checks that the sequences reach them).
    uint256 public overturns;
    uint256 public upholds;

    constructor(
        IInferenceHub hub_,
        IDisputes disputes_,
        INodeRegistry nodes_,
        bytes32 model_,
        uint96 price_,
        address[] memory ns,
        address requester_,
        address challenger_,
        uint256 stakeIn
    ) {
        hub = hub_;
        disputes = disputes_;
        nodes = nodes_;
        model = model_;
        price = price_;
        nodeActors = ns;
        requester = requester_;
        challenger = challenger_;
        ghostIn = stakeIn;
    }

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

    function _salt(address member) internal pure returns (bytes32) {
        return keccak256(abi.encode("dispute salt", member));
    }

    /// @dev After every action: each final status stays what it first was, and an honest result is never overturned.
    function _track(uint256 id) internal {
        Status s = hub.statusOf(id);
        if (s != Status.CONFIRMED && s != Status.OVERTURNED) return;
        if (firstFinal[id] == Status.NONE) {
            firstFinal[id] = s;
            if (s == Status.OVERTURNED) ++overturns;
            else if (disputes.disputeOf(id).state == DisputeState.UPHELD) ++upholds;
        } else if (firstFinal[id] != s) {
            finalChanged = true;
        }
        if (s == Status.OVERTURNED && !lied[id]) honestOverturned = true;
    }

    /*//////////////////////////////////////////////////////////////
                                 ACTIONS
    //////////////////////////////////////////////////////////////*/

    function request(uint256 seed) external {
        _request(seed);
    }

    function submit(uint256 seed, uint256 nodeSeed, bool lie) external {
        (uint256 id, bool ok) = _pick(seed);
        if (ok) _submit(id, _node(nodeSeed), lie);
    }

    function challenge(uint256 seed) external {
        (uint256 id, bool ok) = _pick(seed);
        if (ok) _challenge(id);
    }

    function commit(uint256 seed, uint256 memberSeed, uint8 seats) external {
        (uint256 id, bool ok) = _pick(seed);
        if (ok) _commit(id, _node(memberSeed), uint16(bound(seats, 1, 7)));
    }

    function reveal(uint256 seed, uint256 memberSeed) external {
        (uint256 id, bool ok) = _pick(seed);
        if (ok) _reveal(id, _node(memberSeed));
    }

    function resolve(uint256 seed) external {
        (uint256 id, bool ok) = _pick(seed);
        if (ok) _resolve(id);
    }

    /// @dev A whole dispute in one step, so that sequences reach resolutions: a request, a delivery (a lie or not),
    ///      a challenge, the other two nodes on the committee (two seats and one), their reveals and the resolution.
    ///      Any step may fail on the state the sequence left (a node unbonded, a stake gone): the rest goes on.
    function playDispute(uint256 seed, uint256 nodeSeed, bool lie) external {
        (uint256 id, bool ok) = _request(seed);
        if (!ok) return;
        vm.warp(block.timestamp + 16);
        uint256 k = nodeSeed % nodeActors.length;
        _submit(id, nodeActors[k], lie);
        _challenge(id);
        vm.warp(block.timestamp + 16);
        address a = nodeActors[(k + 1) % nodeActors.length];
        address b = nodeActors[(k + 2) % nodeActors.length];
        _commit(id, a, 3);
        _commit(id, b, 4);
        _reveal(id, a);
        _reveal(id, b);
        _resolve(id);
    }

    function _request(uint256 seed) internal returns (uint256 id, bool ok) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        bytes memory input = abi.encodePacked(int64(int256(seed % 1000)), int64(1), int64(2), int64(3));
        vm.deal(requester, requester.balance + price);
        vm.prank(requester);
        try hub.requestInference{value: price}(model, input, Mode.SINGLE, 1, 0, deadline) returns (uint256 newId) {
            (id, ok) = (newId, true);
            ghostIn += price;
            ids.push(id);
            _params[id] = RequestParams({
                modelId: model,
                inputHash: keccak256(input),
                requester: requester,
                fee: price,
                deadline: deadline,
                callbackGasLimit: 0,
                outputBytes: 32,
                mode: Mode.SINGLE,
                redundancy: 1,
                envRestricted: false,
                lottery: hub.lotteryWordOf(model, id, price, 1, 0)
            });
            _truth[id] = abi.encodePacked(int64(int256(seed % 97)), int64(0), int64(1), int64(2));
        } catch {}
    }

    function _submit(uint256 id, address node, bool lie) internal {
        bytes memory output = lie ? abi.encodePacked(int64(-7), int64(-7), int64(-7), int64(-7)) : _truth[id];
        vm.prank(node);
        try hub.submitResult(id, _params[id], output) {
            delivered[id] = output;
            deliveredBy[id] = node;
            lied[id] = lie;
        } catch {}
    }

    function _challenge(uint256 id) internal {
        address node = deliveredBy[id];
        if (node == address(0)) return;
        uint256 bond = disputes.bondFor(_params[id].fee);
        vm.deal(challenger, challenger.balance + bond);
        // Read before the prank: a prank applies to the next call, whichever it is.
        bytes32 env = nodes.environmentOf(node);
        vm.prank(challenger);
        try disputes.challenge{value: bond}(id, _params[id], delivered[id], env, node) {
            ghostIn += bond;
        } catch {}
    }

    function _commit(uint256 id, address member, uint16 seats) internal {
        bytes32 vote = Commitments.vote(keccak256(_truth[id]), _salt(member), member);
        vm.prank(member);
        try disputes.commit(id, vote, seats) {} catch {}
    }

    function _reveal(uint256 id, address member) internal {
        vm.prank(member);
        try disputes.reveal(id, _truth[id], _salt(member)) {} catch {}
    }

    function _resolve(uint256 id) internal {
        // The majority's output is the truth (members vote it); without a majority, the challenged output.
        try disputes.resolve(id, _params[id], _truth[id]) {}
        catch {
            try disputes.resolve(id, _params[id], delivered[id]) {} catch {}
        }
        _track(id);
    }

    function withdraw(uint256 seed, bool fromDisputes) external {
        address[4] memory who = [nodeActors[0], nodeActors[1], requester, challenger];
        address account = who[seed % 4];
        if (seed % 7 == 0) account = nodeActors[2];
        if (fromDisputes) {
            uint256 amount = disputes.balanceOf(account);
            if (amount == 0) return;
            vm.prank(account);
            disputes.withdraw(payable(account));
            ghostOut += amount;
        } else {
            uint256 amount = hub.balanceOf(account);
            if (amount == 0) return;
            vm.prank(account);
            hub.withdraw(payable(account));
            ghostOut += amount;
        }
    }

    function unbond(uint256 nodeSeed) external {
        vm.prank(_node(nodeSeed));
        try nodes.beginUnbonding() {} catch {}
    }

    /// @dev A node that takes its stake out while one of its results can still be disputed, or is, breaks the rule
    ///      that the stake at risk is there to be slashed.
    function withdrawStake(uint256 nodeSeed) external {
        address node = _node(nodeSeed);
        uint256 stake = nodes.nodeInfo(node).stake;
        vm.prank(node);
        try nodes.withdrawStake(payable(node)) {
            ghostOut += stake;
            for (uint256 i; i < ids.length; ++i) {
                uint256 id = ids[i];
                if (deliveredBy[id] != node) continue;
                Status s = hub.statusOf(id);
                (bool isFinal,) = hub.finalityOf(id, _params[id]);
                if (s == Status.DISPUTED || (s == Status.FULFILLED && !isFinal)) stakeLeftWhileAtRisk = true;
            }
        } catch {}
    }

    function warp(uint32 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 20 minutes));
        for (uint256 i; i < ids.length; ++i) {
            _track(ids[i]);
        }
    }
}

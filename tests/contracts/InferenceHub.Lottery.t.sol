// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {Serving} from "../../contracts/interfaces/INodeRegistry.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {ZkFixture} from "./fixtures/ZkFixture.sol";

/// @notice The stake-weighted lottery: who may deliver when, Sybil-neutrality, refusal of unservable requests, and the
///         attacks of issue 12 it answers (first-come seats, mempool-copied proofs, requests nobody can serve).
contract InferenceHubLotteryTest is BaseTest {
    bytes32 internal constant FRESH = keccak256("a model served only by this test's nodes");

    /*//////////////////////////////////////////////////////////////
                                 HELPERS
    //////////////////////////////////////////////////////////////*/

    function _serve(address node, uint256 stake, bytes32 modelId) internal {
        vm.deal(node, stake);
        bytes32[] memory served = new bytes32[](1);
        served[0] = modelId;
        vm.prank(node);
        nodes.register{value: stake}(ENV_A, 0, served);
    }

    function _freshModel(Mode a, Mode b) internal {
        registerModel(FRESH, spec(a, b));
    }

    /// @dev A request by alice for FRESH, with its params (lottery included); the clock is not moved.
    function _request(Mode mode, uint8 k) internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 fee = uint256(PRICE) * k;
        vm.prank(alice);
        id = hub.requestInference{value: fee}(FRESH, input32(), mode, k, 0, deadline);
        p = paramsWithoutLottery(alice, input32(), mode, k, 0, deadline, fee);
        p.modelId = FRESH;
        withLottery(p, id);
    }

    /// @dev Node `node`'s ticket for seat `seat` of request `id` (Q64.64), at its current stake.
    function _ticket(uint256 id, RequestParams memory p, address node, uint256 seat) internal view returns (uint256) {
        return Lottery.ticket(p.lottery, id, node, seat, nodes.nodeInfo(node).stake);
    }

    /// @dev Of `who`, the index of the best (lowest) ticket on `seat`.
    function _best(uint256 id, RequestParams memory p, address[] memory who, uint256 seat)
        internal
        view
        returns (uint256 best)
    {
        uint256 low = type(uint256).max;
        for (uint256 i; i < who.length; ++i) {
            uint256 x = _ticket(id, p, who[i], seat);
            if (x < low) (low, best) = (x, i);
        }
    }

    /*//////////////////////////////////////////////////////////////
                               THE LOTTERY
    //////////////////////////////////////////////////////////////*/

    /// @dev The hub's window is the library's ticket, delayed and capped: the two computations agree.
    function test_windowOf_isRequestTimePlusTicketDelay() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        uint256 requestedAt = Lottery.requestedAtOf(p.lottery);
        address[3] memory all = [node1, node2, node3];
        for (uint256 i; i < 3; ++i) {
            uint256 x = _ticket(id, p, all[i], 0);
            uint256 expected = requestedAt + Lottery.delay(x, TICKET_DELAY);
            vm.assertEq(hub.windowOf(id, p, all[i], 0), expected, "window = request time + delay(ticket)");
            vm.assertLe(expected, requestedAt + ALL_WINDOWS_OPEN, "capped");
        }
    }

    /// @dev SINGLE: before its window a node is refused with the time it opens; at it, it is paid.
    function test_submitResult_onlyFromTheWindowOn() public {
        _freshModel(Mode.SINGLE, Mode.SINGLE);
        address a = makeAddr("a");
        address b = makeAddr("b");
        _serve(a, 5 ether, FRESH);
        _serve(b, 5 ether, FRESH);
        vm.warp(block.timestamp + 1);
        // Find a request whose two windows open in different seconds, the later one after the request's second.
        for (uint256 round; round < 50; ++round) {
            (uint256 id, RequestParams memory p) = _request(Mode.SINGLE, 1);
            uint256 wa = hub.windowOf(id, p, a, 0);
            uint256 wb = hub.windowOf(id, p, b, 0);
            if (wa == wb || (wa > wb ? wa : wb) == block.timestamp) {
                vm.warp(block.timestamp + 1);
                continue;
            }
            (address first, address second, uint256 w2) = wa < wb ? (a, b, wb) : (b, a, wa);
            vm.warp(wa < wb ? wa : wb);
            vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WindowNotOpen.selector, id, second, 0, w2));
            vm.prank(second);
            hub.submitResult(id, p, output32(1));
            vm.prank(first);
            hub.submitResult(id, p, output32(1));
            vm.assertEq(hub.balanceOf(first), PRICE, "the assigned node is paid");
            return;
        }
        revert("no request with two distinct windows in 50 tries");
    }

    /// @dev A dead primary is replaced: the second ticket's window opens within the cap, the primary never acted.
    function test_deadPrimaryIsReplacedWithinTheCap() public {
        (uint256 id, RequestParams memory p) = paramsOfSingleNow();
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (node1, node2, node3);
        uint256 primary = _best(id, p, who, 0);
        address fallbackNode = who[(primary + 1) % 3];
        uint256 opens = hub.windowOf(id, p, fallbackNode, 0);
        vm.assertLe(opens, Lottery.requestedAtOf(p.lottery) + ALL_WINDOWS_OPEN, "within the cap");
        vm.warp(opens);
        vm.prank(fallbackNode);
        hub.submitResult(id, p, output32(3));
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "served by the fallback");
    }

    function paramsOfSingleNow() internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = consumer.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, deadline);
        p = paramsWithoutLottery(address(consumer), input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
        withLottery(p, id);
    }

    /// @dev Stake added, or a registration made, at or after the request holds no ticket for it.
    function test_RevertWhen_StakeGrewAfterTheRequest() public {
        (uint256 id, RequestParams memory p) = paramsOfSingleNow();
        vm.deal(node1, 1 ether);
        vm.prank(node1);
        nodes.addStake{value: 1 ether}();
        openAllWindows();
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.NotAssigned.selector,
                id,
                node1,
                uint64(block.timestamp - ALL_WINDOWS_OPEN),
                uint64(Lottery.requestedAtOf(p.lottery))
            )
        );
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));

        address late = makeAddr("late");
        _serve(late, 5 ether, MODEL);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.NotAssigned.selector,
                id,
                late,
                uint64(block.timestamp),
                uint64(Lottery.requestedAtOf(p.lottery))
            )
        );
        vm.prank(late);
        hub.submitResult(id, p, output32(0));
    }

    /// @dev The registry's serving stake follows registration, stake, slashing, models and unbonding, and the hub's
    ///      copy follows it.
    function test_servingStake_trackedIncrementally() public {
        Serving memory s = nodes.servingStakeOf(MODEL);
        vm.assertEq(s.stake, 6 ether, "three nodes of 2 ether");
        vm.assertEq(s.nodes, 3, "three nodes");
        vm.deal(node1, 1 ether);
        vm.prank(node1);
        nodes.addStake{value: 1 ether}();
        vm.assertEq(nodes.servingStakeOf(MODEL).stake, 7 ether, "stake added");
        vm.prank(address(hub));
        nodes.slash(node2, 5_000);
        vm.assertEq(nodes.servingStakeOf(MODEL).stake, 6 ether, "2 ether slashed by half: 1 ether left, at the minimum");
        vm.prank(address(hub));
        nodes.slash(node2, 5_000);
        vm.assertEq(nodes.servingStakeOf(MODEL).stake, 5 ether, "below the minimum: out");
        vm.assertEq(nodes.servingStakeOf(MODEL).nodes, 2, "two left");
        vm.prank(node3);
        nodes.beginUnbonding();
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = MODEL;
        vm.prank(node1);
        nodes.setModels(ids, false);
        vm.assertEq(nodes.servingStakeOf(MODEL).stake, 0, "nobody serves");
        (uint256 stake, uint256 count) = hub.servingOf(MODEL);
        vm.assertEq(stake, 0, "the hub's copy follows");
        vm.assertEq(count, 0, "no node");
        vm.assertEq(nodes.servingNodesOf(MODEL, 0, 10).length, 0, "no node listed");
    }

    /*//////////////////////////////////////////////////////////////
                               STATISTICS
    //////////////////////////////////////////////////////////////*/

    /// @dev One honest stake S against an attacker's S split over 1, 2 and 10 identities, over 2,000 real requests each:
    ///      the attacker's share of SINGLE primaries (best seat-0 ticket) and of CONSENSUS seats (best ticket of each of
    ///      3 seats) is 1/2 for every split, within 3 standard deviations (sd 0.0112 and 0.0065), and the splits agree
    ///      with each other within 3 standard deviations of a difference.
    function test_lotteryIsSybilNeutral_statistical() public {
        uint256 n = 2_000;
        uint256[3] memory splits = [uint256(1), 2, 10];
        uint256[3] memory primaries;
        uint256[3] memory seats;
        for (uint256 c; c < 3; ++c) {
            (primaries[c], seats[c]) = _attackerShare(splits[c], n, c);
            // 3 sd of a share of n (resp. 3n) fair draws, in draws: 3 * sqrt(n/4) = 67.1, 3 * sqrt(3n/4) = 116.2.
            vm.assertLe(_gap(primaries[c] * 2, n), 2 * 68, "primaries: 1/2 within 3 sd");
            vm.assertLe(_gap(seats[c] * 2, 3 * n), 2 * 117, "seats: 1/2 within 3 sd");
        }
        for (uint256 c = 1; c < 3; ++c) {
            // The difference of two independent shares: sd sqrt(2) larger.
            vm.assertLe(_gap(primaries[c], primaries[0]), 95, "primaries: splits agree within 3 sd");
            vm.assertLe(_gap(seats[c], seats[0]), 165, "seats: splits agree within 3 sd");
        }
    }

    function _gap(uint256 a, uint256 b) internal pure returns (uint256) {
        return a > b ? a - b : b - a;
    }

    /// @dev Registers honest (S = 10 ether) and `m` attacker identities (S/m each) for a fresh model, makes `n`
    ///      SINGLE requests in `n` blocks with fresh prevrandao, and counts the attacker's primaries and seats.
    function _attackerShare(uint256 m, uint256 n, uint256 salt) internal returns (uint256 primaries, uint256 seats) {
        bytes32 modelId = keccak256(abi.encode("statistics", salt));
        registerModel(modelId, spec(Mode.SINGLE, Mode.CONSENSUS));
        address[] memory who = new address[](m + 1);
        who[0] = makeAddr(string(abi.encode("honest", salt)));
        _serve(who[0], 10 ether, modelId);
        for (uint256 i = 1; i <= m; ++i) {
            who[i] = makeAddr(string(abi.encode("sybil", salt, i)));
            _serve(who[i], 10 ether / m, modelId);
        }
        vm.warp(block.timestamp + 1);
        vm.deal(alice, uint256(PRICE) * n + 1 ether);
        uint256[] memory stakes = new uint256[](m + 1);
        for (uint256 i; i <= m; ++i) {
            stakes[i] = nodes.nodeInfo(who[i]).stake;
        }
        for (uint256 r; r < n; ++r) {
            vm.roll(block.number + 1);
            vm.prevrandao(keccak256(abi.encode(salt, r)));
            vm.prank(alice);
            uint256 id = hub.requestInference{value: PRICE}(
                modelId, input32(), Mode.SINGLE, 1, 0, uint64(block.timestamp + 1 hours)
            );
            uint256 lottery = _lotteryOf(modelId, id);
            for (uint256 seat; seat < 4; ++seat) {
                if (_bestIndex(lottery, id, who, stakes, seat) == 0) continue;
                // Seat 0 is the SINGLE primary; seats 1..3 stand for a CONSENSUS round's three seat lotteries.
                if (seat == 0) ++primaries;
                else ++seats;
            }
        }
    }

    function _lotteryOf(bytes32 modelId, uint256 id) internal view returns (uint256) {
        return hub.lotteryWordOf(modelId, id, PRICE, 1, 0);
    }

    function _bestIndex(uint256 lottery, uint256 id, address[] memory who, uint256[] memory stakes, uint256 seat)
        internal
        pure
        returns (uint256 best)
    {
        uint256 low = type(uint256).max;
        for (uint256 i; i < who.length; ++i) {
            uint256 x = Lottery.ticket(lottery, id, who[i], seat, stakes[i]);
            if (x < low) (low, best) = (x, i);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 EXPLOITS
    //////////////////////////////////////////////////////////////*/

    /// @dev Issue 12: an attacker's two minimum-stake identities committed in the same block as its own k = 3 request,
    ///      outvoted an honest 20-ether node and took its slashed stake. Now seats go by stake-weighted tickets (the
    ///      attacker holds 2 of 22 ether: each seat is its with probability 1/11), a commit before its window reverts,
    ///      and a slash is burned. Over 60 rounds in which the attacker commits every seat it may take first and lies
    ///      whenever it holds a majority, it never gains: it gets back at most the fees it paid, and the honest
    ///      node's losses are burned, not paid to it.
    function test_exploit_sybilMajorityCannotProfit() public {
        _freshModel(Mode.SINGLE, Mode.CONSENSUS);
        address honest = makeAddr("honest");
        address s1 = makeAddr("sybil1");
        address s2 = makeAddr("sybil2");
        _serve(honest, 20 ether, FRESH);
        _serve(s1, MIN_STAKE, FRESH);
        _serve(s2, MIN_STAKE, FRESH);
        vm.warp(block.timestamp + 1);
        address[] memory who = new address[](3);
        (who[0], who[1], who[2]) = (honest, s1, s2);

        // The PoC as it was: both identities commit in the request's block. Each commit before its window reverts.
        (uint256 id0, RequestParams memory p0) = _request(Mode.CONSENSUS, 3);
        uint256 refused;
        for (uint256 i = 1; i < 3; ++i) {
            uint256 opens = hub.windowOf(id0, p0, who[i], i - 1);
            if (opens <= block.timestamp) continue;
            ++refused;
            vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WindowNotOpen.selector, id0, who[i], i - 1, opens));
            commitSeat(who[i], id0, p0, output32(-7), i - 1);
        }
        vm.assertGt(refused, 0, "the same-block commits are refused");

        uint256 attackerBefore = alice.balance + s1.balance + s2.balance + MIN_STAKE * 2;
        uint256 honestStakeBefore = nodes.nodeInfo(honest).stake;
        uint256 packed;
        for (uint256 round; round < 60; ++round) {
            if (_playRound(who, round)) ++packed;
        }
        // The attacker's whole position: its requester's wallet and hub balance, its identities' balances and stakes.
        uint256 attackerAfter = alice.balance + hub.balanceOf(alice) + s1.balance + hub.balanceOf(s1) + s2.balance
            + hub.balanceOf(s2) + nodes.nodeInfo(s1).stake + nodes.nodeInfo(s2).stake;
        vm.assertLt(attackerAfter, attackerBefore, "the attacker loses money");
        uint256 honestLoss = honestStakeBefore - nodes.nodeInfo(honest).stake;
        vm.assertEq(hub.burned(), honestLoss, "whatever the honest node lost was burned");
        vm.assertLt(packed, 12, "the attacker rarely holds a majority (expected 60 * 0.025 = 1.5 rounds)");
    }

    /// @dev One k = 3 round requested by alice (the attacker): each seat goes to its best ticket (every node commits
    ///      as soon as its window opens); the sybils lie when they hold a majority. Returns whether they did.
    function _playRound(address[] memory who, uint256 round) internal returns (bool lie) {
        vm.roll(block.number + 1);
        vm.prevrandao(keccak256(abi.encode("round", round)));
        (uint256 id, RequestParams memory p) = _request(Mode.CONSENSUS, 3);
        uint16[3] memory held;
        for (uint256 seat; seat < 3; ++seat) {
            held[_best(id, p, who, seat)] |= uint16(1 << seat);
        }
        lie = _popcount(held[1]) + _popcount(held[2]) >= 2;
        openAllWindows();
        for (uint256 i; i < 3; ++i) {
            if (held[i] == 0) continue;
            bytes memory out = (i > 0 && lie) ? output32(-7) : output32(1);
            vm.prank(who[i]);
            hub.commitResult(id, p, voteHash(out, bytes32(uint256(uint160(who[i]))), who[i]), held[i]);
        }
        for (uint256 i; i < 3; ++i) {
            if (held[i] != 0) reveal(who[i], id, p, (i > 0 && lie) ? output32(-7) : output32(1));
        }
        hub.finalizeConsensus(id, p, lie ? output32(-7) : output32(1));
    }

    /// @dev Issue 12: a ZK proof is bound to neither request nor prover, so a staked node could copy it from the
    ///      mempool (or replay it on another request with the same input) and take the fee. Now only the node whose
    ///      window is open may submit: the copy by a node whose window is closed reverts, the assigned prover is paid.
    function test_exploit_zkProofReplayFails() public {
        registerZkFixtureModel(ZkFixture.MODEL_ID, deployZkFixtureVerifier());
        for (uint256 round; round < 50; ++round) {
            uint64 deadline = uint64(block.timestamp + 1 hours);
            uint256 id =
                consumer.request{value: PRICE}(ZkFixture.MODEL_ID, ZkFixture.INPUT, Mode.ZK, 1, CB_GAS, deadline);
            RequestParams memory p =
                paramsWithoutLottery(address(consumer), ZkFixture.INPUT, Mode.ZK, 1, CB_GAS, deadline, PRICE);
            p.modelId = ZkFixture.MODEL_ID;
            p.outputBytes = ZkFixture.CLASSES * 8;
            withLottery(p, id);
            uint256 w1 = hub.windowOf(id, p, node1, 0);
            uint256 w2 = hub.windowOf(id, p, node2, 0);
            if (w1 == w2) {
                vm.warp(block.timestamp + 1);
                continue;
            }
            (address prover, address copier, uint256 wp, uint256 wc) =
                w1 < w2 ? (node1, node2, w1, w2) : (node2, node1, w2, w1);
            if (wp > block.timestamp) vm.warp(wp);
            // The copier saw the prover's transaction in the mempool and sends the same proof first.
            vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WindowNotOpen.selector, id, copier, 0, wc));
            vm.prank(copier);
            hub.submitZkResult(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
            vm.prank(prover);
            hub.submitZkResult(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
            vm.assertEq(hub.balanceOf(prover), PRICE, "the prover is paid");
            vm.assertEq(hub.balanceOf(copier), 0, "the copier gets nothing");
            return;
        }
        revert("no request with two distinct windows in 50 tries");
    }

    /// @dev Issue 12: requests nobody could serve were accepted and their fee locked until the deadline. Now they are
    ///      refused at once, with nothing escrowed: a model without serving stake, k above the serving nodes, k < 3.
    function test_exploit_unservableRequestRefused() public {
        _freshModel(Mode.SINGLE, Mode.CONSENSUS);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NoNodeServes.selector, FRESH));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(FRESH, input32(), Mode.SINGLE, 1, 0, deadline);

        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyUnavailable.selector, 4, 3));
        vm.prank(alice);
        hub.requestInference{value: PRICE * 4}(MODEL, input32(), Mode.CONSENSUS, 4, 0, deadline);

        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyInvalid.selector, Mode.CONSENSUS, 2, 3, 9));
        vm.prank(alice);
        hub.requestInference{value: PRICE * 2}(MODEL, input32(), Mode.CONSENSUS, 2, 0, deadline);

        // A node that unbonds takes its stake out at once: with two nodes left, k = 3 is refused.
        vm.prank(node3);
        nodes.beginUnbonding();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyUnavailable.selector, 3, 2));
        vm.prank(alice);
        hub.requestInference{value: PRICE * 3}(MODEL, input32(), Mode.CONSENSUS, 3, 0, deadline);
        vm.assertEq(address(hub).balance, 0, "nothing escrowed");
    }

    function _popcount(uint16 bits) internal pure returns (uint256 c) {
        while (bits != 0) {
            bits &= bits - 1;
            ++c;
        }
    }
}

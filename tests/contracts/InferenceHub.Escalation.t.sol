// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams, RoundView, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";

/// @notice A CONSENSUS round without a majority escalates to a fresh committee of min(2k + 1, 16 - k) seats, whose
///         majority decides; whoever revealed against it is slashed. Six nodes serve the model: three for the round,
///         three fresh ones for its escalation.
contract InferenceHubEscalationTest is BaseTest {
    address internal node4;
    address internal node5;
    address internal node6;

    function setUp() public override {
        super.setUp();
        node4 = makeAddr("node4");
        node5 = makeAddr("node5");
        node6 = makeAddr("node6");
        registerNode(node4, ENV_A);
        registerNode(node5, ENV_A);
        registerNode(node6, ENV_B);
        vm.warp(block.timestamp + 1); // tickets go to stakes older than the request
    }

    function _commitSeats(address node, uint256 id, RequestParams memory p, bytes memory output, uint16 seats)
        internal
    {
        vm.prank(node);
        hub.commitResult(id, p, voteHash(output, bytes32(uint256(uint160(node))), node), seats);
    }

    /// @dev A round of three where node1 reveals the honest output 5 and node2 and node3 each a different one:
    ///      no majority. Returns the request once it escalated.
    function _splitRound() internal returns (uint256 id, RequestParams memory p) {
        return _splitRound(uint64(block.timestamp + 1 hours));
    }

    function _splitRound(uint64 deadline) internal returns (uint256 id, RequestParams memory p) {
        uint256 fee = 3 * uint256(PRICE);
        id = consumer.request{value: fee}(MODEL, input32(), Mode.CONSENSUS, 3, CB_GAS, deadline);
        p = paramsFor(address(consumer), input32(), Mode.CONSENSUS, 3, CB_GAS, deadline, fee);
        commitSeat(node1, id, p, output32(5), 0);
        commitSeat(node2, id, p, output32(6), 1);
        commitSeat(node3, id, p, output32(7), 2);
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(6));
        reveal(node3, id, p, output32(7));
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ConsensusEscalated(
            id, 7, uint64(block.timestamp), uint64(block.timestamp + ALL_WINDOWS_OPEN + 2 * REVEAL_WINDOW)
        );
        hub.finalizeConsensus(id, p, "");
    }

    /// @dev The review's proof of concept: seat holders who reveal garbage turned a round into NO_CONSENSUS at no
    ///      cost but gas. Now the round escalates, the fresh committee's majority decides, and both lose stake.
    function test_exploit_revealGarbageIsNotFree() public {
        (uint256 id, RequestParams memory p) = _splitRound();
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.PENDING), "escalated, not refunded");
        RoundView memory r = hub.roundOf(id);
        vm.assertEq(r.escalationSeats, 7, "2k + 1 fresh seats");
        vm.assertEq(uint256(r.commits) + r.reveals + r.revealEndsAt, 0, "a new phase");

        openAllWindows();
        _commitSeats(node4, id, p, output32(5), 0x78); // seats 3..6
        _commitSeats(node5, id, p, output32(5), 0x180); // seats 7, 8
        _commitSeats(node6, id, p, output32(5), 0x200); // seat 9: the seventh
        vm.assertTrue(hub.roundOf(id).revealEndsAt != 0, "the escalation's reveal phase");
        reveal(node4, id, p, output32(5));
        reveal(node5, id, p, output32(5));
        reveal(node6, id, p, output32(5));
        uint256 stake2 = nodes.nodeInfo(node2).stake;
        uint256 stake3 = nodes.nodeInfo(node3).stake;
        hub.finalizeConsensus(id, p, output32(5));

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "the escalation decided");
        vm.assertEq(consumer.lastOutput(), output32(5), "the consumer got the honest output");
        uint256 lost = stake2 * SLASH_BPS / 10_000 + stake3 * SLASH_BPS / 10_000;
        vm.assertEq(nodes.nodeInfo(node2).stake, stake2 - stake2 * SLASH_BPS / 10_000, "garbage reveal slashed");
        vm.assertEq(nodes.nodeInfo(node3).stake, stake3 - stake3 * SLASH_BPS / 10_000, "the other too");
        vm.assertEq(hub.burned(), lost, "burned, paid to nobody");
        vm.assertEq(hub.balanceOf(node2) + hub.balanceOf(node3), 0, "the griefers earned nothing");
        // The fee is shared by the ten agreeing or not seats' count: 8 agreeing seats paid, 2 refunded.
        uint256 perSeat = 3 * uint256(PRICE) / 10;
        vm.assertEq(hub.balanceOf(node1), perSeat, "the honest voter of the round");
        vm.assertEq(hub.balanceOf(node4), 4 * perSeat, "the committee, by seats");
        vm.assertEq(hub.balanceOf(address(consumer)), 3 * uint256(PRICE) - 8 * perSeat, "the liars' seats back");
        vm.assertEq(nodes.nodeInfo(node1).openCommitments, 0, "every stake unlocked");
        vm.assertEq(nodes.nodeInfo(node3).openCommitments, 0, "the liars' too");
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(output32(5)), ENV_A, node4), "verifiable");
    }

    function test_escalation_committeeIsFresh() public {
        (uint256 id, RequestParams memory p) = _splitRound();
        openAllWindows();
        vm.prank(node1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotFresh.selector, id, node1));
        hub.commitResult(id, p, voteHash(output32(5), bytes32(uint256(uint160(node1))), node1), 0x8);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.SeatsInvalid.selector, id, uint16(1), uint8(10)));
        _commitSeats(node4, id, p, output32(5), 0x1); // a seat of the round, not of its escalation
    }

    function test_escalation_roundVotesCannotRevealLate() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commitSeat(node1, id, p, output32(5), 0);
        commitSeat(node2, id, p, output32(6), 1);
        commitSeat(node3, id, p, output32(7), 2);
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(6));
        vm.warp(block.timestamp + REVEAL_WINDOW + 1); // node3 stays silent
        hub.finalizeConsensus(id, p, "");
        uint40 escalatedAt = uint40(block.timestamp);
        vm.prank(node3);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RevealPhaseNotStarted.selector, id, 0, 7));
        hub.revealResult(id, p, output32(7), bytes32(uint256(uint160(node3))));
        openAllWindows();
        _commitSeats(node4, id, p, output32(5), 0x3f8); // all seven
        vm.prank(node3);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RevealPhaseOver.selector, id, uint64(escalatedAt)));
        hub.revealResult(id, p, output32(7), bytes32(uint256(uint160(node3))));
    }

    /// @dev Windows on the escalation's seats open from its own time: a ticket's delay, counted from then.
    function test_escalation_windowsOpenFromItsTime() public {
        (uint256 id, RequestParams memory p) = _splitRound();
        uint256 shift = block.timestamp - Lottery.requestedAtOf(p.lottery);
        for (uint256 seat = 3; seat < 10; ++seat) {
            uint256 opensAt = hub.windowOf(id, p, node4, seat) + shift;
            if (opensAt <= block.timestamp) continue;
            vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WindowNotOpen.selector, id, node4, seat, opensAt));
            _commitSeats(node4, id, p, output32(5), uint16(1 << seat));
            vm.warp(opensAt);
            _commitSeats(node4, id, p, output32(5), uint16(1 << seat));
            return;
        }
        revert("no seat with a later window: change the test's nodes");
    }

    function test_escalation_withoutMajorityRefundsAndSlashesTheSilent() public {
        (uint256 id, RequestParams memory p) = _splitRound();
        openAllWindows();
        _commitSeats(node4, id, p, output32(5), 0x38); // 3 seats
        _commitSeats(node5, id, p, output32(6), 0x1c0); // 3 seats
        _commitSeats(node6, id, p, output32(7), 0x200); // 1 seat, silent
        reveal(node4, id, p, output32(5));
        reveal(node5, id, p, output32(6));
        vm.warp(block.timestamp + REVEAL_WINDOW + 1);
        uint256 stake6 = nodes.nodeInfo(node6).stake;
        uint256 stake2 = nodes.nodeInfo(node2).stake;
        hub.finalizeConsensus(id, p, "");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.NO_CONSENSUS), "no second escalation");
        vm.assertEq(hub.balanceOf(address(consumer)), 3 * uint256(PRICE), "refunded");
        vm.assertLt(nodes.nodeInfo(node6).stake, stake6, "the silent vote slashed");
        vm.assertEq(nodes.nodeInfo(node2).stake, stake2, "revealed votes cannot be judged");
    }

    /// @dev An escalation nobody fills is refunded once its own end has passed, which may lie past the deadline.
    function test_escalation_unfilledIsRefundedAfterItsEnd() public {
        uint64 deadline = uint64(block.timestamp + REVEAL_WINDOW + 60);
        (uint256 id, RequestParams memory p) = _splitRound(deadline);
        uint64 endsAt = hub.roundOf(id).escalationEndsAt;
        vm.assertGt(endsAt, deadline, "the escalation outlives the deadline");
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.DeadlineNotPassed.selector, id, endsAt));
        hub.reclaimFee(id, p);
        vm.warp(endsAt + 1);
        hub.reclaimFee(id, p);
        vm.assertEq(hub.balanceOf(address(consumer)), 3 * uint256(PRICE), "refunded");
        vm.assertEq(nodes.nodeInfo(node2).openCommitments, 0, "the round's votes released");
    }
}

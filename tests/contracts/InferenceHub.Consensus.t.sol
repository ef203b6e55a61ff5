// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {
    IInferenceHub,
    HubParams,
    RequestParams,
    RoundView,
    Status,
    Vote
} from "../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {INodeRegistry, Eligibility} from "../../contracts/interfaces/INodeRegistry.sol";
import {Commitments} from "../../contracts/lib/Commitments.sol";

/// @notice CONSENSUS: commit, reveal, finalize, every branch of the majority rule, slashing and payment.
contract InferenceHubConsensusTest is BaseTest {
    address internal node4;
    address internal node5;

    function setUp() public override {
        super.setUp();
        node4 = makeAddr("node4");
        node5 = makeAddr("node5");
        registerNode(node4, ENV_A);
        registerNode(node5, ENV_B);
        vm.warp(block.timestamp + 1);
    }

    function _commitAll(uint256 id, RequestParams memory p, address[] memory who, bytes[] memory outs) internal {
        for (uint256 i; i < who.length; ++i) {
            commit(who[i], id, p, outs[i]);
        }
    }

    function _three() internal view returns (address[] memory who) {
        who = new address[](3);
        who[0] = node1;
        who[1] = node2;
        who[2] = node3;
    }

    function _outs(int64 a, int64 b, int64 c) internal pure returns (bytes[] memory outs) {
        outs = new bytes[](3);
        outs[0] = output32(a);
        outs[1] = output32(b);
        outs[2] = output32(c);
    }

    function _slash(address node) internal view returns (uint256) {
        return uint256(nodes.nodeInfo(node).stake) * SLASH_BPS / 10_000;
    }

    /// @dev node4 and node5 stop serving the model: no node outside a round of node1..node3 is left to escalate to,
    ///      so a round without a majority settles as NO_CONSENSUS (InferenceHub.Escalation.t.sol has the rest).
    function _noFreshNodes() internal {
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = MODEL;
        vm.prank(node4);
        nodes.setModels(ids, false);
        vm.prank(node5);
        nodes.setModels(ids, false);
    }

    /*//////////////////////////////////////////////////////////////
                                  COMMIT
    //////////////////////////////////////////////////////////////*/

    function test_commitResult_recordsVoteAndOpensRevealAtK() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        bytes32 h = voteHash(output32(1), bytes32(uint256(uint160(node1))), node1);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultCommitted(id, node1, h, ENV_A, 1);
        commit(node1, id, p, output32(1));
        vm.assertEq(hub.roundOf(id).revealEndsAt, 0, "not yet");
        vm.assertEq(nodes.nodeInfo(node1).openCommitments, 1, "stake locked");
        commit(node2, id, p, output32(1));

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.RevealPhaseStarted(id, uint64(block.timestamp + REVEAL_WINDOW));
        commit(node3, id, p, output32(1));
        RoundView memory r = hub.roundOf(id);
        vm.assertEq(r.commits, 3, "three seats taken");
        vm.assertEq(r.committers.length, 3, "committers listed");
        vm.assertEq(r.committers[2], node3, "in commit order");
        vm.assertEq(hub.voteOf(id, node3).seats, 4, "node3 holds seat 2");
        Vote memory v = hub.voteOf(id, node3);
        vm.assertEq(v.envHash, ENV_B, "env captured at commit");
    }

    function test_RevertWhen_CommitPhaseFull() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CommitPhaseClosed.selector, id));
        commitSeat(node4, id, p, output32(1), 0);
    }

    function test_RevertWhen_CommitTooCloseToDeadline() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        vm.warp(p.deadline - REVEAL_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CommitPhaseClosed.selector, id));
        commit(node1, id, p, output32(1));
    }

    function test_RevertWhen_CommitTwice() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commit(node1, id, p, output32(1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.AlreadyCommitted.selector, id, node1));
        commit(node1, id, p, output32(2));
    }

    function test_RevertWhen_CommitHashZero() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CommitHashZero.selector));
        vm.prank(node1);
        hub.commitResult(id, p, bytes32(0), 1);
    }

    function test_RevertWhen_CommitOnSingleRequest() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WrongMode.selector, id, Mode.SINGLE));
        commit(node1, id, p, output32(1));
    }

    function test_RevertWhen_CommitByIneligibleNode() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.NodeNotEligible.selector, outsider, MODEL, Eligibility.NOT_REGISTERED)
        );
        commit(outsider, id, p, output32(1));
    }

    /*//////////////////////////////////////////////////////////////
                                  REVEAL
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_RevealBeforeKCommits() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commit(node1, id, p, output32(1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RevealPhaseNotStarted.selector, id, 1, 3));
        reveal(node1, id, p, output32(1));
    }

    function test_RevertWhen_RevealAfterWindow() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        uint64 ends = hub.roundOf(id).revealEndsAt;
        vm.warp(ends + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RevealPhaseOver.selector, id, ends));
        reveal(node1, id, p, output32(1));
    }

    function test_RevertWhen_RevealWithoutCommit() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotCommitted.selector, id, node4));
        reveal(node4, id, p, output32(1));
    }

    function test_RevertWhen_RevealTwice() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        reveal(node1, id, p, output32(1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.AlreadyRevealed.selector, id, node1));
        reveal(node1, id, p, output32(1));
    }

    function test_RevertWhen_RevealDiffersFromCommit() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RevealMismatch.selector, id, node1));
        reveal(node1, id, p, output32(2));
    }

    function test_RevertWhen_RevealWrongLength() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.OutputLengthMismatch.selector, 8, 32));
        vm.prank(node1);
        hub.revealResult(id, p, new bytes(8), bytes32(uint256(uint160(node1))));
    }

    /*//////////////////////////////////////////////////////////////
                         FINALIZE: MAJORITY BRANCHES
    //////////////////////////////////////////////////////////////*/

    function test_finalize_unanimousEarlyOnceAllRevealed() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(5, 5, 5));
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        reveal(node3, id, p, output32(5));

        vm.prank(outsider); // anyone may finalize
        hub.finalizeConsensus(id, p, output32(5));

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "fulfilled");
        vm.assertEq(hub.balanceOf(node1), PRICE, "fee share 1");
        vm.assertEq(hub.balanceOf(node2), PRICE, "fee share 2");
        vm.assertEq(hub.balanceOf(node3), PRICE, "fee share 3");
        vm.assertEq(consumer.lastOutput(), output32(5), "callback got the agreed output");
        vm.assertEq(hub.roundOf(id).winningOutputHash, keccak256(output32(5)), "winner recorded");
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(output32(5)), ENV_B, node3), "node3 verifies");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(output32(5)), ENV_A, node3), "wrong env");
        vm.assertEq(nodes.nodeInfo(node1).openCommitments, 0, "unlocked");

        bytes32[] memory cs = new bytes32[](3);
        cs[0] = resultCommitment(id, p, output32(5), ENV_A, node1);
        cs[1] = resultCommitment(id, p, output32(5), ENV_A, node2);
        cs[2] = resultCommitment(id, p, output32(5), ENV_B, node3);
        vm.assertEq(
            hub.commitmentOf(id), maskedResult(Commitments.consensus(id, keccak256(output32(5)), cs)), "commitment"
        );
    }

    function test_finalize_liarIsOutvotedAndSlashed() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(5, 5, 6));
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        reveal(node3, id, p, output32(6));
        uint256 slashed = _slash(node3);
        uint256 stakeBefore = nodes.nodeInfo(node3).stake;

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.VoteSlashed(id, node3, slashed);
        hub.finalizeConsensus(id, p, output32(5));

        // One seat each: a seat's fee share is fee / k; the liar's share goes back; the slash is burned, not paid to
        // the round (voters who could have packed it) nor to the requester (who could have asked for it).
        vm.assertEq(hub.balanceOf(node1), PRICE, "winner 1: its seat's fee share, no slash proceeds");
        vm.assertEq(hub.balanceOf(node2), PRICE, "winner 2");
        vm.assertEq(hub.balanceOf(address(consumer)), PRICE, "requester: the liar's seat share back");
        vm.assertEq(hub.burned(), slashed, "the slash is burned");
        vm.assertEq(hub.balanceOf(node3), 0, "liar unpaid");
        vm.assertEq(nodes.nodeInfo(node3).stake, stakeBefore - slashed, "liar's stake cut");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(output32(6)), ENV_B, node3), "lie fails");
    }

    function test_finalize_silentNodeSlashedAfterWindow() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(5, 5, 5));
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        uint64 ends = hub.roundOf(id).revealEndsAt;

        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.FinalizeTooEarly.selector, id, ends, 2, 3));
        hub.finalizeConsensus(id, p, output32(5));

        vm.warp(ends + 1);
        uint256 slashed = _slash(node3);
        hub.finalizeConsensus(id, p, output32(5));
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "2 of 3 is a majority");
        vm.assertEq(hub.balanceOf(node3), 0, "silent node unpaid");
        vm.assertEq(hub.balanceOf(node1), PRICE, "winner paid its seat's share");
        vm.assertEq(hub.burned(), slashed, "silent node's slash burned");
    }

    function test_finalize_noMajorityWhenSplit() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _noFreshNodes();
        _commitAll(id, p, _three(), _outs(1, 2, 3));
        reveal(node1, id, p, output32(1));
        reveal(node2, id, p, output32(2));
        uint256 s1 = nodes.nodeInfo(node1).stake;
        vm.warp(hub.roundOf(id).revealEndsAt + 1);

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ConsensusFailed(id, 2, 3);
        hub.finalizeConsensus(id, p, "");

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.NO_CONSENSUS), "no consensus");
        vm.assertEq(hub.balanceOf(address(consumer)), uint256(PRICE) * 3, "full refund");
        vm.assertEq(nodes.nodeInfo(node1).stake, s1, "revealed votes are not slashed without a majority");
        vm.assertEq(consumer.calls(), 0, "no callback");
        vm.assertEq(nodes.nodeInfo(node2).openCommitments, 0, "unlocked");
    }

    function test_finalize_noMajorityAllDifferent() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _noFreshNodes();
        _commitAll(id, p, _three(), _outs(1, 2, 3));
        reveal(node1, id, p, output32(1));
        reveal(node2, id, p, output32(2));
        reveal(node3, id, p, output32(3));
        hub.finalizeConsensus(id, p, "");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.NO_CONSENSUS), "no consensus");
    }

    function test_finalize_noMajoritySlashesOnlySilentForRequester() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _noFreshNodes();
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        reveal(node1, id, p, output32(1));
        vm.warp(hub.roundOf(id).revealEndsAt + 1);
        uint256 slashed = _slash(node2) + _slash(node3);
        hub.finalizeConsensus(id, p, "");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.NO_CONSENSUS), "1 of 3 is not a strict majority");
        vm.assertEq(hub.balanceOf(address(consumer)), uint256(PRICE) * 3, "refund only: slashes are burned");
        vm.assertEq(hub.burned(), slashed, "silent nodes' slashes burned");
        vm.assertEq(hub.balanceOf(node1), 0, "no pay without consensus");
    }

    function test_finalize_nobodyRevealed() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _noFreshNodes();
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        vm.warp(hub.roundOf(id).revealEndsAt + 1);
        uint256 slashed = _slash(node1) + _slash(node2) + _slash(node3);
        hub.finalizeConsensus(id, p, "");
        vm.assertEq(hub.balanceOf(address(consumer)), uint256(PRICE) * 3, "refund");
        vm.assertEq(hub.burned(), slashed, "all three slashes burned");
    }

    /// @dev The owner raising the minimum stake mid-round used to make the honest winners forfeit their fees to the
    ///      requester: seats won under a request's terms are paid under them.
    function test_exploit_minStakeRaiseCannotTakeHonestFees() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(5, 5, 5));
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        reveal(node3, id, p, output32(5));
        vm.prank(owner);
        nodes.setMinStake(3 ether); // every node now holds 2 ether: below the minimum
        hub.finalizeConsensus(id, p, output32(5));
        vm.assertEq(hub.balanceOf(node1), PRICE, "paid its seat");
        vm.assertEq(hub.balanceOf(node2) + hub.balanceOf(node3), uint256(PRICE) * 2, "the others too");
        vm.assertEq(hub.balanceOf(address(consumer)), 0, "nothing forfeited to the requester");
    }

    function test_RevertWhen_FinalizeWithWrongOutput() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        reveal(node1, id, p, output32(1));
        reveal(node2, id, p, output32(1));
        reveal(node3, id, p, output32(1));
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.WinningOutputMismatch.selector, id, keccak256(output32(1)), keccak256(output32(2))
            )
        );
        hub.finalizeConsensus(id, p, output32(2));
    }

    function test_RevertWhen_FinalizeBeforeReveal() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commit(node1, id, p, output32(1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RevealPhaseNotStarted.selector, id, 1, 3));
        hub.finalizeConsensus(id, p, output32(1));
    }

    function test_RevertWhen_FinalizeTwice() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        reveal(node1, id, p, output32(1));
        reveal(node2, id, p, output32(1));
        reveal(node3, id, p, output32(1));
        hub.finalizeConsensus(id, p, output32(1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestNotPending.selector, id, Status.FULFILLED));
        hub.finalizeConsensus(id, p, output32(1));
    }

    function test_RevertWhen_FinalizeSingleRequest() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WrongMode.selector, id, Mode.SINGLE));
        hub.finalizeConsensus(id, p, output32(1));
    }

    /*//////////////////////////////////////////////////////////////
                          TIMEOUTS AND STAKE LOCKS
    //////////////////////////////////////////////////////////////*/

    function test_reclaimFee_consensusWithTooFewCommitsUnlocks() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commit(node1, id, p, output32(1));
        vm.warp(p.deadline + 1);
        uint256 s1 = nodes.nodeInfo(node1).stake;
        hub.reclaimFee(id, p);
        vm.assertEq(hub.balanceOf(address(consumer)), uint256(PRICE) * 3, "whole fee back");
        vm.assertEq(nodes.nodeInfo(node1).openCommitments, 0, "unlocked");
        vm.assertEq(nodes.nodeInfo(node1).stake, s1, "not the committer's fault: no slash");
    }

    function test_RevertWhen_ReclaimWhileAwaitingFinalization() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        _noFreshNodes();
        _commitAll(id, p, _three(), _outs(1, 1, 1));
        vm.warp(p.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.AwaitingFinalization.selector, id));
        hub.reclaimFee(id, p);
        hub.finalizeConsensus(id, p, ""); // nobody revealed: settles as no consensus
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.NO_CONSENSUS), "settled");
    }

    function test_withdrawStake_blockedWhileRoundOpen() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commit(node1, id, p, output32(1));
        vm.prank(node1);
        nodes.beginUnbonding();
        vm.warp(block.timestamp + UNBONDING + 1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeLocked.selector, node1, 1));
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));

        hub.reclaimFee(id, p); // the deadline (1 h) passed during unbonding; one commit of two
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));
        vm.assertEq(nodes.nodeInfo(node1).registered, false, "left");
    }

    /*//////////////////////////////////////////////////////////////
                                  FUZZ
    //////////////////////////////////////////////////////////////*/

    /// @dev k nodes, `liars` of them (a minority) reveal another output: money is conserved to the wei.
    function testFuzz_finalize_conservesValue(uint8 k, uint8 liars, uint16 bps, uint256 fee) public {
        k = uint8(bound(k, 3, 5));
        liars = uint8(bound(liars, 0, (k - 1) / 2));
        bps = uint16(bound(bps, 1, 10_000));
        fee = bound(fee, uint256(PRICE) * k, 10 ether);
        HubParams memory hp = defaultParams();
        hp.slashBps = bps;
        vm.prank(owner);
        hub.setParams(hp);

        address[5] memory all = [node1, node2, node3, node4, node5];
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 id = consumer.request{value: fee}(MODEL, input32(), Mode.CONSENSUS, k, 0, deadline);
        RequestParams memory p = paramsFor(address(consumer), input32(), Mode.CONSENSUS, k, 0, deadline, fee);
        openAllWindows();
        uint256 totalBefore = address(hub).balance + address(nodes).balance;
        uint256 expectedSlash;
        for (uint256 i; i < k; ++i) {
            commit(all[i], id, p, output32(i < liars ? int64(-1) : int64(7)));
            if (i < liars) expectedSlash += uint256(nodes.nodeInfo(all[i]).stake) * bps / 10_000;
        }
        for (uint256 i; i < k; ++i) {
            reveal(all[i], id, p, output32(i < liars ? int64(-1) : int64(7)));
        }
        hub.finalizeConsensus(id, p, output32(7));

        uint256 credited = hub.balanceOf(address(consumer));
        for (uint256 i; i < k; ++i) {
            credited += hub.balanceOf(all[i]);
        }
        vm.assertEq(credited, fee, "the fee credited exactly");
        vm.assertEq(hub.burned(), expectedSlash, "slashed stake burned exactly");
        vm.assertEq(address(hub).balance + address(nodes).balance, totalBefore, "no wei created or lost");
        vm.assertEq(nodes.totalStake(), address(nodes).balance, "registry holds its stakes");
    }

    function test_finalize_conservesValue_concrete() public {
        testFuzz_finalize_conservesValue(5, 2, 2_500, 1 ether);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, HubParams, RequestParams, Submission} from "../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {GasBurningConsumer} from "./mocks/Consumers.sol";
import {NoopConsumer} from "./gas/NoopConsumer.sol";

/// @notice Priced callbacks and terms fixed per request. Whoever delivers a result (SINGLE, ZK) or finalizes a round
///         (CONSENSUS) pays for the requester's callback; the fee above the price, over the callback gas limit, caps
///         the gas price the escrow reimburses, and what the callback did not use goes back to the requester. The
///         slash and the reveal window a request was made under hold until it ends, whatever the owner sets later.
contract InferenceHubTermsTest is BaseTest {
    uint256 internal constant CAP = 1 gwei;
    uint32 internal constant BIG_CB = 2_000_000;

    function _single(NoopConsumer requester, uint32 cbGas, uint256 fee)
        internal
        returns (uint256 id, RequestParams memory p)
    {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = requester.request{value: fee}(MODEL, input32(), Mode.SINGLE, 1, cbGas, deadline);
        p = paramsFor(address(requester), input32(), Mode.SINGLE, 1, cbGas, deadline, fee);
    }

    /// @dev node1 delivers `p` at `gasPrice` wei per gas; returns what the delivery credited it.
    function _deliver(uint256 id, RequestParams memory p, uint256 gasPrice) internal returns (uint256 earned) {
        uint256 before = hub.balanceOf(node1);
        vm.txGasPrice(gasPrice);
        vm.prank(node1);
        hub.submitResult{gas: 4_000_000}(id, p, output32(1));
        vm.txGasPrice(0);
        earned = hub.balanceOf(node1) - before;
    }

    /// @dev The review's proof of concept: a 2,000,000-gas callback for a fee of PRICE cost the delivering node 2.2x
    ///      the fee at 1 gwei. With the callback's gas escrowed at 1 gwei, the node is paid its fee and the gas.
    function test_exploit_callbackGasPaidByRequester() public {
        GasBurningConsumer burner = new GasBurningConsumer(hub);
        uint256 escrow = CAP * BIG_CB;
        (uint256 id, RequestParams memory p) = _single(burner, BIG_CB, PRICE + escrow);
        vm.assertEq(Lottery.callbackGasPriceOf(p.lottery), CAP, "cap = excess / callback gas");

        uint256 earned = _deliver(id, p, CAP);
        // The burner uses every unit of its 2,000,000 gas (and the CALL's overhead on top): the whole escrow.
        vm.assertEq(earned, PRICE + escrow, "fee plus the callback's gas");
        vm.assertGe(earned - PRICE, uint256(BIG_CB) * CAP, "covers what the callback cost the node");
        vm.assertEq(hub.balanceOf(address(burner)), 0, "nothing left of the escrow");
    }

    /// @dev A node bidding five times the cap is reimbursed at the cap, for the gas the callback used; the requester
    ///      gets the rest of its escrow back. At half the cap, half as much.
    function test_callbackReimbursedAtMostAtTheCap() public {
        uint256 escrow = CAP * CB_GAS;
        (uint256 id, RequestParams memory p) = _single(consumer, CB_GAS, PRICE + escrow);
        uint256 snapshot = vm.snapshotState();
        uint256 atCap = _deliver(id, p, CAP) - PRICE;
        vm.assertGt(atCap, 0, "reimbursed");
        vm.assertLt(atCap, escrow, "the recording consumer uses less than its limit");
        vm.assertEq(atCap % CAP, 0, "whole gas at the cap");
        vm.assertEq(hub.balanceOf(address(consumer)), escrow - atCap, "the unused escrow back");

        vm.revertToState(snapshot);
        vm.assertEq(_deliver(id, p, 5 * CAP) - PRICE, atCap, "a higher bid is paid the cap");
        vm.revertToState(snapshot);
        vm.assertEq(_deliver(id, p, CAP / 2) - PRICE, atCap / 2, "a lower price is paid as bid");
    }

    /// @dev Without an excess over the price there is no escrow: the node bears the callback (its fee policy decides
    ///      whether to serve). Without a callback, the excess is a tip to the node.
    function test_withoutEscrowTheFeeIsAllThereIs() public {
        (uint256 id, RequestParams memory p) = _single(consumer, CB_GAS, PRICE);
        vm.assertEq(Lottery.callbackGasPriceOf(p.lottery), 0, "no cap");
        vm.assertEq(_deliver(id, p, CAP), PRICE, "the fee");
        vm.assertEq(hub.balanceOf(address(consumer)), 0, "nothing back");

        (id, p) = _single(consumer, 0, PRICE + 1 ether);
        vm.assertEq(Lottery.callbackGasPriceOf(p.lottery), 0, "no callback, no cap");
        vm.assertEq(_deliver(id, p, CAP), PRICE + 1 ether, "the tip goes to the node");
    }

    function test_batchReimbursesEachItem() public {
        uint256 escrow = CAP * CB_GAS;
        (uint256 a, RequestParams memory pa) = _single(consumer, CB_GAS, PRICE + escrow);
        (uint256 b, RequestParams memory pb) = _single(consumer, CB_GAS, PRICE + escrow);
        Submission[] memory items = new Submission[](2);
        items[0] = Submission({requestId: a, params: pa, output: output32(1)});
        items[1] = Submission({requestId: b, params: pb, output: output32(2)});
        vm.txGasPrice(CAP);
        vm.prank(node1);
        vm.assertEq(hub.submitResults(items), 2, "both fulfilled");
        vm.txGasPrice(0);
        uint256 reimbursed = hub.balanceOf(node1) - 2 * uint256(PRICE);
        vm.assertGt(reimbursed, 0, "both callbacks reimbursed");
        vm.assertEq(hub.balanceOf(node1) + hub.balanceOf(address(consumer)), 2 * (PRICE + escrow), "conserved");
    }

    /// @dev In CONSENSUS the finalizer pays the callback: it is reimbursed, whoever it is, and the seats share the fee
    ///      less the escrow.
    function test_consensusFinalizerReimbursed() public {
        uint256 escrow = CAP * CB_GAS;
        uint256 fee = 3 * uint256(PRICE) + escrow;
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 id = consumer.request{value: fee}(MODEL, input32(), Mode.CONSENSUS, 3, CB_GAS, deadline);
        RequestParams memory p = paramsFor(address(consumer), input32(), Mode.CONSENSUS, 3, CB_GAS, deadline, fee);
        commit(node1, id, p, output32(5));
        commit(node2, id, p, output32(5));
        commit(node3, id, p, output32(5));
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        reveal(node3, id, p, output32(5));

        vm.txGasPrice(CAP);
        vm.prank(outsider);
        hub.finalizeConsensus(id, p, output32(5));
        vm.txGasPrice(0);
        uint256 reimbursed = hub.balanceOf(outsider);
        vm.assertGt(reimbursed, 0, "the finalizer's callback gas");
        vm.assertEq(hub.balanceOf(node1), PRICE, "a seat's share of fee - escrow");
        vm.assertEq(hub.balanceOf(node2) + hub.balanceOf(node3), 2 * uint256(PRICE), "the other seats");
        vm.assertEq(hub.balanceOf(address(consumer)), escrow - reimbursed, "the unused escrow back");
    }

    function test_reclaimReturnsTheEscrowToo() public {
        uint256 fee = PRICE + CAP * CB_GAS;
        (uint256 id, RequestParams memory p) = _single(consumer, CB_GAS, fee);
        vm.warp(p.deadline + 1);
        hub.reclaimFee(id, p);
        vm.assertEq(hub.balanceOf(address(consumer)), fee, "the whole fee");
    }

    function test_lotteryWordOf_isTheRequestsWord() public {
        uint256 fee = PRICE + 3 * CAP * CB_GAS + 7; // the rounding remainder stays in the fee
        uint256 word = hub.lotteryWordOf(MODEL, hub.nextRequestId(), fee, 1, CB_GAS);
        (, RequestParams memory p) = _single(consumer, CB_GAS, fee);
        vm.assertEq(p.lottery, word, "the word the request got");
        vm.assertEq(Lottery.callbackGasPriceOf(word), 3 * CAP, "cap");
        vm.assertEq(Lottery.slashBpsOf(word), SLASH_BPS, "slash");
        vm.assertEq(Lottery.revealWindowOf(word), REVEAL_WINDOW, "reveal window");
        // A cap past 48 bits is clamped: the excess over cap * limit is the node's, like a tip.
        uint256 huge = hub.lotteryWordOf(MODEL, 1, PRICE + (uint256(1) << 60), 1, 1);
        vm.assertEq(Lottery.callbackGasPriceOf(huge), type(uint48).max, "clamped");

        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InsufficientFee.selector, PRICE - 1, PRICE));
        hub.lotteryWordOf(MODEL, 1, PRICE - 1, 1, CB_GAS);
    }

    /// @dev The review's proof of concept: raising `slashBps` mid-round took 100 % of a stake that committed under
    ///      10 %. The owner's change now reaches only later requests; the open round keeps its slash and its window.
    function test_exploit_ownerCannotChangeOpenRequestTerms() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        commit(node1, id, p, output32(5));
        commit(node2, id, p, output32(5));
        HubParams memory harsh = defaultParams();
        harsh.slashBps = 10_000;
        harsh.revealWindow = 1 hours - 1;
        harsh.maxDeadlineHorizon = 2 days;
        vm.prank(owner);
        hub.setParams(harsh);
        commit(node3, id, p, output32(6)); // the dissenter, committed before the change reached it
        vm.assertEq(hub.roundOf(id).revealEndsAt, block.timestamp + REVEAL_WINDOW, "the request's reveal window");
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        reveal(node3, id, p, output32(6));
        uint256 stake = nodes.nodeInfo(node3).stake;
        hub.finalizeConsensus(id, p, output32(5));
        vm.assertEq(nodes.nodeInfo(node3).stake, stake - stake * SLASH_BPS / 10_000, "slashed at the request's 10 %");

        (, RequestParams memory later) = requestConsensus(3);
        vm.assertEq(Lottery.slashBpsOf(later.lottery), 10_000, "a later request gets the new slash");
        vm.assertEq(Lottery.revealWindowOf(later.lottery), 1 hours - 1, "and the new window");
    }
}

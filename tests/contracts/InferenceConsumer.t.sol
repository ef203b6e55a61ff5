// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {InferenceConsumer} from "../../contracts/consumers/InferenceConsumer.sol";
import {CallbackFailure, IInferenceHub, RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {TrackingConsumer} from "./mocks/TrackingConsumer.sol";

/// @notice The consumer base's bookkeeping: a refund in one call, recovery of a failed callback, exactly-once delivery.
contract InferenceConsumerTest is BaseTest {
    TrackingConsumer internal tracker;

    function setUp() public override {
        super.setUp();
        tracker = new TrackingConsumer(hub);
        vm.deal(address(tracker), 100 ether);
    }

    function requestThroughTracker(Mode mode, uint8 k, uint256 fee)
        internal
        returns (uint256 id, RequestParams memory p)
    {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = tracker.request{value: fee}(MODEL, input32(), mode, k, CB_GAS, deadline);
        p = paramsFor(address(tracker), input32(), mode, k, CB_GAS, deadline, fee);
    }

    function submit(address node, uint256 id, RequestParams memory p, bytes memory output) internal {
        vm.prank(node);
        hub.submitResult(id, p, output);
    }

    /*//////////////////////////////////////////////////////////////
                                RECORDS
    //////////////////////////////////////////////////////////////*/

    function test_consumerBase_openRequestOfIsTheHubsParams() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        // The record rebuilds exactly what the hub hashed: the hub accepts it on delivery.
        vm.assertEq(keccak256(abi.encode(tracker.openRequestOf(id))), keccak256(abi.encode(p)), "same params");
        submit(node1, id, tracker.openRequestOf(id), output32(7));
        vm.assertEq(uint8(hub.statusOf(id)), uint8(Status.FULFILLED), "accepted");
    }

    function test_consumerBase_deliveredCallbackClosesRecord() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        submit(node1, id, p, output32(7));
        vm.assertEq(tracker.deliveries(), 1, "delivered by the hub");
        vm.assertEq(tracker.openRequestOf(id).modelId, bytes32(0), "record closed");
        // Nothing can deliver it a second time or fail it afterwards.
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, id));
        tracker.recoverResult(id, output32(7), node1, ENV_A);
        vm.warp(p.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, id));
        tracker.reclaim(id);
    }

    function test_RevertWhen_ConsumerFeeTooLarge() public {
        uint256 fee = uint256(type(uint96).max) + 1;
        vm.deal(address(this), fee);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.FeeTooLarge.selector, fee));
        tracker.request{value: fee}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, uint64(block.timestamp + 1 hours));
    }

    /*//////////////////////////////////////////////////////////////
                                RECLAIM
    //////////////////////////////////////////////////////////////*/

    function test_consumerBase_reclaimInOneCall() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        vm.warp(p.deadline + 1);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.FeeReclaimed(id, address(tracker), PRICE);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit InferenceConsumer.RequestFailed(id, Status.REFUNDED);
        vm.prank(outsider); // anyone, with nothing but the request id
        tracker.reclaim(id);

        vm.assertEq(uint8(hub.statusOf(id)), uint8(Status.REFUNDED), "refunded on the hub");
        vm.assertEq(hub.balanceOf(address(tracker)), PRICE, "fee credited to the consumer");
        vm.assertEq(tracker.failures(), 1, "hook ran once");
        vm.assertEq(uint8(tracker.lastFailure()), uint8(Status.REFUNDED), "hook told how");
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, id));
        tracker.reclaim(id);
    }

    function testFuzz_consumerBase_reclaimReturnsExactFee(uint256 fee) public {
        fee = bound(fee, PRICE, 50 ether);
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, fee);
        vm.warp(p.deadline + 1);
        tracker.reclaim(id);
        vm.assertEq(hub.balanceOf(address(tracker)), fee, "whole fee back");
        uint256 before = address(tracker).balance;
        tracker.withdrawRefunds(payable(address(tracker)));
        vm.assertEq(address(tracker).balance - before, fee, "withdrawn");
    }

    function test_RevertWhen_ConsumerReclaimBeforeDeadline() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        vm.warp(p.deadline);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotFailed.selector, id, Status.PENDING));
        tracker.reclaim(id);
    }

    function test_RevertWhen_ConsumerReclaimUnknownRequest() public {
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, 99));
        tracker.reclaim(99);
    }

    function test_consumerBase_reclaimAfterSomeoneReclaimedOnTheHub() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        vm.warp(p.deadline + 1);
        hub.reclaimFee(id, p);
        tracker.reclaim(id);
        vm.assertEq(uint8(tracker.lastFailure()), uint8(Status.REFUNDED), "settled as refunded");
        vm.assertEq(hub.balanceOf(address(tracker)), PRICE, "credited once");
    }

    function test_consumerBase_reclaimAfterNoConsensus() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.CONSENSUS, 3, uint256(PRICE) * 3);
        commit(node1, id, p, output32(1));
        commit(node2, id, p, output32(2));
        commit(node3, id, p, output32(3));
        reveal(node1, id, p, output32(1));
        reveal(node2, id, p, output32(2));
        reveal(node3, id, p, output32(3));
        hub.finalizeConsensus(id, p, "");
        vm.assertEq(uint8(hub.statusOf(id)), uint8(Status.NO_CONSENSUS), "no majority");

        tracker.reclaim(id);
        vm.assertEq(uint8(tracker.lastFailure()), uint8(Status.NO_CONSENSUS), "hook told how");
        vm.assertEq(hub.balanceOf(address(tracker)), uint256(PRICE) * 3, "the hub refunded the fee");
    }

    /*//////////////////////////////////////////////////////////////
                                RECOVERY
    //////////////////////////////////////////////////////////////*/

    function test_consumerBase_recoversFailedCallback() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        tracker.setRefusing(true);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.CallbackFailed(id, address(tracker), CallbackFailure.REVERTED);
        submit(node1, id, p, output32(7));
        vm.assertEq(tracker.deliveries(), 0, "the callback failed");
        vm.assertEq(uint8(hub.statusOf(id)), uint8(Status.FULFILLED), "the result is recorded anyway");

        tracker.setRefusing(false);
        vm.expectEmit(true, true, true, true, address(tracker));
        emit InferenceConsumer.ResultRecovered(id, outsider);
        vm.prank(outsider); // anyone, with the output, node and environment from ResultSubmitted
        tracker.recoverResult(id, output32(7), node1, ENV_A);
        vm.assertEq(tracker.deliveries(), 1, "delivered");
        vm.assertEq(tracker.lastOutput(), output32(7), "the recorded output");

        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, id));
        tracker.recoverResult(id, output32(7), node1, ENV_A);
        vm.assertEq(tracker.deliveries(), 1, "exactly once");
    }

    function test_RevertWhen_RecoverWithAnotherOutput() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        tracker.setRefusing(true);
        submit(node1, id, p, output32(7));
        tracker.setRefusing(false);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.ResultNotRecorded.selector, id, Status.FULFILLED));
        tracker.recoverResult(id, output32(8), node1, ENV_A);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.ResultNotRecorded.selector, id, Status.FULFILLED));
        tracker.recoverResult(id, output32(7), node2, ENV_A); // right output, wrong node
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.ResultNotRecorded.selector, id, Status.FULFILLED));
        tracker.recoverResult(id, output32(7), node1, ENV_B); // right output, wrong environment
        vm.assertEq(tracker.deliveries(), 0, "nothing delivered");
    }

    function test_RevertWhen_RecoverBeforeAnyResult() public {
        (uint256 id,) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.ResultNotRecorded.selector, id, Status.PENDING));
        tracker.recoverResult(id, output32(7), node1, ENV_A);
    }

    function test_consumerBase_recoversConsensusResult() public {
        (uint256 id, RequestParams memory p) = requestThroughTracker(Mode.CONSENSUS, 3, uint256(PRICE) * 3);
        commit(node1, id, p, output32(5));
        commit(node2, id, p, output32(5));
        commit(node3, id, p, output32(5));
        reveal(node1, id, p, output32(5));
        reveal(node2, id, p, output32(5));
        reveal(node3, id, p, output32(5));
        tracker.setRefusing(true);
        hub.finalizeConsensus(id, p, output32(5));
        vm.assertEq(tracker.deliveries(), 0, "the callback failed");

        tracker.setRefusing(false);
        tracker.recoverResult(id, output32(5), node2, ENV_A);
        vm.assertEq(tracker.deliveries(), 1, "delivered from an agreeing node's vote");
    }

    function test_onInferenceResult_onlyHub() public {
        (uint256 id,) = requestThroughTracker(Mode.SINGLE, 1, PRICE);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.CallerNotHub.selector, outsider, address(hub)));
        vm.prank(outsider);
        tracker.onInferenceResult(id, output32(7));
    }
}

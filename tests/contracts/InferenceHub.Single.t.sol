// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {
    IInferenceHub,
    CallbackFailure,
    RequestParams,
    SkipReason,
    Status,
    Submission
} from "../../contracts/interfaces/IInferenceHub.sol";
import {ModelSpec, Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {Eligibility} from "../../contracts/interfaces/INodeRegistry.sol";
import {IInferenceConsumer} from "../../contracts/interfaces/IInferenceConsumer.sol";
import {NoopConsumer} from "./gas/NoopConsumer.sol";
import {
    RevertingConsumer,
    GasBurningConsumer,
    ReturnBombConsumer,
    ReentrantConsumer,
    ExactGasConsumer
} from "./mocks/Consumers.sol";

/// @notice SINGLE delivery: commitment, payment, callbacks (honest and adversarial), batches.
contract InferenceHubSingleTest is BaseTest {
    function _requestFrom(NoopConsumer c, uint32 cbGas) internal returns (uint256 id, RequestParams memory p) {
        vm.deal(address(c), 10 ether);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = c.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, cbGas, deadline);
        p = paramsFor(address(c), input32(), Mode.SINGLE, 1, cbGas, deadline, PRICE);
    }

    /// @dev Submits and checks the invariant part of every delivery: recorded, paid, commitment verifiable.
    function _submitAndCheckRecorded(uint256 id, RequestParams memory p, bytes memory out) internal {
        vm.prank(node1);
        hub.submitResult{gas: 3_000_000}(id, p, out);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "recorded");
        vm.assertEq(hub.balanceOf(node1), PRICE, "node paid");
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(out), ENV_A, node1), "verifiable");
    }

    /*//////////////////////////////////////////////////////////////
                                HAPPY PATH
    //////////////////////////////////////////////////////////////*/

    function test_submitResult_recordsCommitmentPaysAndCallsBack() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        bytes memory out = output32(7);
        bytes32 commitment = resultCommitment(id, p, out, ENV_A, node1);

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultSubmitted(id, node1, ENV_A, commitment, out);
        vm.prank(node1);
        hub.submitResult(id, p, out);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "status");
        vm.assertEq(hub.commitmentOf(id), maskedResult(commitment), "commitment stored");
        vm.assertEq(hub.balanceOf(node1), PRICE, "fee credited");
        vm.assertEq(consumer.calls(), 1, "callback ran");
        vm.assertEq(consumer.lastRequestId(), id, "callback id");
        vm.assertEq(consumer.lastOutput(), out, "callback output");
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(out), ENV_A, node1), "verifies");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(output32(8)), ENV_A, node1), "other out");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(out), ENV_B, node1), "other env");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(out), ENV_A, node2), "other node");
    }

    function test_submitResult_usesRegisteredEnvironment() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(node3);
        hub.submitResult(id, p, output32(0));
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(output32(0)), ENV_B, node3), "env B bound");
    }

    function test_submitResult_eoaRequesterWithoutCallback() public {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        vm.prank(alice);
        uint256 id = hub.requestInference{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE);
        vm.recordLogs();
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        vm.assertEq(vm.getRecordedLogs().length, 1, "only ResultSubmitted: no callback attempted");
    }

    function test_withdraw_paysNode() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        address payable sink = payable(makeAddr("sink"));
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.Withdrawn(node1, sink, PRICE);
        vm.prank(node1);
        hub.withdraw(sink);
        vm.assertEq(sink.balance, PRICE, "paid out");
        vm.assertEq(hub.balanceOf(node1), 0, "balance cleared");
    }

    /*//////////////////////////////////////////////////////////////
                          ADVERSARIAL CONSUMERS
    //////////////////////////////////////////////////////////////*/

    function test_callback_revertingConsumerDoesNotBlockDelivery() public {
        RevertingConsumer c = new RevertingConsumer(hub);
        (uint256 id, RequestParams memory p) = _requestFrom(c, CB_GAS);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.CallbackFailed(id, address(c), CallbackFailure.REVERTED);
        _submitAndCheckRecorded(id, p, output32(1));
    }

    function test_callback_gasBurningConsumerGetsOnlyItsLimit() public {
        GasBurningConsumer c = new GasBurningConsumer(hub);
        (uint256 id, RequestParams memory p) = _requestFrom(c, 1_000_000);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.CallbackFailed(id, address(c), CallbackFailure.REVERTED);
        uint256 before = gasleft();
        _submitAndCheckRecorded(id, p, output32(1));
        vm.assertLt(before - gasleft(), 1_000_000 + 200_000, "burned no more than its limit plus delivery");
    }

    /// @dev Calls `c` the way the hub does (from the hub, with exactly `gasLimit` gas) and returns what came back.
    function _callLikeHub(ReturnBombConsumer c, uint32 gasLimit) internal returns (bool ok, bytes memory ret) {
        bytes memory data = abi.encodeCall(IInferenceConsumer.onInferenceResult, (1, output32(1)));
        vm.prank(address(hub));
        (ok, ret) = address(c).call{gas: gasLimit}(data);
    }

    /// @dev The gas the hub's frame used for one delivery of `id` by node1 (the callback's included, this test's own
    ///      memory and encoding not), checking the callback did not fail (no CallbackFailed).
    function _deliveryGas(uint256 id, RequestParams memory p) internal returns (uint256 used) {
        vm.recordLogs();
        vm.prank(node1);
        hub.submitResult{gas: 3_000_000}(id, p, output32(1));
        used = vm.lastCallGas().gasTotalUsed;
        vm.assertEq(vm.getRecordedLogs().length, 1, "ResultSubmitted only: the callback returned");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "recorded");
    }

    function test_callback_returnBombConsumerCostsNothingExtra() public {
        uint32 cbGas = 500_000;
        ReturnBombConsumer bomb = new ReturnBombConsumer(hub, ReturnBombConsumer.Blob.RETURNED);
        ReturnBombConsumer control = new ReturnBombConsumer(hub, ReturnBombConsumer.Blob.DROPPED);
        // The bomb is real: within the gas the hub gives it, it returns the whole 256 KiB blob.
        (bool ok, bytes memory ret) = _callLikeHub(bomb, cbGas);
        vm.assertTrue(ok, "bomb returns within its callback gas");
        vm.assertEq(ret.length, bomb.SIZE(), "bomb returns SIZE bytes");
        (ok, ret) = _callLikeHub(control, cbGas);
        vm.assertTrue(ok && ret.length == 0, "control returns nothing");

        // A first delivery warms and dirties what every delivery shares (node1's balance slot), so the two measured
        // deliveries below start from the same storage costs and differ only in their consumer's return data.
        (uint256 warmId, RequestParams memory warmP) = requestSingle();
        vm.prank(node1);
        hub.submitResult(warmId, warmP, output32(0));
        (uint256 bombId, RequestParams memory bombP) = _requestFrom(bomb, cbGas);
        (uint256 controlId, RequestParams memory controlP) = _requestFrom(control, cbGas);

        // Both consumers burn the same gas (the same instructions and memory expansion); the hub calls with
        // retSize 0 and never touches RETURNDATA, so the blob costs it nothing: the deliveries cost the same gas,
        // up to the lottery check, whose ticket (a hash and a logarithm of another request id) costs a few tens of
        // gas more or less per request. A hub that copied the return data (Solidity's
        // `(bool ok, bytes memory ret) = to.call(...)`) would pay RETURNDATACOPY (3 gas x 8,192 words = 24,576) plus
        // its own memory expansion by 262,144 bytes (at least 155,648 gas): over 180,000 gas more for the bomb, and
        // this bound (180 times smaller) would fail.
        uint256 bombGas = _deliveryGas(bombId, bombP);
        uint256 controlGas = _deliveryGas(controlId, controlP);
        uint256 gap = bombGas > controlGas ? bombGas - controlGas : controlGas - bombGas;
        vm.assertLe(gap, 1_000, "the blob costs the hub nothing");
    }

    function test_callback_revertBombConsumerIsRecordedAsFailed() public {
        ReturnBombConsumer c = new ReturnBombConsumer(hub, ReturnBombConsumer.Blob.REVERTED);
        // The bomb is real: within its callback gas it reverts with the whole 256 KiB blob as reason.
        (bool ok, bytes memory ret) = _callLikeHub(c, 500_000);
        vm.assertFalse(ok, "bomb reverts");
        vm.assertEq(ret.length, c.SIZE(), "with SIZE bytes of reason");
        (uint256 id, RequestParams memory p) = _requestFrom(c, 500_000);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.CallbackFailed(id, address(c), CallbackFailure.REVERTED);
        _submitAndCheckRecorded(id, p, output32(1));
    }

    function test_callback_reentrantConsumerCannotDoubleDeliver() public {
        ReentrantConsumer c = new ReentrantConsumer(hub);
        (uint256 id, RequestParams memory p) = _requestFrom(c, 500_000);
        c.arm(p, output32(1));
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.CallbackFailed(id, address(c), CallbackFailure.REVERTED);
        _submitAndCheckRecorded(id, p, output32(1));
        vm.assertFalse(c.reentrySucceeded(), "no re-entry got through");
        vm.assertEq(address(hub).balance, PRICE, "escrow intact: the node's fee only");
    }

    function test_callback_requesterWithoutCode() public {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        vm.prank(alice);
        uint256 id = hub.requestInference{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, deadline);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.CallbackFailed(id, alice, CallbackFailure.NO_CODE);
        _submitAndCheckRecorded(id, paramsFor(alice, input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE), output32(1));
    }

    function test_callback_receivesExactlyItsGasLimit() public {
        ExactGasConsumer c = new ExactGasConsumer(hub);
        uint32 limit = 300_000;
        (uint256 id, RequestParams memory p) = _requestFrom(c, limit);
        _submitAndCheckRecorded(id, p, output32(1));
        vm.assertTrue(c.finished(), "callback used (nearly) all its gas and still completed");
        // Between the CALL and the first gasleft() only the dispatcher and the hub check run: a few hundred gas.
        vm.assertLe(c.gasAtEntry(), limit, "never more than the limit");
        vm.assertGe(c.gasAtEntry(), limit - 2_000, "never starved");
    }

    function test_RevertWhen_NodeStarvesCallback() public {
        NoopConsumer c = new NoopConsumer(hub);
        (uint256 id, RequestParams memory p) = _requestFrom(c, 1_000_000);
        // Enough gas for the delivery but not for 64/63 of the callback limit: refused, not silently starved.
        vm.prank(node1);
        (bool ok, bytes memory ret) =
            address(hub).call{gas: 600_000}(abi.encodeCall(hub.submitResult, (id, p, output32(1))));
        vm.assertFalse(ok, "must revert");
        vm.assertEq(bytes4(ret), IInferenceHub.InsufficientGasForCallback.selector, "named error");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.PENDING), "still open for an honest node");
    }

    /*//////////////////////////////////////////////////////////////
                               REVERTS
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_SubmitTwice() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestNotPending.selector, id, Status.FULFILLED));
        vm.prank(node2);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_SubmitAfterDeadline() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.warp(p.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestExpired.selector, id, p.deadline));
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    function test_submitResult_atDeadlineAccepted() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.warp(p.deadline);
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "accepted at the deadline");
    }

    function test_RevertWhen_SubmitUnknownRequest() public {
        (, RequestParams memory p) = requestSingle();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.UnknownRequest.selector, 99));
        vm.prank(node1);
        hub.submitResult(99, p, output32(0));
    }

    function test_RevertWhen_SubmitParamsTampered() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        p.fee = 100 ether; // a node claiming a bigger fee
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestParamsMismatch.selector, id));
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_SubmitConsensusRequest() public {
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WrongMode.selector, id, Mode.CONSENSUS));
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_OutputLengthMismatch() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.OutputLengthMismatch.selector, 8, 32));
        vm.prank(node1);
        hub.submitResult(id, p, new bytes(8));
    }

    function test_RevertWhen_NodeNotRegistered() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.NodeNotEligible.selector, outsider, MODEL, Eligibility.NOT_REGISTERED)
        );
        vm.prank(outsider);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_NodeUnbonding() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(node1);
        nodes.beginUnbonding();
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.NodeNotEligible.selector, node1, MODEL, Eligibility.UNBONDING)
        );
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_NodeBelowMinimumStake() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(owner);
        nodes.setMinStake(5 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.NodeNotEligible.selector, node1, MODEL, Eligibility.STAKE_BELOW_MINIMUM
            )
        );
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_NodeDoesNotServeModel() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = MODEL;
        vm.prank(node1);
        nodes.setModels(ids, false);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.NodeNotEligible.selector, node1, MODEL, Eligibility.MODEL_NOT_SERVED)
        );
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    function test_RevertWhen_EnvironmentNotAllowed() public {
        bytes32 restricted = keccak256("restricted model");
        ModelSpec memory s = spec(Mode.SINGLE, Mode.SINGLE);
        s.allowedEnvironments = new bytes32[](1);
        s.allowedEnvironments[0] = ENV_A;
        registerModel(restricted, s);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = restricted;
        vm.prank(node1);
        nodes.setModels(ids, true);
        vm.prank(node3);
        nodes.setModels(ids, true);
        vm.warp(block.timestamp + 1);

        uint64 deadline = uint64(block.timestamp + 1 hours);
        vm.prank(alice);
        uint256 id = hub.requestInference{value: PRICE}(restricted, input32(), Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsWithoutLottery(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE);
        p.modelId = restricted;
        p.envRestricted = true;
        withLottery(p, id);
        openAllWindows();

        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.EnvironmentNotAllowed.selector, restricted, ENV_B));
        vm.prank(node3);
        hub.submitResult(id, p, output32(0));

        vm.prank(node1); // ENV_A is allowed
        hub.submitResult(id, p, output32(0));
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "allowed env delivers");
    }

    function test_RevertWhen_WithdrawToZero() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RecipientZero.selector));
        vm.prank(node1);
        hub.withdraw(payable(address(0)));
    }

    function test_RevertWhen_WithdrawNothing() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NothingToWithdraw.selector, node1));
        vm.prank(node1);
        hub.withdraw(payable(node1));
    }

    function test_RevertWhen_WithdrawToRejectingContract() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        address rejecting = address(models); // no receive/fallback
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.TransferFailed.selector, rejecting, PRICE));
        vm.prank(node1);
        hub.withdraw(payable(rejecting));
        vm.assertEq(hub.balanceOf(node1), PRICE, "nothing lost");
    }

    function test_RevertWhen_UnexpectedEther() public {
        vm.deal(alice, 1 ether);
        vm.prank(alice);
        (bool ok, bytes memory ret) = address(hub).call{value: 1 ether}("");
        vm.assertFalse(ok, "refused");
        vm.assertEq(ret, abi.encodeWithSelector(IInferenceHub.UnexpectedEther.selector, alice, 1 ether), "named");
    }

    /*//////////////////////////////////////////////////////////////
                                 BATCHES
    //////////////////////////////////////////////////////////////*/

    function _batch(uint256 n) internal returns (Submission[] memory items) {
        items = new Submission[](n);
        for (uint256 i; i < n; ++i) {
            (uint256 id, RequestParams memory p) = requestSingle();
            items[i] = Submission({requestId: id, params: p, output: output32(int64(int256(i)))});
        }
    }

    function test_submitResults_fulfilsAllAndPaysOnce() public {
        Submission[] memory items = _batch(5);
        vm.prank(node1);
        uint256 fulfilled = hub.submitResults(items);
        vm.assertEq(fulfilled, 5, "all fulfilled");
        vm.assertEq(hub.balanceOf(node1), PRICE * 5, "paid for each");
        vm.assertEq(consumer.calls(), 5, "each called back");
        for (uint256 i; i < 5; ++i) {
            vm.assertTrue(
                hub.verifyResult(
                    items[i].requestId, MODEL, items[i].params.inputHash, keccak256(items[i].output), ENV_A, node1
                ),
                "each verifiable"
            );
        }
    }

    function test_submitResults_skipsFulfilledAndExpired() public {
        Submission[] memory items = _batch(3);
        vm.prank(node2);
        hub.submitResult(items[0].requestId, items[0].params, items[0].output);
        // Item 2 expires: make a request with an early deadline.
        uint64 soon = uint64(block.timestamp + 10);
        uint256 late = consumer.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, soon);
        items[2] = Submission({
            requestId: late,
            params: paramsFor(address(consumer), input32(), Mode.SINGLE, 1, CB_GAS, soon, PRICE),
            output: output32(2)
        });
        vm.warp(block.timestamp + 11);

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultSkipped(items[0].requestId, node1, SkipReason.NOT_PENDING);
        vm.prank(node1);
        uint256 fulfilled = hub.submitResults(items);
        vm.assertEq(fulfilled, 1, "only the open, live one");
        vm.assertEq(hub.balanceOf(node1), PRICE, "paid for one");
        vm.assertEq(uint256(hub.statusOf(late)), uint256(Status.PENDING), "expired one untouched, refundable");
    }

    function test_submitResults_emitsExpiredSkip() public {
        uint64 soon = uint64(block.timestamp + 10);
        uint256 id = consumer.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, soon);
        Submission[] memory items = new Submission[](1);
        items[0] = Submission({
            requestId: id,
            params: paramsFor(address(consumer), input32(), Mode.SINGLE, 1, CB_GAS, soon, PRICE),
            output: output32(0)
        });
        vm.warp(soon + 1);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultSkipped(id, node1, SkipReason.EXPIRED);
        vm.prank(node1);
        vm.assertEq(hub.submitResults(items), 0, "nothing fulfilled");
        vm.assertEq(hub.balanceOf(node1), 0, "nothing paid");
    }

    function test_RevertWhen_BatchEmpty() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.BatchSizeInvalid.selector, 0, 256));
        vm.prank(node1);
        hub.submitResults(new Submission[](0));
    }

    function test_RevertWhen_BatchTooLarge() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.BatchSizeInvalid.selector, 257, 256));
        vm.prank(node1);
        hub.submitResults(new Submission[](257));
    }

    function test_RevertWhen_BatchItemTampered() public {
        Submission[] memory items = _batch(2);
        items[1].params.fee = 1 ether;
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestParamsMismatch.selector, items[1].requestId));
        vm.prank(node1);
        hub.submitResults(items);
    }

    function test_RevertWhen_BatchItemUnknown() public {
        Submission[] memory items = _batch(1);
        items[0].requestId = 1234;
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.UnknownRequest.selector, 1234));
        vm.prank(node1);
        hub.submitResults(items);
    }

    function test_RevertWhen_BatchItemConsensus() public {
        Submission[] memory items = _batch(1);
        (uint256 id, RequestParams memory p) = requestConsensus(3);
        items[0] = Submission({requestId: id, params: p, output: output32(0)});
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.WrongMode.selector, id, Mode.CONSENSUS));
        vm.prank(node1);
        hub.submitResults(items);
    }

    function test_RevertWhen_BatchByIneligibleNode() public {
        Submission[] memory items = _batch(1);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.NodeNotEligible.selector, outsider, MODEL, Eligibility.NOT_REGISTERED)
        );
        vm.prank(outsider);
        hub.submitResults(items);
    }

    function testFuzz_submitResults_paysSumOfFees(uint256 seed, uint8 n) public {
        n = uint8(bound(n, 1, 20));
        Submission[] memory items = new Submission[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            uint256 fee = bound(uint256(keccak256(abi.encode(seed, i))), PRICE, 1 ether);
            uint64 deadline = uint64(block.timestamp + 1 hours);
            uint256 id = consumer.request{value: fee}(MODEL, input32(), Mode.SINGLE, 1, 0, deadline);
            items[i] = Submission({
                requestId: id,
                params: paramsFor(address(consumer), input32(), Mode.SINGLE, 1, 0, deadline, fee),
                output: output32(int64(int256(i)))
            });
            total += fee;
        }
        vm.prank(node2);
        hub.submitResults(items);
        vm.assertEq(hub.balanceOf(node2), total, "exact sum of fees");
        vm.assertEq(address(hub).balance, total, "hub holds exactly the earned fees");
    }

    function test_submitResults_paysSumOfFees_concrete() public {
        testFuzz_submitResults_paysSumOfFees(1, 3);
    }
}

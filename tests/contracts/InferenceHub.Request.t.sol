// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {IInferenceHub, HubParams, RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {ModelSpec, Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {Commitments} from "../../contracts/lib/Commitments.sol";
import {CodecHarness} from "./harness/CodecHarness.sol";

/// @notice requestInference validation, escrow and the timeout refund.
contract InferenceHubRequestTest is BaseTest {
    function _request(uint256 fee, Mode mode, uint8 k, uint32 cbGas, uint64 deadline) internal returns (uint256) {
        vm.prank(alice);
        return hub.requestInference{value: fee}(MODEL, input32(), mode, k, cbGas, deadline);
    }

    function _deadline() internal view returns (uint64) {
        return uint64(block.timestamp + 1 hours);
    }

    /*//////////////////////////////////////////////////////////////
                               HAPPY PATH
    //////////////////////////////////////////////////////////////*/

    function test_requestInference_emitsEventAndStoresHash() public {
        uint64 deadline = _deadline();
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.InferenceRequested(
            1,
            MODEL,
            alice,
            PRICE,
            deadline,
            CB_GAS,
            Mode.SINGLE,
            1,
            Lottery.withTerms(
                Lottery.pack(Lottery.seedAt(1), block.timestamp, 6 ether, TICKET_DELAY), 0, SLASH_BPS, REVEAL_WINDOW
            ),
            input32()
        );
        uint256 id = _request(PRICE, Mode.SINGLE, 1, CB_GAS, deadline);

        vm.assertEq(id, 1, "ids start at 1");
        vm.assertEq(hub.nextRequestId(), 2, "counter");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.PENDING), "status");
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
        vm.assertEq(hub.commitmentOf(id), masked(Commitments.requestHash(id, p)), "stored params hash");
        vm.assertEq(address(hub).balance, PRICE, "fee escrowed");
    }

    function test_requestInference_excessFeeIsEscrowedWhole() public {
        uint256 id = _request(PRICE * 3, Mode.SINGLE, 1, 0, _deadline());
        vm.assertEq(address(hub).balance, PRICE * 3, "whole msg.value escrowed");
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, _deadline(), PRICE * 3);
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        vm.assertEq(hub.balanceOf(node1), PRICE * 3, "the tip goes to the node");
    }

    function test_requestInference_consensusNeedsPriceTimesK() public {
        uint256 id = _request(PRICE * 3, Mode.CONSENSUS, 3, CB_GAS, _deadline());
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.PENDING), "pending");
    }

    function test_statusOf_unknownIsNone() public view {
        vm.assertEq(uint256(hub.statusOf(42)), uint256(Status.NONE), "none");
    }

    /*//////////////////////////////////////////////////////////////
                               VALIDATION
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_ModelUnknown() public {
        bytes32 unknown = keccak256("nope");
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.UnknownModel.selector, unknown));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(unknown, input32(), Mode.SINGLE, 1, 0, _deadline());
    }

    function test_RevertWhen_ModelDeprecated() public {
        models.deprecateModel(MODEL);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ModelIsDeprecated.selector, MODEL));
        _request(PRICE, Mode.SINGLE, 1, 0, _deadline());
    }

    function test_RevertWhen_ModeNotAllowed() public {
        bytes32 singleOnly = keccak256("single only");
        ModelSpec memory s = spec(Mode.SINGLE, Mode.SINGLE);
        registerModel(singleOnly, s);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ModeNotAllowed.selector, singleOnly, Mode.CONSENSUS, 1));
        vm.prank(alice);
        hub.requestInference{value: PRICE * 2}(singleOnly, input32(), Mode.CONSENSUS, 2, 0, _deadline());
    }

    function test_RevertWhen_InputLengthMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InputLengthMismatch.selector, 24, 32));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(MODEL, new bytes(24), Mode.SINGLE, 1, 0, _deadline());
    }

    function test_RevertWhen_InputTooLarge() public {
        vm.startPrank(owner);
        hub.setParams(_withMaxInput(16));
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InputTooLarge.selector, 32, 16));
        _request(PRICE, Mode.SINGLE, 1, 0, _deadline());
    }

    function test_RevertWhen_SingleRedundancyNotOne() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyInvalid.selector, Mode.SINGLE, 2, 1, 1));
        _request(PRICE * 2, Mode.SINGLE, 2, 0, _deadline());
    }

    function test_RevertWhen_ConsensusRedundancyTooLow() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyInvalid.selector, Mode.CONSENSUS, 1, 3, 9));
        _request(PRICE, Mode.CONSENSUS, 1, 0, _deadline());
    }

    function test_RevertWhen_ConsensusRedundancyTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RedundancyInvalid.selector, Mode.CONSENSUS, 10, 3, 9));
        _request(PRICE * 10, Mode.CONSENSUS, 10, 0, _deadline());
    }

    function test_RevertWhen_FeeTooLow() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InsufficientFee.selector, PRICE - 1, PRICE));
        _request(PRICE - 1, Mode.SINGLE, 1, 0, _deadline());
    }

    function testFuzz_RevertWhen_FeeBelowPriceTimesK(uint256 fee, uint8 k) public {
        // Three nodes serve the model: k above 3 is refused as unavailable before the fee is looked at.
        k = 3;
        fee = bound(fee, 0, uint256(PRICE) * k - 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InsufficientFee.selector, fee, uint256(PRICE) * k));
        _request(fee, Mode.CONSENSUS, k, 0, _deadline());
    }

    function test_RevertWhen_DeadlineNotInFuture() public {
        uint64 nowTs = uint64(block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.DeadlineInvalid.selector, nowTs, nowTs, uint256(nowTs) + HORIZON)
        );
        _request(PRICE, Mode.SINGLE, 1, 0, nowTs);
    }

    function test_RevertWhen_DeadlineTooFar() public {
        uint64 far = uint64(block.timestamp + HORIZON + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.DeadlineInvalid.selector, far, block.timestamp, block.timestamp + HORIZON
            )
        );
        _request(PRICE, Mode.SINGLE, 1, 0, far);
    }

    function test_RevertWhen_ConsensusDeadlineLeavesNoRevealWindow() public {
        uint64 tooSoon = uint64(block.timestamp + REVEAL_WINDOW);
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.DeadlineInvalid.selector,
                tooSoon,
                block.timestamp + REVEAL_WINDOW,
                block.timestamp + HORIZON
            )
        );
        _request(PRICE * 3, Mode.CONSENSUS, 3, 0, tooSoon);
    }

    function test_RevertWhen_CallbackGasTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CallbackGasTooHigh.selector, 2_000_001, 2_000_000));
        _request(PRICE, Mode.SINGLE, 1, 2_000_001, _deadline());
    }

    /*//////////////////////////////////////////////////////////////
                                 REFUNDS
    //////////////////////////////////////////////////////////////*/

    function test_reclaimFee_afterDeadlineCreditsRequester() public {
        uint64 deadline = _deadline();
        uint256 id = _request(PRICE * 2, Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE * 2);
        vm.warp(deadline + 1);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.FeeReclaimed(id, alice, PRICE * 2);
        vm.prank(outsider); // anyone may trigger it; the money goes to the requester
        hub.reclaimFee(id, p);
        vm.assertEq(hub.balanceOf(alice), PRICE * 2, "whole fee back");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.REFUNDED), "refunded");

        uint256 before = alice.balance;
        vm.prank(alice);
        hub.withdraw(payable(alice));
        vm.assertEq(alice.balance - before, PRICE * 2, "withdrawn");
    }

    function testFuzz_reclaimFee_returnsExactFee(uint256 fee, uint256 late) public {
        fee = bound(fee, PRICE, 50 ether);
        late = bound(late, 1, 365 days);
        uint64 deadline = _deadline();
        uint256 id = _request(fee, Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, fee);
        vm.warp(uint256(deadline) + late);
        hub.reclaimFee(id, p);
        vm.assertEq(hub.balanceOf(alice), fee, "exact fee");
        vm.assertEq(address(hub).balance, fee, "still held until withdrawn");
    }

    function test_RevertWhen_ReclaimBeforeDeadline() public {
        uint64 deadline = _deadline();
        uint256 id = _request(PRICE, Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE);
        vm.warp(deadline); // the deadline itself still accepts results
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.DeadlineNotPassed.selector, id, deadline));
        hub.reclaimFee(id, p);
    }

    function test_RevertWhen_ReclaimTwice() public {
        uint64 deadline = _deadline();
        uint256 id = _request(PRICE, Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE);
        vm.warp(deadline + 1);
        hub.reclaimFee(id, p);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestNotPending.selector, id, Status.REFUNDED));
        hub.reclaimFee(id, p);
    }

    function test_RevertWhen_ReclaimFulfilled() public {
        uint64 deadline = _deadline();
        uint256 id = _request(PRICE, Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE);
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestNotPending.selector, id, Status.FULFILLED));
        hub.reclaimFee(id, p);
    }

    function test_RevertWhen_ReclaimWithForgedParams() public {
        uint64 deadline = _deadline();
        uint256 id = _request(PRICE, Mode.SINGLE, 1, 0, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, deadline, PRICE * 100);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestParamsMismatch.selector, id));
        hub.reclaimFee(id, p);
    }

    function test_RevertWhen_ReclaimUnknown() public {
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, 0, 1, PRICE);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.UnknownRequest.selector, 7));
        hub.reclaimFee(7, p);
    }

    function _withMaxInput(uint32 maxInput) internal pure returns (HubParams memory hp) {
        hp = defaultParams();
        hp.maxInputBytes = maxInput;
    }

    /*//////////////////////////////////////////////////////////////
                          THE PARAMETERS' HASH
    //////////////////////////////////////////////////////////////*/

    /// @dev The hub hashes calldata parameters by copying their words: for well-formed parameters that is exactly the
    ///      `abi.encode` hash it stored at the request.
    function testFuzz_requestHashCalldata_equalsRequestHash(
        uint256 id,
        bytes32 modelId,
        address requester,
        uint256 fee,
        uint64 deadline,
        uint32 cbGas,
        uint8 modeSeed,
        uint8 k,
        bool envRestricted,
        uint256 lottery
    ) public {
        RequestParams memory p = paramsWithoutLottery(requester, input32(), Mode(modeSeed % 3), k, cbGas, deadline, fee);
        p.modelId = modelId;
        p.envRestricted = envRestricted;
        p.lottery = lottery;
        CodecHarness harness = new CodecHarness();
        vm.assertEq(harness.requestHashCalldata(id, p), Commitments.requestHash(id, p), "word copy == abi.encode");
    }

    /// @dev An attacker who sets the high bits of a narrow field (the requester's address word here) passes values
    ///      that decode alike but copy differently: the hash no longer matches, so the call is refused.
    function test_exploit_dirtyParamsWordNeverMatches() public {
        uint64 deadline = _deadline();
        uint256 id = _request(PRICE, Mode.SINGLE, 1, CB_GAS, deadline);
        RequestParams memory p = paramsFor(alice, input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
        bytes memory data = abi.encodeCall(IInferenceHub.submitResult, (id, p, output32(1)));
        // selector | requestId | params (modelId, inputHash, requester, ...): the requester word starts at 4 + 3 * 32.
        data[4 + 3 * 32] = 0x01;
        vm.prank(node1);
        (bool ok, bytes memory err) = address(hub).call(data);
        vm.assertFalse(ok, "refused");
        vm.assertEq(err, abi.encodeWithSelector(IInferenceHub.RequestParamsMismatch.selector, id), "as a mismatch");
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {
    IInferenceHub,
    CALLBACK_ON_FINAL,
    CallbackFailure,
    FinalDelivery,
    RequestParams,
    Status
} from "../../contracts/interfaces/IInferenceHub.sol";
import {ModelSpec, Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {InferenceConsumer} from "../../contracts/consumers/InferenceConsumer.sol";
import {ILendingPool} from "../../contracts/consumers/examples/ILendingPool.sol";

/// @notice An applicant contract that cannot receive ETH, so its approved loan can never be paid out.
contract RejectingApplicant {
    function applyTo(ILendingPool pool, int64[] calldata features, uint256 amount) external payable returns (uint256) {
        return pool.applyForLoan{value: msg.value}(features, amount);
    }

    function claimFrom(ILendingPool pool) external returns (uint256) {
        return pool.claim();
    }
}

/// @notice The example consumer end to end: apply, score through the hub, decide, claim, recover refunds.
contract LendingPoolTest is BaseTest {
    int64 internal constant THRESHOLD = 500_000; // 0.5 in the model's 1e6 fixed point
    uint256 internal constant SCORE_INDEX = 1;
    int64 internal constant GOOD_SCORE = 120_000;
    int64 internal constant BAD_SCORE = 830_000;
    uint256 internal constant POOL_FUNDS = 10 ether;

    ILendingPool internal pool;
    address internal bob;

    function setUp() public override {
        super.setUp();
        bob = makeAddr("bob");
        vm.deal(bob, 100 ether);
        pool = _deployPool(hub, MODEL, THRESHOLD, SCORE_INDEX);
        vm.deal(address(this), POOL_FUNDS);
        (bool ok,) = address(pool).call{value: POOL_FUNDS}("");
        vm.assertTrue(ok, "funded");
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The pool from its via-IR artifact (the bytecode that ships).
    function _deployPool(IInferenceHub hub_, bytes32 modelId, int64 threshold, uint256 scoreIndex)
        internal
        returns (ILendingPool)
    {
        bytes memory args = abi.encode(hub_, modelId, threshold, scoreIndex);
        return ILendingPool(vm.deployCode("LendingPool.sol:LendingPool", args));
    }

    function _features(int64 seed) internal pure returns (int64[] memory f) {
        f = new int64[](4);
        f[0] = 35_000_000; // age 35
        f[1] = 52_000 * 1e6; // income
        f[2] = seed;
        f[3] = -1_250_000;
    }

    /// @dev The canonical input of `_features(seed)`, written out independently of the codec.
    function _input(int64 seed) internal pure returns (bytes memory) {
        return abi.encodePacked(int64(35_000_000), int64(52_000 * 1e6), seed, int64(-1_250_000));
    }

    /// @dev Class probabilities (no default, default); element SCORE_INDEX is the probability of default.
    function _output(int64 score) internal pure returns (bytes memory) {
        return abi.encodePacked(int64(1_000_000) - score, score, int64(0), int64(0));
    }

    function _apply(address applicant, int64 seed, uint256 amount)
        internal
        returns (uint256 id, RequestParams memory p)
    {
        uint64 deadline = uint64(block.timestamp) + pool.DECISION_TIMEOUT();
        uint32 cbGas = pool.CALLBACK_GAS() | CALLBACK_ON_FINAL;
        vm.prank(applicant);
        id = pool.applyForLoan{value: PRICE}(_features(seed), amount);
        p = paramsFor(address(pool), _input(seed), Mode.SINGLE, 1, cbGas, deadline, PRICE);
    }

    /// @dev node1 delivers `score`; the pool's callback waits for finality: past the window, anyone delivers it.
    function _deliver(uint256 id, RequestParams memory p, int64 score) internal {
        _submit(id, p, score);
        _finalize(id, p, score);
    }

    function _submit(uint256 id, RequestParams memory p, int64 score) internal {
        vm.prank(node1);
        hub.submitResult(id, p, _output(score));
        vm.assertEq(_decision(id), uint256(ILendingPool.Decision.PENDING), "no decision on a provisional score");
    }

    function _finalize(uint256 id, RequestParams memory p, int64 score) internal {
        (, uint256 finalAt) = hub.finalityOf(id, p);
        vm.warp(finalAt);
        FinalDelivery[] memory items = new FinalDelivery[](1);
        items[0] = FinalDelivery({requestId: id, params: p, output: _output(score), envHash: ENV_A, node: node1});
        hub.deliverFinal(items);
    }

    /// @dev The consumer base's entry points on the pool (not part of ILendingPool: they are the base's).
    function _base() internal view returns (InferenceConsumer) {
        return InferenceConsumer(payable(address(pool)));
    }

    function _decision(uint256 id) internal view returns (uint256) {
        return uint256(pool.applicationOf(id).decision);
    }

    /*//////////////////////////////////////////////////////////////
                               APPLYING
    //////////////////////////////////////////////////////////////*/

    function test_applyForLoan_requestsInferenceAndRecordsApplication() public {
        uint64 deadline = uint64(block.timestamp) + pool.DECISION_TIMEOUT();
        uint32 cbGas = pool.CALLBACK_GAS() | CALLBACK_ON_FINAL;
        int64[] memory features = _features(7);
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.InferenceRequested(
            1,
            MODEL,
            address(pool),
            PRICE,
            deadline,
            cbGas,
            Mode.SINGLE,
            1,
            Lottery.withTerms(
                Lottery.pack(Lottery.seedAt(1), block.timestamp, 6 ether, TICKET_DELAY), 0, SLASH_BPS, REVEAL_WINDOW
            ),
            _input(7)
        );
        vm.expectEmit(true, true, true, true, address(pool));
        emit ILendingPool.LoanRequested(1, alice, 1 ether);
        vm.prank(alice);
        uint256 id = pool.applyForLoan{value: PRICE}(features, 1 ether);

        ILendingPool.Application memory app = pool.applicationOf(id);
        vm.assertEq(app.applicant, alice, "applicant");
        vm.assertEq(uint256(app.decision), uint256(ILendingPool.Decision.PENDING), "pending");
        vm.assertEq(app.amount, 1 ether, "amount");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.PENDING), "hub pending");
        vm.assertEq(address(hub).balance, PRICE, "fee escrowed by the hub");
        vm.assertEq(pool.liquidity(), POOL_FUNDS, "fee does not touch liquidity");
        vm.assertEq(address(_base().inferenceHub()), address(hub), "trusted hub");
    }

    function test_RevertWhen_LoanAmountZero() public {
        int64[] memory f = _features(1);
        vm.expectRevert(abi.encodeWithSelector(ILendingPool.AmountZero.selector));
        vm.prank(alice);
        pool.applyForLoan{value: PRICE}(f, 0);
    }

    function test_RevertWhen_ApplicationFeeTooLow() public {
        int64[] memory f = _features(1);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.InsufficientFee.selector, PRICE - 1, PRICE));
        vm.prank(alice);
        pool.applyForLoan{value: PRICE - 1}(f, 1 ether);
    }

    /*//////////////////////////////////////////////////////////////
                               DECISIONS
    //////////////////////////////////////////////////////////////*/

    function test_onInferenceResult_approvesLowScoreRefusesHighScore() public {
        (uint256 idA, RequestParams memory pA) = _apply(alice, 1, 2 ether);
        (uint256 idB, RequestParams memory pB) = _apply(bob, 2, 3 ether);

        _submit(idA, pA, GOOD_SCORE);
        vm.expectEmit(true, true, true, true, address(pool));
        emit ILendingPool.LoanDecided(idA, alice, ILendingPool.Decision.APPROVED, GOOD_SCORE);
        _finalize(idA, pA, GOOD_SCORE);
        _submit(idB, pB, BAD_SCORE);
        vm.expectEmit(true, true, true, true, address(pool));
        emit ILendingPool.LoanDecided(idB, bob, ILendingPool.Decision.REFUSED_SCORE, BAD_SCORE);
        _finalize(idB, pB, BAD_SCORE);

        vm.assertEq(_decision(idA), uint256(ILendingPool.Decision.APPROVED), "alice approved");
        vm.assertEq(int256(pool.applicationOf(idA).score), int256(GOOD_SCORE), "alice score");
        vm.assertEq(_decision(idB), uint256(ILendingPool.Decision.REFUSED_SCORE), "bob refused");
        vm.assertEq(int256(pool.applicationOf(idB).score), int256(BAD_SCORE), "bob score");
        vm.assertEq(pool.claimableOf(alice), 2 ether, "alice may claim");
        vm.assertEq(pool.claimableOf(bob), 0, "bob may not");
        vm.assertEq(pool.liquidity(), POOL_FUNDS - 2 ether, "approved amount committed");
        vm.assertEq(hub.balanceOf(node1), 2 * PRICE, "node paid for both");
    }

    function test_onInferenceResult_scoreAtThresholdIsRefused() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        _deliver(id, p, THRESHOLD);
        vm.assertEq(_decision(id), uint256(ILendingPool.Decision.REFUSED_SCORE), "score == threshold refused");
    }

    function test_onInferenceResult_refusesWhenPoolLacksLiquidity() public {
        (uint256 idA, RequestParams memory pA) = _apply(alice, 1, 6 ether);
        (uint256 idB, RequestParams memory pB) = _apply(bob, 2, 6 ether);
        _deliver(idA, pA, GOOD_SCORE);

        _submit(idB, pB, GOOD_SCORE);
        vm.expectEmit(true, true, true, true, address(pool));
        emit ILendingPool.LoanDecided(idB, bob, ILendingPool.Decision.REFUSED_LIQUIDITY, GOOD_SCORE);
        _finalize(idB, pB, GOOD_SCORE);

        vm.assertEq(_decision(idA), uint256(ILendingPool.Decision.APPROVED), "first fits");
        vm.assertEq(_decision(idB), uint256(ILendingPool.Decision.REFUSED_LIQUIDITY), "second does not");
        vm.assertEq(pool.claimableOf(bob), 0, "nothing promised");
        vm.assertEq(pool.liquidity(), POOL_FUNDS - 6 ether, "only the first is committed");
    }

    function test_RevertWhen_ResultFromNonHub() public {
        bytes memory out = _output(GOOD_SCORE);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.CallerNotHub.selector, outsider, address(hub)));
        vm.prank(outsider);
        pool.onInferenceResult(1, out);
    }

    function test_RevertWhen_ResultForUnknownApplication() public {
        bytes memory out = _output(GOOD_SCORE);
        vm.expectRevert(abi.encodeWithSelector(ILendingPool.ApplicationUnknown.selector, 42));
        vm.prank(address(hub));
        pool.onInferenceResult(42, out);
    }

    function test_RevertWhen_ScoreIndexOutsideOutput() public {
        vm.expectRevert(abi.encodeWithSelector(ILendingPool.ScoreIndexOutOfRange.selector, 4, 4));
        _deployPool(hub, MODEL, THRESHOLD, 4);
    }

    function test_RevertWhen_PoolModelUnknown() public {
        bytes32 unknown = keccak256("no such model");
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.UnknownModel.selector, unknown));
        _deployPool(hub, unknown, THRESHOLD, 1);
    }

    function test_RevertWhen_ResultForDecidedApplication() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        _deliver(id, p, GOOD_SCORE);
        bytes memory out = _output(GOOD_SCORE);
        vm.expectRevert(
            abi.encodeWithSelector(ILendingPool.ApplicationNotPending.selector, id, ILendingPool.Decision.APPROVED)
        );
        vm.prank(address(hub));
        pool.onInferenceResult(id, out);
    }

    /*//////////////////////////////////////////////////////////////
                                 CLAIM
    //////////////////////////////////////////////////////////////*/

    function test_claim_paysApprovedAmount() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 2 ether);
        _deliver(id, p, GOOD_SCORE);
        uint256 before = alice.balance;

        vm.expectEmit(true, true, true, true, address(pool));
        emit ILendingPool.LoanClaimed(alice, 2 ether);
        vm.prank(alice);
        uint256 amount = pool.claim();

        vm.assertEq(amount, 2 ether, "returned");
        vm.assertEq(alice.balance, before + 2 ether, "paid");
        vm.assertEq(pool.claimableOf(alice), 0, "cleared");
        vm.assertEq(address(pool).balance, POOL_FUNDS - 2 ether, "pool paid out");
        vm.assertEq(pool.liquidity(), POOL_FUNDS - 2 ether, "commitment released with the payment");
    }

    function test_RevertWhen_NothingToClaim() public {
        (uint256 id, RequestParams memory p) = _apply(bob, 2, 1 ether);
        _deliver(id, p, BAD_SCORE);
        vm.expectRevert(abi.encodeWithSelector(ILendingPool.NothingToClaim.selector, bob));
        vm.prank(bob);
        pool.claim();
    }

    function test_RevertWhen_ClaimingTwice() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        _deliver(id, p, GOOD_SCORE);
        vm.prank(alice);
        pool.claim();
        vm.expectRevert(abi.encodeWithSelector(ILendingPool.NothingToClaim.selector, alice));
        vm.prank(alice);
        pool.claim();
    }

    function test_RevertWhen_BorrowerRejectsEther() public {
        RejectingApplicant applicant = new RejectingApplicant();
        vm.deal(address(this), PRICE); // setUp sent this contract's ETH to the pool
        uint64 deadline = uint64(block.timestamp) + pool.DECISION_TIMEOUT();
        uint256 id = applicant.applyTo{value: PRICE}(pool, _features(3), 1 ether);
        RequestParams memory p = paramsFor(
            address(pool), _input(3), Mode.SINGLE, 1, pool.CALLBACK_GAS() | CALLBACK_ON_FINAL, deadline, PRICE
        );
        _deliver(id, p, GOOD_SCORE);

        vm.expectRevert(abi.encodeWithSelector(ILendingPool.TransferFailed.selector, address(applicant), 1 ether));
        applicant.claimFrom(pool);
        vm.assertEq(pool.claimableOf(address(applicant)), 1 ether, "still claimable");
    }

    /*//////////////////////////////////////////////////////////////
                     REFUNDS (through the consumer base)
    //////////////////////////////////////////////////////////////*/

    function test_reclaim_expiresApplicationAndRefundsApplicant() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        vm.warp(p.deadline + 1);
        vm.expectEmit(true, true, true, true, address(pool));
        emit ILendingPool.ApplicationExpired(id, alice, PRICE);
        vm.prank(bob); // anyone may settle it; the fee goes to the applicant
        _base().reclaim(id);

        vm.assertEq(_decision(id), uint256(ILendingPool.Decision.EXPIRED), "closed");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.REFUNDED), "refunded on the hub");
        vm.assertEq(pool.claimableOf(alice), PRICE, "fee claimable by the applicant");
        vm.assertEq(pool.claimableOf(bob), 0, "nothing for the caller");
        vm.assertEq(hub.balanceOf(address(pool)), 0, "refund pulled from the hub");
        vm.assertEq(pool.liquidity(), POOL_FUNDS, "the fee is not pool liquidity");
        uint256 before = alice.balance;
        vm.prank(alice);
        pool.claim();
        vm.assertEq(alice.balance, before + PRICE, "fee back");
        vm.assertEq(pool.liquidity(), POOL_FUNDS, "liquidity untouched");
    }

    function test_reclaim_afterSomeoneReclaimedOnTheHub() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        vm.warp(p.deadline + 1);
        hub.reclaimFee(id, p);
        _base().reclaim(id);
        vm.assertEq(_decision(id), uint256(ILendingPool.Decision.EXPIRED), "closed");
        vm.assertEq(pool.claimableOf(alice), PRICE, "fee claimable");
        vm.assertEq(hub.balanceOf(address(pool)), 0, "refund pulled from the hub");
    }

    /// @dev A free model's expired application refunds nothing and still closes.
    function test_reclaim_freeModelApplicationExpires() public {
        bytes32 free = keccak256("a free credit model");
        ModelSpec memory s = spec(Mode.SINGLE, Mode.SINGLE);
        s.price = 0;
        registerModel(free, s);
        // A model nobody serves is refused (NoNodeServes): node1 serves it, from before the request.
        bytes32[] memory served = new bytes32[](1);
        served[0] = free;
        vm.prank(node1);
        nodes.setModels(served, true);
        vm.warp(block.timestamp + 1);
        ILendingPool freePool = _deployPool(hub, free, THRESHOLD, SCORE_INDEX);
        vm.prank(alice);
        uint256 id = freePool.applyForLoan(_features(1), 1 ether);
        vm.warp(block.timestamp + freePool.DECISION_TIMEOUT() + 1);
        InferenceConsumer(payable(address(freePool))).reclaim(id);
        vm.assertEq(uint256(freePool.applicationOf(id).decision), uint256(ILendingPool.Decision.EXPIRED), "closed");
        vm.assertEq(freePool.claimableOf(alice), 0, "nothing to refund");
    }

    function test_RevertWhen_ReclaimBeforeDeadline() public {
        (uint256 id,) = _apply(alice, 1, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotFailed.selector, id, Status.PENDING));
        _base().reclaim(id);
        vm.assertEq(_decision(id), uint256(ILendingPool.Decision.PENDING), "still pending");
    }

    function test_RevertWhen_ReclaimDecidedApplication() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        _deliver(id, p, GOOD_SCORE);
        vm.warp(p.deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, id));
        _base().reclaim(id);
        vm.assertEq(_decision(id), uint256(ILendingPool.Decision.APPROVED), "decision stands");
    }

    function test_RevertWhen_ReclaimedTwice() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        vm.warp(p.deadline + 1);
        _base().reclaim(id);
        vm.expectRevert(abi.encodeWithSelector(InferenceConsumer.RequestNotOpen.selector, id));
        _base().reclaim(id);
        vm.assertEq(pool.claimableOf(alice), PRICE, "refunded once");
    }

    function test_RevertWhen_DeliveringAfterDecisionTimeout() public {
        (uint256 id, RequestParams memory p) = _apply(alice, 1, 1 ether);
        vm.warp(p.deadline + 1);
        bytes memory out = _output(GOOD_SCORE);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestExpired.selector, id, p.deadline));
        vm.prank(node1);
        hub.submitResult(id, p, out);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {
    IInferenceHub,
    CALLBACK_ON_FINAL,
    FinalDelivery,
    RequestParams,
    SkipReason,
    Status
} from "../../contracts/interfaces/IInferenceHub.sol";
import {IDisputes, DisputeState, DisputeView} from "../../contracts/interfaces/IDisputes.sol";
import {Eligibility, INodeRegistry} from "../../contracts/interfaces/INodeRegistry.sol";
import {IModelRegistry, ModelSpec, Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";
import {ILendingPool} from "../../contracts/consumers/examples/ILendingPool.sol";
import {InferenceConsumer} from "../../contracts/consumers/InferenceConsumer.sol";
import {ZkFixture} from "./fixtures/ZkFixture.sol";

/// @notice A consumer that acts on provisional results and records what it is told when one is overturned.
contract OverturnAwareConsumer is InferenceConsumer {
    mapping(uint256 => bytes) public delivered;
    mapping(uint256 => bytes) public overturned;

    constructor(IInferenceHub hub_) InferenceConsumer(hub_) {}

    function request(bytes32 modelId, bytes calldata input, uint32 cbGas, uint64 deadline)
        external
        payable
        returns (uint256)
    {
        return _requestInference(modelId, input, Mode.SINGLE, 1, cbGas, deadline, msg.value);
    }

    function _onInferenceResult(uint256 requestId, bytes calldata output) internal override {
        delivered[requestId] = output;
    }

    function _onInferenceOverturned(uint256 requestId, bytes calldata output) internal override {
        overturned[requestId] = output;
    }
}

/// @notice Provisional SINGLE results, their challenge, the committee that settles it, a proof that settles it at
///         once, and callbacks that wait for finality. Every attack is played against the real contracts.
contract DisputesTest is BaseTest {
    bytes internal honest;
    bytes internal lie;

    function setUp() public override {
        super.setUp();
        honest = output32(1);
        lie = output32(99);
        vm.deal(outsider, 100 ether);
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    function _submit(uint256 id, RequestParams memory p, address node, bytes memory output) internal {
        vm.prank(node);
        hub.submitResult(id, p, output);
    }

    function _challenge(uint256 id, RequestParams memory p, bytes memory output, bytes32 env, address node)
        internal
        returns (uint256 bond)
    {
        bond = disputes.bondFor(p.fee);
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, output, env, node);
    }

    function _salt(address member) internal pure returns (bytes32) {
        return keccak256(abi.encode("dispute salt", member));
    }

    /// @dev `a` takes seats 0 and 1 voting `outA`, `b` seat 2 voting `outB`, once every window is open; both reveal.
    function _committee(uint256 id, address a, bytes memory outA, address b, bytes memory outB) internal {
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        vm.prank(a);
        disputes.commit(id, voteHash(outA, _salt(a), a), 3);
        vm.prank(b);
        disputes.commit(id, voteHash(outB, _salt(b), b), 4);
        vm.prank(a);
        disputes.reveal(id, outA, _salt(a));
        vm.prank(b);
        disputes.reveal(id, outB, _salt(b));
    }

    function _stake(address node) internal view returns (uint256) {
        return nodes.nodeInfo(node).stake;
    }

    /*//////////////////////////////////////////////////////////////
                           THE DRAIN, PLAYED
    //////////////////////////////////////////////////////////////*/

    /// @dev A node with the minimum stake applies for the pool's whole 10 ETH and answers its own application with
    ///      P(default) = 0. Before, the callback approved the loan on delivery and the node walked away with 10 ETH.
    ///      Now the pool waits for finality, a watchtower challenges within the window, the committee re-executes, and
    ///      the lie is overturned: the loan is refused on the true score and the attacker loses its stake at risk.
    function test_exploit_selfServedLieIsSlashed() public {
        (ILendingPool pool, address attacker, uint256 id, RequestParams memory p) = _attackerApplies();
        bytes memory zeroRisk = abi.encodePacked(int64(1_000_000), int64(0), int64(0), int64(0));
        bytes memory trueRisk = abi.encodePacked(int64(170_000), int64(830_000), int64(0), int64(0));
        _submit(id, p, attacker, zeroRisk);
        vm.assertEq(uint256(pool.applicationOf(id).decision), uint256(ILendingPool.Decision.PENDING), "no decision");

        // It cannot take its stake out before the window closes either: unbonding outlasts every window.
        vm.prank(attacker);
        nodes.beginUnbonding();
        uint64 endsAt = nodes.nodeInfo(attacker).unbondingEndsAt;
        vm.assertGe(endsAt, block.timestamp + REVEAL_WINDOW, "unbonding outlasts the window");
        vm.expectRevert(
            abi.encodeWithSelector(INodeRegistry.UnbondingNotOver.selector, attacker, endsAt, block.timestamp)
        );
        vm.prank(attacker);
        nodes.withdrawStake(payable(attacker));

        uint256 bond = _challenge(id, p, zeroRisk, ENV_A, attacker);
        _committee(id, node2, trueRisk, node3, trueRisk);
        uint256 stakeBefore = _stake(attacker);
        disputes.resolve(id, p, trueRisk);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.OVERTURNED), "overturned");
        vm.assertEq(
            uint256(pool.applicationOf(id).decision), uint256(ILendingPool.Decision.REFUSED_SCORE), "refused on truth"
        );
        vm.assertEq(pool.claimableOf(attacker), 0, "the loan never pays out");
        vm.assertEq(address(pool).balance, 10 ether, "the pool keeps its ETH");
        uint256 slashed = stakeBefore * SLASH_BPS / 10_000;
        vm.assertEq(_stake(attacker), stakeBefore - slashed, "the attacker lost its stake at risk");
        // The slash refunds the pool's fee and pays the challenger and the committee; nothing goes to the attacker.
        vm.assertEq(hub.balanceOf(address(pool)), PRICE, "fee refunded to the requester");
        _assertSlashShares(slashed - PRICE, bond, attacker);
    }

    /// @dev A fresh node with the minimum stake, and the pool's whole 10 ETH asked for in its name.
    function _attackerApplies()
        internal
        returns (ILendingPool pool, address attacker, uint256 id, RequestParams memory p)
    {
        pool = ILendingPool(
            vm.deployCode("LendingPool.sol:LendingPool", abi.encode(hub, MODEL, int64(500_000), uint256(1)))
        );
        vm.deal(address(pool), 10 ether);
        attacker = makeAddr("attacker");
        vm.deal(attacker, MIN_STAKE + 1 ether);
        bytes32[] memory served = new bytes32[](1);
        served[0] = MODEL;
        vm.prank(attacker);
        nodes.register{value: MIN_STAKE}(ENV_A, 0, served);
        vm.warp(block.timestamp + 1);

        int64[] memory features = new int64[](4);
        (features[0], features[1], features[2], features[3]) = (1, 2, 3, 4);
        uint64 deadline = uint64(block.timestamp) + pool.DECISION_TIMEOUT();
        vm.prank(attacker);
        id = pool.applyForLoan{value: PRICE}(features, 10 ether);
        bytes memory input = abi.encodePacked(int64(1), int64(2), int64(3), int64(4));
        p = paramsFor(address(pool), input, Mode.SINGLE, 1, pool.CALLBACK_GAS() | CALLBACK_ON_FINAL, deadline, PRICE);
    }

    /// @dev What is left of a slash after the fee refund (`rest`): half to the challenger with its bond, the other
    ///      half to the committee per seat (node2 two seats, node3 one); nothing to the slashed node.
    function _assertSlashShares(uint256 rest, uint256 bond, address slashedNode) internal view {
        vm.assertEq(disputes.balanceOf(outsider), bond + rest / 2, "challenger: bond back and half the rest");
        uint256 perSeat = (rest - rest / 2) / 3;
        vm.assertEq(disputes.balanceOf(node2), 2 * perSeat, "two seats");
        vm.assertEq(disputes.balanceOf(node3), perSeat, "one seat");
        vm.assertEq(disputes.balanceOf(slashedNode), 0, "the liar earns nothing from its own dispute");
    }

    /*//////////////////////////////////////////////////////////////
                              CHALLENGES
    //////////////////////////////////////////////////////////////*/

    function test_challenge_honestResultChallengerLosesBond() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, honest);
        uint256 bond = _challenge(id, p, honest, ENV_A, node1);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.DISPUTED), "disputed");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(honest), ENV_A, node1), "not while disputed");
        _committee(id, node2, honest, node3, honest);
        uint256 stake1 = _stake(node1);
        disputes.resolve(id, p, honest);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.CONFIRMED), "confirmed");
        vm.assertEq(uint256(disputes.disputeOf(id).state), uint256(DisputeState.UPHELD), "upheld");
        vm.assertEq(disputes.balanceOf(outsider), 0, "the challenger lost its bond");
        uint256 perSeat = (bond - bond / 2) / 3;
        vm.assertEq(disputes.balanceOf(node2) + disputes.balanceOf(node3), 3 * perSeat, "committee paid per seat");
        vm.assertEq(disputes.balanceOf(node1), bond / 2 + (bond - bond / 2) - 3 * perSeat, "the node: half and dust");
        vm.assertEq(_stake(node1), stake1, "an honest node is never slashed");
        (bool isFinal,) = hub.finalityOf(id, p);
        vm.assertTrue(isFinal, "final once upheld");
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(honest), ENV_A, node1), "verifies again");
    }

    function test_challenge_afterWindowRefused() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        (bool isFinal, uint256 finalAt) = hub.finalityOf(id, p);
        vm.assertFalse(isFinal, "provisional");
        vm.assertEq(finalAt, block.timestamp + REVEAL_WINDOW, "a window after the result");
        vm.warp(finalAt);
        (isFinal,) = hub.finalityOf(id, p);
        vm.assertTrue(isFinal, "final at the window's end, with no transaction");
        uint256 bond = disputes.bondFor(p.fee);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotChallengeable.selector, id, Status.FULFILLED, finalAt));
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, lie, ENV_A, node1);
    }

    function test_challenge_zkProofSettlesDispute() public {
        address verifier = deployZkFixtureVerifier();
        ModelSpec memory s = spec(Mode.ZK, Mode.SINGLE);
        s.inputShape = shape(1, ZkFixture.FEATURES);
        s.outputShape = shape(1, ZkFixture.CLASSES);
        s.scale = ZkFixture.SCALE;
        s.verifier = verifier;
        registerModel(ZkFixture.MODEL_ID, s);
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = ZkFixture.MODEL_ID;
        vm.prank(node1);
        nodes.setModels(ids, true);
        vm.warp(block.timestamp + 1);

        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 id =
            consumer.request{value: PRICE}(ZkFixture.MODEL_ID, ZkFixture.INPUT, Mode.SINGLE, 1, CB_GAS, deadline);
        RequestParams memory p =
            paramsWithoutLottery(address(consumer), ZkFixture.INPUT, Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
        p.modelId = ZkFixture.MODEL_ID;
        p.outputBytes = ZkFixture.CLASSES * 8;
        withLottery(p, id);
        openAllWindows();
        _submit(id, p, node1, ZkFixture.OTHER_OUTPUT);
        _challenge(id, p, ZkFixture.OTHER_OUTPUT, ENV_A, node1);

        // A proof of another output than the true one is refused; the true output's proof settles at once.
        vm.expectRevert(abi.encodeWithSelector(IDisputes.ProofRejected.selector, id, verifier));
        disputes.settleByProof(id, p, ZkFixture.INPUT, ZkFixture.OTHER_OUTPUT, ZkFixture.PROOF);
        uint256 stake1 = _stake(node1);
        disputes.settleByProof(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.OVERTURNED), "overturned by the proof");
        vm.assertEq(_stake(node1), stake1 - stake1 * SLASH_BPS / 10_000, "slashed");
        vm.assertEq(uint256(disputes.disputeOf(id).state), uint256(DisputeState.OVERTURNED), "state");
        vm.assertTrue(
            hub.verifyResult(
                id, ZkFixture.MODEL_ID, p.inputHash, keccak256(ZkFixture.OUTPUT), bytes32(0), address(disputes)
            ),
            "the proven output is the record"
        );
    }

    /*//////////////////////////////////////////////////////////////
                               FINALITY
    //////////////////////////////////////////////////////////////*/

    function test_finality_callbackWaitsForWindow() public {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint32 cbGas = CB_GAS | CALLBACK_ON_FINAL;
        uint256 id = consumer.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, cbGas, deadline);
        RequestParams memory p = paramsFor(address(consumer), input32(), Mode.SINGLE, 1, cbGas, deadline, PRICE);
        _submit(id, p, node1, honest);
        vm.assertEq(consumer.lastOutput(), bytes(""), "no callback on a provisional result");

        FinalDelivery[] memory items = new FinalDelivery[](1);
        items[0] = FinalDelivery({requestId: id, params: p, output: honest, envHash: ENV_A, node: node1});
        (, uint256 finalAt) = hub.finalityOf(id, p);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotFinal.selector, id, finalAt));
        hub.deliverFinal(items);

        vm.warp(finalAt);
        items[0].output = lie;
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ResultMismatch.selector, id));
        hub.deliverFinal(items);
        items[0].output = honest;
        vm.prank(outsider);
        vm.assertEq(hub.deliverFinal(items), 1, "delivered");
        vm.assertEq(consumer.lastOutput(), honest, "called back with the final output");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.CONFIRMED), "confirmed");

        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ResultSkipped(id, outsider, SkipReason.NOT_PENDING);
        vm.prank(outsider);
        vm.assertEq(hub.deliverFinal(items), 0, "at most once");
    }

    function test_finality_overturnedBeforeFinalCallbackDeliversTheTruth() public {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint32 cbGas = CB_GAS | CALLBACK_ON_FINAL;
        uint256 id = consumer.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, cbGas, deadline);
        RequestParams memory p = paramsFor(address(consumer), input32(), Mode.SINGLE, 1, cbGas, deadline, PRICE);
        _submit(id, p, node1, lie);
        _challenge(id, p, lie, ENV_A, node1);
        _committee(id, node2, honest, node3, honest);
        disputes.resolve(id, p, honest);
        vm.assertEq(consumer.lastOutput(), honest, "the consumer only ever saw the final output");
        vm.assertTrue(hub.verifyResult(id, MODEL, p.inputHash, keccak256(honest), ENV_A, node2), "committee's record");
        vm.assertFalse(hub.verifyResult(id, MODEL, p.inputHash, keccak256(lie), ENV_A, node1), "the lie is gone");
    }

    function test_finality_immediateConsumerHearsOfOverturn() public {
        OverturnAwareConsumer c = new OverturnAwareConsumer(hub);
        vm.deal(address(c), 1 ether);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 id = c.request{value: PRICE}(MODEL, input32(), CB_GAS, deadline);
        RequestParams memory p = paramsFor(address(c), input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
        _submit(id, p, node1, lie);
        vm.assertEq(c.delivered(id), lie, "acted on the provisional output");
        _challenge(id, p, lie, ENV_A, node1);
        _committee(id, node2, honest, node3, honest);
        disputes.resolve(id, p, honest);
        vm.assertEq(c.overturned(id), honest, "told of the overturn, with the final output");
    }

    /*//////////////////////////////////////////////////////////////
                        WHAT A CHALLENGE REFUSES
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_ChallengeBondTooLow() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        uint256 bond = disputes.bondFor(p.fee);
        vm.assertEq(bond, MIN_BOND > 3 * PRICE ? MIN_BOND : 3 * PRICE, "max(minBond, 3 fees)");
        vm.expectRevert(abi.encodeWithSelector(IDisputes.BondTooLow.selector, bond - 1, bond));
        vm.prank(outsider);
        disputes.challenge{value: bond - 1}(id, p, lie, ENV_A, node1);
    }

    function test_RevertWhen_ChallengeNamesAnotherOutput() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, honest);
        uint256 bond = disputes.bondFor(p.fee);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ResultMismatch.selector, id));
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, lie, ENV_A, node1);
    }

    function test_RevertWhen_ChallengeWithForgedParams() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, honest);
        p.fee = 1_000 ether; // a forged fee would refund the requester more than it paid
        uint256 bond = disputes.bondFor(p.fee);
        vm.deal(outsider, bond);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RequestParamsMismatch.selector, id));
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, honest, ENV_A, node1);
    }

    function test_RevertWhen_NodeChallengesItself() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, honest);
        uint256 bond = disputes.bondFor(p.fee);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.SelfChallenge.selector, node1));
        vm.prank(node1);
        disputes.challenge{value: bond}(id, p, honest, ENV_A, node1);
    }

    function test_RevertWhen_ChallengedTwice() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        uint256 bond = _challenge(id, p, lie, ENV_A, node1);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.AlreadyDisputed.selector, id));
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, lie, ENV_A, node1);
    }

    function test_RevertWhen_ChallengingConsensusOrPending() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        uint256 bond = disputes.bondFor(p.fee);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotChallengeable.selector, id, Status.PENDING, 0));
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, lie, ENV_A, node1);

        (uint256 cid, RequestParams memory cp) = requestConsensus(3);
        commit(node1, cid, cp, honest);
        commit(node2, cid, cp, honest);
        commit(node3, cid, cp, honest);
        reveal(node1, cid, cp, honest);
        reveal(node2, cid, cp, honest);
        reveal(node3, cid, cp, honest);
        hub.finalizeConsensus(cid, cp, honest);
        bond = disputes.bondFor(cp.fee);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotChallengeable.selector, cid, Status.FULFILLED, 0));
        vm.prank(outsider);
        disputes.challenge{value: bond}(cid, cp, honest, ENV_A, node1);
    }

    function test_RevertWhen_DisputeHooksCalledByOthers() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CallerNotDisputes.selector, outsider, address(disputes)));
        vm.prank(outsider);
        hub.openDispute(id, p, resultCommitment(id, p, lie, ENV_A, node1));
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CallerNotDisputes.selector, outsider, address(disputes)));
        vm.prank(outsider);
        hub.closeDispute(id, p, honest, bytes32(0), false, outsider);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.CallerNotHub.selector, outsider, address(hub)));
        vm.prank(outsider);
        nodes.slash(node1, 10_000);
    }

    /*//////////////////////////////////////////////////////////////
                              THE COMMITTEE
    //////////////////////////////////////////////////////////////*/

    function test_committee_neverTheChallengedNodeNorTheChallenger() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        bytes32[] memory served = new bytes32[](1);
        served[0] = MODEL;
        vm.deal(outsider, 100 ether);
        vm.prank(outsider);
        nodes.register{value: 2 ether}(ENV_A, 0, served);
        vm.warp(block.timestamp + 1);
        _challenge(id, p, lie, ENV_A, node1);
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.Conflicted.selector, id, node1));
        vm.prank(node1);
        disputes.commit(id, voteHash(lie, _salt(node1), node1), 7);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.Conflicted.selector, id, outsider));
        vm.prank(outsider);
        disputes.commit(id, voteHash(honest, _salt(outsider), outsider), 7);
    }

    function test_committee_ticketWindowsAndFreshStake() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        _challenge(id, p, lie, ENV_A, node1);
        // A node registered at or after the challenge holds no ticket.
        address late = makeAddr("late");
        vm.deal(late, 10 ether);
        bytes32[] memory served = new bytes32[](1);
        served[0] = MODEL;
        vm.prank(late);
        nodes.register{value: 2 ether}(ENV_A, 0, served);
        uint64 openedAt = uint64(block.timestamp);
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NotAssigned.selector, id, late, openedAt, openedAt));
        vm.prank(late);
        disputes.commit(id, voteHash(honest, _salt(late), late), 1);
        // Windows open by ticket: before its window, a member is refused.
        vm.warp(openedAt);
        uint256 opensAt = disputes.windowOf(id, node2, 0);
        if (opensAt > openedAt) {
            vm.expectRevert(abi.encodeWithSelector(IDisputes.WindowNotOpen.selector, id, node2, 0, opensAt));
            vm.prank(node2);
            disputes.commit(id, voteHash(honest, _salt(node2), node2), 1);
        }
        vm.warp(opensAt);
        vm.prank(node2);
        disputes.commit(id, voteHash(honest, _salt(node2), node2), 1);
        vm.assertEq(disputes.disputeOf(id).commits, 1, "seat 0 taken in its window");
    }

    function test_committee_dissenterAndSilentAreSlashedNotPaid() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        _challenge(id, p, lie, ENV_A, node1);
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        // node2 holds two seats and votes the truth; node3 commits to the lie on the third seat, and never reveals.
        vm.prank(node2);
        disputes.commit(id, voteHash(honest, _salt(node2), node2), 3);
        vm.prank(node3);
        disputes.commit(id, voteHash(lie, _salt(node3), node3), 4);
        vm.prank(node2);
        disputes.reveal(id, honest, _salt(node2));
        vm.expectRevert(
            abi.encodeWithSelector(IDisputes.ResolveTooEarly.selector, id, disputes.disputeOf(id).revealEndsAt)
        );
        disputes.resolve(id, p, honest);
        vm.warp(disputes.disputeOf(id).revealEndsAt + 1);
        uint256 stake3 = _stake(node3);
        disputes.resolve(id, p, honest);
        vm.assertEq(_stake(node3), stake3 - stake3 * SLASH_BPS / 10_000, "silent member slashed");
        vm.assertEq(disputes.balanceOf(node3), 0, "and not paid");
        vm.assertGt(disputes.burned(), 0, "the third seat's share and the silent stake are burned");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.OVERTURNED), "two seats of three decide");
    }

    /// @dev node2 (seat 0, the truth) and node3 (seat 1, the lie) split; seat 2 stays empty; both reveal; resolve
    ///      escalates. Returns the escalation's view.
    function _split(uint256 id, RequestParams memory p) internal returns (DisputeView memory e) {
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        vm.prank(node2);
        disputes.commit(id, voteHash(honest, _salt(node2), node2), 1);
        vm.prank(node3);
        disputes.commit(id, voteHash(lie, _salt(node3), node3), 2);
        vm.warp(uint256(disputes.disputeOf(id).commitEndsAt) + 1);
        vm.prank(node2);
        disputes.reveal(id, honest, _salt(node2));
        vm.prank(node3);
        disputes.reveal(id, lie, _salt(node3));
        vm.assertEq(disputes.majorityOf(id), bytes32(0), "one seat each: no majority");
        vm.warp(uint256(disputes.disputeOf(id).revealEndsAt) + 1);
        vm.expectEmit(true, false, false, false, address(disputes));
        emit IDisputes.DisputeEscalated(id, 7, 0, 0);
        disputes.resolve(id, p, lie);
        e = disputes.disputeOf(id);
        vm.assertEq(uint256(e.state), uint256(DisputeState.OPEN), "still open");
        vm.assertEq(e.round, 1, "escalated");
        vm.assertEq(e.seatCount, 7, "a larger committee: 2 x 3 + 1 seats");
        vm.assertEq(e.commits, 0, "its seats are all free");
        vm.assertEq(e.revealEndsAt, 0, "its commits are open");
        vm.assertEq(uint256(e.commitEndsAt), block.timestamp + ALL_WINDOWS_OPEN + REVEAL_WINDOW, "a fresh draw");
        vm.assertEq(disputes.balanceOf(outsider), 0, "the bond stays");
    }

    function test_committee_noMajorityEscalatesToAFreshCommitteeThatDecides() public {
        address fresh = makeAddr("fresh");
        registerNode(fresh, ENV_A);
        vm.warp(block.timestamp + 1);
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        _challenge(id, p, lie, ENV_A, node1);
        uint256 stake1 = _stake(node1);
        uint256 stake3 = _stake(node3);
        _split(id, p);
        // The first committee's members never sit on the escalation, whatever their vote.
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.Conflicted.selector, id, node2));
        vm.prank(node2);
        disputes.commit(id, voteHash(honest, _salt(node2), node2), 1);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.SeatsInvalid.selector, id, uint16(1 << 7)));
        vm.prank(fresh);
        disputes.commit(id, voteHash(honest, _salt(fresh), fresh), 1 << 7);
        vm.prank(fresh);
        disputes.commit(id, voteHash(honest, _salt(fresh), fresh), 0x7f);
        vm.assertGt(disputes.disputeOf(id).revealEndsAt, 0, "all seven seats taken: reveals open");
        vm.prank(fresh);
        disputes.reveal(id, honest, _salt(fresh));
        vm.assertEq(disputes.majorityOf(id), keccak256(honest), "seven seats of seven");
        disputes.resolve(id, p, honest);
        vm.assertEq(uint256(disputes.disputeOf(id).state), uint256(DisputeState.OVERTURNED), "overturned");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.OVERTURNED), "the hub records it");
        vm.assertEq(_stake(node1), stake1 - stake1 * SLASH_BPS / 10_000, "the liar is slashed");
        // The first committee is judged by the escalation's outcome: the lie's vote is slashed, the truth's paid.
        vm.assertEq(_stake(node3), stake3 - stake3 * SLASH_BPS / 10_000, "the first round's lie is slashed");
        uint256 slashed = stake1 * SLASH_BPS / 10_000 + stake3 * SLASH_BPS / 10_000;
        uint256 rest = stake1 * SLASH_BPS / 10_000 - p.fee;
        uint256 perSeat = (rest - rest / 2) / 10;
        vm.assertEq(disputes.balanceOf(node2), perSeat, "one seat of ten drawn");
        vm.assertEq(disputes.balanceOf(fresh), 7 * perSeat, "seven seats of ten drawn");
        vm.assertEq(disputes.balanceOf(node3), 0, "nothing for the lie");
        vm.assertEq(
            disputes.burned(), slashed - p.fee - rest / 2 - 8 * perSeat, "the lie's vote and empty seats are burned"
        );
    }

    function test_committee_firstRoundVoteCannotRevealInTheEscalation() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        _challenge(id, p, lie, ENV_A, node1);
        vm.warp(block.timestamp + ALL_WINDOWS_OPEN);
        vm.prank(node2);
        disputes.commit(id, voteHash(honest, _salt(node2), node2), 1);
        vm.warp(uint256(disputes.disputeOf(id).commitEndsAt) + REVEAL_WINDOW + 1);
        disputes.resolve(id, p, lie);
        vm.assertEq(disputes.disputeOf(id).round, 1, "a silent committee escalates too");
        vm.expectRevert(abi.encodeWithSelector(IDisputes.EarlierRound.selector, id, node2, uint8(0)));
        vm.prank(node2);
        disputes.reveal(id, honest, _salt(node2));
    }

    function test_committee_noMajorityTwiceIsVoidAndBondReturned() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, lie);
        uint256 bond = _challenge(id, p, lie, ENV_A, node1);
        uint256 stake2 = _stake(node2);
        DisputeView memory e = _split(id, p);
        // Nobody fresh is left to sit on the escalation: it ends without a majority too.
        vm.warp(uint256(e.commitEndsAt) + REVEAL_WINDOW + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IDisputes.OutputMismatch.selector, id, keccak256(lie), keccak256(honest))
        );
        disputes.resolve(id, p, honest);
        disputes.resolve(id, p, lie);
        vm.assertEq(uint256(disputes.disputeOf(id).state), uint256(DisputeState.VOID), "void");
        vm.assertEq(disputes.balanceOf(outsider), bond, "bond back");
        vm.assertEq(_stake(node2), stake2, "revealed votes are not slashed without an outcome");
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.CONFIRMED), "the result stands");
        vm.prank(outsider);
        disputes.withdraw(payable(outsider));
        vm.assertEq(disputes.balanceOf(outsider), 0, "withdrawn");
    }

    /*//////////////////////////////////////////////////////////////
                                 STAKE
    //////////////////////////////////////////////////////////////*/

    function test_stake_lockedDuringDisputeAndUnbondingOutlastsWindows() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        _submit(id, p, node1, honest);
        _challenge(id, p, honest, ENV_A, node1);
        vm.prank(node1);
        nodes.beginUnbonding();
        vm.warp(block.timestamp + UNBONDING + 1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeLocked.selector, node1, 1));
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));
        vm.assertEq(hub.windowCeiling(), REVEAL_WINDOW, "the longest window set");
    }

    /*//////////////////////////////////////////////////////////////
                   PER-MODEL WINDOW AND STAKE AT RISK
    //////////////////////////////////////////////////////////////*/

    bytes32 internal constant RISKY = keccak256("onnx bytes of a model whose results move money");

    /// @dev Registers RISKY with its own window and stake at risk; `servers` add stake up to it and declare it.
    function _registerRisky(uint32 window, uint96 stakeAtRisk, address[] memory servers) internal {
        ModelSpec memory s = spec(Mode.SINGLE, Mode.SINGLE);
        s.challengeWindow = window;
        s.stakeAtRisk = stakeAtRisk;
        registerModel(RISKY, s);
        _serve(RISKY, servers, stakeAtRisk);
    }

    /// @dev `servers` top up to `stakeAtRisk` and declare `modelId` (registered).
    function _serve(bytes32 modelId, address[] memory servers, uint96 stakeAtRisk) internal {
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = modelId;
        for (uint256 i; i < servers.length; ++i) {
            uint256 stake = _stake(servers[i]);
            if (stake < stakeAtRisk) {
                vm.deal(servers[i], stakeAtRisk - stake);
                vm.prank(servers[i]);
                nodes.addStake{value: stakeAtRisk - stake}();
            }
            vm.prank(servers[i]);
            nodes.setModels(ids, true);
        }
        vm.warp(block.timestamp + 1);
    }

    function _servers() internal view returns (address[] memory list) {
        list = new address[](3);
        (list[0], list[1], list[2]) = (node1, node2, node3);
    }

    /// @dev A SINGLE request for RISKY made now by the test consumer, and its parameters (windows open).
    function _requestRisky() internal returns (uint256 id, RequestParams memory p) {
        uint64 deadline = uint64(block.timestamp + 1 hours);
        id = consumer.request{value: PRICE}(RISKY, input32(), Mode.SINGLE, 1, CB_GAS, deadline);
        p = paramsWithoutLottery(address(consumer), input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
        p.modelId = RISKY;
        withLottery(p, id);
        openAllWindows();
    }

    /// @dev A model's own window, shorter than the hub's, is fixed in the request when it is made: the result is
    ///      final once it passes, and a challenge after it is refused.
    function test_window_modelsOwnWindowFixedAtRequest() public {
        _registerRisky(1 minutes, 0, _servers());
        (uint256 id, RequestParams memory p) = _requestRisky();
        vm.assertEq(Lottery.revealWindowOf(p.lottery), 1 minutes, "the model's window, in the request");
        _submit(id, p, node1, lie);
        (bool isFinal, uint256 finalAt) = hub.finalityOf(id, p);
        vm.assertFalse(isFinal, "provisional");
        vm.assertEq(finalAt, block.timestamp + 1 minutes, "final a minute after the result");
        vm.warp(finalAt);
        uint256 bond = disputes.bondFor(p.fee);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.NotChallengeable.selector, id, Status.FULFILLED, finalAt));
        vm.prank(outsider);
        disputes.challenge{value: bond}(id, p, lie, ENV_A, node1);
    }

    /// @dev The hub bounds a model's window: a model asking for 7 days gets the hub's 5 minutes, so the unbonding
    ///      delay (at least the longest hub window ever set) still outlasts every open result; CONSENSUS reveals in
    ///      the hub's window whatever the model says.
    function test_window_boundedByTheHub() public {
        _registerRisky(7 days, 0, _servers());
        (, RequestParams memory p) = _requestRisky();
        vm.assertEq(Lottery.revealWindowOf(p.lottery), REVEAL_WINDOW, "the hub's window caps the model's");
        _registerShortConsensus();
        uint256 word = hub.lotteryWordOf(keccak256("short consensus model"), 7, PRICE * 3, 3, CB_GAS);
        vm.assertEq(Lottery.revealWindowOf(word), REVEAL_WINDOW, "CONSENSUS reveals in the hub's window");
    }

    function _registerShortConsensus() internal {
        ModelSpec memory s = spec(Mode.SINGLE, Mode.CONSENSUS);
        s.challengeWindow = 10 seconds;
        registerModel(keccak256("short consensus model"), s);
        _serve(keccak256("short consensus model"), _servers(), 0);
    }

    function test_RevertWhen_ChallengeWindowOutOfBounds() public {
        ModelSpec memory s = spec(Mode.SINGLE, Mode.SINGLE);
        uint32[2] memory bad = [uint32(9 seconds), uint32(7 days + 1)];
        for (uint256 i; i < bad.length; ++i) {
            s.challengeWindow = bad[i];
            bytes32 salt = keccak256(abi.encode("salt", address(this), RISKY));
            models.commitRegistration(models.registrationCommitment(RISKY, s, bytes32(0), address(this), salt));
            vm.roll(block.number + 1);
            vm.expectRevert(
                abi.encodeWithSelector(IModelRegistry.ChallengeWindowInvalid.selector, bad[i], 10 seconds, 7 days)
            );
            models.registerModel(RISKY, s, bytes32(0), address(this), salt);
        }
    }

    /// @dev Serving a model needs its stake at risk: a node below it cannot declare it, and a node slashed below it
    ///      is no longer eligible (its delivery reverts, naming the reason).
    function test_stakeAtRisk_nodeBelowItCannotServe() public {
        _registerRisky(0, 5 ether, new address[](0));
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = RISKY;
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeBelowModelRisk.selector, RISKY, 2 ether, 5 ether));
        vm.prank(node1);
        nodes.setModels(ids, true);

        _serve(RISKY, _servers(), 5 ether);
        (uint256 id, RequestParams memory p) = _requestRisky();
        // A slash elsewhere (10 % of 5 ETH) leaves node1 with 4.5 ETH: below the stake at risk.
        vm.prank(address(hub));
        nodes.slash(node1, SLASH_BPS);
        (Eligibility status,) = nodes.eligibility(node1, RISKY);
        vm.assertEq(uint256(status), uint256(Eligibility.STAKE_BELOW_MODEL_RISK), "no longer eligible");
        vm.expectRevert(
            abi.encodeWithSelector(
                IInferenceHub.NodeNotEligible.selector, node1, RISKY, Eligibility.STAKE_BELOW_MODEL_RISK
            )
        );
        _submit(id, p, node1, honest);
        _submit(id, p, node2, honest);
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "served by a node with its stake at risk");
    }

    function test_RevertWhen_ServingAnUnregisteredModel() public {
        bytes32[] memory ids = new bytes32[](1);
        ids[0] = keccak256("a file nobody registered");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, ids[0]));
        vm.prank(node1);
        nodes.setModels(ids, true);
    }

    /// @dev The drain on a model whose entry says a result moves up to 10 ETH: the attacker needs 10 ETH of stake
    ///      to serve it at all, and its overturned lie costs all 10 ETH (10 % would be only 1 ETH), more than the
    ///      loan it tried to take.
    function test_exploit_lieOnARiskyModelLosesItsStakeAtRisk() public {
        _registerRisky(0, 10 ether, _servers());
        ILendingPool pool = ILendingPool(
            vm.deployCode("LendingPool.sol:LendingPool", abi.encode(hub, RISKY, int64(500_000), uint256(1)))
        );
        vm.deal(address(pool), 10 ether);
        address attacker = makeAddr("attacker");
        vm.deal(attacker, 10 ether);
        bytes32[] memory served = new bytes32[](1);
        served[0] = RISKY;
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeBelowModelRisk.selector, RISKY, MIN_STAKE, 10 ether));
        vm.prank(attacker);
        nodes.register{value: MIN_STAKE}(ENV_A, 0, served);
        vm.prank(attacker);
        nodes.register{value: 10 ether}(ENV_A, 0, served);
        vm.warp(block.timestamp + 1);

        int64[] memory features = new int64[](4);
        (features[0], features[1], features[2], features[3]) = (1, 2, 3, 4);
        uint64 deadline = uint64(block.timestamp) + pool.DECISION_TIMEOUT();
        vm.deal(attacker, PRICE);
        vm.prank(attacker);
        uint256 id = pool.applyForLoan{value: PRICE}(features, 10 ether);
        bytes memory input = abi.encodePacked(int64(1), int64(2), int64(3), int64(4));
        RequestParams memory p = paramsWithoutLottery(
            address(pool), input, Mode.SINGLE, 1, pool.CALLBACK_GAS() | CALLBACK_ON_FINAL, deadline, PRICE
        );
        p.modelId = RISKY;
        withLottery(p, id);
        openAllWindows();

        bytes memory zeroRisk = abi.encodePacked(int64(1_000_000), int64(0), int64(0), int64(0));
        bytes memory trueRisk = abi.encodePacked(int64(170_000), int64(830_000), int64(0), int64(0));
        _submit(id, p, attacker, zeroRisk);
        _challenge(id, p, zeroRisk, ENV_A, attacker);
        _committee(id, node2, trueRisk, node3, trueRisk);
        disputes.resolve(id, p, trueRisk);

        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.OVERTURNED), "overturned");
        vm.assertEq(_stake(attacker), 0, "the whole stake at risk is gone");
        vm.assertEq(pool.claimableOf(attacker), 0, "the loan never pays out");
        vm.assertEq(address(pool).balance, 10 ether, "the pool keeps its ETH");
        (Eligibility status,) = nodes.eligibility(attacker, RISKY);
        vm.assertTrue(status != Eligibility.ELIGIBLE, "and it serves no more");
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {Eligibility, INodeRegistry, NodeInfo} from "../../contracts/interfaces/INodeRegistry.sol";
import {IInferenceHub} from "../../contracts/interfaces/IInferenceHub.sol";
import {IOwned2Step} from "../../contracts/interfaces/IOwned2Step.sol";
import {Mode, ModelSpec} from "../../contracts/interfaces/IModelRegistry.sol";

/// @notice Has no receive or fallback: every ETH transfer to it fails.
/// @notice A "hub" that points at a given registry but refuses ETH (so slash proceeds cannot be delivered).
contract EtherRejecter {
    address public nodeRegistry;
    address public modelRegistry;

    /// @dev Takes the serving-stake pushes a hub receives.
    function syncServing(bytes32, uint256, uint256) external {}

    function point(address registry, address models) external {
        nodeRegistry = registry;
        modelRegistry = models;
    }
}

/// @notice Bonding, unbonding, hub-only slashing and locking, owner parameters, two-step ownership.
contract NodeRegistryTest is BaseTest {
    bytes32 internal constant MODEL2 = keccak256("onnx bytes of a second model");
    uint96 internal constant NODE_STAKE = 2 ether; // what BaseTest.registerNode bonds

    address internal node4;

    function setUp() public override {
        super.setUp();
        node4 = makeAddr("node4");
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    function _ids(uint256 n) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            ids[i] = keccak256(abi.encode("model", i));
        }
    }

    /// @dev `_ids(n)`, registered: a node declares only registered models.
    function _registeredIds(uint256 n) internal returns (bytes32[] memory ids) {
        ids = _ids(n);
        for (uint256 i; i < n; ++i) {
            registerModel(ids[i], spec(Mode.SINGLE, Mode.SINGLE));
        }
    }

    function _one(bytes32 id) internal pure returns (bytes32[] memory ids) {
        ids = new bytes32[](1);
        ids[0] = id;
    }

    function _register(address node, uint256 stake) internal {
        vm.deal(node, stake);
        vm.prank(node);
        nodes.register{value: stake}(ENV_A, 0, _one(MODEL));
    }

    function _unbond(address node) internal returns (uint64 endsAt) {
        vm.prank(node);
        nodes.beginUnbonding();
        endsAt = uint64(block.timestamp) + UNBONDING;
    }

    function _status(address node, bytes32 modelId) internal view returns (uint256 status, bytes32 env) {
        Eligibility e;
        (e, env) = nodes.eligibility(node, modelId);
        status = uint256(e);
    }

    function _assertConserved() internal view {
        vm.assertEq(address(nodes).balance, nodes.totalStake(), "balance == totalStake");
    }

    /*//////////////////////////////////////////////////////////////
                                REGISTER
    //////////////////////////////////////////////////////////////*/

    function test_register_storesBondAndEmits() public {
        registerModel(MODEL2, spec(Mode.SINGLE, Mode.SINGLE));
        uint256 totalBefore = nodes.totalStake();
        bytes32[] memory served = new bytes32[](2);
        served[0] = MODEL;
        served[1] = MODEL2;
        vm.deal(node4, 5 ether);

        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.NodeRegistered(node4, 3 ether, ENV_B);
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.ModelServed(node4, MODEL, true);
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.ModelServed(node4, MODEL2, true);
        vm.prank(node4);
        nodes.register{value: 3 ether}(ENV_B, 0, served);

        NodeInfo memory info = nodes.nodeInfo(node4);
        vm.assertEq(info.stake, 3 ether, "stake");
        vm.assertEq(info.unbondingEndsAt, 0, "active");
        vm.assertEq(info.openCommitments, 0, "no commitments");
        vm.assertTrue(info.registered, "registered");
        vm.assertEq(nodes.environmentOf(node4), ENV_B, "env");
        vm.assertTrue(nodes.serves(node4, MODEL), "serves MODEL");
        vm.assertTrue(nodes.serves(node4, MODEL2), "serves MODEL2");
        vm.assertEq(nodes.totalStake(), totalBefore + 3 ether, "total stake");
        _assertConserved();
    }

    function test_register_exactlyMinimumStake() public {
        _register(node4, MIN_STAKE);
        vm.assertEq(nodes.nodeInfo(node4).stake, MIN_STAKE, "minimum is enough");
        vm.assertTrue(nodes.isStaked(node4), "staked");
    }

    function test_register_maxModelsPerCall() public {
        bytes32[] memory ids = _registeredIds(16);
        vm.deal(node4, MIN_STAKE);
        vm.prank(node4);
        nodes.register{value: MIN_STAKE}(ENV_A, 0, ids);
        vm.assertTrue(nodes.serves(node4, _ids(16)[15]), "last of 16 served");
    }

    function test_RevertWhen_ServingMoreThanMaxModels() public {
        bytes32[] memory ids = _registeredIds(17);
        vm.deal(node4, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.TooManyModels.selector, 17, 16));
        vm.prank(node4);
        nodes.register{value: MIN_STAKE}(ENV_A, 0, ids);
    }

    function test_RevertWhen_StakeBelowMinimum() public {
        vm.deal(node4, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeTooLow.selector, MIN_STAKE - 1, MIN_STAKE));
        vm.prank(node4);
        nodes.register{value: MIN_STAKE - 1}(ENV_A, 0, _one(MODEL));
    }

    function test_RevertWhen_RegisteringTwice() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeAlreadyRegistered.selector, node1));
        vm.prank(node1);
        nodes.register{value: MIN_STAKE}(ENV_A, 0, _one(MODEL));
    }

    function test_RevertWhen_RegisteringWithEnvironmentZero() public {
        vm.deal(node4, MIN_STAKE);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.EnvironmentZero.selector));
        vm.prank(node4);
        nodes.register{value: MIN_STAKE}(bytes32(0), 0, _one(MODEL));
    }

    function test_RevertWhen_RegisteringTooManyModels() public {
        vm.deal(node4, MIN_STAKE);
        bytes32[] memory ids = _ids(65);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.TooManyModels.selector, 65, 64));
        vm.prank(node4);
        nodes.register{value: MIN_STAKE}(ENV_A, 0, ids);
    }

    function test_RevertWhen_RegisteringStakeAboveUint96() public {
        uint256 stake = uint256(type(uint96).max) + 1;
        vm.deal(node4, stake);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeTooHigh.selector, stake));
        vm.prank(node4);
        nodes.register{value: stake}(ENV_A, 0, _one(MODEL));
    }

    /*//////////////////////////////////////////////////////////////
                           STAKE AND SETTINGS
    //////////////////////////////////////////////////////////////*/

    function test_addStake_increasesStakeAndEmits() public {
        uint256 totalBefore = nodes.totalStake();
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.StakeAdded(node1, 1 ether, NODE_STAKE + 1 ether);
        vm.prank(node1);
        nodes.addStake{value: 1 ether}();
        vm.assertEq(nodes.nodeInfo(node1).stake, NODE_STAKE + 1 ether, "stake");
        vm.assertEq(nodes.totalStake(), totalBefore + 1 ether, "total");
        _assertConserved();
    }

    function test_RevertWhen_AddStakeUnregistered() public {
        vm.deal(node4, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotRegistered.selector, node4));
        vm.prank(node4);
        nodes.addStake{value: 1 ether}();
    }

    function test_RevertWhen_AddStakeWhileUnbonding() public {
        uint64 endsAt = _unbond(node1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeIsUnbonding.selector, node1, endsAt));
        vm.prank(node1);
        nodes.addStake{value: 1 ether}();
    }

    function test_RevertWhen_AddStakeAboveUint96() public {
        uint256 extra = uint256(type(uint96).max) - NODE_STAKE + 1;
        vm.deal(node1, extra);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeTooHigh.selector, uint256(type(uint96).max) + 1));
        vm.prank(node1);
        nodes.addStake{value: extra}();
    }

    function test_updateEnvironment_replacesHashAndEmits() public {
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.EnvironmentUpdated(node1, ENV_A, ENV_B);
        vm.prank(node1);
        nodes.updateEnvironment(ENV_B, 0);
        vm.assertEq(nodes.environmentOf(node1), ENV_B, "env");
        (, bytes32 env) = _status(node1, MODEL);
        vm.assertEq(env, ENV_B, "eligibility reports the new env");
    }

    function test_RevertWhen_UpdateEnvironmentZero() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.EnvironmentZero.selector));
        vm.prank(node1);
        nodes.updateEnvironment(bytes32(0), 0);
    }

    function test_RevertWhen_UpdateEnvironmentUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotRegistered.selector, node4));
        vm.prank(node4);
        nodes.updateEnvironment(ENV_B, 0);
    }

    function test_RevertWhen_UpdateEnvironmentWhileUnbonding() public {
        uint64 endsAt = _unbond(node1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeIsUnbonding.selector, node1, endsAt));
        vm.prank(node1);
        nodes.updateEnvironment(ENV_B, 0);
    }

    function test_setModels_addsAndRemovesWithEvents() public {
        registerModel(MODEL2, spec(Mode.SINGLE, Mode.SINGLE));
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.ModelServed(node1, MODEL2, true);
        vm.prank(node1);
        nodes.setModels(_one(MODEL2), true);
        vm.assertTrue(nodes.serves(node1, MODEL2), "added");

        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.ModelServed(node1, MODEL, false);
        vm.prank(node1);
        nodes.setModels(_one(MODEL), false);
        vm.assertFalse(nodes.serves(node1, MODEL), "removed");
        vm.assertTrue(nodes.serves(node1, MODEL2), "other kept");
    }

    function test_RevertWhen_SetModelsTooMany() public {
        bytes32[] memory ids = _ids(65);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.TooManyModels.selector, 65, 64));
        vm.prank(node1);
        nodes.setModels(ids, true);
    }

    function test_RevertWhen_SetModelsUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotRegistered.selector, node4));
        vm.prank(node4);
        nodes.setModels(_one(MODEL), true);
    }

    function test_RevertWhen_SetModelsWhileUnbonding() public {
        uint64 endsAt = _unbond(node1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeIsUnbonding.selector, node1, endsAt));
        vm.prank(node1);
        nodes.setModels(_one(MODEL2), true);
    }

    /*//////////////////////////////////////////////////////////////
                          UNBONDING AND WITHDRAW
    //////////////////////////////////////////////////////////////*/

    function test_beginUnbonding_setsEndAndEmits() public {
        uint64 endsAt = uint64(block.timestamp) + UNBONDING;
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.UnbondingStarted(node1, endsAt);
        vm.prank(node1);
        nodes.beginUnbonding();
        vm.assertEq(nodes.nodeInfo(node1).unbondingEndsAt, endsAt, "ends at");
        vm.assertTrue(nodes.nodeInfo(node1).registered, "still registered");
    }

    function test_RevertWhen_UnbondingTwice() public {
        uint64 endsAt = _unbond(node1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeIsUnbonding.selector, node1, endsAt));
        vm.prank(node1);
        nodes.beginUnbonding();
    }

    function test_RevertWhen_UnbondingUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotRegistered.selector, node4));
        vm.prank(node4);
        nodes.beginUnbonding();
    }

    function test_withdrawStake_paysAndDeregisters() public {
        uint64 endsAt = _unbond(node1);
        vm.warp(endsAt); // the delay is over at exactly endsAt
        address payable to = payable(makeAddr("cold wallet"));
        uint256 totalBefore = nodes.totalStake();

        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.StakeWithdrawn(node1, to, NODE_STAKE);
        vm.prank(node1);
        uint256 amount = nodes.withdrawStake(to);

        vm.assertEq(amount, NODE_STAKE, "returned amount");
        vm.assertEq(to.balance, NODE_STAKE, "paid");
        vm.assertEq(nodes.totalStake(), totalBefore - NODE_STAKE, "total");
        _assertConserved();
        NodeInfo memory info = nodes.nodeInfo(node1);
        vm.assertFalse(info.registered, "deregistered");
        vm.assertEq(info.stake, 0, "stake cleared");
        vm.assertEq(info.unbondingEndsAt, 0, "unbonding cleared");
        vm.assertEq(nodes.environmentOf(node1), bytes32(0), "env cleared");
        (uint256 status,) = _status(node1, MODEL);
        vm.assertEq(status, uint256(Eligibility.NOT_REGISTERED), "not registered");
    }

    function test_withdrawStake_reRegisteringRestoresDeclaredModels() public {
        vm.warp(_unbond(node1));
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));
        vm.assertTrue(nodes.serves(node1, MODEL), "declared models kept");

        vm.prank(node1);
        nodes.register{value: MIN_STAKE}(ENV_B, 0, new bytes32[](0));
        (uint256 status, bytes32 env) = _status(node1, MODEL);
        vm.assertEq(status, uint256(Eligibility.ELIGIBLE), "eligible again");
        vm.assertEq(env, ENV_B, "new env");
    }

    function test_RevertWhen_WithdrawUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotRegistered.selector, node4));
        vm.prank(node4);
        nodes.withdrawStake(payable(node4));
    }

    function test_RevertWhen_WithdrawNotUnbonding() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotUnbonding.selector, node1));
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));
    }

    function test_RevertWhen_WithdrawBeforeUnbondingOver() public {
        uint64 endsAt = _unbond(node1);
        vm.warp(endsAt - 1);
        vm.expectRevert(
            abi.encodeWithSelector(INodeRegistry.UnbondingNotOver.selector, node1, endsAt, uint256(endsAt) - 1)
        );
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));
    }

    function test_RevertWhen_WithdrawWithOpenCommitments() public {
        vm.prank(address(hub));
        nodes.lockStake(node1);
        vm.warp(_unbond(node1));
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.StakeLocked.selector, node1, 1));
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));

        vm.prank(address(hub));
        nodes.unlockStake(node1);
        vm.prank(node1);
        vm.assertEq(nodes.withdrawStake(payable(node1)), NODE_STAKE, "withdraws once settled");
    }

    function test_RevertWhen_WithdrawToEtherRejecter() public {
        address payable rejecter = payable(address(new EtherRejecter()));
        vm.warp(_unbond(node1));
        uint256 totalBefore = nodes.totalStake();
        uint256 balanceBefore = address(nodes).balance;

        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.TransferFailed.selector, rejecter, NODE_STAKE));
        vm.prank(node1);
        nodes.withdrawStake(rejecter);

        vm.assertEq(nodes.nodeInfo(node1).stake, NODE_STAKE, "stake kept");
        vm.assertTrue(nodes.nodeInfo(node1).registered, "still registered");
        vm.assertEq(nodes.totalStake(), totalBefore, "total kept");
        vm.assertEq(address(nodes).balance, balanceBefore, "ETH kept");
        vm.prank(node1);
        nodes.withdrawStake(payable(node1));
        vm.assertEq(node1.balance, 10 ether, "recoverable to a payable address");
    }

    /*//////////////////////////////////////////////////////////////
                              HUB FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    function test_slash_takesFractionAndPaysHub() public {
        uint256 hubBefore = address(hub).balance;
        uint256 totalBefore = nodes.totalStake();
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.NodeSlashed(node1, 0.2 ether, 1.8 ether);
        vm.prank(address(hub));
        uint256 amount = nodes.slash(node1, 1_000);

        vm.assertEq(amount, 0.2 ether, "10% of 2 ether");
        vm.assertEq(nodes.nodeInfo(node1).stake, 1.8 ether, "remaining");
        vm.assertEq(nodes.totalStake(), totalBefore - 0.2 ether, "total");
        vm.assertEq(address(hub).balance, hubBefore + 0.2 ether, "hub received");
        _assertConserved();
    }

    function testFuzz_slash_takesFractionAndPaysHub(uint256 stake, uint256 bps) public {
        stake = bound(stake, MIN_STAKE, type(uint96).max);
        bps = bound(bps, 0, 10_000);
        _register(node4, stake);
        uint256 hubBefore = address(hub).balance;
        uint256 totalBefore = nodes.totalStake();

        vm.prank(address(hub));
        uint256 amount = nodes.slash(node4, uint16(bps));

        vm.assertEq(amount, stake * bps / 10_000, "amount == stake * bps / 10000");
        vm.assertEq(nodes.nodeInfo(node4).stake, stake - amount, "remaining");
        vm.assertEq(nodes.totalStake(), totalBefore - amount, "total");
        vm.assertEq(address(hub).balance, hubBefore + amount, "hub received");
        _assertConserved();
    }

    function test_slash_wholeStakeLeavesNodeBelowMinimum() public {
        vm.prank(address(hub));
        nodes.slash(node1, 10_000);
        vm.assertEq(nodes.nodeInfo(node1).stake, 0, "nothing left");
        vm.assertFalse(nodes.isStaked(node1), "not staked");
        _assertConserved();
    }

    function test_slash_nodeWithoutStakeYieldsZero() public {
        vm.recordLogs();
        vm.prank(address(hub));
        uint256 amount = nodes.slash(node4, 10_000);
        vm.assertEq(amount, 0, "nothing to take");
        vm.assertEq(vm.getRecordedLogs().length, 0, "no NodeSlashed event");
    }

    function test_RevertWhen_SlashFractionAbove100Percent() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.SlashFractionInvalid.selector, 10_001));
        vm.prank(address(hub));
        nodes.slash(node1, 10_001);
    }

    function test_RevertWhen_SlashByNonHub() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.CallerNotHub.selector, outsider, address(hub)));
        vm.prank(outsider);
        nodes.slash(node1, 1_000);
    }

    function test_RevertWhen_SlashProceedsRejected() public {
        EtherRejecter rejecter = new EtherRejecter();
        INodeRegistry fresh = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        rejecter.point(address(fresh), address(models));
        vm.prank(owner);
        fresh.setHub(address(rejecter));
        vm.deal(node4, NODE_STAKE);
        vm.prank(node4);
        fresh.register{value: NODE_STAKE}(ENV_A, 0, _one(MODEL));

        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.TransferFailed.selector, address(rejecter), 1 ether));
        vm.prank(address(rejecter));
        fresh.slash(node4, 5_000);
        vm.assertEq(fresh.nodeInfo(node4).stake, NODE_STAKE, "stake kept");
    }

    function test_lockStake_countsOpenCommitments() public {
        vm.startPrank(address(hub));
        nodes.lockStake(node1);
        nodes.lockStake(node1);
        vm.assertEq(nodes.nodeInfo(node1).openCommitments, 2, "two open");
        nodes.unlockStake(node1);
        vm.stopPrank();
        vm.assertEq(nodes.nodeInfo(node1).openCommitments, 1, "one open");
    }

    function test_RevertWhen_LockStakeUnregistered() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NodeNotRegistered.selector, node4));
        vm.prank(address(hub));
        nodes.lockStake(node4);
    }

    function test_RevertWhen_LockStakeByNonHub() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.CallerNotHub.selector, node1, address(hub)));
        vm.prank(node1);
        nodes.lockStake(node1);
    }

    function test_RevertWhen_UnlockStakeWithoutCommitments() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.NoOpenCommitments.selector, node1));
        vm.prank(address(hub));
        nodes.unlockStake(node1);
    }

    function test_RevertWhen_UnlockStakeByNonHub() public {
        vm.prank(address(hub));
        nodes.lockStake(node1);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.CallerNotHub.selector, node1, address(hub)));
        vm.prank(node1);
        nodes.unlockStake(node1);
    }

    /*//////////////////////////////////////////////////////////////
                              ELIGIBILITY
    //////////////////////////////////////////////////////////////*/

    function test_eligibility_eligibleReturnsEnvironment() public view {
        (uint256 status, bytes32 env) = _status(node3, MODEL);
        vm.assertEq(status, uint256(Eligibility.ELIGIBLE), "eligible");
        vm.assertEq(env, ENV_B, "env");
    }

    function test_eligibility_notRegistered() public view {
        (uint256 status, bytes32 env) = _status(node4, MODEL);
        vm.assertEq(status, uint256(Eligibility.NOT_REGISTERED), "not registered");
        vm.assertEq(env, bytes32(0), "no env");
    }

    function test_eligibility_stakeBelowMinimum() public {
        vm.prank(address(hub));
        nodes.slash(node1, 6_000); // 2 ether -> 0.8 ether
        (uint256 status, bytes32 env) = _status(node1, MODEL);
        vm.assertEq(status, uint256(Eligibility.STAKE_BELOW_MINIMUM), "below minimum");
        vm.assertEq(env, bytes32(0), "no env");

        vm.prank(node1);
        nodes.addStake{value: 0.2 ether}();
        (status,) = _status(node1, MODEL);
        vm.assertEq(status, uint256(Eligibility.ELIGIBLE), "topped up");
    }

    function test_eligibility_unbonding() public {
        _unbond(node1);
        (uint256 status, bytes32 env) = _status(node1, MODEL);
        vm.assertEq(status, uint256(Eligibility.UNBONDING), "unbonding");
        vm.assertEq(env, bytes32(0), "no env");
    }

    function test_eligibility_modelNotServed() public view {
        (uint256 status, bytes32 env) = _status(node1, MODEL2);
        vm.assertEq(status, uint256(Eligibility.MODEL_NOT_SERVED), "not served");
        vm.assertEq(env, bytes32(0), "no env");
    }

    function test_isStaked_followsMinimum() public {
        vm.assertTrue(nodes.isStaked(node1), "2 ether >= 1 ether");
        vm.assertFalse(nodes.isStaked(node4), "unregistered");
        vm.prank(owner);
        nodes.setMinStake(3 ether);
        vm.assertFalse(nodes.isStaked(node1), "2 ether < 3 ether");
        (uint256 status,) = _status(node1, MODEL);
        vm.assertEq(status, uint256(Eligibility.STAKE_BELOW_MINIMUM), "raising the minimum stops work");
    }

    /// @dev isStaked ignores unbonding: an unbonding node is still paid for work it committed to earlier.
    function test_isStaked_trueWhileUnbonding() public {
        _unbond(node1);
        vm.assertTrue(nodes.isStaked(node1), "unbonding node still staked");
    }

    /*//////////////////////////////////////////////////////////////
                            OWNER FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    function test_setMinStake_updatesAndEmits() public {
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.MinStakeUpdated(MIN_STAKE, 5 ether);
        vm.prank(owner);
        nodes.setMinStake(5 ether);
        vm.assertEq(nodes.minStake(), 5 ether, "min stake");
    }

    function testFuzz_setMinStake_updatesAndEmits(uint256 value) public {
        uint96 v = uint96(bound(value, 0.001 ether, 1e6 ether));
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.MinStakeUpdated(MIN_STAKE, v);
        vm.prank(owner);
        nodes.setMinStake(v);
        vm.assertEq(nodes.minStake(), v, "min stake");
    }

    function test_RevertWhen_MinStakeBelowFloor() public {
        uint96 v = 0.001 ether - 1;
        vm.expectRevert(
            abi.encodeWithSelector(INodeRegistry.ParameterOutOfBounds.selector, "minStake", v, 0.001 ether, 1e6 ether)
        );
        vm.prank(owner);
        nodes.setMinStake(v);
    }

    function test_RevertWhen_MinStakeAboveCeiling() public {
        uint96 v = 1e6 ether + 1;
        vm.expectRevert(
            abi.encodeWithSelector(INodeRegistry.ParameterOutOfBounds.selector, "minStake", v, 0.001 ether, 1e6 ether)
        );
        vm.prank(owner);
        nodes.setMinStake(v);
    }

    function testFuzz_RevertWhen_MinStakeOutOfBounds(uint96 v) public {
        // Map v onto [0, floor) ∪ (ceiling, max].
        uint256 below = 0.001 ether;
        uint256 above = type(uint96).max - 1e6 ether;
        uint256 r = bound(v, 0, below + above - 1);
        uint96 value = uint96(r < below ? r : 1e6 ether + 1 + (r - below));
        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ParameterOutOfBounds.selector, "minStake", value, 0.001 ether, 1e6 ether
            )
        );
        vm.prank(owner);
        nodes.setMinStake(value);
    }

    function test_RevertWhen_SetMinStakeByNonOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        nodes.setMinStake(5 ether);
    }

    function test_setUnbondingDelay_updatesAndEmits() public {
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.UnbondingDelayUpdated(UNBONDING, 7 days);
        vm.prank(owner);
        nodes.setUnbondingDelay(7 days);
        vm.assertEq(nodes.unbondingDelay(), 7 days, "delay");
    }

    function test_setUnbondingDelay_appliesOnlyToNewUnbondings() public {
        uint64 endsAt = _unbond(node1);
        vm.prank(owner);
        nodes.setUnbondingDelay(30 days);
        vm.assertEq(nodes.nodeInfo(node1).unbondingEndsAt, endsAt, "started unbonding keeps its end");
        vm.prank(node2);
        nodes.beginUnbonding();
        vm.assertEq(nodes.nodeInfo(node2).unbondingEndsAt, block.timestamp + 30 days, "new delay for new ones");
    }

    function testFuzz_setUnbondingDelay_updatesAndEmits(uint256 value) public {
        uint64 d = uint64(bound(value, 1 minutes, 90 days));
        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.UnbondingDelayUpdated(UNBONDING, d);
        vm.prank(owner);
        nodes.setUnbondingDelay(d);
        vm.assertEq(nodes.unbondingDelay(), d, "delay");
    }

    function test_RevertWhen_UnbondingDelayBelowMinimum() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ParameterOutOfBounds.selector, "unbondingDelay", 59, 1 minutes, 90 days
            )
        );
        vm.prank(owner);
        nodes.setUnbondingDelay(59);
    }

    function test_RevertWhen_UnbondingDelayAboveMaximum() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ParameterOutOfBounds.selector, "unbondingDelay", 90 days + 1, 1 minutes, 90 days
            )
        );
        vm.prank(owner);
        nodes.setUnbondingDelay(90 days + 1);
    }

    function test_RevertWhen_SetUnbondingDelayByNonOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        nodes.setUnbondingDelay(7 days);
    }

    function test_RevertWhen_ConstructedWithMinStakeOutOfBounds() public {
        vm.expectRevert(
            abi.encodeWithSelector(INodeRegistry.ParameterOutOfBounds.selector, "minStake", 0, 0.001 ether, 1e6 ether)
        );
        deployNodeRegistry(owner, 0, UNBONDING);
    }

    function test_RevertWhen_ConstructedWithDelayOutOfBounds() public {
        vm.expectRevert(
            abi.encodeWithSelector(INodeRegistry.ParameterOutOfBounds.selector, "unbondingDelay", 0, 1 minutes, 90 days)
        );
        deployNodeRegistry(owner, MIN_STAKE, 0);
    }

    function test_setHub_wiresOnceAndEmits() public {
        INodeRegistry fresh = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        IInferenceHub freshHub = deployHub(owner, models, fresh, defaultParams());
        vm.expectEmit(true, true, true, true, address(fresh));
        emit INodeRegistry.HubSet(address(freshHub));
        vm.prank(owner);
        fresh.setHub(address(freshHub));
        vm.assertEq(fresh.hub(), address(freshHub), "wired");
    }

    function test_RevertWhen_NodeHubBelongsToAnotherRegistry() public {
        INodeRegistry fresh = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.HubInvalid.selector, address(hub)));
        vm.prank(owner);
        fresh.setHub(address(hub));
    }

    function test_RevertWhen_WithdrawStakeToZero() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.RecipientZero.selector));
        vm.prank(node1);
        nodes.withdrawStake(payable(address(0)));
    }

    function test_RevertWhen_NodeHubAlreadySet() public {
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.HubAlreadySet.selector, address(hub)));
        vm.prank(owner);
        nodes.setHub(address(consumer));
    }

    function test_RevertWhen_NodeHubNotContract() public {
        INodeRegistry fresh = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.HubInvalid.selector, outsider));
        vm.prank(owner);
        fresh.setHub(outsider);
    }

    function test_RevertWhen_SetNodeHubByNonOwner() public {
        INodeRegistry fresh = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        fresh.setHub(address(hub));
    }

    /*//////////////////////////////////////////////////////////////
                               OWNERSHIP
    //////////////////////////////////////////////////////////////*/

    function test_transferOwnership_twoSteps() public {
        vm.expectEmit(true, true, true, true, address(nodes));
        emit IOwned2Step.OwnershipTransferStarted(owner, alice);
        vm.prank(owner);
        IOwned2Step(address(nodes)).transferOwnership(alice);
        vm.assertEq(IOwned2Step(address(nodes)).owner(), owner, "owner unchanged until accepted");
        vm.assertEq(IOwned2Step(address(nodes)).pendingOwner(), alice, "pending");

        vm.expectEmit(true, true, true, true, address(nodes));
        emit IOwned2Step.OwnershipTransferred(owner, alice);
        vm.prank(alice);
        IOwned2Step(address(nodes)).acceptOwnership();
        vm.assertEq(IOwned2Step(address(nodes)).owner(), alice, "new owner");
        vm.assertEq(IOwned2Step(address(nodes)).pendingOwner(), address(0), "pending cleared");

        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, owner, alice));
        vm.prank(owner);
        nodes.setMinStake(5 ether);
        vm.prank(alice);
        nodes.setMinStake(5 ether);
        vm.assertEq(nodes.minStake(), 5 ether, "new owner in control");
    }

    function test_transferOwnership_laterProposalReplacesEarlier() public {
        vm.startPrank(owner);
        IOwned2Step(address(nodes)).transferOwnership(alice);
        IOwned2Step(address(nodes)).transferOwnership(outsider);
        vm.stopPrank();
        vm.assertEq(IOwned2Step(address(nodes)).pendingOwner(), outsider, "replaced");
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotPendingOwner.selector, alice, outsider));
        vm.prank(alice);
        IOwned2Step(address(nodes)).acceptOwnership();
    }

    function test_RevertWhen_TransferOwnershipByNonOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        IOwned2Step(address(nodes)).transferOwnership(alice);
    }

    function test_RevertWhen_TransferOwnershipToZero() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.OwnerZero.selector));
        vm.prank(owner);
        IOwned2Step(address(nodes)).transferOwnership(address(0));
    }

    function test_RevertWhen_AcceptOwnershipNotPending() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotPendingOwner.selector, alice, address(0)));
        vm.prank(alice);
        IOwned2Step(address(nodes)).acceptOwnership();
    }

    function test_RevertWhen_ConstructedWithOwnerZero() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.OwnerZero.selector));
        deployNodeRegistry(address(0), MIN_STAKE, UNBONDING);
    }

    /*//////////////////////////////////////////////////////////////
                          ARITHMETIC CLASSES
    //////////////////////////////////////////////////////////////*/

    bytes32 internal constant NATIVE_ONLY = keccak256("a softmax model whose float results differ under WASM");
    uint8 internal constant NATIVE_FMA = 1; // verinfer.types.ARITHMETIC_CLASSES
    uint8 internal constant WASM = 4;

    function _registerNativeOnly() internal {
        ModelSpec memory s = spec(Mode.SINGLE, Mode.CONSENSUS);
        s.arithmeticClasses = uint32(1) << NATIVE_FMA;
        registerModel(NATIVE_ONLY, s);
    }

    /// @dev Honest nodes of two arithmetic classes give different float results for the same model (native Gemm
    ///      fuses multiply-adds, WASM does not). A model that names its class is served only in that class, so a
    ///      WASM node never sits on its rounds or committees, where its honest minority output would be slashed.
    function test_arithmeticClass_onlyAcceptedClassesServe() public {
        _registerNativeOnly();
        vm.deal(node4, 2 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ArithmeticClassNotAccepted.selector, NATIVE_ONLY, WASM, uint32(1) << NATIVE_FMA
            )
        );
        vm.prank(node4);
        nodes.register{value: 2 ether}(ENV_A, WASM, _one(NATIVE_ONLY));

        vm.expectEmit(true, true, true, true, address(nodes));
        emit INodeRegistry.ArithmeticClassSet(node4, NATIVE_FMA);
        vm.prank(node4);
        nodes.register{value: 2 ether}(ENV_A, NATIVE_FMA, _one(NATIVE_ONLY));
        vm.assertEq(nodes.arithmeticClassOf(node4), NATIVE_FMA, "class stated");
        (uint256 status,) = _status(node4, NATIVE_ONLY);
        vm.assertEq(status, uint256(Eligibility.ELIGIBLE), "a native node serves it");
        // The unrestricted model accepts any class, the unstated one (0) included.
        vm.prank(node4);
        nodes.setModels(_one(MODEL), true);

        // Moving to WASM while serving it is refused, naming the model; moving within the class is not.
        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ArithmeticClassNotAccepted.selector, NATIVE_ONLY, WASM, uint32(1) << NATIVE_FMA
            )
        );
        vm.prank(node4);
        nodes.updateEnvironment(ENV_B, WASM);
        vm.prank(node4);
        nodes.updateEnvironment(ENV_B, NATIVE_FMA);
        vm.assertEq(nodes.environmentOf(node4), ENV_B, "env updated");
    }

    /// @dev Declared models are kept through a withdrawal and counted again on registering: a new class must suit
    ///      them too, or a node could come back as WASM into a native-only model.
    function test_arithmeticClass_reRegisteringChecksTheKeptModels() public {
        _registerNativeOnly();
        vm.deal(node4, 2 ether);
        vm.prank(node4);
        nodes.register{value: 2 ether}(ENV_A, NATIVE_FMA, _one(NATIVE_ONLY));
        _unbond(node4);
        vm.warp(block.timestamp + UNBONDING + 1);
        vm.prank(node4);
        nodes.withdrawStake(payable(node4));
        vm.assertEq(nodes.arithmeticClassOf(node4), 0, "forgotten with the registration");

        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ArithmeticClassNotAccepted.selector, NATIVE_ONLY, WASM, uint32(1) << NATIVE_FMA
            )
        );
        vm.prank(node4);
        nodes.register{value: 2 ether}(ENV_A, WASM, new bytes32[](0));
    }

    function test_RevertWhen_ArithmeticClassAbove31() public {
        vm.deal(node4, 2 ether);
        vm.expectRevert(abi.encodeWithSelector(INodeRegistry.ArithmeticClassInvalid.selector, 32));
        vm.prank(node4);
        nodes.register{value: 2 ether}(ENV_A, 32, _one(MODEL));
    }
}

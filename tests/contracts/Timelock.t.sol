// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {HubParams} from "../../contracts/interfaces/IInferenceHub.sol";
import {IModelRegistry} from "../../contracts/interfaces/IModelRegistry.sol";
import {INodeRegistry} from "../../contracts/interfaces/INodeRegistry.sol";
import {IOwned2Step} from "../../contracts/interfaces/IOwned2Step.sol";
import {ITimelock} from "../../contracts/interfaces/ITimelock.sol";

/// @notice Calls the timelock back when called, to try re-entering `execute`.
contract ReenteringTarget {
    ITimelock internal immutable timelock;
    bytes public lastError;

    constructor(ITimelock timelock_) {
        timelock = timelock_;
    }

    function poke(bytes32 salt) external {
        try timelock.execute(address(this), abi.encodeCall(this.poke, (salt)), salt) {}
        catch (bytes memory reason) {
            lastError = reason;
        }
    }
}

/// @notice The timelock owning the real hub and registries: schedule, delay, execute, cancel, replay, roles, bounds.
contract TimelockTest is BaseTest {
    uint256 internal constant DELAY = 2 days;
    uint256 internal constant GRACE = 14 days;
    uint256 internal constant MAX_DELAY = 30 days;

    ITimelock internal timelock;

    function setUp() public override {
        super.setUp();
        timelock = _deployTimelock(owner, DELAY);
        // What the deployer does: hand the three contracts to the timelock (two-step), the proposer accepting.
        address[3] memory owned = [address(hub), address(models), address(nodes)];
        for (uint256 i; i < owned.length; ++i) {
            vm.prank(owner);
            IOwned2Step(owned[i]).transferOwnership(address(timelock));
            vm.prank(owner);
            timelock.acceptOwnership(owned[i]);
        }
    }

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    function _deployTimelock(address proposer, uint256 delay) internal returns (ITimelock) {
        return ITimelock(vm.deployCode("Timelock.sol:Timelock", abi.encode(proposer, delay)));
    }

    /// @dev Deploys the timelock with raw CREATE; returns its address (zero on failure) and the revert data.
    function _tryDeploy(address proposer, uint256 delay) internal returns (address deployed, bytes memory reason) {
        bytes memory code = abi.encodePacked(vm.getCode("Timelock.sol:Timelock"), abi.encode(proposer, delay));
        assembly ("memory-safe") {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        if (deployed == address(0)) {
            assembly ("memory-safe") {
                reason := mload(0x40)
                mstore(reason, returndatasize())
                returndatacopy(add(reason, 0x20), 0, returndatasize())
                mstore(0x40, add(add(reason, 0x20), returndatasize()))
            }
        }
    }

    function _minStakeCall(uint96 value) internal pure returns (bytes memory) {
        return abi.encodeCall(INodeRegistry.setMinStake, (value));
    }

    function _schedule(address target, bytes memory data, bytes32 salt) internal returns (bytes32 id) {
        vm.prank(owner);
        id = timelock.schedule(target, data, salt);
    }

    function _execute(address target, bytes memory data, bytes32 salt) internal {
        vm.prank(owner);
        timelock.execute(target, data, salt);
    }

    /*//////////////////////////////////////////////////////////////
                                HANDOVER
    //////////////////////////////////////////////////////////////*/

    function test_handover_timelockOwnsEverything() public view {
        vm.assertEq(IOwned2Step(address(hub)).owner(), address(timelock), "hub");
        vm.assertEq(IOwned2Step(address(models)).owner(), address(timelock), "model registry");
        vm.assertEq(IOwned2Step(address(nodes)).owner(), address(timelock), "node registry");
        vm.assertEq(timelock.proposer(), owner, "the deployer proposes");
        vm.assertEq(timelock.delay(), DELAY, "delay");
    }

    function test_RevertWhen_FormerOwnerChangesParamsDirectly() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, owner, address(timelock)));
        vm.prank(owner);
        nodes.setMinStake(2 ether);
        HubParams memory p = defaultParams();
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, owner, address(timelock)));
        vm.prank(owner);
        hub.setParams(p);
        // The former owner is no mirror admin either: only the timelock (the owner now) and the model's publisher are.
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelRegistry.NotMirrorAdmin.selector, MODEL, owner, address(this), address(timelock)
            )
        );
        vm.prank(owner);
        models.addMirror(MODEL, "https://mirror.example/test.onnx");
    }

    /*//////////////////////////////////////////////////////////////
                           SCHEDULE, EXECUTE
    //////////////////////////////////////////////////////////////*/

    function test_schedule_recordsEtaAndEmits() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = timelock.callId(address(nodes), data, bytes32(0));
        vm.assertEq(id, keccak256(abi.encode(address(nodes), data, bytes32(0))), "documented id");
        vm.expectEmit(true, true, true, true, address(timelock));
        emit ITimelock.CallScheduled(id, address(nodes), data, bytes32(0), block.timestamp + DELAY);
        vm.assertEq(_schedule(address(nodes), data, bytes32(0)), id, "returned id");
        vm.assertEq(timelock.etaOf(id), block.timestamp + DELAY, "eta");
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.WAITING), "waiting");
        vm.assertEq(nodes.minStake(), MIN_STAKE, "nothing changed yet");
    }

    function test_execute_afterDelayChangesMinStake() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.READY), "ready at eta");
        vm.expectEmit(true, true, true, true, address(timelock));
        emit ITimelock.CallExecuted(id, address(nodes), data);
        _execute(address(nodes), data, bytes32(0));
        vm.assertEq(nodes.minStake(), 2 ether, "changed");
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.DONE), "done");
    }

    function test_execute_hubParamsThroughTheTimelock() public {
        HubParams memory p = defaultParams();
        p.slashBps = 2_000;
        bytes memory data = abi.encodeCall(hub.setParams, (p));
        _schedule(address(hub), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        _execute(address(hub), data, bytes32(0));
        vm.assertEq(hub.params().slashBps, 2_000, "slash fraction changed after the delay");
    }

    function test_execute_mirrorThroughTheTimelock() public {
        bytes memory data = abi.encodeCall(IModelRegistry.addMirror, (MODEL, "https://mirror.example/test.onnx"));
        _schedule(address(models), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        _execute(address(models), data, bytes32(0));
        vm.assertEq(models.mirrorsOf(MODEL).length, 1, "mirror added");
    }

    function test_RevertWhen_ExecuteTooEarly() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        uint256 eta = block.timestamp + DELAY;
        vm.warp(eta - 1);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.TooEarly.selector, id, eta, eta - 1));
        _execute(address(nodes), data, bytes32(0));
        vm.warp(eta);
        _execute(address(nodes), data, bytes32(0)); // exactly at eta it runs
        vm.assertEq(nodes.minStake(), 2 ether, "ran at eta");
    }

    function testFuzz_RevertWhen_ExecuteTooEarly(uint256 wait) public {
        wait = bound(wait, 0, DELAY - 1);
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        uint256 eta = block.timestamp + DELAY;
        vm.warp(block.timestamp + wait);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.TooEarly.selector, id, eta, block.timestamp));
        _execute(address(nodes), data, bytes32(0));
    }

    function test_RevertWhen_ExecuteReplayed() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        _execute(address(nodes), data, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ITimelock.AlreadyExecuted.selector, id));
        _execute(address(nodes), data, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ITimelock.AlreadyExecuted.selector, id));
        _schedule(address(nodes), data, bytes32(0));
        // The same change again needs a new salt, and so a new delay.
        bytes32 again = _schedule(address(nodes), data, bytes32(uint256(1)));
        vm.assertTrue(again != id, "new id");
        vm.assertEq(timelock.etaOf(again), block.timestamp + DELAY, "a full delay again");
    }

    function test_RevertWhen_ExecuteUnscheduled() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = timelock.callId(address(nodes), data, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ITimelock.NotScheduled.selector, id));
        _execute(address(nodes), data, bytes32(0));
    }

    function test_RevertWhen_ScheduledTwice() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        uint256 eta = block.timestamp + DELAY;
        vm.warp(block.timestamp + 1 hours);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.AlreadyScheduled.selector, id, eta));
        _schedule(address(nodes), data, bytes32(0)); // cannot be pushed back (or forward) by re-scheduling
    }

    function test_RevertWhen_ExecuteExpired() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        uint256 eta = block.timestamp + DELAY;
        vm.warp(eta + GRACE);
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.READY), "last moment of grace");
        vm.warp(eta + GRACE + 1);
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.EXPIRED), "expired");
        vm.expectRevert(abi.encodeWithSelector(ITimelock.Expired.selector, id, eta + GRACE, eta + GRACE + 1));
        _execute(address(nodes), data, bytes32(0));
        vm.prank(owner);
        timelock.cancel(id); // an expired call can still be cleared
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.UNSET), "cleared");
    }

    /// @dev The target's own error reaches the caller, and the call stays scheduled (its revert undid the mark).
    function test_execute_passesOnTargetRevert() public {
        bytes memory data = _minStakeCall(0);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(
            abi.encodeWithSelector(
                INodeRegistry.ParameterOutOfBounds.selector, "minStake", 0, 0.001 ether, 1_000_000 ether
            )
        );
        _execute(address(nodes), data, bytes32(0));
        vm.assertEq(uint256(timelock.stateOf(id)), uint256(ITimelock.CallState.READY), "still scheduled");
    }

    function test_RevertWhen_TargetRevertsWithoutReason() public {
        bytes memory data = hex"deadbeef"; // no such function, no fallback: a revert without data
        bytes32 id = _schedule(address(consumer), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallReverted.selector, id, address(consumer)));
        _execute(address(consumer), data, bytes32(0));
    }

    function test_RevertWhen_ScheduleTargetNotContract() public {
        vm.expectRevert(abi.encodeWithSelector(ITimelock.TargetNotContract.selector, outsider));
        _schedule(outsider, "", bytes32(0));
    }

    function test_execute_reentryByTargetIsRefused() public {
        ReenteringTarget target = new ReenteringTarget(timelock);
        // The target re-enters as itself, not as the proposer, so even a call it chose is refused.
        bytes memory data = abi.encodeCall(ReenteringTarget.poke, (bytes32(0)));
        _schedule(address(target), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        _execute(address(target), data, bytes32(0));
        vm.assertEq(
            target.lastError(),
            abi.encodeWithSelector(ITimelock.CallerNotProposer.selector, address(target), owner),
            "re-entry refused"
        );
    }

    /*//////////////////////////////////////////////////////////////
                                 CANCEL
    //////////////////////////////////////////////////////////////*/

    function test_cancel_preventsExecution() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        vm.expectEmit(true, true, true, true, address(timelock));
        emit ITimelock.CallCancelled(id);
        vm.prank(owner);
        timelock.cancel(id);
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.NotScheduled.selector, id));
        _execute(address(nodes), data, bytes32(0));
        vm.assertEq(nodes.minStake(), MIN_STAKE, "unchanged");
    }

    function test_RevertWhen_CancelUnknown() public {
        bytes32 id = keccak256("nothing");
        vm.expectRevert(abi.encodeWithSelector(ITimelock.NotScheduled.selector, id));
        vm.prank(owner);
        timelock.cancel(id);
    }

    function test_RevertWhen_CancelExecuted() public {
        bytes memory data = _minStakeCall(2 ether);
        bytes32 id = _schedule(address(nodes), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        _execute(address(nodes), data, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ITimelock.AlreadyExecuted.selector, id));
        vm.prank(owner);
        timelock.cancel(id);
    }

    /*//////////////////////////////////////////////////////////////
                                 ROLES
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_NonProposerSchedules() public {
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallerNotProposer.selector, alice, owner));
        vm.prank(alice);
        timelock.schedule(address(nodes), _minStakeCall(2 ether), bytes32(0));
    }

    function test_RevertWhen_NonProposerExecutes() public {
        bytes memory data = _minStakeCall(2 ether);
        _schedule(address(nodes), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallerNotProposer.selector, alice, owner));
        vm.prank(alice);
        timelock.execute(address(nodes), data, bytes32(0));
    }

    function test_RevertWhen_NonProposerCancels() public {
        bytes32 id = _schedule(address(nodes), _minStakeCall(2 ether), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallerNotProposer.selector, alice, owner));
        vm.prank(alice);
        timelock.cancel(id);
    }

    function test_RevertWhen_NonProposerAcceptsOwnership() public {
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallerNotProposer.selector, alice, owner));
        vm.prank(alice);
        timelock.acceptOwnership(address(hub));
    }

    function test_acceptOwnership_emits() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.prank(owner);
        IOwned2Step(address(fresh)).transferOwnership(address(timelock));
        vm.expectEmit(true, true, true, true, address(timelock));
        emit ITimelock.OwnershipAccepted(address(fresh));
        vm.prank(owner);
        timelock.acceptOwnership(address(fresh));
        vm.assertEq(IOwned2Step(address(fresh)).owner(), address(timelock), "owned");
    }

    function test_RevertWhen_AcceptingOwnershipNotOffered() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.expectRevert(
            abi.encodeWithSelector(IOwned2Step.CallerNotPendingOwner.selector, address(timelock), address(0))
        );
        vm.prank(owner);
        timelock.acceptOwnership(address(fresh));
    }

    function test_setProposer_onlyThroughTheTimelock() public {
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallerNotTimelock.selector, owner));
        vm.prank(owner);
        timelock.setProposer(alice);

        bytes memory data = abi.encodeCall(ITimelock.setProposer, (alice));
        _schedule(address(timelock), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.expectEmit(true, true, true, true, address(timelock));
        emit ITimelock.ProposerChanged(owner, alice);
        _execute(address(timelock), data, bytes32(0));
        vm.assertEq(timelock.proposer(), alice, "handed on");
    }

    function test_RevertWhen_ProposerZero() public {
        (address deployed, bytes memory reason) = _tryDeploy(address(0), DELAY);
        vm.assertEq(deployed, address(0), "not deployed");
        vm.assertEq(reason, abi.encodeWithSelector(ITimelock.ProposerZero.selector), "reason");
    }

    /*//////////////////////////////////////////////////////////////
                              DELAY BOUNDS
    //////////////////////////////////////////////////////////////*/

    function test_constructor_productionChainNeedsTwoDays() public {
        vm.chainId(1);
        vm.assertEq(timelock.minDelay(), DELAY, "2 days on mainnet");
        (address deployed, bytes memory reason) = _tryDeploy(owner, DELAY - 1);
        vm.assertEq(deployed, address(0), "refused");
        vm.assertEq(
            reason, abi.encodeWithSelector(ITimelock.DelayOutOfBounds.selector, DELAY - 1, DELAY, MAX_DELAY), "reason"
        );
        (deployed,) = _tryDeploy(owner, DELAY);
        vm.assertTrue(deployed != address(0), "2 days is enough");
    }

    function testFuzz_constructor_productionDelayBounds(uint256 chainId, uint256 delay) public {
        chainId = bound(chainId, 1, type(uint64).max);
        if (chainId == 31337 || chainId == 1337) ++chainId; // their neighbours are production ids
        delay = bound(delay, 0, 2 * MAX_DELAY);
        vm.chainId(chainId);
        (address deployed, bytes memory reason) = _tryDeploy(owner, delay);
        if (delay >= DELAY && delay <= MAX_DELAY) {
            vm.assertTrue(deployed != address(0), "in bounds");
            vm.assertEq(ITimelock(deployed).delay(), delay, "stored");
        } else {
            vm.assertEq(
                reason, abi.encodeWithSelector(ITimelock.DelayOutOfBounds.selector, delay, DELAY, MAX_DELAY), "out"
            );
        }
    }

    function test_constructor_devnetsAllowShortDelays() public {
        ITimelock instant = _deployTimelock(owner, 0);
        vm.assertEq(instant.delay(), 0, "anvil: no delay");
        vm.chainId(1337);
        vm.assertEq(_deployTimelock(owner, 30).delay(), 30, "geth --dev: 30 s");
    }

    function test_RevertWhen_DelayAboveMaximum() public {
        (address deployed, bytes memory reason) = _tryDeploy(owner, MAX_DELAY + 1);
        vm.assertEq(deployed, address(0), "refused");
        vm.assertEq(
            reason, abi.encodeWithSelector(ITimelock.DelayOutOfBounds.selector, MAX_DELAY + 1, 0, MAX_DELAY), "reason"
        );
    }

    function test_setDelay_onlyThroughTheTimelockAndWithinBounds() public {
        vm.expectRevert(abi.encodeWithSelector(ITimelock.CallerNotTimelock.selector, owner));
        vm.prank(owner);
        timelock.setDelay(3 days);

        bytes memory data = abi.encodeCall(ITimelock.setDelay, (3 days));
        _schedule(address(timelock), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.expectEmit(true, true, true, true, address(timelock));
        emit ITimelock.DelayChanged(DELAY, 3 days);
        _execute(address(timelock), data, bytes32(0));
        vm.assertEq(timelock.delay(), 3 days, "longer delay");
    }

    /// @dev On a production chain even the timelock itself cannot go below 2 days.
    function test_RevertWhen_SetDelayBelowTwoDaysOnProductionChain() public {
        vm.chainId(10);
        bytes memory data = abi.encodeCall(ITimelock.setDelay, (1 hours));
        _schedule(address(timelock), data, bytes32(0));
        vm.warp(block.timestamp + DELAY);
        vm.expectRevert(abi.encodeWithSelector(ITimelock.DelayOutOfBounds.selector, 1 hours, DELAY, MAX_DELAY));
        _execute(address(timelock), data, bytes32(0));
    }

    /// @dev A devnet timelock with no delay still takes two transactions: schedule, then execute.
    function test_devnetZeroDelayStillSchedules() public {
        ITimelock instant = _deployTimelock(owner, 0);
        INodeRegistry fresh = deployNodeRegistry(owner, MIN_STAKE, UNBONDING);
        vm.prank(owner);
        IOwned2Step(address(fresh)).transferOwnership(address(instant));
        vm.prank(owner);
        instant.acceptOwnership(address(fresh));
        bytes memory data = _minStakeCall(3 ether);
        vm.prank(owner);
        instant.schedule(address(fresh), data, bytes32(0));
        vm.prank(owner);
        instant.execute(address(fresh), data, bytes32(0));
        vm.assertEq(fresh.minStake(), 3 ether, "changed in the same second");
    }
}

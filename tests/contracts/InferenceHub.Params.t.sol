// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, HubParams} from "../../contracts/interfaces/IInferenceHub.sol";
import {IOwned2Step} from "../../contracts/interfaces/IOwned2Step.sol";
import {IModelRegistry, ModelTerms} from "../../contracts/interfaces/IModelRegistry.sol";
import {INodeRegistry} from "../../contracts/interfaces/INodeRegistry.sol";

/// @notice Hub parameters within bounds, two-step ownership, constructor checks, the model-terms push guard.
contract InferenceHubParamsTest is BaseTest {
    function _eqParams(HubParams memory a, HubParams memory b) internal pure {
        vm.assertEq(a.maxCallbackGas, b.maxCallbackGas, "maxCallbackGas");
        vm.assertEq(a.maxInputBytes, b.maxInputBytes, "maxInputBytes");
        vm.assertEq(a.revealWindow, b.revealWindow, "revealWindow");
        vm.assertEq(a.maxDeadlineHorizon, b.maxDeadlineHorizon, "maxDeadlineHorizon");
        vm.assertEq(a.slashBps, b.slashBps, "slashBps");
        vm.assertEq(a.maxRedundancy, b.maxRedundancy, "maxRedundancy");
        vm.assertEq(a.ticketDelay, b.ticketDelay, "ticketDelay");
    }

    function test_constructor_setsParamsAndRegistries() public view {
        _eqParams(hub.params(), defaultParams());
        vm.assertEq(hub.modelRegistry(), address(models), "models");
        vm.assertEq(hub.nodeRegistry(), address(nodes), "nodes");
        vm.assertEq(IOwned2Step(address(hub)).owner(), owner, "owner");
        vm.assertEq(hub.nextRequestId(), 1, "ids start at 1");
    }

    function test_RevertWhen_ConstructorRegistryNotContract() public {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RegistryInvalid.selector, alice));
        deployHub(owner, IModelRegistry(alice), nodes, defaultParams());
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.RegistryInvalid.selector, alice));
        deployHub(owner, models, INodeRegistry(alice), defaultParams());
    }

    function test_RevertWhen_ConstructorOwnerZero() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.OwnerZero.selector));
        deployHub(address(0), models, nodes, defaultParams());
    }

    function test_setParams_updatesAndEmits() public {
        HubParams memory hp = HubParams({
            maxCallbackGas: 5_000_000,
            maxInputBytes: 8,
            revealWindow: 10,
            maxDeadlineHorizon: 60,
            slashBps: 10_000,
            maxRedundancy: 16,
            ticketDelay: 1 hours
        });
        vm.expectEmit(true, true, true, true, address(hub));
        emit IInferenceHub.ParamsUpdated(hp);
        vm.prank(owner);
        hub.setParams(hp);
        _eqParams(hub.params(), hp);
        vm.assertEq(hub.nextRequestId(), 1, "counter untouched by parameter writes");
    }

    function test_RevertWhen_SetParamsNotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        hub.setParams(defaultParams());
    }

    function _expectBound(HubParams memory hp, string memory name, uint256 value, uint256 min, uint256 max) internal {
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ParameterOutOfBounds.selector, name, value, min, max));
        vm.prank(owner);
        hub.setParams(hp);
    }

    function test_RevertWhen_ParamsOutOfBounds() public {
        HubParams memory hp = defaultParams();
        hp.maxCallbackGas = 5_000_001;
        _expectBound(hp, "maxCallbackGas", 5_000_001, 0, 5_000_000);

        hp = defaultParams();
        hp.maxInputBytes = 7;
        _expectBound(hp, "maxInputBytes", 7, 8, 65_536);
        hp.maxInputBytes = 65_537;
        _expectBound(hp, "maxInputBytes", 65_537, 8, 65_536);

        hp = defaultParams();
        hp.revealWindow = 9;
        _expectBound(hp, "revealWindow", 9, 10, 7 days);
        hp.revealWindow = 7 days + 1;
        _expectBound(hp, "revealWindow", 7 days + 1, 10, 7 days);

        hp = defaultParams();
        hp.maxDeadlineHorizon = REVEAL_WINDOW; // must leave room for a reveal window
        _expectBound(hp, "maxDeadlineHorizon", REVEAL_WINDOW, uint256(REVEAL_WINDOW) + 1, 30 days);
        hp.revealWindow = 10;
        hp.maxDeadlineHorizon = 59;
        _expectBound(hp, "maxDeadlineHorizon", 59, 60, 30 days);
        hp.maxDeadlineHorizon = 30 days + 1;
        _expectBound(hp, "maxDeadlineHorizon", 30 days + 1, 11, 30 days);

        hp = defaultParams();
        hp.slashBps = 0;
        _expectBound(hp, "slashBps", 0, 1, 10_000);
        hp.slashBps = 10_001;
        _expectBound(hp, "slashBps", 10_001, 1, 10_000);

        hp = defaultParams();
        hp.maxRedundancy = 2;
        _expectBound(hp, "maxRedundancy", 2, 3, 16);
        hp.maxRedundancy = 17;
        _expectBound(hp, "maxRedundancy", 17, 3, 16);

        hp = defaultParams();
        hp.ticketDelay = 0;
        _expectBound(hp, "ticketDelay", 0, 1, 1 hours);
        hp.ticketDelay = 1 hours + 1;
        _expectBound(hp, "ticketDelay", 1 hours + 1, 1, 1 hours);
    }

    function testFuzz_setParams_acceptsEveryInBoundValue(
        uint32 cb,
        uint32 input,
        uint32 window,
        uint32 horizon,
        uint16 bps,
        uint8 k
    ) public {
        HubParams memory hp = HubParams({
            maxCallbackGas: uint32(bound(cb, 0, 5_000_000)),
            maxInputBytes: uint32(bound(input, 8, 65_536)),
            revealWindow: uint32(bound(window, 10, 7 days)),
            maxDeadlineHorizon: 0,
            slashBps: uint16(bound(bps, 1, 10_000)),
            maxRedundancy: uint8(bound(k, 3, 16)),
            ticketDelay: uint32(bound(k, 1, 1 hours))
        });
        hp.maxDeadlineHorizon =
            uint32(bound(horizon, hp.revealWindow < 60 ? 60 : uint256(hp.revealWindow) + 1, 30 days));
        vm.prank(owner);
        hub.setParams(hp);
        _eqParams(hub.params(), hp);
    }

    function test_setParams_acceptsEveryInBoundValue_concrete() public {
        testFuzz_setParams_acceptsEveryInBoundValue(100_000, 64, 30, 3600, 500, 5);
    }

    function test_ownership_twoStepTransfer() public {
        vm.expectEmit(true, true, true, true, address(hub));
        emit IOwned2Step.OwnershipTransferStarted(owner, alice);
        vm.prank(owner);
        IOwned2Step(address(hub)).transferOwnership(alice);
        vm.assertEq(IOwned2Step(address(hub)).owner(), owner, "not yet");
        vm.assertEq(IOwned2Step(address(hub)).pendingOwner(), alice, "pending");

        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotPendingOwner.selector, outsider, alice));
        vm.prank(outsider);
        IOwned2Step(address(hub)).acceptOwnership();

        vm.expectEmit(true, true, true, true, address(hub));
        emit IOwned2Step.OwnershipTransferred(owner, alice);
        vm.prank(alice);
        IOwned2Step(address(hub)).acceptOwnership();
        vm.assertEq(IOwned2Step(address(hub)).owner(), alice, "transferred");
        vm.assertEq(IOwned2Step(address(hub)).pendingOwner(), address(0), "cleared");

        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, owner, alice));
        vm.prank(owner);
        hub.setParams(defaultParams());
    }

    function test_RevertWhen_TransferOwnershipToZero() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.OwnerZero.selector));
        vm.prank(owner);
        IOwned2Step(address(hub)).transferOwnership(address(0));
    }

    function test_RevertWhen_TransferOwnershipNotOwner() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        IOwned2Step(address(hub)).transferOwnership(alice);
    }

    function test_RevertWhen_SyncModelTermsNotRegistry() public {
        ModelTerms memory terms = hub.modelTermsOf(MODEL);
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.CallerNotModelRegistry.selector, alice, address(models)));
        vm.prank(alice);
        hub.syncModelTerms(MODEL, terms, 0);
    }

    function test_modelTermsOf_matchesRegistry() public view {
        vm.assertEq(
            keccak256(abi.encode(hub.modelTermsOf(MODEL))), keccak256(abi.encode(models.termsOf(MODEL))), "copy"
        );
    }
}

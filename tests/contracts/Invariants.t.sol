// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {HubHandler} from "./handlers/HubHandler.sol";
import {RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";

/// @notice Invariants over random sequences driven by {HubHandler}.
/// @dev One campaign checks every property after every call. forge 1.7 runs each `invariant_*` function as a campaign
///      of its own, so eight functions replayed eight campaigns of the same handler (229 CPU-seconds) to check one
///      property each. Here each property is checked on 128 x 800 states, twice the 64 x 800 it had alone, at a
///      quarter of the CPU; a failure names its property in the assertion message.
/// forge-config: default.invariant.runs = 128
contract InvariantsTest is BaseTest {
    HubHandler internal handler;
    address[] internal actors;
    address[] internal payers;

    function setUp() public override {
        super.setUp();
        actors.push(node1);
        actors.push(node2);
        actors.push(node3);
        payers.push(alice);
        payers.push(makeAddr("bob"));
        // The nodes of BaseTest staked 2 ether each.
        handler = new HubHandler(hub, nodes, MODEL, PRICE, owner, actors, payers, 6 ether);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev Every property below, after every call of the sequence.
    function invariant_hubProperties() public view {
        _hubBalanceIsEscrowPlusBalances();
        _stakesAndValueConserved();
        _finalizedAtMostOnce();
        _nothingAcceptedAfterDeadline();
        _slashedStakeConserved();
        _nothingPaysAnUnassignedNode();
        _agreeingVoteNeverSlashed();
        _noPaymentBelowMinimumStake();
    }

    /// @dev ETH held by the hub = fees escrowed in open requests + withdrawable balances + burned slashes.
    function _hubBalanceIsEscrowPlusBalances() internal view {
        uint256 escrow;
        uint256 n = handler.idCount();
        for (uint256 i; i < n; ++i) {
            uint256 id = handler.ids(i);
            if (hub.statusOf(id) == Status.PENDING) escrow += handler.paramsOf(id).fee;
        }
        uint256 balances = hub.balanceOf(alice) + hub.balanceOf(payers[1]);
        for (uint256 i; i < actors.length; ++i) {
            balances += hub.balanceOf(actors[i]);
        }
        vm.assertEq(address(hub).balance, escrow + balances + hub.burned(), "hub ETH == escrow + balances + burned");
        vm.assertEq(hub.burned(), handler.ghostBurned(), "burned == slashed in finalizations");
    }

    /// @dev ETH held by the registry = the sum of stakes; and all ETH in = ETH held + ETH out.
    function _stakesAndValueConserved() internal view {
        uint256 stakes;
        for (uint256 i; i < actors.length; ++i) {
            stakes += nodes.nodeInfo(actors[i]).stake;
        }
        vm.assertEq(address(nodes).balance, stakes, "registry ETH == stakes");
        vm.assertEq(nodes.totalStake(), stakes, "totalStake tracks stakes");
        vm.assertEq(
            address(hub).balance + address(nodes).balance,
            handler.ghostIn() - handler.ghostOut(),
            "nothing created or lost"
        );
    }

    /// @dev A request reaches a final state at most once.
    function _finalizedAtMostOnce() internal view {
        uint256 n = handler.idCount();
        for (uint256 i; i < n; ++i) {
            uint256 id = handler.ids(i);
            uint256 s = handler.settlements(id);
            vm.assertLe(s, 1, "settled at most once");
            vm.assertEq(s == 1, hub.statusOf(id) != Status.PENDING, "settled iff not pending");
        }
    }

    /// @dev No submission, commit or reveal ever succeeded after its request's deadline.
    function _nothingAcceptedAfterDeadline() internal view {
        vm.assertFalse(handler.acceptedAfterDeadline(), "accepted after deadline");
    }

    /// @dev The fee went to balances and every wei slashed was burned.
    function _slashedStakeConserved() internal view {
        vm.assertFalse(handler.slashMismatch(), "slash proceeds + fee credited exactly");
    }

    /// @dev No node was paid for a request on which its lottery window had not opened.
    function _nothingPaysAnUnassignedNode() internal view {
        vm.assertFalse(handler.paidUnassigned(), "paid outside its window");
    }

    /// @dev A node whose revealed output is the final outcome is never slashed.
    function _agreeingVoteNeverSlashed() internal view {
        vm.assertFalse(handler.slashedAgreeing(), "slashed an agreeing vote");
    }

    /// @dev No node below the minimum stake was ever credited, but for the seats of a round it agreed in (paid under the
    ///      request's terms, whatever the minimum became) and the callback gas of a round it finalized.
    function _noPaymentBelowMinimumStake() internal view {
        vm.assertFalse(handler.paidBelowMinimum(), "paid below minimum");
    }
}

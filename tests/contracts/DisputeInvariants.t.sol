// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {DisputeHandler} from "./handlers/DisputeHandler.sol";
import {DisputeState} from "../../contracts/interfaces/IDisputes.sol";

/// @notice The handler and the actors it drives: shared by the invariants and the handler's own test, which must not
///         inherit the invariants (forge would run them again, at its default depth: 158 CPU-seconds).
abstract contract DisputeWorld is BaseTest {
    DisputeHandler internal handler;
    address[] internal actors;
    address internal watcher;

    function setUp() public override {
        super.setUp();
        actors.push(node1);
        actors.push(node2);
        actors.push(node3);
        watcher = makeAddr("watcher");
        // The nodes of BaseTest staked 2 ether each.
        handler = new DisputeHandler(hub, disputes, nodes, MODEL, PRICE, actors, alice, watcher, 6 ether);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }
}

/// @notice Invariants of provisional SINGLE results and their disputes over random sequences driven by
///         {DisputeHandler}.
/// @dev One campaign checks every property after every call (InvariantsTest says why): each property is checked on
///      48 x 300 states, twice the 24 x 300 it had in a campaign of its own, for half the CPU.
/// forge-config: default.invariant.runs = 48
/// forge-config: default.invariant.depth = 300
contract DisputeInvariantsTest is DisputeWorld {
    /// @dev Every property below, after every call of the sequence.
    function invariant_disputeProperties() public view {
        _ethConservedWithBonds();
        _disputeContractSolvent();
        _finalAtMostOnce();
        _correctResultNeverOverturned();
        _stakeAtRiskStaysLocked();
    }

    /// @dev Fees, stakes and bonds in; withdrawals out; nothing created or lost between the three contracts.
    function _ethConservedWithBonds() internal view {
        vm.assertEq(
            address(hub).balance + address(nodes).balance + address(disputes).balance,
            handler.ghostIn() - handler.ghostOut(),
            "nothing created or lost"
        );
    }

    /// @dev The dispute contract holds exactly the open disputes' bonds, the balances it owes and what it burned.
    function _disputeContractSolvent() internal view {
        uint256 owed = disputes.balanceOf(alice) + disputes.balanceOf(watcher) + disputes.burned();
        for (uint256 i; i < actors.length; ++i) {
            owed += disputes.balanceOf(actors[i]);
        }
        uint256 n = handler.idCount();
        for (uint256 i; i < n; ++i) {
            uint256 id = handler.ids(i);
            if (disputes.disputeOf(id).state == DisputeState.OPEN) owed += disputes.disputeOf(id).bond;
        }
        vm.assertEq(address(disputes).balance, owed, "bonds + balances + burned");
    }

    /// @dev Once CONFIRMED or OVERTURNED, a result never changes again.
    function _finalAtMostOnce() internal view {
        vm.assertFalse(handler.finalChanged(), "a final result changed");
    }

    /// @dev With an honest committee, a correct result is never overturned.
    function _correctResultNeverOverturned() internal view {
        vm.assertFalse(handler.honestOverturned(), "an honest result was overturned");
    }

    /// @dev No node took its stake out while one of its results was in its window or disputed.
    function _stakeAtRiskStaysLocked() internal view {
        vm.assertFalse(handler.stakeLeftWhileAtRisk(), "stake left while at risk");
    }
}

/// @notice The handler's whole-dispute step reaches both outcomes: the invariants above are checked on sequences that
///         overturn lies and uphold honest results, not only on ones that never resolve.
contract DisputeHandlerTest is DisputeWorld {
    function test_handler_playsOverturnAndUphold() public {
        handler.playDispute(5, 0, true);
        vm.assertEq(handler.overturns(), 1, "a lie overturned");
        handler.playDispute(6, 1, false);
        vm.assertEq(handler.upholds(), 1, "an honest result upheld");
        vm.assertEq(handler.overturns(), 1, "and not overturned");
    }
}

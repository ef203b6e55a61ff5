// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {RequestParams, Submission} from "../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../contracts/interfaces/IModelRegistry.sol";
import {NoopConsumer} from "./gas/NoopConsumer.sol";
import {IZkVerifier} from "../../contracts/interfaces/IZkVerifier.sol";
import {ZkFixture} from "./fixtures/ZkFixture.sol";
import {ZkInstancesHarness} from "./harness/ZkInstancesHarness.sol";
import {Lottery} from "../../contracts/lib/Lottery.sol";

/// @notice Named gas snapshots of the hot paths with a 32-byte input and output, after a warm-up round (so the
///         request counter and the node's balance slot are already non-zero, as on a live hub).
contract GasTest is BaseTest {
    NoopConsumer internal noop;

    function setUp() public override {
        super.setUp();
        // The consumer's callback runs inside the delivery figures: deploy the build a dApp would ship (the
        // default, via-IR profile), not this file's legacy-pipeline build of the same source.
        noop = NoopConsumer(payable(vm.deployCode("out/NoopConsumer.sol/NoopConsumer.json", abi.encode(hub))));
        vm.deal(address(noop), 100 ether);
        (uint256 id, RequestParams memory p) = _requestNoop();
        _atWindow(id, p);
        vm.prank(node1);
        hub.submitResult(id, p, output32(0));
    }

    /// @dev A request node1 may deliver right away: the clock stands at node1's window, before the cap (8 ticket
    ///      units, when the hub stops computing tickets), so the figures include the ticket check a primary pays.
    ///      Requests whose node1 ticket lies past the cap are skipped (7 % of them with three equal stakes).
    function _requestNoop() internal returns (uint256 id, RequestParams memory p) {
        while (true) {
            uint64 deadline = uint64(block.timestamp + 1 hours);
            id = noop.request{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, deadline);
            p = paramsWithoutLottery(address(noop), input32(), Mode.SINGLE, 1, CB_GAS, deadline, PRICE);
            withLottery(p, id);
            uint256 opensAt = hub.windowOf(id, p, node1, 0);
            if (opensAt < block.timestamp + ALL_WINDOWS_OPEN) break;
            vm.warp(block.timestamp + 1);
        }
    }

    function _atWindow(uint256 id, RequestParams memory p) internal {
        uint256 opensAt = hub.windowOf(id, p, node1, 0);
        if (opensAt > block.timestamp) vm.warp(opensAt);
    }

    function test_gas_requestInference() public {
        vm.prank(alice);
        hub.requestInference{value: PRICE}(MODEL, input32(), Mode.SINGLE, 1, CB_GAS, uint64(block.timestamp + 1 hours));
        // Run with --isolate (as the test command does), the figure is the whole transaction's gas.
        vm.assertLe(vm.snapshotGasLastCall("requestInference (32-byte input, EOA)"), 62_000, "request target");
    }

    function test_gas_submitResult_noopCallback() public {
        (uint256 id, RequestParams memory p) = _requestNoop();
        _atWindow(id, p);
        vm.prank(node1);
        hub.submitResult(id, p, output32(1));
        vm.assertLe(vm.snapshotGasLastCall("submitResult (32-byte output, no-op callback)"), 60_000, "submit target");
    }

    function test_gas_submitResults_32() public {
        Submission[] memory items = new Submission[](32);
        // All 32 requests in one block, the clock then moved to the latest of node1's windows (all before the cap).
        uint256 latest;
        for (uint256 i; i < 32; ++i) {
            (uint256 id, RequestParams memory p) = _requestNoop();
            items[i] = Submission({requestId: id, params: p, output: output32(int64(int256(i)))});
            uint256 opensAt = hub.windowOf(id, p, node1, 0);
            if (opensAt > latest) latest = opensAt;
        }
        for (uint256 i; i < 32; ++i) {
            vm.assertLt(latest, Lottery.requestedAtOf(items[i].params.lottery) + ALL_WINDOWS_OPEN, "before the cap");
        }
        if (latest > block.timestamp) vm.warp(latest);
        vm.prank(node1);
        hub.submitResults(items);
        uint256 total = vm.snapshotGasLastCall("submitResults (32 items, no-op callbacks)");
        vm.assertLe(total / 32, 18_000, "batched result per item");
    }

    function test_gas_submitZkResult_mlp16() public {
        address verifier = deployZkFixtureVerifier();
        registerZkFixtureModel(ZkFixture.MODEL_ID, verifier);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        uint256 id = noop.request{value: PRICE}(ZkFixture.MODEL_ID, ZkFixture.INPUT, Mode.ZK, 1, CB_GAS, deadline);
        RequestParams memory p = zkParams(ZkFixture.MODEL_ID, address(noop), ZkFixture.INPUT, CB_GAS, deadline, PRICE);
        vm.prank(node1);
        hub.submitZkResult(id, p, ZkFixture.INPUT, ZkFixture.OUTPUT, ZkFixture.PROOF);
        uint256 total = vm.snapshotGasLastCall("submitZkResult (16-8-2 MLP, real EZKL proof, no-op callback)");
        vm.assertLe(total, 650_000, "ZK submission target");
    }

    function test_gas_verifyProof_mlp16() public {
        address verifier = deployZkFixtureVerifier();
        uint256[] memory instances = new ZkInstancesHarness().fromTensors(ZkFixture.INPUT, ZkFixture.OUTPUT);
        // A view call is a STATICCALL, which --isolate does not turn into a transaction: this is the verifier's
        // execution gas alone (bench/zk.py sends it as a transaction: ~557k with intrinsic and calldata gas).
        bool valid = IZkVerifier(verifier).verifyProof(ZkFixture.PROOF, instances);
        vm.snapshotGasLastCall("verifyProof execution only (16-8-2 MLP, EZKL verifier, no intrinsic/calldata gas)");
        // A verifier that rejected the proof would be measured on its failure path: the figure is only the cost of
        // an accepted proof if the call returned true.
        vm.assertTrue(valid, "the fixture proof verifies");
    }
}

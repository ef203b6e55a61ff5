// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ZkInstances} from "../../../contracts/lib/ZkInstances.sol";

/// @notice External wrappers over {ZkInstances}, for the forge tests and the differential test against the Python
///         twin `verinfer.zk.instances` (tests/node/integration/test_zk_differential.py).
contract ZkInstancesHarness {
    function fromTensors(bytes calldata input, bytes calldata output) external pure returns (uint256[] memory) {
        return ZkInstances.fromTensors(input, output);
    }

    function toField(int64 value) external pure returns (uint256) {
        return ZkInstances.toField(value);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IInferenceHub, RequestParams} from "../../../contracts/interfaces/IInferenceHub.sol";
import {Mode} from "../../../contracts/interfaces/IModelRegistry.sol";
import {NoopConsumer} from "../gas/NoopConsumer.sol";

/// @notice Records what it received.
contract RecordingConsumer is NoopConsumer {
    uint256 public calls;
    uint256 public lastRequestId;
    bytes public lastOutput;

    constructor(IInferenceHub hub_) NoopConsumer(hub_) {}

    function _onInferenceResult(uint256 requestId, bytes calldata output) internal override {
        ++calls;
        lastRequestId = requestId;
        lastOutput = output;
    }
}

/// @notice Always reverts, with a long reason.
contract RevertingConsumer is NoopConsumer {
    error Nope(string why);

    constructor(IInferenceHub hub_) NoopConsumer(hub_) {}

    function _onInferenceResult(uint256, bytes calldata) internal pure override {
        revert Nope("this consumer refuses every result, loudly and at length");
    }
}

/// @notice Burns every unit of gas it is given.
contract GasBurningConsumer is NoopConsumer {
    constructor(IInferenceHub hub_) NoopConsumer(hub_) {}

    function _onInferenceResult(uint256, bytes calldata) internal pure override {
        assembly {
            for {} 1 {} {}
        }
    }
}

/// @notice Returns (and reverts with) a huge blob to make the caller copy it.
contract ReturnBombConsumer is NoopConsumer {
    bool public immutable REVERTS;

    constructor(IInferenceHub hub_, bool reverts) NoopConsumer(hub_) {
        REVERTS = reverts;
    }

    function _onInferenceResult(uint256, bytes calldata) internal view override {
        bool reverts = REVERTS;
        assembly {
            // 1 MB of return data: copying it into the hub's memory would cost far more than the callback's gas.
            switch reverts
            case 0 { return(0, 1000000) }
            default { revert(0, 1000000) }
        }
    }
}

/// @notice Tries to re-enter the hub from the callback: deliver the same request again, withdraw, request anew.
contract ReentrantConsumer is NoopConsumer {
    RequestParams internal _params;
    bytes internal _output;
    uint256 public attempts;
    bool public reentrySucceeded;

    constructor(IInferenceHub hub_) NoopConsumer(hub_) {}

    function arm(RequestParams calldata p, bytes calldata output) external {
        _params = p;
        _output = output;
    }

    function _onInferenceResult(uint256 requestId, bytes calldata) internal override {
        ++attempts;
        try _hub.submitResult(requestId, _params, _output) {
            reentrySucceeded = true;
        } catch {}
        try _hub.withdraw(payable(address(this))) {
            reentrySucceeded = true;
        } catch {}
        // Fails on the fee; a successful re-entry would flip the flag.
        try _hub.requestInference(_params.modelId, _output, Mode.SINGLE, 1, 0, uint64(block.timestamp + 100)) {
            reentrySucceeded = true;
        } catch {}
        // Make the whole callback fail so the hub must record CallbackFailed and still keep the result.
        revert("reentered");
    }
}

/// @notice Measures the gas it receives and burns almost all of it, then succeeds.
contract ExactGasConsumer is NoopConsumer {
    uint256 public gasAtEntry;
    bool public finished;

    constructor(IInferenceHub hub_) NoopConsumer(hub_) {}

    function _onInferenceResult(uint256, bytes calldata) internal override {
        uint256 g = gasleft();
        gasAtEntry = g;
        // Burn down to a small margin, leaving enough for the final store.
        while (gasleft() > 25_000) {}
        finished = true;
    }
}

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

/// @notice Hands its caller a blob of `SIZE` bytes, as return data or as a revert reason, and pays for it: it expands
///         its own memory to `SIZE` bytes within its callback gas. A caller that copied the blob would pay for the
///         same memory again in its own frame. `DROPPED` pays exactly the same and returns nothing: the control.
contract ReturnBombConsumer is NoopConsumer {
    enum Blob {
        RETURNED,
        REVERTED,
        DROPPED
    }

    /// @dev 256 KiB = 8,192 words: expanding memory to it costs 3 * 8,192 + 8,192^2 / 512 = 155,648 gas.
    uint256 public constant SIZE = 256 * 1024;
    Blob public immutable BLOB;

    constructor(IInferenceHub hub_, Blob blob) NoopConsumer(hub_) {
        BLOB = blob;
    }

    function _onInferenceResult(uint256, bytes calldata) internal view override {
        Blob blob = BLOB;
        assembly {
            mstore(sub(SIZE, 0x20), 1) // the whole memory expansion, paid here
            if eq(blob, 1) { revert(0, SIZE) }
            // RETURNED and DROPPED run the same instructions; only RETURN's size differs, and RETURN of memory that
            // is already expanded costs nothing more.
            return(0, mul(SIZE, iszero(eq(blob, 2))))
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

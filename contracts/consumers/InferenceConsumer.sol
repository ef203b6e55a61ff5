// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInferenceConsumer, IInferenceOverturnConsumer} from "../interfaces/IInferenceConsumer.sol";
import {IInferenceHub, RequestParams, Status, CALLBACK_ON_FINAL} from "../interfaces/IInferenceHub.sol";
import {ModelTerms, Mode} from "../interfaces/IModelRegistry.sol";

/// @title InferenceConsumer
/// @notice Base contract for dApps: request an inference with `_requestInference`, receive the output in
///         `_onInferenceResult`. The raw entry point only checks that the caller is the hub.
///
///         The base keeps what the hub needs to act on each open request (the hub itself stores only a hash), so:
///         - `reclaim(requestId)` settles a request that ended without a result (deadline passed, or no consensus) in
///           one call, and runs `_onInferenceFailed`;
///         - `recoverResult(...)` delivers a result whose callback failed (out of gas, a revert) or never ran: anyone
///           passes the output and its node and environment from the hub's event, the hub confirms it is the recorded
///           result (`verifyResult`), and `_onInferenceResult` runs once.
///         Each request is delivered or failed at most once: its record is closed when it is.
/// @dev Cost: four storage slots per request (~88k gas when requesting). Closing a record clears only its third
///      slot (the one with the `open` flag): ~5k of the callback's gas, mostly refunded, where
///      deleting all three would cost ~15k and, in a batch delivery, outrun the refund cap.
abstract contract InferenceConsumer is IInferenceConsumer, IInferenceOverturnConsumer {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice What the base keeps of an open request. `requester` is this contract; `outputBytes` and
    ///         `envRestricted` are the model's immutable terms, read back from the hub when needed.
    /// @dev Layout: slot 0 modelId | slot 1 inputHash | slot 2, low to high: [0..95] fee | [96..159] deadline |
    ///      [160..191] callbackGasLimit | [192..199] mode | [200..207] redundancy | [208..215] open | slot 3: the
    ///      request's `lottery` word (see {RequestParams}).
    struct OpenRequest {
        bytes32 modelId;
        bytes32 inputHash;
        uint96 fee;
        uint64 deadline;
        uint32 callbackGasLimit;
        Mode mode;
        uint8 redundancy;
        /// @dev True from the request until it is delivered or failed (cleared with the rest of the third slot).
        bool open;
        uint256 lottery;
    }

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice Only the hub delivers results.
    error CallerNotHub(address caller, address hub);
    /// @notice This contract has no open request with this id: never made here, or delivered or failed already.
    error RequestNotOpen(uint256 requestId);
    /// @notice The fee does not fit the 96 bits the base stores (more than ~7.9e10 ether).
    error FeeTooLarge(uint256 fee);
    /// @notice The hub has no such result for the request: wrong output, node or environment, or not fulfilled yet.
    error ResultNotRecorded(uint256 requestId, Status status);
    /// @notice The request asked for its callback at finality and its result is not final before `finalAt`.
    error ResultNotFinal(uint256 requestId, uint256 finalAt);
    /// @notice The request can be neither reclaimed nor settled yet: it is open and its deadline has not passed, or it
    ///         was fulfilled (use `recoverResult` if its callback failed).
    error RequestNotFailed(uint256 requestId, Status status);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A result whose hub callback had failed or never ran was delivered through `recoverResult`.
    event ResultRecovered(uint256 indexed requestId, address indexed caller);
    /// @notice A request ended without a result; `status` says how (REFUNDED or NO_CONSENSUS).
    event RequestFailed(uint256 indexed requestId, Status status);

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    IInferenceHub internal immutable _hub;

    /// @dev requestId => what the hub needs to act on that request; closed (third slot cleared, `open` false) once
    ///      delivered or failed.
    mapping(uint256 requestId => OpenRequest) private _open;

    constructor(IInferenceHub hub_) {
        _hub = hub_;
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceConsumer
    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(_hub)) revert CallerNotHub(msg.sender, address(_hub));
        // A request made without the base's bookkeeping (not through `_requestInference`) has no record to close.
        _close(requestId);
        _onInferenceResult(requestId, output);
    }

    /// @inheritdoc IInferenceOverturnConsumer
    function onInferenceOverturned(uint256 requestId, bytes calldata output) external {
        if (msg.sender != address(_hub)) revert CallerNotHub(msg.sender, address(_hub));
        _onInferenceOverturned(requestId, output);
    }

    /// @notice Delivers a recorded result whose callback failed or never ran. Anyone may call it, with the output,
    ///         the node and its environment hash from the hub's `ResultSubmitted` (SINGLE, ZK) or `ResultRevealed` of an
    ///         agreeing node and `ResultCommitted` (CONSENSUS) events. Runs `_onInferenceResult` with the caller's gas.
    function recoverResult(uint256 requestId, bytes calldata output, address node, bytes32 envHash) external {
        OpenRequest memory r = _openRecord(requestId);
        if (!_hub.verifyResult(requestId, r.modelId, r.inputHash, keccak256(output), envHash, node)) {
            revert ResultNotRecorded(requestId, _hub.statusOf(requestId));
        }
        if (r.callbackGasLimit & CALLBACK_ON_FINAL != 0) {
            (bool isFinal, uint256 finalAt) = _hub.finalityOf(requestId, _paramsOf(r));
            if (!isFinal) revert ResultNotFinal(requestId, finalAt);
        }
        _close(requestId);
        emit ResultRecovered(requestId, msg.sender);
        _onInferenceResult(requestId, output);
    }

    /// @notice Settles a request that ended without a result, in one call: after its deadline the fee is reclaimed
    ///         from the hub (unless someone did already); after a failed consensus round the hub has refunded it.
    ///         The fee is credited to this contract's hub balance (see `_withdrawFromHub`), then
    ///         `_onInferenceFailed` runs. Anyone may call it.
    function reclaim(uint256 requestId) external {
        OpenRequest memory r = _openRecord(requestId);
        Status status = _hub.statusOf(requestId);
        bool reclaimOnHub = status == Status.PENDING;
        if (reclaimOnHub) {
            if (block.timestamp <= r.deadline) revert RequestNotFailed(requestId, status);
            status = Status.REFUNDED;
        } else if (status != Status.REFUNDED && status != Status.NO_CONSENSUS) {
            revert RequestNotFailed(requestId, status);
        }
        // Closed before the hub is called (checks-effects-interactions); a refusal by the hub reverts it all.
        _close(requestId);
        if (reclaimOnHub) _hub.reclaimFee(requestId, _paramsOf(r));
        emit RequestFailed(requestId, status);
        _onInferenceFailed(requestId, status);
    }

    /// @notice The hub this consumer trusts.
    function inferenceHub() external view returns (IInferenceHub) {
        return _hub;
    }

    /// @notice The parameters of an open request of this contract, as the hub hashed them (all zero once delivered or
    ///         failed, or for a request not made here).
    function openRequestOf(uint256 requestId) external view returns (RequestParams memory params) {
        OpenRequest memory r = _open[requestId];
        if (r.open) params = _paramsOf(r);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Requests an inference paying `fee` from this contract's balance; this contract is the requester, so it
    ///      receives the callback and any refund (withdraw refunds with `_withdrawFromHub`).
    function _requestInference(
        bytes32 modelId,
        bytes memory input,
        Mode mode,
        uint8 redundancy,
        uint32 callbackGasLimit,
        uint64 deadline,
        uint256 fee
    ) internal returns (uint256 requestId) {
        if (fee > type(uint96).max) revert FeeTooLarge(fee);
        requestId = _hub.requestInference{value: fee}(modelId, input, mode, redundancy, callbackGasLimit, deadline);
        // The lottery word and terms the hub fixed in this very transaction (see {RequestParams}).
        uint256 lottery = _hub.lotteryWordOf(modelId, requestId, fee, redundancy, callbackGasLimit);
        _open[requestId] = OpenRequest({
            modelId: modelId,
            inputHash: keccak256(input),
            // Fits: checked above.
            fee: uint96(fee),
            deadline: deadline,
            callbackGasLimit: callbackGasLimit,
            mode: mode,
            redundancy: redundancy,
            open: true,
            lottery: lottery
        });
    }

    /// @dev Pulls this contract's refunds from the hub to `to`.
    function _withdrawFromHub(address payable to) internal returns (uint256) {
        return _hub.withdraw(to);
    }

    /// @dev Receives a result, from the hub's callback (with exactly the request's callback gas; a revert is recorded
    ///      by the hub as `CallbackFailed`, the result stays on chain and `recoverResult` can deliver it later) or from
    ///      `recoverResult` (with the caller's gas). Runs at most once per request made through `_requestInference`.
    function _onInferenceResult(uint256 requestId, bytes calldata output) internal virtual;

    /// @dev Runs once when a request ends without a result (`status` REFUNDED or NO_CONSENSUS); its fee is in this
    ///      contract's hub balance. Override to release what the request held; the default does nothing.
    function _onInferenceFailed(uint256 requestId, Status status) internal virtual {}

    /// @dev Override to undo what `_onInferenceResult` did on a provisional output that a dispute overturned; `output`
    ///      is the final one. Never runs for requests whose callback waited for finality.
    function _onInferenceOverturned(uint256 requestId, bytes calldata output) internal virtual {}

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _openRecord(uint256 requestId) private view returns (OpenRequest memory r) {
        r = _open[requestId];
        if (!r.open) revert RequestNotOpen(requestId);
    }

    /// @dev Clears the record's third slot (fee, deadline, gas, mode, redundancy, open).
    function _close(uint256 requestId) private {
        OpenRequest storage r = _open[requestId];
        assembly ("memory-safe") {
            // One SSTORE to zero of the struct's third slot (layout on {OpenRequest}), which earns the refund.
            sstore(add(r.slot, 2), 0)
        }
    }

    function _paramsOf(OpenRequest memory r) private view returns (RequestParams memory) {
        ModelTerms memory terms = _hub.modelTermsOf(r.modelId);
        return RequestParams({
            modelId: r.modelId,
            inputHash: r.inputHash,
            requester: address(this),
            fee: r.fee,
            deadline: r.deadline,
            callbackGasLimit: r.callbackGasLimit,
            outputBytes: terms.outputBytes,
            mode: r.mode,
            redundancy: r.redundancy,
            envRestricted: terms.envRestricted,
            lottery: r.lottery
        });
    }
}

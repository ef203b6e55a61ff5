// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {InferenceConsumer} from "verinfer/consumers/InferenceConsumer.sol";
import {IInferenceHub, Status} from "verinfer/interfaces/IInferenceHub.sol";
import {ModelTerms, Mode} from "verinfer/interfaces/IModelRegistry.sol";
import {TensorCodec} from "verinfer/lib/TensorCodec.sol";

/// @title RiskOracle
/// @notice Scores feature vectors with a registered model through verinfer and keeps each score: element
///         `SCORE_INDEX` of the model's output, in the model's fixed-point scale.
contract RiskOracle is InferenceConsumer {
    struct Score {
        int64 value;
        bool delivered;
        bool failed;
    }

    error ScoreIndexOutOfRange(uint256 scoreIndex, uint256 outputs);

    event Scored(uint256 indexed requestId, int64 score);

    uint32 public constant CALLBACK_GAS = 100_000;
    uint64 public constant TIMEOUT = 1 hours;

    bytes32 public immutable MODEL_ID;
    uint256 public immutable SCORE_INDEX;

    /// @dev requestId => its score (or that it failed).
    mapping(uint256 requestId => Score) private _scores;

    constructor(IInferenceHub hub_, bytes32 modelId, uint256 scoreIndex) InferenceConsumer(hub_) {
        ModelTerms memory terms = hub_.modelTermsOf(modelId); // reverts UnknownModel for an unknown id
        uint256 outputs = terms.outputBytes / TensorCodec.ELEMENT_BYTES;
        if (scoreIndex >= outputs) revert ScoreIndexOutOfRange(scoreIndex, outputs);
        MODEL_ID = modelId;
        SCORE_INDEX = scoreIndex;
    }

    /// @notice Asks for the score of `features` (fixed-point at the model's scale, `modelTermsOf(...).scale`);
    ///         `msg.value` pays the fee (at least the model's price).
    function score(int64[] calldata features) external payable returns (uint256 requestId) {
        requestId = _requestInference(
            MODEL_ID,
            TensorCodec.encode(features),
            Mode.SINGLE,
            1,
            CALLBACK_GAS,
            uint64(block.timestamp) + TIMEOUT,
            msg.value
        );
    }

    /// @notice The score of a request, once delivered.
    function scoreOf(uint256 requestId) external view returns (Score memory) {
        return _scores[requestId];
    }

    function _onInferenceResult(uint256 requestId, bytes calldata output) internal override {
        int64 value = TensorCodec.valueAt(output, SCORE_INDEX);
        _scores[requestId] = Score({value: value, delivered: true, failed: false});
        emit Scored(requestId, value);
    }

    function _onInferenceFailed(uint256 requestId, Status) internal override {
        _scores[requestId].failed = true;
    }
}

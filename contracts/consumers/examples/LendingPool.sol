// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {InferenceConsumer} from "../InferenceConsumer.sol";
import {ILendingPool} from "./ILendingPool.sol";
import {IInferenceHub, Status, CALLBACK_ON_FINAL} from "../../interfaces/IInferenceHub.sol";
import {ModelTerms, Mode} from "../../interfaces/IModelRegistry.sol";
import {TensorCodec} from "../../lib/TensorCodec.sol";

/// @title LendingPool
/// @notice Example consumer: a pool that lends its ETH only to applicants whose credit-risk score, computed by a
///         registered model and delivered through the hub, is below a threshold. See {ILendingPool}.
/// @dev The model's output is the class-probability tensor of the credit model; element `scoreIndex` is the
///      probability of default in the model's fixed-point scale. A request that ends without a score is settled by
///      the consumer base (`reclaim`, anyone may call it), which runs `_onInferenceFailed` here: the application
///      expires and its fee becomes claimable by the applicant.
///      The pool asks for its callback at finality (`CALLBACK_ON_FINAL`): a SINGLE result is provisional until its
///      challenge window passes, and a loan paid on a provisional score could be drawn by a node that lied about it
///      (answering its own application with a zero risk of default) before anyone challenged. Decided on a final
///      score, the loan is never paid on an output a dispute overturned: a lie costs the liar its stake at risk and
///      buys nothing. The price is latency: the decision comes a challenge window after the score.
contract LendingPool is ILendingPool, InferenceConsumer {
    /*//////////////////////////////////////////////////////////////
                               IMMUTABLES
    //////////////////////////////////////////////////////////////*/

    bytes32 public immutable MODEL_ID;
    /// @notice Approve only if score < threshold (model fixed-point units).
    int64 public immutable THRESHOLD;
    uint256 public immutable SCORE_INDEX;
    uint32 public constant CALLBACK_GAS = 120_000;
    uint64 public constant DECISION_TIMEOUT = 1 hours;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev requestId => the application it scores.
    mapping(uint256 requestId => Application) private _applications;
    /// @dev borrower => approved ETH waiting to be claimed.
    mapping(address borrower => uint256) private _claimable;
    /// @dev ETH promised to approved borrowers and not yet claimed.
    uint256 private _committed;

    constructor(IInferenceHub hub_, bytes32 modelId, int64 threshold, uint256 scoreIndex) InferenceConsumer(hub_) {
        ModelTerms memory terms = hub_.modelTermsOf(modelId); // reverts UnknownModel(modelId) for an unknown model
        uint256 outputs = terms.outputBytes / TensorCodec.ELEMENT_BYTES;
        if (scoreIndex >= outputs) revert ScoreIndexOutOfRange(scoreIndex, outputs);
        MODEL_ID = modelId;
        THRESHOLD = threshold;
        SCORE_INDEX = scoreIndex;
    }

    /// @notice Funds the pool.
    receive() external payable {}

    /// @inheritdoc ILendingPool
    function applyForLoan(int64[] calldata features, uint256 amount) external payable returns (uint256 requestId) {
        if (amount == 0) revert AmountZero();
        requestId = _requestInference(
            MODEL_ID,
            TensorCodec.encode(features),
            Mode.SINGLE,
            1,
            CALLBACK_GAS | CALLBACK_ON_FINAL,
            uint64(block.timestamp) + DECISION_TIMEOUT,
            msg.value
        );
        _applications[requestId] =
            Application({applicant: msg.sender, decision: Decision.PENDING, score: 0, amount: amount, fee: msg.value});
        emit LoanRequested(requestId, msg.sender, amount);
    }

    /// @inheritdoc ILendingPool
    function claim() external returns (uint256 amount) {
        amount = _claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        _claimable[msg.sender] = 0;
        _committed -= amount;
        emit LoanClaimed(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    function _onInferenceResult(uint256 requestId, bytes calldata output) internal override {
        Application storage app = _applications[requestId];
        if (app.decision == Decision.NONE) revert ApplicationUnknown(requestId);
        if (app.decision != Decision.PENDING) revert ApplicationNotPending(requestId, app.decision);
        int64 score = TensorCodec.valueAt(output, SCORE_INDEX);
        Decision decision;
        if (score >= THRESHOLD) {
            decision = Decision.REFUSED_SCORE;
        } else if (address(this).balance - _committed < app.amount) {
            decision = Decision.REFUSED_LIQUIDITY;
        } else {
            decision = Decision.APPROVED;
            _committed += app.amount;
            _claimable[app.applicant] += app.amount;
        }
        app.decision = decision;
        app.score = score;
        emit LoanDecided(requestId, app.applicant, decision, score);
    }

    /// @dev The base reclaimed the fee into this pool's hub balance (or the hub refunded it): the application expires
    ///      and the fee is the applicant's. The base runs this at most once per request, and only for an open one,
    ///      so the application is still PENDING.
    function _onInferenceFailed(uint256 requestId, Status) internal override {
        Application storage app = _applications[requestId];
        app.decision = Decision.EXPIRED;
        _committed += app.fee;
        _claimable[app.applicant] += app.fee;
        emit ApplicationExpired(requestId, app.applicant, app.fee);
        // A free model's request refunds nothing, and withdrawing nothing reverts: that would leave it PENDING forever.
        if (_hub.balanceOf(address(this)) != 0) _withdrawFromHub(payable(address(this)));
    }

    /// @inheritdoc ILendingPool
    function applicationOf(uint256 requestId) external view returns (Application memory) {
        return _applications[requestId];
    }

    /// @inheritdoc ILendingPool
    function claimableOf(address borrower) external view returns (uint256) {
        return _claimable[borrower];
    }

    /// @inheritdoc ILendingPool
    function liquidity() external view returns (uint256) {
        return address(this).balance - _committed;
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IInferenceConsumer} from "../../../contracts/interfaces/IInferenceConsumer.sol";
import {IInferenceHub, RequestParams, Status} from "../../../contracts/interfaces/IInferenceHub.sol";

/// @notice The external surface of contracts/consumers/examples/LendingPool.sol, for tests that deploy its via-IR
///         artifact: importing the contract would compile it again in the test's legacy-pipeline unit.
/// @dev A mirror by hand, kept honest by LendingPool.t.sol: every function, event, error, the enum order and the
///      struct layout are exercised there against the real artifact, so a drift fails a selector, an expectEmit,
///      an expectRevert or a decoded field.
interface ILendingPool is IInferenceConsumer {
    enum Decision {
        NONE,
        PENDING,
        APPROVED,
        REFUSED_SCORE,
        REFUSED_LIQUIDITY,
        EXPIRED
    }

    struct Application {
        address applicant;
        Decision decision;
        int64 score;
        uint256 amount;
        uint256 fee;
    }

    error AmountZero();
    error ApplicationUnknown(uint256 requestId);
    error ApplicationNotPending(uint256 requestId, Decision decision);
    error ScoreIndexOutOfRange(uint256 scoreIndex, uint256 outputs);
    error RequestNotRefundable(uint256 requestId, Status status);
    error NothingToClaim(address borrower);
    error TransferFailed(address to, uint256 amount);

    event LoanRequested(uint256 indexed requestId, address indexed applicant, uint256 amount);
    event LoanDecided(uint256 indexed requestId, address indexed applicant, Decision decision, int64 score);
    event LoanClaimed(address indexed borrower, uint256 amount);
    event ApplicationExpired(uint256 indexed requestId, address indexed applicant, uint256 feeRefunded);

    function MODEL_ID() external view returns (bytes32);
    function THRESHOLD() external view returns (int64);
    function SCORE_INDEX() external view returns (uint256);
    function CALLBACK_GAS() external view returns (uint32);
    function DECISION_TIMEOUT() external view returns (uint64);

    function applyForLoan(int64[] calldata features, uint256 amount) external payable returns (uint256 requestId);
    function claim() external returns (uint256 amount);
    function refundExpired(uint256 requestId, RequestParams calldata params) external;
    function applicationOf(uint256 requestId) external view returns (Application memory);
    function claimableOf(address borrower) external view returns (uint256);
    function liquidity() external view returns (uint256);
    function inferenceHub() external view returns (IInferenceHub);
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IInferenceConsumer} from "../../interfaces/IInferenceConsumer.sol";

/// @title ILendingPool
/// @notice The example pool's surface: its types, errors, events and functions. {LendingPool} implements it; tests and
///         clients use it without compiling the pool. The consumer base's own entry points (`reclaim`,
///         `recoverResult`, `openRequestOf`, `inferenceHub`) and errors are on {InferenceConsumer}: declared here too
///         they would clash with its implementations.
interface ILendingPool is IInferenceConsumer {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Where an application stands. EXPIRED: its request ended without a score (deadline passed, no
    ///         consensus) and its fee is claimable by the applicant.
    enum Decision {
        NONE,
        PENDING,
        APPROVED,
        REFUSED_SCORE,
        REFUSED_LIQUIDITY,
        EXPIRED
    }

    /// @dev Layout: [0..159] applicant | [160..167] decision | [168..231] score; second slot amount; third slot fee.
    struct Application {
        address applicant;
        Decision decision;
        int64 score;
        uint256 amount;
        uint256 fee;
    }

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    error AmountZero();
    error ApplicationUnknown(uint256 requestId);
    error ApplicationNotPending(uint256 requestId, Decision decision);
    error ScoreIndexOutOfRange(uint256 scoreIndex, uint256 outputs);
    error NothingToClaim(address borrower);
    error TransferFailed(address to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event LoanRequested(uint256 indexed requestId, address indexed applicant, uint256 amount);
    event LoanDecided(uint256 indexed requestId, address indexed applicant, Decision decision, int64 score);
    event LoanClaimed(address indexed borrower, uint256 amount);
    /// @notice The application's request ended without a score; `feeRefunded` is claimable by the applicant.
    event ApplicationExpired(uint256 indexed requestId, address indexed applicant, uint256 feeRefunded);

    /*//////////////////////////////////////////////////////////////
                               FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice The credit model the pool asks.
    function MODEL_ID() external view returns (bytes32);
    /// @notice Approve only if score < threshold (model fixed-point units).
    function THRESHOLD() external view returns (int64);
    /// @notice The output element that is the probability of default.
    function SCORE_INDEX() external view returns (uint256);
    function CALLBACK_GAS() external view returns (uint32);
    function DECISION_TIMEOUT() external view returns (uint64);

    /// @notice Applies for a loan of `amount` wei; `features` are the applicant's fixed-point features. `msg.value`
    ///         pays the inference fee.
    function applyForLoan(int64[] calldata features, uint256 amount) external payable returns (uint256 requestId);
    /// @notice Sends the caller's approved loan, or its refunded fees.
    function claim() external returns (uint256 amount);
    /// @notice An application by its request id.
    function applicationOf(uint256 requestId) external view returns (Application memory);
    /// @notice ETH `borrower` can claim: approved loans and refunded fees.
    function claimableOf(address borrower) external view returns (uint256);
    /// @notice ETH available for new loans.
    function liquidity() external view returns (uint256);
}

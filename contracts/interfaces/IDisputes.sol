// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {RequestParams} from "./IInferenceHub.sol";
import {Eligibility} from "./INodeRegistry.sol";

/// @notice Where a dispute stands. OPEN: a committee is being drawn, committing or revealing (or a proof may settle
///         it; after a first committee without a majority, its escalation). UPHELD: the committee's majority (or a
///         proof) gave the challenged output. OVERTURNED: it gave another; the node was slashed. VOID: the escalated
///         committee had no majority either; the result stands and the bond went back.
enum DisputeState {
    NONE,
    OPEN,
    UPHELD,
    OVERTURNED,
    VOID
}

/// @notice A dispute as seen from outside.
struct DisputeView {
    DisputeState state;
    address challenger;
    uint256 bond;
    /// @dev The node whose result is challenged, and the output hash it gave.
    address node;
    bytes32 outputHash;
    bytes32 modelId;
    /// @dev The current committee's draw (the `lottery` layout of {RequestParams}): the challenge's seed and time, or
    ///      after an escalation its own.
    uint256 lottery;
    /// @dev Seats taken and revealed in the current committee.
    uint8 commits;
    uint8 reveals;
    /// @dev When the current committee's commits close (if fewer than its seats came) and its reveals close (0 until
    ///      known).
    uint64 commitEndsAt;
    uint64 revealEndsAt;
    /// @dev The committee's majority output hash once resolved (zero without one).
    bytes32 winner;
    /// @dev Every member of every committee of the dispute, in the order they first committed.
    address[] members;
    /// @dev 0: the first committee (SEATS seats); 1: its escalation (ESCALATION_SEATS seats, none of the first's
    ///      members).
    uint8 round;
    /// @dev The current committee's seats.
    uint8 seatCount;
    /// @dev When the dispute opened: only stake and service of the model older than this hold a ticket, in either
    ///      committee.
    uint64 openedAt;
}

/// @notice A committee member's vote.
struct DisputeVote {
    bytes32 commitHash;
    bytes32 outputHash;
    bytes32 envHash;
    uint16 seats;
    bool revealed;
    /// @dev The committee (round) the member sits on.
    uint8 round;
}

/// @title IDisputes
/// @notice Challenges of provisional SINGLE results. Anyone posts a bond and disputes a result within its window
///         (the request's `revealWindow` after it was recorded). A fresh committee of `SEATS` seats, drawn by the
///         stake-weighted lottery among the model's nodes (never the challenged node or the challenger), re-executes
///         in commit-reveal; a strict majority decides. Without one, the dispute escalates once to a larger fresh
///         committee of `ESCALATION_SEATS` seats (a new draw; no member of the first may sit), whose strict majority
///         decides; the first committee's votes are then judged by that outcome. Where the model has a ZK verifier, a proof of the output
///         settles the dispute at once.
///         Wrong result (OVERTURNED): the node loses the request's `slashBps` of its stake; from it the requester gets
///         its fee back, the challenger gets its bond back and half the rest, the agreeing committee seats the other
///         half (a proof: the challenger all of it). Right result (UPHELD): the challenger's bond goes half to the node,
///         half to the agreeing committee seats. The committee half is shared per seat over every seat of every
///         committee the dispute drew (3, or 3 + 7 after an escalation). Votes of either committee against the final
///         majority, or never revealed, lose `slashBps` of their stake, burned. Shares of seats that did not agree are
///         burned (OVERTURNED) or go to the node (UPHELD). No majority after the escalation (VOID): the bond goes
///         back, only silent votes are slashed.
interface IDisputes {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The bond is below `bondFor(fee)`.
    error BondTooLow(uint256 bond, uint256 required);
    /// @notice A node may not challenge its own result.
    error SelfChallenge(address node);
    /// @notice The request has a dispute already, or it is not open.
    error DisputeNotOpen(uint256 requestId, DisputeState state);
    /// @notice The request already had a dispute.
    error AlreadyDisputed(uint256 requestId);
    /// @notice The challenged node and the challenger never sit on the committee.
    error Conflicted(uint256 requestId, address member);
    /// @notice The caller may not serve the model.
    error NotEligible(address member, bytes32 modelId, Eligibility reason);
    /// @notice The caller's stake or service of the model dates from the challenge or later: it holds no ticket.
    error NotAssigned(uint256 requestId, address member, uint64 since, uint64 openedAt);
    /// @notice The caller's environment is not one the model allows.
    error EnvironmentNotAllowed(bytes32 modelId, bytes32 envHash);
    /// @notice The caller's ticket window on `seat` opens at `opensAt`.
    error WindowNotOpen(uint256 requestId, address member, uint256 seat, uint256 opensAt);
    /// @notice `seats` is empty or names seats past SEATS.
    error SeatsInvalid(uint256 requestId, uint16 seats);
    /// @notice Some of the seats are taken.
    error SeatTaken(uint256 requestId, uint16 taken);
    error CommitHashZero();
    /// @notice The member committed already with another hash.
    error AlreadyCommitted(uint256 requestId, address member);
    /// @notice Commits closed at `closedAt`, or every seat is taken.
    error CommitPhaseClosed(uint256 requestId, uint64 closedAt);
    /// @notice Reveals start when every seat is taken or commits close.
    error RevealPhaseNotStarted(uint256 requestId, uint8 commits, uint64 commitEndsAt);
    error RevealPhaseOver(uint256 requestId, uint64 revealEndsAt);
    error NotCommitted(uint256 requestId, address member);
    error AlreadyRevealed(uint256 requestId, address member);
    error RevealMismatch(uint256 requestId, address member);
    /// @notice The member's vote was for an earlier committee, whose reveals are over.
    error EarlierRound(uint256 requestId, address member, uint8 round);
    /// @notice The dispute can be resolved once every vote is revealed, or after `resolvableAt`.
    error ResolveTooEarly(uint256 requestId, uint256 resolvableAt);
    /// @notice The output passed is not the one required (the challenged output, or the majority's).
    error OutputMismatch(uint256 requestId, bytes32 expected, bytes32 given);
    error OutputLengthMismatch(uint256 length, uint256 expected);
    /// @notice The parameters passed are not the disputed request's.
    error ModelMismatch(uint256 requestId, bytes32 expected, bytes32 given);
    /// @notice The model has no ZK verifier: only a committee settles its disputes.
    error NoVerifier(bytes32 modelId);
    error InputMismatch(uint256 requestId, bytes32 expected, bytes32 given);
    error ProofRejected(uint256 requestId, address verifier);
    error RecipientZero();
    error NothingToWithdraw(address account);
    error TransferFailed(address to, uint256 amount);
    error UnexpectedEther(address sender, uint256 amount);
    error ContractInvalid(address target);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A result was challenged; the committee's tickets follow from `lottery` (seats 0 .. SEATS - 1).
    event DisputeOpened(
        uint256 indexed requestId,
        address indexed challenger,
        address indexed node,
        uint256 bond,
        bytes32 outputHash,
        uint256 lottery,
        uint64 commitEndsAt
    );
    event DisputeCommitted(uint256 indexed requestId, address indexed member, bytes32 commitHash, uint16 seats);
    event DisputeRevealPhase(uint256 indexed requestId, uint64 revealEndsAt);
    /// @notice The first committee had no majority: a fresh one of `seats` seats is drawn from `lottery` (its seed and
    ///         time are the escalation's); its commits close at `commitEndsAt` (unless every seat is taken sooner).
    event DisputeEscalated(uint256 indexed requestId, uint8 seats, uint256 lottery, uint64 commitEndsAt);
    event DisputeRevealed(uint256 indexed requestId, address indexed member, bytes32 outputHash, bytes output);
    /// @notice The dispute ended: `outputHash` is the final output's hash, `slashed` what the node lost.
    event DisputeResolved(uint256 indexed requestId, DisputeState state, bytes32 outputHash, uint256 slashed);
    event MemberSlashed(uint256 indexed requestId, address indexed member, uint256 amount);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                               FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Challenges the provisional result `output` that `node` recorded under `envHash` (all from
    ///         `ResultSubmitted`), with a bond of at least `bondFor(request.fee)` as `msg.value`.
    function challenge(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata output,
        bytes32 envHash,
        address node
    ) external payable;

    /// @notice Takes committee `seats` (bit j = seat j) with a hidden vote
    ///         keccak256(abi.encode(keccak256(output), salt, msg.sender)). A member may commit again with the same
    ///         hash for seats whose windows opened later.
    function commit(uint256 requestId, bytes32 commitHash, uint16 seats) external;

    /// @notice Reveals the member's vote.
    function reveal(uint256 requestId, bytes calldata output, bytes32 salt) external;

    /// @notice Ends the dispute by the committee's vote: `output` is the majority's output (or, without one, the
    ///         challenged output), passed to the hub for the requester. Anyone may call it; it pays the caller a final
    ///         callback's escrow. When the first committee has no majority, it escalates the dispute instead (and
    ///         `output` is not used).
    function resolve(uint256 requestId, RequestParams calldata request, bytes calldata output) external;

    /// @notice Ends the dispute of a model with a ZK verifier by a proof that `output` is the model's output on
    ///         `input` (the request's).
    function settleByProof(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata input,
        bytes calldata output,
        bytes calldata proof
    ) external;

    function withdraw(address payable to) external returns (uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The smallest bond for a request with `fee`: max(minBond, SEATS * fee), enough to pay a committee.
    function bondFor(uint256 fee) external view returns (uint256);
    function disputeOf(uint256 requestId) external view returns (DisputeView memory);
    function voteOf(uint256 requestId, address member) external view returns (DisputeVote memory);
    /// @notice The output hash a strict majority of the current committee's seats revealed so far, or zero.
    function majorityOf(uint256 requestId) external view returns (bytes32);
    /// @notice When `member` may take seat `seat` of the dispute's current committee.
    function windowOf(uint256 requestId, address member, uint256 seat) external view returns (uint256 opensAt);
    function balanceOf(address account) external view returns (uint256);
    /// @notice Slashed stake burned by disputes (kept here, moved by nothing).
    function burned() external view returns (uint256);
    function hub() external view returns (address);
}

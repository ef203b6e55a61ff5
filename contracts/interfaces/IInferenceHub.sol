// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IModelTermsSink, ModelTerms, Mode} from "./IModelRegistry.sol";
import {Eligibility} from "./INodeRegistry.sol";

/// @notice Where a request stands.
/// @dev PENDING: open (SINGLE: awaiting a node; CONSENSUS: committing or revealing, see `roundOf`).
///      FULFILLED: a result is recorded. NO_CONSENSUS: the reveals had no strict majority; the fee went back.
///      REFUNDED: the deadline passed without a result; the fee went back.
///      A SINGLE result is provisional while FULFILLED: anyone may challenge it (see {IDisputes}) until its window ends,
///      `revealWindow` (fixed at request time) after it was recorded; `finalityOf` says when. CONFIRMED: final after a
///      dispute upheld it or its final callback was delivered. DISPUTED: challenged, a committee or a proof decides.
///      OVERTURNED: a dispute replaced it with the committee's (or proven) output, which is final.
enum Status {
    NONE,
    PENDING,
    FULFILLED,
    NO_CONSENSUS,
    REFUNDED,
    CONFIRMED,
    DISPUTED,
    OVERTURNED
}

// Set in a request's `callbackGasLimit` to have its callback wait until the SINGLE result is final
//         (`deliverFinal`, or the end of a dispute); the low 31 bits are the gas. Without it the callback runs on
//         delivery, before the result's challenge window has passed: a consumer that moves value on it acts on an
//         output that a dispute may still overturn (it then hears of it through `onInferenceOverturned`).
uint32 constant CALLBACK_ON_FINAL = 1 << 31;

/// @notice Why a batch item was skipped instead of reverting the batch.
enum SkipReason {
    NOT_PENDING,
    EXPIRED
}

/// @notice Why a consumer callback did not complete. The result is recorded either way.
enum CallbackFailure {
    NO_CODE,
    REVERTED
}

/// @notice The parameters of a request. The hub stores only their hash; whoever acts on a request passes them back.
/// @dev Where each field comes from: `modelId`, `requester`, `fee`, `deadline`, `callbackGasLimit`, `mode`,
///      `redundancy` and `lottery` are fields of the `InferenceRequested` event; `inputHash` is keccak256 of its
///      `input`; `outputBytes` and `envRestricted` are the model's immutable terms (`modelTermsOf(modelId)`), not in
///      the event (a variable-length output's `outputBytes` carries `LENGTH_UP_TO`). `lottery` fixes the request's
///      assignment when it is made (see {Lottery}): calldata is cheaper than
///      storage, and the stored hash makes it tamper-proof.
struct RequestParams {
    bytes32 modelId;
    bytes32 inputHash;
    address requester;
    uint256 fee;
    uint64 deadline;
    uint32 callbackGasLimit;
    uint32 outputBytes;
    Mode mode;
    uint8 redundancy;
    bool envRestricted;
    /// @dev The request's lottery and terms, seven fields in one word (one calldata word per delivery instead of
    ///      seven; every batch item pays for it), all fixed when the request is made. Layout, low to high: [0..31]
    ///      seed, the low 32 bits of keccak256(abi.encode(block.prevrandao, requestId)) | [32..71] requestedAt,
    ///      block.timestamp of the request (windows open relative to it; only nodes whose stake and service of the
    ///      model date from strictly before it hold tickets) | [72..135] servingStake, the model's serving stake in
    ///      gwei at the request (the S that normalises every ticket) | [136..167] ticketDelay, the hub's seconds per
    ///      unit of ticket at the request | [168..215] callbackGasPrice, the most wei per gas the callback's escrow
    ///      reimburses (see `requestInference`) | [216..231] slashBps and [232..255] revealWindow, the hub's at the
    ///      request: an owner change reaches only later requests. {Lottery} packs and reads it.
    uint256 lottery;
}

/// @notice One item of `submitResults`.
struct Submission {
    uint256 requestId;
    RequestParams params;
    bytes output;
}

/// @notice One item of `deliverFinal`: a SINGLE result whose callback waits for finality, with what its commitment
///         binds (all from `ResultSubmitted`).
struct FinalDelivery {
    uint256 requestId;
    RequestParams params;
    bytes output;
    bytes32 envHash;
    address node;
}

/// @notice The hub's tunable parameters (owner-set, each within the bounds in `InferenceHub`).
struct HubParams {
    /// @dev Upper bound on a request's callback gas.
    uint32 maxCallbackGas;
    /// @dev Upper bound on a request's input size in bytes.
    uint32 maxInputBytes;
    /// @dev Seconds the reveal phase of a consensus round lasts.
    uint32 revealWindow;
    /// @dev How far in the future (seconds) a deadline may lie.
    uint32 maxDeadlineHorizon;
    /// @dev Fraction of stake taken from a node whose consensus vote lost or was never revealed, in basis points.
    uint16 slashBps;
    /// @dev Largest k for CONSENSUS.
    uint8 maxRedundancy;
    /// @dev Seconds per unit of ticket after which a node's window on a request opens (see {Lottery}): the best
    ///      ticket waits ticketDelay * Exp(1) on average, a dead primary is replaced within 8 * ticketDelay. Should be
    ///      a few block times: the chain cannot order windows that open within one block.
    uint32 ticketDelay;
}

/// @notice A consensus vote.
struct Vote {
    bytes32 commitHash;
    bytes32 outputHash;
    bytes32 envHash;
    bool revealed;
    /// @dev The seats this vote holds (bit j = seat j); the vote weighs as many seats as it holds.
    uint16 seats;
}

/// @notice A consensus round as seen from outside.
struct RoundView {
    /// @dev Seats taken (k of them start the reveal phase).
    uint8 commits;
    /// @dev Seats whose holder revealed.
    uint8 reveals;
    uint64 revealEndsAt;
    /// @dev The majority's output hash once the round reached consensus, zero before.
    bytes32 winningOutputHash;
    /// @dev Every committer of the round and of its escalation, in commit order.
    address[] committers;
    /// @dev Seats of the escalation committee (seats k .. k + escalationSeats - 1), 0 while not escalated. Once
    ///      escalated, `commits`, `reveals` and `revealEndsAt` describe the escalation.
    uint8 escalationSeats;
    uint64 escalatedAt;
    /// @dev When the escalation's reveal phase must be over (its commits close a reveal window before).
    uint64 escalationEndsAt;
}

/// @title IInferenceHub
/// @notice Records inference requests and their results. A request escrows its fee; a staked node (SINGLE) or a
///         strict majority of k staked nodes (CONSENSUS, commit-reveal) answers; the result is bound into a commitment
///         keccak256(requestId, modelId, inputHash, outputHash, envHash, node); the requester's callback receives the
///         output with exactly its gas limit and can never make the delivery fail. ZK requests are answered by one
///         staked node with a zero-knowledge proof that the model's verifier checks before anything is recorded. After the deadline without a result
///         the requester gets the whole fee back, triggered by anyone.
interface IInferenceHub is IModelTermsSink {
    /*//////////////////////////////////////////////////////////////
                            REQUEST ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice No model with this id.
    error UnknownModel(bytes32 modelId);
    /// @notice The model is deprecated and takes no new requests.
    error ModelIsDeprecated(bytes32 modelId);
    /// @notice The model does not allow this verification mode.
    error ModeNotAllowed(bytes32 modelId, Mode mode, uint8 allowedModes);
    /// @notice The input is not the model's canonical input size.
    error InputLengthMismatch(uint256 length, uint256 expected);
    /// @notice The input is larger than the hub accepts, or than a variable-length input's maximum.
    error InputTooLarge(uint256 length, uint256 max);
    /// @notice SINGLE and ZK take redundancy 1; CONSENSUS takes 3..maxRedundancy (two votes cannot outvote one).
    error RedundancyInvalid(Mode mode, uint256 redundancy, uint256 min, uint256 max);
    /// @notice No bonded node at or above the minimum stake serves the model: nobody could answer.
    error NoNodeServes(bytes32 modelId);
    /// @notice CONSENSUS with more seats than nodes serve the model.
    error RedundancyUnavailable(uint256 redundancy, uint256 available);
    /// @notice The fee is below price * redundancy.
    error InsufficientFee(uint256 paid, uint256 required);
    /// @notice The deadline must lie in (earliest, latest].
    error DeadlineInvalid(uint64 deadline, uint256 earliest, uint256 latest);
    /// @notice The callback gas limit exceeds the hub's bound.
    error CallbackGasTooHigh(uint32 callbackGasLimit, uint32 max);

    /*//////////////////////////////////////////////////////////////
                           DELIVERY ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice No request with this id.
    error UnknownRequest(uint256 requestId);
    /// @notice The parameters passed do not hash to the request's stored hash.
    error RequestParamsMismatch(uint256 requestId);
    /// @notice The request is final already.
    error RequestNotPending(uint256 requestId, Status status);
    /// @notice The deadline has passed; nothing is accepted any more.
    error RequestExpired(uint256 requestId, uint64 deadline);
    /// @notice This function serves another mode.
    error WrongMode(uint256 requestId, Mode mode);
    /// @notice The output is not the model's canonical output size.
    error OutputLengthMismatch(uint256 length, uint256 expected);
    /// @notice A variable-length output is longer than the model's maximum.
    error OutputTooLarge(uint256 length, uint256 max);
    /// @notice The caller may not take work for this model.
    error NodeNotEligible(address node, bytes32 modelId, Eligibility reason);
    /// @notice The model does not allow the node's environment.
    error EnvironmentNotAllowed(bytes32 modelId, bytes32 envHash);
    /// @notice The node holds no ticket for this request: its stake grew, or it started serving the model, at or
    ///         after the request (`since` >= `requestedAt`), once the seed could be known.
    error NotAssigned(uint256 requestId, address node, uint64 since, uint64 requestedAt);
    /// @notice The node's window on this seat of the request opens at `opensAt`; better tickets go first.
    error WindowNotOpen(uint256 requestId, address node, uint256 seat, uint256 opensAt);
    /// @notice Too little gas left to give the callback its full limit (the 63/64 rule); send more gas.
    error InsufficientGasForCallback(uint256 available, uint256 required);
    /// @notice A batch must hold between 1 and `max` items.
    error BatchSizeInvalid(uint256 size, uint256 max);

    /*//////////////////////////////////////////////////////////////
                              ZK ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The input passed with a ZK result is not the request's: keccak256(input) differs from its inputHash.
    error InputMismatch(uint256 requestId, bytes32 expected, bytes32 given);
    /// @notice The model's verifier refused the proof for the request's input and the posted output: the output was
    ///         tampered with, or the proof is for another input, another model's circuit, or is malformed. (A
    ///         verifier cannot say which public value is wrong.)
    error ProofRejected(uint256 requestId, address verifier);

    /*//////////////////////////////////////////////////////////////
                           CONSENSUS ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice k commits are in, or too little time is left for a reveal window before the deadline.
    error CommitPhaseClosed(uint256 requestId);
    /// @notice A commit hash must not be zero.
    error CommitHashZero();
    /// @notice `seats` is empty or names a seat outside the open phase's: [0, k) for the round, [k, `redundancy`)
    ///         for its escalation.
    error SeatsInvalid(uint256 requestId, uint16 seats, uint8 redundancy);
    /// @notice A voter of a round may not sit on its escalation committee.
    error NotFresh(uint256 requestId, address node);
    /// @notice Some of the seats are taken already.
    error SeatTaken(uint256 requestId, uint16 taken);
    /// @notice The node committed to this request already.
    error AlreadyCommitted(uint256 requestId, address node);
    /// @notice The node did not commit to this request.
    error NotCommitted(uint256 requestId, address node);
    /// @notice The reveal phase has not started (fewer than k commits).
    error RevealPhaseNotStarted(uint256 requestId, uint8 commits, uint8 redundancy);
    /// @notice The reveal phase is over.
    error RevealPhaseOver(uint256 requestId, uint64 revealEndsAt);
    /// @notice The node revealed already.
    error AlreadyRevealed(uint256 requestId, address node);
    /// @notice keccak256(abi.encode(keccak256(output), salt, node)) is not the committed hash.
    error RevealMismatch(uint256 requestId, address node);
    /// @notice Finalization waits for all reveals or the end of the reveal window.
    error FinalizeTooEarly(uint256 requestId, uint64 revealEndsAt, uint8 reveals, uint8 commits);
    /// @notice The output passed to `finalizeConsensus` is not the majority's.
    error WinningOutputMismatch(uint256 requestId, bytes32 expected, bytes32 given);

    /*//////////////////////////////////////////////////////////////
                         REFUND / FUNDS ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The deadline has not passed yet.
    error DeadlineNotPassed(uint256 requestId, uint64 deadline);
    /// @notice All k votes are in: the round settles through `finalizeConsensus`, not a refund.
    error AwaitingFinalization(uint256 requestId);
    /// @notice ETH cannot be sent to the zero address.
    error RecipientZero();
    /// @notice Nothing to withdraw.
    error NothingToWithdraw(address account);
    /// @notice Sending ETH failed; the balance is untouched.
    error TransferFailed(address to, uint256 amount);
    /// @notice The hub only takes ETH with requests and from the node registry's slashing.
    error UnexpectedEther(address sender, uint256 amount);
    /// @notice A parameter is outside its bounds.
    error ParameterOutOfBounds(string name, uint256 value, uint256 min, uint256 max);
    /// @notice A registry address is not a contract.
    error RegistryInvalid(address registry);
    /// @notice Only the model registry pushes model terms and verifiers.
    error CallerNotModelRegistry(address caller, address registry);
    /// @notice Only the node registry pushes serving stake.
    error CallerNotNodeRegistry(address caller, address registry);
    /// @notice Only the dispute contract may open or close a dispute.
    error CallerNotDisputes(address caller, address disputes);
    /// @notice The dispute contract is set once.
    error DisputesAlreadySet(address disputes);

    /*//////////////////////////////////////////////////////////////
                            FINALITY ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The request holds no provisional SINGLE result that can still be challenged (`finalAt` 0: none at all).
    error NotChallengeable(uint256 requestId, Status status, uint256 finalAt);
    /// @notice The result's parts do not give the recorded commitment.
    error ResultMismatch(uint256 requestId);
    /// @notice The result is not final before `finalAt`.
    error NotFinal(uint256 requestId, uint256 finalAt);
    /// @notice The request did not ask for its callback at finality (`CALLBACK_ON_FINAL`).
    error NoFinalCallback(uint256 requestId);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A request was accepted and its fee escrowed. Carries everything a node needs: with `input`, the
    ///         topics and the model's immutable terms (`outputBytes`, `envRestricted`, read once per model from the
    ///         registry), it rebuilds the `RequestParams` it passes back on delivery.
    event InferenceRequested(
        uint256 indexed requestId,
        bytes32 indexed modelId,
        address indexed requester,
        uint256 fee,
        uint64 deadline,
        uint32 callbackGasLimit,
        Mode mode,
        uint8 redundancy,
        uint256 lottery,
        bytes input
    );

    /// @notice A SINGLE or ZK result was recorded and the fee credited to `node` (the request's mode tells which; a ZK
    ///         result's proof is in the calldata of the transaction that emitted this event).
    event ResultSubmitted(
        uint256 indexed requestId, address indexed node, bytes32 envHash, bytes32 commitment, bytes output
    );

    /// @notice A batch item was skipped (final already, or expired); the rest of the batch went on.
    event ResultSkipped(uint256 indexed requestId, address indexed node, SkipReason reason);

    /// @notice The consumer callback did not complete; the result stays recorded and paid.
    event CallbackFailed(uint256 indexed requestId, address indexed requester, CallbackFailure reason);

    /// @notice A node committed to a consensus round, taking `seats` (bit j = seat j; a node may commit again, with
    ///         the same hash, for more seats whose windows opened later).
    event ResultCommitted(
        uint256 indexed requestId, address indexed node, bytes32 commitHash, bytes32 envHash, uint16 seats
    );

    /// @notice k commits are in; reveals are accepted until `revealEndsAt`.
    event RevealPhaseStarted(uint256 indexed requestId, uint64 revealEndsAt);

    /// @notice A node revealed its output.
    event ResultRevealed(uint256 indexed requestId, address indexed node, bytes32 outputHash, bytes output);

    /// @notice A strict majority agreed; the agreeing nodes shared the fee.
    event ConsensusReached(
        uint256 indexed requestId, bytes32 outputHash, bytes32 commitment, uint8 agreeing, bytes output
    );

    /// @notice No strict majority; the fee went back to the requester.
    event ConsensusFailed(uint256 indexed requestId, uint8 reveals, uint8 commits);

    /// @notice No strict majority among the round's k seats: a fresh committee of `seats` seats (seats k ..
    ///         k + seats - 1, drawn by the same lottery with windows opening from `escalatedAt`, none for a voter of
    ///         the round) re-executes in commit-reveal until `endsAt`; its majority decides the round.
    event ConsensusEscalated(uint256 indexed requestId, uint8 seats, uint64 escalatedAt, uint64 endsAt);

    /// @notice `node` lost `amount` of stake in round `requestId` (wrong or missing reveal). The whole amount is burned
    ///         (locked in the hub for good, see `burned`): a vote count is no proof that anyone outside the round
    ///         produced, and paying the voters or the requester would pay whoever packed the round.
    event VoteSlashed(uint256 indexed requestId, address indexed node, uint256 amount);

    /// @notice The fee of an expired request was credited back to its requester.
    event FeeReclaimed(uint256 indexed requestId, address indexed requester, uint256 amount);

    /// @notice `account` withdrew its balance to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice The owner changed the hub's parameters (also emitted at deployment).
    event ParamsUpdated(HubParams params);

    /*//////////////////////////////////////////////////////////////
                                REQUESTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Requests an inference of `modelId` on `input` (the canonical tensor encoding, see `TensorCodec`).
    /// @dev The whole `msg.value` is escrowed as the fee; it must be at least price * redundancy. Without a callback,
    ///      any excess is a tip that goes to the node(s) with the rest of the fee. With one, the excess pays for the
    ///      callback's gas: the request's gas price cap is excess / callbackGasLimit wei (rounded down, at most
    ///      2^48 - 1), its escrow cap * callbackGasLimit. Whoever delivers (SINGLE, ZK) or finalizes (CONSENSUS) is
    ///      reimbursed the gas the callback used at min(tx.gasprice, cap), at most the escrow, and the requester gets
    ///      the rest of the escrow back; the nodes share fee - escrow. Everything comes back on a refund.
    ///      The caller is the requester: it receives the callback (if `callbackGasLimit` > 0) and any refund.
    ///      The request's lottery, gas price cap, slash and reveal window are fixed now, in `RequestParams.lottery`.
    /// @param redundancy 1 for SINGLE; k (2..maxRedundancy) for CONSENSUS.
    /// @param callbackGasLimit Exact gas for `onInferenceResult`; 0 = no callback. A node is free to leave a
    ///        request whose escrow does not pay its callback (see `lotteryWordOf`).
    /// @param deadline Unix time after which no result is accepted and the fee can be reclaimed. CONSENSUS needs
    ///        room for a reveal window before it.
    function requestInference(
        bytes32 modelId,
        bytes calldata input,
        Mode mode,
        uint8 redundancy,
        uint32 callbackGasLimit,
        uint64 deadline
    ) external payable returns (uint256 requestId);

    /// @notice Reclaims the fee of a request whose deadline passed without a result, crediting the requester's
    ///         withdrawable balance. Anyone may call it. Consensus votes already cast are released unslashed.
    function reclaimFee(uint256 requestId, RequestParams calldata request) external;

    /*//////////////////////////////////////////////////////////////
                                 SINGLE
    //////////////////////////////////////////////////////////////*/

    /// @notice Delivers a SINGLE result: records the commitment, credits the fee to the caller, calls back.
    /// @dev The caller must hold a ticket (see {Lottery}, seat 0) whose window has opened: the best ticket's opens
    ///      first, a fallback's later, everyone's after 8 * ticketDelay.
    function submitResult(uint256 requestId, RequestParams calldata request, bytes calldata output) external;

    /// @notice Delivers many SINGLE results in one transaction. Items already final or past their deadline are skipped
    ///         with `ResultSkipped`; any other bad item reverts the batch with its error.
    /// @return fulfilled How many items were recorded.
    function submitResults(Submission[] calldata items) external returns (uint256 fulfilled);

    /*//////////////////////////////////////////////////////////////
                                   ZK
    //////////////////////////////////////////////////////////////*/

    /// @notice Delivers a ZK result: checks that `input` is the request's input (keccak256(input) == inputHash), builds
    ///         the proof's public instances from `input` and `output` (see {ZkInstances}), has the model's own verifier
    ///         (registered with the model, immutable) check `proof` on them, and only then records the same commitment
    ///         as SINGLE (so `verifyResult` works unchanged), credits the fee to the caller and calls back.
    /// @dev The caller must be a staked node eligible for the model whose lottery window (seat 0) has opened, as in
    ///      SINGLE. That binds a proof to its prover: EZKL's instances are the model's inputs and outputs only, so the
    ///      proof cannot name its submitter, but only the assigned node may submit until the next window opens. A
    ///      proof copied from the mempool, or replayed from another request with the same input, by a node whose
    ///      window is closed reverts `WindowNotOpen`; a node whose window is open could have proven it itself.
    /// @param input The request's input bytes (from `InferenceRequested`); only its hash is stored.
    /// @param proof The proof bytes, passed to the verifier unchanged.
    function submitZkResult(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata input,
        bytes calldata output,
        bytes calldata proof
    ) external;

    /*//////////////////////////////////////////////////////////////
                               CONSENSUS
    //////////////////////////////////////////////////////////////*/

    /// @notice Commits to an output for `seats` (bit j = seat j < k): `commitHash` =
    ///         keccak256(abi.encode(keccak256(output), salt, node)). Each seat has its own lottery (see {Lottery}, seat
    ///         j); the caller's window must have opened on every seat it takes and the seats must be free. A node may
    ///         hold several seats (its vote weighs as many): with one lottery per seat, a stake wins each seat with
    ///         probability stake / S however it is split, so splitting gains no seats. Open while at least a reveal
    ///         window remains before the deadline. A node may commit again with the same hash for more seats.
    ///         Once the round escalated (`ConsensusEscalated`), the seats are the escalation's (k and up), windows open
    ///         from the escalation's time, commits close a reveal window before its end, and no voter of the round
    ///         may take one (`NotFresh`).
    function commitResult(uint256 requestId, RequestParams calldata request, bytes32 commitHash, uint16 seats) external;

    /// @notice Reveals a committed output, during the reveal phase (after k commits, until `revealEndsAt`). The output
    ///         must have the model's output size; it is published in `ResultRevealed` so anyone can finalize.
    function revealResult(uint256 requestId, RequestParams calldata request, bytes calldata output, bytes32 salt)
        external;

    /// @notice Settles a consensus round. Anyone may call it once every committer revealed or the reveal window
    ///         ended. A strict majority of the k seats (> k/2 seats revealed identical outputs) wins: the agreeing
    ///         nodes share the fee by seats and the consumer receives the output; nodes that revealed another output
    ///         or never revealed lose `slashBps` of stake, which is burned. Without a majority the round escalates
    ///         once (see `ConsensusEscalated`): a fresh committee of min(2k + 1, 16 - k) seats, when that is more than
    ///         k and a node outside the round serves the model; the escalation's strict majority then decides, and
    ///         every voter of either that did not reveal its output is slashed (a garbage reveal is no longer free);
    ///         the fee is shared by all agreeing seats of both. Without a majority (or an escalation) the fee goes
    ///         back to the requester and only non-revealers are slashed (burned).
    /// @param output The majority's output (from its `ResultRevealed` events); ignored without a majority.
    function finalizeConsensus(uint256 requestId, RequestParams calldata request, bytes calldata output) external;

    /*//////////////////////////////////////////////////////////////
                                 FUNDS
    //////////////////////////////////////////////////////////////*/

    /// @notice Sends the caller's whole withdrawable balance (earned fees, refunds, slash shares) to `to`.
    function withdraw(address payable to) external returns (uint256 amount);

    /*//////////////////////////////////////////////////////////////
                          FINALITY AND DISPUTES
    //////////////////////////////////////////////////////////////*/

    /// @notice Delivers the callbacks of SINGLE results that asked for them at finality (`CALLBACK_ON_FINAL` in
    ///         `callbackGasLimit`) once their window has passed unchallenged: marks each CONFIRMED, calls back and pays
    ///         the caller the callback's gas out of the request's escrow (as on delivery). Anyone may call it. Items no
    ///         longer FULFILLED (delivered already, or disputed) are skipped with `ResultSkipped`.
    /// @return delivered How many callbacks were delivered.
    function deliverFinal(FinalDelivery[] calldata items) external returns (uint256 delivered);

    /// @notice Marks a provisional SINGLE result DISPUTED. Only the dispute contract calls it, after checking the
    ///         challenger's bond; the hub checks the request, the result (`commitment`) and the window.
    /// @return finalAt When the result would have become final.
    function openDispute(uint256 requestId, RequestParams calldata request, bytes32 commitment)
        external
        returns (uint256 finalAt);

    /// @notice Settles a dispute: CONFIRMED keeps the result, OVERTURNED records `commitment` for the `output` that
    ///         replaces it. A request whose callback waits for finality receives the final output now (its escrow pays
    ///         `payee`); one called back at once receives an overturning output through
    ///         `IInferenceOverturnConsumer.onInferenceOverturned`. ETH sent along is the requester's refund, credited to
    ///         its balance. Only the dispute contract calls it.
    function closeDispute(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata output,
        bytes32 commitment,
        bool overturned,
        address payee
    ) external payable;

    /// @notice Sets the dispute contract, once (owner).
    function setDisputes(address disputes) external;

    /// @notice Sets the hub's parameters. Owner only; each within its bounds.
    function setParams(HubParams calldata params) external;

    /// @notice Stores `modelId`'s serving stake and node count. Only the node registry may call it.
    function syncServing(bytes32 modelId, uint256 stake, uint256 nodes) external;

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The request's status.
    function statusOf(uint256 requestId) external view returns (Status);

    /// @notice Whether the request's result is final and when it is (or was) so. A SINGLE result is final
    ///         `revealWindow` seconds (the request's) after it was recorded unless challenged; every other result is
    ///         final when recorded (`finalAt` 0). Pending, refunded or disputed requests: (false, the window's end or 0).
    function finalityOf(uint256 requestId, RequestParams calldata request)
        external
        view
        returns (bool isFinal, uint256 finalAt);

    /// @notice The stored hash with its lowest byte zeroed: the request's parameter hash while pending or refunded,
    ///         the result commitment once FULFILLED. (The lowest byte of the slot holds the status, so this is not
    ///         equal to the `commitment` of `ResultSubmitted`/`ConsensusReached`: compare with `isCommitment`.)
    function commitmentOf(uint256 requestId) external view returns (bytes32);

    /// @notice Whether `commitment` (as in `ResultSubmitted` or `ConsensusReached`) is the result recorded for
    ///         `requestId`: the request is FULFILLED and the stored commitment matches in all but the lowest byte,
    ///         which the slot uses for the status (248 bits of the hash are compared).
    function isCommitment(uint256 requestId, bytes32 commitment) external view returns (bool);

    /// @notice Whether a claimed result is the one recorded for `requestId`: recomputes the commitment from its parts
    ///         (taken from the events) and compares it with the stored one.
    function verifyResult(
        uint256 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        bytes32 envHash,
        address node
    ) external view returns (bool);

    /// @notice A consensus round's progress and committers.
    function roundOf(uint256 requestId) external view returns (RoundView memory);

    /// @notice A node's vote in a consensus round.
    function voteOf(uint256 requestId, address node) external view returns (Vote memory);

    /// @notice Withdrawable balance of `account`.
    function balanceOf(address account) external view returns (uint256);

    /// @notice The current parameters.
    function params() external view returns (HubParams memory);

    /// @notice The id the next request will get (ids start at 1).
    function nextRequestId() external view returns (uint256);

    /// @notice The hub's copy of `modelId`'s request terms (pushed by the model registry). Reverts `UnknownModel` for
    ///         an id the registry never registered.
    function modelTermsOf(bytes32 modelId) external view returns (ModelTerms memory);

    /// @notice The proof verifier of `modelId` (pushed by the model registry; zero unless the model allows ZK).
    function verifierOf(bytes32 modelId) external view returns (address);

    /// @notice The hub's copy of `modelId`'s serving stake (wei, rounded down to a whole gwei) and node count (pushed
    ///         by the node registry; the count saturates at 255, more than any k).
    function servingOf(bytes32 modelId) external view returns (uint256 stake, uint256 nodes);

    /// @notice The `lottery` word (see {RequestParams}) that `requestInference(modelId, ..., redundancy,
    ///         callbackGasLimit, ...)` with `fee` wei would give request `requestId` if made in this block: what a
    ///         contract that keeps its requests' parameters (see `InferenceConsumer`) stores. Reverts with
    ///         `InsufficientFee` if `fee` is below price * redundancy.
    function lotteryWordOf(bytes32 modelId, uint256 requestId, uint256 fee, uint8 redundancy, uint32 callbackGasLimit)
        external
        view
        returns (uint256);

    /// @notice When `node`'s window on seat `seat` of an open request opens (unix seconds), at its current stake;
    ///         reverts `NotAssigned` if it holds no ticket. SINGLE and ZK have the one seat 0.
    function windowOf(uint256 requestId, RequestParams calldata request, address node, uint256 seat)
        external
        view
        returns (uint256 opensAt);

    /// @notice Total slashed stake burned (kept in the hub, which no function can move).
    function burned() external view returns (uint256);

    function modelRegistry() external view returns (address);
    function nodeRegistry() external view returns (address);
    /// @notice The dispute contract (zero until set).
    function disputes() external view returns (address);
    /// @notice The longest challenge window any request was ever given (the largest `revealWindow` ever set): the
    ///         node registry keeps an unbonding stake that long, so every result's window closes before it leaves.
    function windowCeiling() external view returns (uint256);
}

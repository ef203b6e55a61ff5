// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {
    IInferenceHub,
    CALLBACK_ON_FINAL,
    CallbackFailure,
    FinalDelivery,
    HubParams,
    RequestParams,
    RoundView,
    SkipReason,
    Status,
    Submission,
    Vote
} from "./interfaces/IInferenceHub.sol";
import {IInferenceConsumer, IInferenceOverturnConsumer} from "./interfaces/IInferenceConsumer.sol";
import {IModelRegistry, IModelTermsSink, LENGTH_UP_TO, ModelTerms, Mode} from "./interfaces/IModelRegistry.sol";
import {INodeRegistry, Eligibility, Standing} from "./interfaces/INodeRegistry.sol";
import {IZkVerifier} from "./interfaces/IZkVerifier.sol";
import {Commitments} from "./lib/Commitments.sol";
import {Lottery} from "./lib/Lottery.sol";
import {Proofs} from "./lib/Proofs.sol";
import {ZkInstances} from "./lib/ZkInstances.sol";
import {Owned2Step} from "./utils/Owned2Step.sol";

/// @title InferenceHub
/// @notice Requests, escrow, SINGLE, CONSENSUS and ZK delivery, refunds. See {IInferenceHub}.
/// @dev Per request the hub keeps one slot: the hash of the request's parameters while it is open, the result
///      commitment once fulfilled, with the status in the lowest byte. Everything else travels in events and is passed
///      back by whoever acts on the request (the commitment pattern of Chainlink Functions).
contract InferenceHub is IInferenceHub, Owned2Step {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @dev Hub parameters and the request counter in one slot, so a request reads and writes a single config slot.
    ///      Layout, low to high: [0..31] maxCallbackGas | [32..63] maxInputBytes | [64..95] revealWindow |
    ///      [96..127] maxDeadlineHorizon | [128..143] slashBps | [144..151] maxRedundancy | [152..215] nextRequestId |
    ///      [216..247] ticketDelay.
    struct Config {
        uint32 maxCallbackGas;
        uint32 maxInputBytes;
        uint32 revealWindow;
        uint32 maxDeadlineHorizon;
        uint16 slashBps;
        uint8 maxRedundancy;
        uint64 nextRequestId;
        uint32 ticketDelay;
    }

    /// @dev A model's request terms (pushed by the model registry) and serving stake (pushed by the node registry) in
    ///      one slot, so a request reads one model slot. Layout, low to high: [0..95] price | [96..119] inputBytes |
    ///      [120..143] outputBytes | [144..151] modes | [152..159] flags (bit 0 exists, 1 deprecated, 2 envRestricted,
    ///      3 variable-length input, 4 variable-length output: the sizes are then maxima) | [160..167] servingNodes
    ///      (saturating at 255) | [168..231] servingStake (gwei, rounded down, saturating at 2^64 - 1: 18 billion
    ///      ether) | [232..255] challengeWindow (seconds, 0 = the hub's; the registry bounds it at 7 days, which 24
    ///      bits hold). The registry caps tensors at 65,536 bytes, so 24 bits hold the sizes.
    struct Model {
        uint96 price;
        uint24 inputBytes;
        uint24 outputBytes;
        uint8 modes;
        uint8 flags;
        uint8 servingNodes;
        uint64 servingStake;
        uint24 challengeWindow;
    }

    /// @dev A consensus round. Layout: [0..7] redundancy | [8..15] commits (seats taken in the open phase) |
    ///      [16..23] reveals (seats revealed in it) | [24..87] revealEndsAt (0 until the phase's seats are taken) |
    ///      [88..103] seats (bit j = seat j taken, both phases) | [104..111] escalationSeats | [112..151] escalatedAt
    ///      | [152..191] escalationEndsAt (both 0 unless escalated); second slot: the winning output hash (set on a
    ///      majority).
    struct Round {
        uint8 redundancy;
        uint8 commits;
        uint8 reveals;
        uint64 revealEndsAt;
        uint16 seats;
        uint8 escalationSeats;
        uint40 escalatedAt;
        uint40 escalationEndsAt;
        bytes32 winningOutputHash;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Bounds on the parameters (see {HubParams}).
    uint32 public constant MAX_CALLBACK_GAS_CEILING = 5_000_000;
    uint32 public constant MIN_INPUT_BYTES_BOUND = 8;
    uint32 public constant MAX_INPUT_BYTES_CEILING = 65_536;
    uint32 public constant MIN_REVEAL_WINDOW = 10 seconds;
    uint32 public constant MAX_REVEAL_WINDOW = 7 days;
    uint32 public constant MIN_DEADLINE_HORIZON = 1 minutes;
    uint32 public constant MAX_DEADLINE_HORIZON = 30 days;
    uint16 public constant MAX_SLASH_BPS = 10_000;
    uint8 public constant MAX_REDUNDANCY_CEILING = 16;
    /// @notice The smallest k for CONSENSUS: with two seats one dissenting vote leaves no majority for free.
    uint8 public constant MIN_REDUNDANCY = 3;
    /// @notice Bounds on the lottery's ticket delay (seconds per unit of ticket).
    uint32 public constant MIN_TICKET_DELAY = 1 seconds;
    uint32 public constant MAX_TICKET_DELAY = 1 hours;
    /// @notice Most items in one `submitResults`.
    uint256 public constant MAX_BATCH = 256;
    /// @notice Gas kept back on top of the 63/64 rule for the CALL itself and the bookkeeping before it.
    uint256 public constant CALLBACK_GAS_RESERVE = 5_000;

    uint256 private constant _STATUS_MASK = 0xff;
    /// @dev A result's slot: [255..128] the result commitment's top 128 bits | [127..32] the parameter hash's top 96
    ///      bits (so the parameters can be passed back and checked after delivery: a dispute or a final callback
    ///      needs the requester, its escrow and its window) | [31..8] SINGLE: seconds from the request to the result,
    ///      plus one; 0: final when recorded | [7..0] status. 128 bits of a commitment take 2^128 work to match.
    uint256 private constant _COMMITMENT_MASK = ~uint256(type(uint128).max);
    uint256 private constant _AGE_MASK = 0xffffff00;
    uint8 private constant _EXISTS = 1;
    uint8 private constant _DEPRECATED = 2;
    uint8 private constant _ENV_RESTRICTED = 4;
    uint8 private constant _VARIABLE_INPUT = 8;
    /// @dev Shifted left by 27 it is `LENGTH_UP_TO`: a request's `outputBytes` gets it without a branch.
    uint8 private constant _VARIABLE_OUTPUT = 16;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    IModelRegistry private immutable _models;
    INodeRegistry private immutable _nodes;

    Config private _config;
    /// @dev requestId => [255..8] top 248 bits of the parameter hash (open, refunded, no consensus) or of the result
    ///      commitment (fulfilled) | [7..0] Status.
    mapping(uint256 requestId => bytes32) private _requests;
    /// @dev account => withdrawable wei (fees earned, refunds, slash shares).
    mapping(address account => uint256) private _balances;
    /// @dev modelId => the model's request terms and serving stake (one slot; layout on {Model}).
    mapping(bytes32 modelId => Model) private _modelState;
    /// @dev modelId => the model's fixed-point scale (only views read it).
    mapping(bytes32 modelId => uint64) private _scales;
    /// @dev requestId => consensus round (CONSENSUS requests only).
    mapping(uint256 requestId => Round) private _rounds;
    /// @dev requestId => nodes that committed, in commit order.
    mapping(uint256 requestId => address[]) private _committers;
    /// @dev requestId => node => its vote.
    mapping(uint256 requestId => mapping(address node => Vote)) private _votes;
    /// @dev modelId => the model's proof verifier, pushed by the model registry at registration (ZK models only).
    mapping(bytes32 modelId => IZkVerifier) private _verifiers;
    /// @dev Slashed stake burned so far: it stays in this contract and no function moves it.
    uint256 private _burned;
    /// @dev The dispute contract, set once by the owner.
    address private _disputes;
    /// @dev The largest reveal (and challenge) window ever set.
    uint32 private _windowCeiling;

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(address initialOwner, IModelRegistry models, INodeRegistry nodes, HubParams memory initialParams)
        Owned2Step(initialOwner)
    {
        if (address(models).code.length == 0) revert RegistryInvalid(address(models));
        if (address(nodes).code.length == 0) revert RegistryInvalid(address(nodes));
        _models = models;
        _nodes = nodes;
        _config.nextRequestId = 1;
        _setParams(initialParams);
    }

    /*//////////////////////////////////////////////////////////////
                                RECEIVE
    //////////////////////////////////////////////////////////////*/

    /// @dev Slashed stake arrives from the node registry; the hub credits it in the same call.
    receive() external payable {
        if (msg.sender != address(_nodes)) revert UnexpectedEther(msg.sender, msg.value);
    }

    /*//////////////////////////////////////////////////////////////
                                REQUESTS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    function requestInference(
        bytes32 modelId,
        bytes calldata input,
        Mode mode,
        uint8 redundancy,
        uint32 callbackGasLimit,
        uint64 deadline
    ) external payable returns (uint256 requestId) {
        Config memory cfg = _config;
        Model memory model = _checkRequest(cfg, modelId, input.length, mode, redundancy, callbackGasLimit, deadline);
        requestId = cfg.nextRequestId;
        // Cannot overflow in practice: 2^64 requests.
        unchecked {
            _config.nextRequestId = uint64(requestId + 1);
        }
        RequestParams memory p = RequestParams({
            modelId: modelId,
            inputHash: keccak256(input),
            requester: msg.sender,
            fee: msg.value,
            deadline: deadline,
            callbackGasLimit: callbackGasLimit,
            outputBytes: model.outputBytes | (uint32(model.flags & _VARIABLE_OUTPUT) << 27),
            mode: mode,
            redundancy: redundancy,
            envRestricted: model.flags & _ENV_RESTRICTED != 0,
            lottery: _lotteryWord(cfg, model, requestId, msg.value, redundancy, callbackGasLimit)
        });
        _requests[requestId] = _pack(Commitments.requestHash(requestId, p), Status.PENDING);
        _emitRequested(requestId, p, input);
    }

    /// @inheritdoc IInferenceHub
    function reclaimFee(uint256 requestId, RequestParams calldata request) external {
        bytes32 paramsHash = _checkPending(requestId, request);
        if (block.timestamp <= request.deadline) revert DeadlineNotPassed(requestId, request.deadline);
        if (request.mode == Mode.CONSENSUS) {
            Round storage round = _rounds[requestId];
            // Once k votes are in, the reveal window ends before the deadline by construction: settle by vote.
            if (round.revealEndsAt != 0) revert AwaitingFinalization(requestId);
            // An escalation that did not fill is refunded once its own end has passed too.
            uint40 endsAt = round.escalationEndsAt;
            if (block.timestamp <= endsAt) revert DeadlineNotPassed(requestId, endsAt);
        }
        _requests[requestId] = _pack(paramsHash, Status.REFUNDED);
        _balances[request.requester] += request.fee;
        emit FeeReclaimed(requestId, request.requester, request.fee);
        if (request.mode == Mode.CONSENSUS) _unlockAll(_committers[requestId]);
    }

    /*//////////////////////////////////////////////////////////////
                                 SINGLE
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    function submitResult(uint256 requestId, RequestParams calldata request, bytes calldata output) external {
        bytes32 paramsHash = _checkPending(requestId, request);
        if (request.mode != Mode.SINGLE) revert WrongMode(requestId, request.mode);
        if (block.timestamp > request.deadline) revert RequestExpired(requestId, request.deadline);
        (bytes32 envHash, uint96 stake, uint64 since) =
            _eligibleEnvironment(msg.sender, request.modelId, request.envRestricted);
        _checkWindow(requestId, request.lottery, msg.sender, 0, stake, since, 0);
        _balances[msg.sender] += _recordSingle(requestId, request, output, envHash, paramsHash, true);
    }

    /// @inheritdoc IInferenceHub
    // slither-disable-next-line incorrect-equality (the slot holds a hash; "tainted" by the request time it mixes in)
    function submitResults(Submission[] calldata items) external returns (uint256 fulfilled) {
        uint256 n = items.length;
        if (n == 0 || n > MAX_BATCH) revert BatchSizeInvalid(n, MAX_BATCH);
        bytes32 lastModel = bytes32(0);
        bytes32 envHash = bytes32(0);
        uint96 stake = 0;
        uint64 since = 0;
        uint256 earned = 0;
        for (uint256 i; i < n; ++i) {
            Submission calldata item = items[i];
            uint256 requestId = item.requestId;
            RequestParams calldata p = item.params;
            bytes32 slot = _requests[requestId];
            if (slot == bytes32(0)) revert UnknownRequest(requestId);
            if (_statusOf(slot) != Status.PENDING) {
                emit ResultSkipped(requestId, msg.sender, SkipReason.NOT_PENDING);
                continue;
            }
            bytes32 paramsHash = Commitments.requestHashCalldata(requestId, p);
            if (_prefix(paramsHash) != _prefix(slot)) revert RequestParamsMismatch(requestId);
            if (p.mode != Mode.SINGLE) revert WrongMode(requestId, p.mode);
            if (block.timestamp > p.deadline) {
                emit ResultSkipped(requestId, msg.sender, SkipReason.EXPIRED);
                continue;
            }
            // Batches usually hold one model: check eligibility once per run of equal model ids.
            if (fulfilled == 0 || p.modelId != lastModel) {
                (envHash, stake, since) = _eligibleEnvironment(msg.sender, p.modelId, p.envRestricted);
                lastModel = p.modelId;
            }
            _checkWindow(requestId, p.lottery, msg.sender, 0, stake, since, 0);
            ++fulfilled;
            earned += _recordSingle(requestId, p, item.output, envHash, paramsHash, true);
        }
        if (earned != 0) {
            // A callback above may have settled a consensus round that slashed this node below the minimum stake;
            // a node below the minimum is never paid, so the batch is refused as a whole.
            if (!_nodes.isStaked(msg.sender)) {
                revert NodeNotEligible(msg.sender, lastModel, Eligibility.STAKE_BELOW_MINIMUM);
            }
            _balances[msg.sender] += earned;
        }
    }

    /*//////////////////////////////////////////////////////////////
                                   ZK
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    function submitZkResult(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata input,
        bytes calldata output,
        bytes calldata proof
    ) external {
        bytes32 paramsHash = _checkPending(requestId, request);
        if (request.mode != Mode.ZK) revert WrongMode(requestId, request.mode);
        if (block.timestamp > request.deadline) revert RequestExpired(requestId, request.deadline);
        bytes32 inputHash = keccak256(input);
        if (inputHash != request.inputHash) revert InputMismatch(requestId, request.inputHash, inputHash);
        if (output.length != request.outputBytes) revert OutputLengthMismatch(output.length, request.outputBytes);
        (bytes32 envHash, uint96 stake, uint64 since) =
            _eligibleEnvironment(msg.sender, request.modelId, request.envRestricted);
        // The window binds the proof to its prover: a copy by a node whose window is closed reverts here.
        _checkWindow(requestId, request.lottery, msg.sender, 0, stake, since, 0);
        _checkProof(requestId, _verifiers[request.modelId], proof, ZkInstances.fromTensors(input, output));
        _balances[msg.sender] += _recordSingle(requestId, request, output, envHash, paramsHash, false);
    }

    /*//////////////////////////////////////////////////////////////
                               CONSENSUS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    function commitResult(uint256 requestId, RequestParams calldata request, bytes32 commitHash, uint16 seats)
        external
    {
        _checkPending(requestId, request);
        if (request.mode != Mode.CONSENSUS) revert WrongMode(requestId, request.mode);
        if (commitHash == bytes32(0)) revert CommitHashZero();
        Round storage round = _rounds[requestId];
        uint256 lottery = request.lottery;
        // The open phase: the round's seats [0, k) until the request's deadline, or its escalation's [k, k + e).
        uint256 k = request.redundancy;
        uint256 base = 0;
        uint256 count = k;
        uint256 closesAt = request.deadline;
        uint256 opensFrom = Lottery.requestedAtOf(lottery);
        if (round.escalatedAt != 0) {
            (base, count, opensFrom, closesAt) = (k, round.escalationSeats, round.escalatedAt, round.escalationEndsAt);
        }
        if (seats == 0 || uint256(seats) >> (base + count) != 0 || uint256(seats) & ((1 << base) - 1) != 0) {
            revert SeatsInvalid(requestId, seats, uint8(base + count));
        }
        uint256 revealWindow = Lottery.revealWindowOf(lottery);
        if (round.commits >= count || block.timestamp + revealWindow > closesAt) revert CommitPhaseClosed(requestId);
        if (round.seats & seats != 0) revert SeatTaken(requestId, round.seats & seats);
        Vote storage vote = _votes[requestId][msg.sender];
        bool first = vote.commitHash == bytes32(0);
        if (!first) {
            if (vote.commitHash != commitHash) revert AlreadyCommitted(requestId, msg.sender);
            // A voter of the round may not sit on its escalation: the committee must be fresh.
            if (uint256(vote.seats) >> base == 0) revert NotFresh(requestId, msg.sender);
        }
        (bytes32 envHash, uint96 stake, uint64 since) =
            _eligibleEnvironment(msg.sender, request.modelId, request.envRestricted);
        // One lottery per seat: O(k) tickets, k <= MAX_REDUNDANCY_CEILING, whatever the number of nodes. An
        // escalation's windows open from its own time: the ticket's delay, counted from then.
        uint256 shift = opensFrom - Lottery.requestedAtOf(lottery);
        for (uint256 j = base; j < base + count; ++j) {
            if (seats & (1 << j) != 0) _checkWindow(requestId, lottery, msg.sender, j, stake, since, shift);
        }

        if (first) {
            vote.commitHash = commitHash;
            vote.envHash = envHash;
            _committers[requestId].push(msg.sender);
        } else {
            // A later commit adds seats to the vote; the environment of the first commit stays.
            envHash = vote.envHash;
        }
        vote.seats |= seats;
        round.seats |= seats;
        uint8 commits = round.commits + _popcount(seats);
        round.commits = commits;
        round.redundancy = uint8(k);
        emit ResultCommitted(requestId, msg.sender, commitHash, envHash, seats);
        if (commits == count) {
            // Fits: block.timestamp + revealWindow <= closesAt, a uint64.
            uint64 revealEndsAt = uint64(block.timestamp + revealWindow);
            round.revealEndsAt = revealEndsAt;
            emit RevealPhaseStarted(requestId, revealEndsAt);
        }
        if (first) _nodes.lockStake(msg.sender);
    }

    /// @inheritdoc IInferenceHub
    function revealResult(uint256 requestId, RequestParams calldata request, bytes calldata output, bytes32 salt)
        external
    {
        _checkPending(requestId, request);
        Round storage round = _rounds[requestId];
        uint64 revealEndsAt = round.revealEndsAt;
        if (revealEndsAt == 0) {
            uint8 phaseSeats = round.escalatedAt != 0 ? round.escalationSeats : request.redundancy;
            revert RevealPhaseNotStarted(requestId, round.commits, phaseSeats);
        }
        if (block.timestamp > revealEndsAt) revert RevealPhaseOver(requestId, revealEndsAt);
        if (output.length != request.outputBytes) _checkVariableOutput(output.length, request.outputBytes);
        Vote storage vote = _votes[requestId][msg.sender];
        if (vote.commitHash == bytes32(0)) revert NotCommitted(requestId, msg.sender);
        if (vote.revealed) revert AlreadyRevealed(requestId, msg.sender);
        // The round's reveal phase ended when it escalated: only the escalation's votes reveal now.
        if (round.escalatedAt != 0 && uint256(vote.seats) >> request.redundancy == 0) {
            revert RevealPhaseOver(requestId, round.escalatedAt);
        }
        bytes32 outputHash = keccak256(output);
        if (Commitments.vote(outputHash, salt, msg.sender) != vote.commitHash) {
            revert RevealMismatch(requestId, msg.sender);
        }
        vote.revealed = true;
        vote.outputHash = outputHash;
        round.reveals += _popcount(vote.seats);
        emit ResultRevealed(requestId, msg.sender, outputHash, output);
    }

    /// @inheritdoc IInferenceHub
    function finalizeConsensus(uint256 requestId, RequestParams calldata request, bytes calldata output) external {
        bytes32 paramsHash = _checkPending(requestId, request);
        if (request.mode != Mode.CONSENSUS) revert WrongMode(requestId, request.mode);
        Round memory round = _rounds[requestId];
        uint256 k = request.redundancy;
        bool escalated = round.escalatedAt != 0;
        if (round.revealEndsAt == 0) {
            revert RevealPhaseNotStarted(requestId, round.commits, uint8(escalated ? round.escalationSeats : k));
        }
        if (round.reveals < round.commits && block.timestamp <= round.revealEndsAt) {
            revert FinalizeTooEarly(requestId, round.revealEndsAt, round.reveals, round.commits);
        }
        address[] memory committers = _committers[requestId];
        // The open phase decides: the round's k seats, or its escalation's.
        (uint256 base, uint256 count) = escalated ? (k, uint256(round.escalationSeats)) : (0, k);
        bytes32 winner = _majority(requestId, committers, ((1 << count) - 1) << base, count);
        if (winner != bytes32(0)) {
            _settleMajority(requestId, request, output, committers, winner, base + count, paramsHash);
            return;
        }
        uint256 seats = escalated ? 0 : _escalationSeats(k, request.modelId, committers.length);
        if (seats != 0) {
            _escalate(requestId, request.lottery, seats);
            return;
        }
        _requests[requestId] = _pack(paramsHash, Status.NO_CONSENSUS);
        emit ConsensusFailed(requestId, round.reveals, round.commits);
        // Votes that were revealed cannot be judged without a majority; only the silent ones are slashed.
        _burned += _slashVotes(requestId, committers, bytes32(0), Lottery.slashBpsOf(request.lottery));
        _balances[request.requester] += request.fee;
        _unlockAll(committers);
    }

    /*//////////////////////////////////////////////////////////////
                                 FUNDS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    // Balances mix in gas figures since callbacks are reimbursed, which is what Slither sees in `amount == 0`.
    // slither-disable-next-line incorrect-equality (an empty balance is refused; nothing needs an exact amount)
    function withdraw(address payable to) external returns (uint256 amount) {
        if (to == address(0)) revert RecipientZero();
        amount = _balances[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /*//////////////////////////////////////////////////////////////
                          FINALITY AND DISPUTES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    function deliverFinal(FinalDelivery[] calldata items) external returns (uint256 delivered) {
        uint256 n = items.length;
        if (n == 0 || n > MAX_BATCH) revert BatchSizeInvalid(n, MAX_BATCH);
        uint256 earned = 0;
        for (uint256 i; i < n; ++i) {
            FinalDelivery calldata item = items[i];
            uint256 requestId = item.requestId;
            RequestParams calldata p = item.params;
            bytes32 slot = _requests[requestId];
            if (_statusOf(slot) != Status.FULFILLED) {
                emit ResultSkipped(requestId, msg.sender, SkipReason.NOT_PENDING);
                continue;
            }
            if (!_boundTo(slot, Commitments.requestHashCalldata(requestId, p))) {
                revert RequestParamsMismatch(requestId);
            }
            if (p.callbackGasLimit & CALLBACK_ON_FINAL == 0) revert NoFinalCallback(requestId);
            bytes32 commitment =
                Commitments.result(requestId, p.modelId, p.inputHash, keccak256(item.output), item.envHash, item.node);
            if (uint256(commitment) & _COMMITMENT_MASK != uint256(slot) & _COMMITMENT_MASK) {
                revert ResultMismatch(requestId);
            }
            uint256 finalAt = _finalAt(slot, p.lottery);
            if (block.timestamp < finalAt) revert NotFinal(requestId, finalAt);
            _requests[requestId] = _withStatus(slot, Status.CONFIRMED);
            ++delivered;
            earned += _finalCallback(requestId, p, item.output);
        }
        if (earned != 0) _balances[msg.sender] += earned;
    }

    /// @inheritdoc IInferenceHub
    function openDispute(uint256 requestId, RequestParams calldata request, bytes32 commitment)
        external
        returns (uint256 finalAt)
    {
        _onlyDisputes();
        bytes32 slot = _requests[requestId];
        Status status = _statusOf(slot);
        if (status != Status.FULFILLED) revert NotChallengeable(requestId, status, 0);
        if (!_boundTo(slot, Commitments.requestHashCalldata(requestId, request))) {
            revert RequestParamsMismatch(requestId);
        }
        finalAt = _finalAt(slot, request.lottery);
        // finalAt 0: a ZK or CONSENSUS result, final when recorded.
        // slither-disable-next-line incorrect-equality (finalAt 0 marks a result final when recorded, not a time)
        if (finalAt == 0 || block.timestamp >= finalAt) revert NotChallengeable(requestId, status, finalAt);
        if (uint256(commitment) & _COMMITMENT_MASK != uint256(slot) & _COMMITMENT_MASK) {
            revert ResultMismatch(requestId);
        }
        _requests[requestId] = _withStatus(slot, Status.DISPUTED);
    }

    /// @inheritdoc IInferenceHub
    function closeDispute(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata output,
        bytes32 commitment,
        bool overturned,
        address payee
    ) external payable {
        _onlyDisputes();
        bytes32 slot = _requests[requestId];
        Status status = _statusOf(slot);
        if (status != Status.DISPUTED) revert NotChallengeable(requestId, status, 0);
        bytes32 paramsHash = Commitments.requestHashCalldata(requestId, request);
        if (!_boundTo(slot, paramsHash)) revert RequestParamsMismatch(requestId);
        _requests[requestId] = overturned
            ? _packResult(commitment, paramsHash, 0, Status.OVERTURNED)
            : _withStatus(slot, Status.CONFIRMED);
        // The requester's refund out of the liar's stake, withdrawn like any other refund.
        if (msg.value != 0) _balances[request.requester] += msg.value;
        if (request.callbackGasLimit & CALLBACK_ON_FINAL != 0) {
            uint256 reimbursed = _finalCallback(requestId, request, output);
            if (reimbursed != 0) _balances[payee] += reimbursed;
        } else if (overturned) {
            // The escrow was settled on delivery: the hook's gas is the settler's, paid by its dispute reward.
            _callback(
                requestId,
                request.requester,
                _gasOf(request),
                output,
                IInferenceOverturnConsumer.onInferenceOverturned.selector
            );
        }
    }

    /// @inheritdoc IInferenceHub
    function setDisputes(address disputes_) external onlyOwner {
        if (_disputes != address(0)) revert DisputesAlreadySet(_disputes);
        if (disputes_.code.length == 0) revert RegistryInvalid(disputes_);
        _disputes = disputes_;
    }

    /// @inheritdoc IModelTermsSink
    function syncModelTerms(bytes32 modelId, ModelTerms calldata terms, uint32 challengeWindow) external {
        if (msg.sender != address(_models)) revert CallerNotModelRegistry(msg.sender, address(_models));
        Model storage model = _modelState[modelId];
        model.price = terms.price;
        uint32 inputBytes = terms.inputBytes & ~LENGTH_UP_TO;
        uint32 outputBytes = terms.outputBytes & ~LENGTH_UP_TO;
        // The registry caps tensors at 65,536 bytes; a bigger size would be a registry bug, refused here.
        if (inputBytes > type(uint24).max || outputBytes > type(uint24).max) {
            revert ParameterOutOfBounds("tensorBytes", inputBytes, 0, type(uint24).max);
        }
        model.inputBytes = uint24(inputBytes);
        model.outputBytes = uint24(outputBytes);
        model.modes = terms.modes;
        // The registry bounds the window at 7 days; a longer one would be a registry bug, refused here.
        if (challengeWindow > MAX_REVEAL_WINDOW) {
            revert ParameterOutOfBounds("challengeWindow", challengeWindow, 0, MAX_REVEAL_WINDOW);
        }
        model.challengeWindow = uint24(challengeWindow);
        model.flags = (terms.exists ? _EXISTS : 0) | (terms.deprecated ? _DEPRECATED : 0)
            | (terms.envRestricted ? _ENV_RESTRICTED : 0) | (terms.inputBytes != inputBytes ? _VARIABLE_INPUT : 0)
            | (terms.outputBytes != outputBytes ? _VARIABLE_OUTPUT : 0);
        _scales[modelId] = terms.scale;
    }

    /// @inheritdoc IInferenceHub
    function syncServing(bytes32 modelId, uint256 stake, uint256 nodes) external {
        if (msg.sender != address(_nodes)) revert CallerNotNodeRegistry(msg.sender, address(_nodes));
        Model storage model = _modelState[modelId];
        uint256 inGwei = stake / Lottery.GWEI;
        model.servingStake = inGwei > type(uint64).max ? type(uint64).max : uint64(inGwei);
        model.servingNodes = nodes > type(uint8).max ? type(uint8).max : uint8(nodes);
    }

    /// @inheritdoc IModelTermsSink
    function syncModelVerifier(bytes32 modelId, address verifier) external {
        if (msg.sender != address(_models)) revert CallerNotModelRegistry(msg.sender, address(_models));
        _verifiers[modelId] = IZkVerifier(verifier);
    }

    /// @inheritdoc IInferenceHub
    function setParams(HubParams calldata newParams) external onlyOwner {
        _setParams(newParams);
    }

    /*//////////////////////////////////////////////////////////////
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @dev Validates a request against the model's terms and the hub's bounds; returns the terms.
    function _checkRequest(
        Config memory cfg,
        bytes32 modelId,
        uint256 inputLength,
        Mode mode,
        uint8 redundancy,
        uint32 callbackGasLimit,
        uint64 deadline
    ) private view returns (Model memory model) {
        model = _modelState[modelId];
        if (model.flags & _EXISTS == 0) revert UnknownModel(modelId);
        if (model.flags & _DEPRECATED != 0) revert ModelIsDeprecated(modelId);
        if (model.modes & (1 << uint8(mode)) == 0) revert ModeNotAllowed(modelId, mode, model.modes);
        if (inputLength > cfg.maxInputBytes) revert InputTooLarge(inputLength, cfg.maxInputBytes);
        if (inputLength != model.inputBytes) {
            if (model.flags & _VARIABLE_INPUT == 0) revert InputLengthMismatch(inputLength, model.inputBytes);
            if (inputLength > model.inputBytes) revert InputTooLarge(inputLength, model.inputBytes);
        }
        // SINGLE and ZK are answered by one node.
        if (mode != Mode.CONSENSUS) {
            if (redundancy != 1) revert RedundancyInvalid(mode, redundancy, 1, 1);
        } else if (redundancy < MIN_REDUNDANCY || redundancy > cfg.maxRedundancy) {
            revert RedundancyInvalid(mode, redundancy, MIN_REDUNDANCY, cfg.maxRedundancy);
        }
        // Refuse what nobody could serve rather than lock the fee until the deadline.
        if (model.servingStake == 0) revert NoNodeServes(modelId);
        if (redundancy > model.servingNodes) revert RedundancyUnavailable(redundancy, model.servingNodes);
        uint256 required = uint256(model.price) * redundancy;
        if (msg.value < required) revert InsufficientFee(msg.value, required);
        // CONSENSUS needs a whole reveal window before the deadline.
        uint256 earliest = block.timestamp + (mode == Mode.CONSENSUS ? cfg.revealWindow : 0);
        uint256 latest = block.timestamp + cfg.maxDeadlineHorizon;
        if (deadline <= earliest || deadline > latest) revert DeadlineInvalid(deadline, earliest, latest);
        uint32 gas = callbackGasLimit & ~CALLBACK_ON_FINAL;
        if (gas > cfg.maxCallbackGas) revert CallbackGasTooHigh(gas, cfg.maxCallbackGas);
    }

    function _emitRequested(uint256 requestId, RequestParams memory p, bytes calldata input) private {
        emit InferenceRequested(
            requestId,
            p.modelId,
            p.requester,
            p.fee,
            p.deadline,
            p.callbackGasLimit,
            p.mode,
            p.redundancy,
            p.lottery,
            input
        );
    }

    /// @dev The `lottery` word of a request (layout on {RequestParams}); `fee` >= price * redundancy. The seed is
    ///      known to the block's producer (who may withhold the block: ~1 bit of bias per block withheld) and, as
    ///      prevrandao is public one block ahead, to a requester choosing when to send (one draw per block).
    function _lotteryWord(
        Config memory cfg,
        Model memory model,
        uint256 requestId,
        uint256 fee,
        uint256 redundancy,
        uint256 callbackGasLimit
    ) private view returns (uint256) {
        uint256 cap = 0;
        uint256 gas = callbackGasLimit & ~uint256(CALLBACK_ON_FINAL);
        if (gas != 0) {
            cap = (fee - uint256(model.price) * redundancy) / gas;
            if (cap > type(uint48).max) cap = type(uint48).max;
        }
        uint256 word = Lottery.pack(
            Lottery.seedAt(requestId), block.timestamp, uint256(model.servingStake) * Lottery.GWEI, cfg.ticketDelay
        );
        // A SINGLE or ZK request (one seat) is challengeable for its model's window when that is shorter than the
        // hub's; CONSENSUS reveals in the hub's window.
        uint256 window = cfg.revealWindow;
        if (redundancy == 1 && model.challengeWindow != 0 && model.challengeWindow < window) {
            window = model.challengeWindow;
        }
        return Lottery.withTerms(word, cap, cfg.slashBps, window);
    }

    /// @dev Records the majority's output, slashes the other votes, pays, unlocks and calls back.
    // The escrow is settled after the callback on purpose: only then is its gas known. The round is settled before,
    // so a callback that re-enters finds it closed and the escrow credited to nobody yet; the node registry is the
    // hub's own, immutable.
    // slither-disable-next-line reentrancy-no-eth (settled after the callback on purpose, see above)
    function _settleMajority(
        uint256 requestId,
        RequestParams calldata p,
        bytes calldata output,
        address[] memory committers,
        bytes32 winner,
        uint256 seats,
        bytes32 paramsHash
    ) private {
        bytes32 givenHash = keccak256(output);
        if (givenHash != winner) revert WinningOutputMismatch(requestId, winner, givenHash);
        (address[] memory agreed, bytes32[] memory nodeCommitments) =
            _agreeing(requestId, committers, p.modelId, p.inputHash, winner);
        bytes32 commitment = Commitments.consensus(requestId, winner, nodeCommitments);
        _requests[requestId] = _packResult(commitment, paramsHash, 0, Status.FULFILLED);
        _rounds[requestId].winningOutputHash = winner;
        emit ConsensusReached(requestId, winner, commitment, uint8(agreed.length), output);

        _burned += _slashVotes(requestId, committers, winner, Lottery.slashBpsOf(p.lottery));
        uint256 escrow = _escrowOf(p);
        _distribute(requestId, p.requester, p.fee - escrow, agreed, seats);
        _unlockAll(committers);
        // The finalizer, who pays for the callback, is reimbursed from the escrow.
        uint256 used =
            _callback(requestId, p.requester, _gasOf(p), output, IInferenceConsumer.onInferenceResult.selector);
        if (escrow != 0) _balances[msg.sender] += _settleEscrow(p, escrow, used);
    }

    /// @dev Reverts with `ProofRejected` unless `verifier` accepts `proof` on `instances` (see {Proofs}).
    function _checkProof(uint256 requestId, IZkVerifier verifier, bytes calldata proof, uint256[] memory instances)
        private
        view
    {
        if (!Proofs.accepted(address(verifier), proof, instances)) revert ProofRejected(requestId, address(verifier));
    }

    /// @dev Records a SINGLE (or proven ZK) result, emits it and calls back; returns what the node earned: the fee
    ///      less the callback's escrow, plus the callback's gas out of the escrow (the rest of which goes back to the
    ///      requester). The caller has checked the request and the node, and credits the node.
    ///      A SINGLE result (`provisional`) records its age, which starts its challenge window; one whose callback
    ///      waits for finality keeps its escrow for `deliverFinal` or `closeDispute`.
    function _recordSingle(
        uint256 requestId,
        RequestParams calldata p,
        bytes calldata output,
        bytes32 envHash,
        bytes32 paramsHash,
        bool provisional
    ) private returns (uint256 earned) {
        // A fixed-size output passes the first comparison: a variable-length one costs the second only.
        if (output.length != p.outputBytes) _checkVariableOutput(output.length, p.outputBytes);
        bytes32 commitment =
            Commitments.result(requestId, p.modelId, p.inputHash, keccak256(output), envHash, msg.sender);
        // The age fits 24 bits: a result comes before the deadline, at most 30 days after the request.
        uint256 age = provisional ? block.timestamp - Lottery.requestedAtOf(p.lottery) + 1 : 0;
        _requests[requestId] = _packResult(commitment, paramsHash, age, Status.FULFILLED);
        emit ResultSubmitted(requestId, msg.sender, envHash, commitment, output);
        uint256 escrow = _escrowOf(p);
        // escrow <= fee - price * redundancy: the hub set both, and the parameters' hash was checked.
        unchecked {
            earned = p.fee - escrow;
        }
        if (provisional && p.callbackGasLimit & CALLBACK_ON_FINAL != 0) return earned;
        uint256 used =
            _callback(requestId, p.requester, _gasOf(p), output, IInferenceConsumer.onInferenceResult.selector);
        if (escrow != 0) earned += _settleEscrow(p, escrow, used);
    }

    /// @dev Reverts unless an output of `length` bytes, not the fixed size `outputBytes`, fits a variable-length
    ///      output (`outputBytes` carries `LENGTH_UP_TO`) of at most its low bits.
    function _checkVariableOutput(uint256 length, uint32 outputBytes) private pure {
        if (outputBytes & LENGTH_UP_TO == 0) revert OutputLengthMismatch(length, outputBytes);
        uint256 max = outputBytes & ~LENGTH_UP_TO;
        if (length > max) revert OutputTooLarge(length, max);
    }

    /// @dev The callback's gas: `callbackGasLimit` without the `CALLBACK_ON_FINAL` flag.
    function _gasOf(RequestParams calldata p) private pure returns (uint32) {
        return p.callbackGasLimit & ~CALLBACK_ON_FINAL;
    }

    /// @dev A request's callback escrow: its gas price cap times its callback gas limit (0 without a callback).
    function _escrowOf(RequestParams calldata p) private pure returns (uint256) {
        // A 48-bit price times a 32-bit limit.
        unchecked {
            return Lottery.callbackGasPriceOf(p.lottery) * _gasOf(p);
        }
    }

    /// @dev Pays the caller `used` gas of a callback at min(tx.gasprice, the request's cap) out of the request's
    ///      escrow, never more than the escrow, and credits the requester the rest; returns what the caller gets. A
    ///      caller bidding above the cap is paid the cap; one that is also the block's producer earns its priority fee
    ///      back, so it can take up to the cap per gas used: the price the requester named.
    function _settleEscrow(RequestParams calldata p, uint256 escrow, uint256 used)
        private
        returns (uint256 reimbursed)
    {
        uint256 cap = Lottery.callbackGasPriceOf(p.lottery);
        reimbursed = used * (tx.gasprice < cap ? tx.gasprice : cap);
        if (reimbursed > escrow) reimbursed = escrow;
        if (escrow != reimbursed) _balances[p.requester] += escrow - reimbursed;
    }

    /// @dev Calls `requester.onInferenceResult` with exactly `gasLimit` gas, copying no return data (a return bomb
    ///      costs the hub nothing) and never bubbling a revert; returns the gas the CALL cost (0 without a callback or
    ///      without code to call: the account check is part of every delivery, paid by the fee).
    ///      Reverts the whole delivery if the caller left too little gas to honour the limit, so a node cannot starve
    ///      a callback on purpose.
    function _callback(uint256 requestId, address requester, uint32 gasLimit, bytes calldata output, bytes4 selector)
        private
        returns (uint256 used)
    {
        if (gasLimit == 0) return 0;
        if (requester.code.length == 0) {
            emit CallbackFailed(requestId, requester, CallbackFailure.NO_CODE);
            return 0;
        }
        // Both hooks take (requestId, output).
        bytes memory data = abi.encodeWithSelector(selector, requestId, output);
        // The CALL forwards at most 63/64 of the gas left; need gasLimit * 64/63 (rounded up) plus the reserve.
        uint256 required = uint256(gasLimit) + uint256(gasLimit) / 63 + 1 + CALLBACK_GAS_RESERVE;
        uint256 available = gasleft();
        if (available < required) revert InsufficientGasForCallback(available, required);
        bool ok;
        assembly ("memory-safe") {
            used := gas()
            ok := call(gasLimit, requester, 0, add(data, 0x20), mload(data), 0, 0)
            used := sub(used, gas())
        }
        if (!ok) emit CallbackFailed(requestId, requester, CallbackFailure.REVERTED);
    }

    /// @dev The strict-majority output among the votes revealed for the seats in `mask` (> count / 2 of its `count`
    ///      seats), or zero.
    function _majority(uint256 requestId, address[] memory committers, uint256 mask, uint256 count)
        private
        view
        returns (bytes32)
    {
        uint256 n = committers.length;
        uint16 phase = uint16(mask);
        for (uint256 i; i < n; ++i) {
            Vote storage a = _votes[requestId][committers[i]];
            if (!a.revealed || a.seats & phase == 0) continue;
            uint256 same = 0;
            for (uint256 j; j < n; ++j) {
                Vote storage b = _votes[requestId][committers[j]];
                if (b.revealed && b.outputHash == a.outputHash) same += _popcount(b.seats & phase);
            }
            if (same * 2 > count) return a.outputHash;
        }
        return bytes32(0);
    }

    /// @dev The seats of the escalation of a round of `k` seats with `committers` voters: min(2k + 1, 16 - k) when
    ///      that is more than k and a serving node outside the round may take them; else 0 (no escalation).
    function _escalationSeats(uint256 k, bytes32 modelId, uint256 committers) private view returns (uint256 seats) {
        seats = 2 * k + 1;
        if (seats > MAX_REDUNDANCY_CEILING - k) seats = MAX_REDUNDANCY_CEILING - k;
        if (seats <= k || _modelState[modelId].servingNodes <= committers) return 0;
    }

    /// @dev Opens the escalation of round `requestId`: a fresh phase of `seats` seats from now (the round's votes stay
    ///      locked until it settles).
    function _escalate(uint256 requestId, uint256 lottery, uint256 seats) private {
        // Every window open (MAX_TICKET_UNITS ticket delays), then a reveal window to commit in and one to reveal
        // in. Fits 40 bits: a 40-bit time plus at most 8 hours and 14 days.
        uint256 endsAt = block.timestamp + Lottery.MAX_TICKET_UNITS * Lottery.ticketDelayOf(lottery) + 2
            * Lottery.revealWindowOf(lottery);
        Round storage round = _rounds[requestId];
        round.escalationSeats = uint8(seats);
        round.escalatedAt = uint40(block.timestamp);
        round.escalationEndsAt = uint40(endsAt);
        round.commits = 0;
        round.reveals = 0;
        round.revealEndsAt = 0;
        emit ConsensusEscalated(requestId, uint8(seats), uint64(block.timestamp), uint64(endsAt));
    }

    /// @dev The committers that revealed `outputHash`, in commit order, with each one's result commitment.
    function _agreeing(
        uint256 requestId,
        address[] memory committers,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash
    ) private view returns (address[] memory agreed, bytes32[] memory nodeCommitments) {
        uint256 k = committers.length;
        agreed = new address[](k);
        nodeCommitments = new bytes32[](k);
        uint256 n;
        for (uint256 i; i < k; ++i) {
            Vote storage vote = _votes[requestId][committers[i]];
            if (vote.revealed && vote.outputHash == outputHash) {
                agreed[n] = committers[i];
                nodeCommitments[n] =
                    Commitments.result(requestId, modelId, inputHash, outputHash, vote.envHash, committers[i]);
                ++n;
            }
        }
        assembly ("memory-safe") {
            // Shrink both arrays to the agreeing votes (n <= k, so no memory is exposed).
            mstore(agreed, n)
            mstore(nodeCommitments, n)
        }
    }

    /// @dev Slashes every committer that did not reveal `winner` (with `winner` zero: every committer that did not
    ///      reveal). Returns the total taken; the ETH has arrived in this contract when it returns.
    ///      `bps` is the request's slash, fixed when it was made.
    function _slashVotes(uint256 requestId, address[] memory committers, bytes32 winner, uint256 bps)
        private
        returns (uint256 total)
    {
        for (uint256 i; i < committers.length; ++i) {
            Vote storage vote = _votes[requestId][committers[i]];
            bool honest = winner == bytes32(0) ? vote.revealed : (vote.revealed && vote.outputHash == winner);
            if (honest) continue;
            uint256 amount = _nodes.slash(committers[i], uint16(bps));
            total += amount;
            emit VoteSlashed(requestId, committers[i], amount);
        }
    }

    /// @dev Splits `fee` (the request's fee less its callback escrow) among the agreeing nodes by seats (fee / `seats`
    ///      per seat: k, or k plus the escalation's); every rounding remainder and the share of the seats that did not agree go back to the requester, so
    ///      the sums are conserved exactly. An agreeing node is paid whatever the minimum stake became since it
    ///      committed: its seats were won under the request's terms.
    // slither-disable-next-line divide-before-multiply (fee / k per seat on purpose; the remainder goes back)
    function _distribute(uint256 requestId, address requester, uint256 fee, address[] memory agreed, uint256 seats)
        private
    {
        uint256 perSeat = fee / seats;
        uint256 toRequester = fee;
        for (uint256 i; i < agreed.length; ++i) {
            uint256 share = perSeat * _popcount(_votes[requestId][agreed[i]].seats);
            _balances[agreed[i]] += share;
            toRequester -= share;
        }
        _balances[requester] += toRequester;
    }

    function _unlockAll(address[] memory committers) private {
        for (uint256 i; i < committers.length; ++i) {
            _nodes.unlockStake(committers[i]);
        }
    }

    /// @dev Reverts unless `requestId` is open and `p` are its parameters; returns their hash.
    // slither-disable-next-line incorrect-equality (the slot holds a hash; "tainted" by the request time it mixes in)
    function _checkPending(uint256 requestId, RequestParams calldata p) private view returns (bytes32 paramsHash) {
        bytes32 slot = _requests[requestId];
        if (slot == bytes32(0)) revert UnknownRequest(requestId);
        Status status = _statusOf(slot);
        if (status != Status.PENDING) revert RequestNotPending(requestId, status);
        paramsHash = Commitments.requestHashCalldata(requestId, p);
        if (_prefix(paramsHash) != _prefix(slot)) revert RequestParamsMismatch(requestId);
    }

    /// @dev The environment `node` works under for `modelId`, its stake and the time since which it may hold tickets;
    ///      reverts if it may not work for the model.
    function _eligibleEnvironment(address node, bytes32 modelId, bool envRestricted)
        private
        view
        returns (bytes32 envHash, uint96 stake, uint64 since)
    {
        Standing memory s = _nodes.standing(node, modelId);
        if (s.status != Eligibility.ELIGIBLE) revert NodeNotEligible(node, modelId, s.status);
        (envHash, stake, since) = (s.envHash, s.stake, s.since);
        if (envRestricted && !_models.isEnvironmentAllowed(modelId, envHash)) {
            revert EnvironmentNotAllowed(modelId, envHash);
        }
    }

    /// @dev Reverts unless `node` (with `stake`, holding tickets since `since`) may act on seat `seat` of the request
    ///      now: its ticket's window, opening `shift` seconds later than the request's draw says (an escalation's
    ///      seats), has opened. O(1): one hash and one logarithm.
    function _checkWindow(
        uint256 requestId,
        uint256 lottery,
        address node,
        uint256 seat,
        uint96 stake,
        uint64 since,
        uint256 shift
    ) private view {
        _ticketHolder(requestId, lottery, node, since);
        uint256 opensAt = Lottery.opensAt(lottery, requestId, node, seat, stake) + shift;
        if (block.timestamp < opensAt) revert WindowNotOpen(requestId, node, seat, opensAt);
    }

    /// @dev The request's time; reverts unless a node holding tickets since `since` holds one for it. A stake that
    ///      grew, or a service that began, once the seed could be known holds none: a ticket can only get worse after
    ///      the request (slashing), never better.
    function _ticketHolder(uint256 requestId, uint256 lottery, address node, uint64 since)
        private
        pure
        returns (uint256 requestedAt)
    {
        requestedAt = Lottery.requestedAtOf(lottery);
        if (since >= requestedAt) revert NotAssigned(requestId, node, since, uint64(requestedAt));
    }

    function _popcount(uint16 bits) private pure returns (uint8 n) {
        // Cannot overflow: at most 16 bits are set.
        unchecked {
            while (bits != 0) {
                bits &= bits - 1;
                ++n;
            }
        }
    }

    function _setParams(HubParams memory p) private {
        _checkBound("maxCallbackGas", p.maxCallbackGas, 0, MAX_CALLBACK_GAS_CEILING);
        _checkBound("maxInputBytes", p.maxInputBytes, MIN_INPUT_BYTES_BOUND, MAX_INPUT_BYTES_CEILING);
        _checkBound("revealWindow", p.revealWindow, MIN_REVEAL_WINDOW, MAX_REVEAL_WINDOW);
        // A consensus deadline must fit a reveal window, so the horizon must exceed it.
        _checkBound("maxDeadlineHorizon", p.maxDeadlineHorizon, uint256(p.revealWindow) + 1, MAX_DEADLINE_HORIZON);
        _checkBound("maxDeadlineHorizon", p.maxDeadlineHorizon, MIN_DEADLINE_HORIZON, MAX_DEADLINE_HORIZON);
        _checkBound("slashBps", p.slashBps, 1, MAX_SLASH_BPS);
        _checkBound("maxRedundancy", p.maxRedundancy, MIN_REDUNDANCY, MAX_REDUNDANCY_CEILING);
        _checkBound("ticketDelay", p.ticketDelay, MIN_TICKET_DELAY, MAX_TICKET_DELAY);
        Config storage cfg = _config;
        cfg.maxCallbackGas = p.maxCallbackGas;
        cfg.maxInputBytes = p.maxInputBytes;
        cfg.revealWindow = p.revealWindow;
        cfg.maxDeadlineHorizon = p.maxDeadlineHorizon;
        cfg.slashBps = p.slashBps;
        cfg.maxRedundancy = p.maxRedundancy;
        cfg.ticketDelay = p.ticketDelay;
        if (p.revealWindow > _windowCeiling) _windowCeiling = p.revealWindow;
        emit ParamsUpdated(p);
    }

    function _checkBound(string memory name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert ParameterOutOfBounds(name, value, min, max);
    }

    function _packResult(bytes32 commitment, bytes32 paramsHash, uint256 age, Status status)
        private
        pure
        returns (bytes32)
    {
        return bytes32(
            (uint256(commitment) & _COMMITMENT_MASK) | ((uint256(paramsHash) >> 160) << 32) | (age << 8)
                | uint256(status)
        );
    }

    /// @dev Whether a result's slot was recorded for the parameters hashing to `paramsHash`.
    function _boundTo(bytes32 slot, bytes32 paramsHash) private pure returns (bool) {
        // slither-disable-next-line incorrect-equality (compares two hashes' bits; the slot mixes in a time)
        return uint96(uint256(slot) >> 32) == uint96(uint256(paramsHash) >> 160);
    }

    /// @dev When a provisional result in `slot` of a request with `lottery` becomes final (0: final when recorded).
    function _finalAt(bytes32 slot, uint256 lottery) private pure returns (uint256) {
        uint256 age = (uint256(slot) & _AGE_MASK) >> 8;
        // slither-disable-next-line incorrect-equality (age 0 marks a result final when recorded, not a time)
        if (age == 0) return 0;
        return Lottery.requestedAtOf(lottery) + age - 1 + Lottery.revealWindowOf(lottery);
    }

    /// @dev Whether the status holds a result (the slot is laid out as `_packResult` says).
    function _holdsResult(Status status) private pure returns (bool) {
        // slither-disable-next-line incorrect-equality (a status, not a balance: an exact match is the meaning)
        return status == Status.FULFILLED || status >= Status.CONFIRMED;
    }

    /// @dev Calls back a final result of a request whose callback waited for finality; returns what its escrow pays
    ///      the caller (the rest goes back to the requester).
    function _finalCallback(uint256 requestId, RequestParams calldata p, bytes calldata output)
        private
        returns (uint256 reimbursed)
    {
        uint256 used =
            _callback(requestId, p.requester, _gasOf(p), output, IInferenceConsumer.onInferenceResult.selector);
        uint256 escrow = _escrowOf(p);
        if (escrow != 0) reimbursed = _settleEscrow(p, escrow, used);
    }

    function _onlyDisputes() private view {
        if (msg.sender != _disputes) revert CallerNotDisputes(msg.sender, _disputes);
    }

    function _withStatus(bytes32 slot, Status status) private pure returns (bytes32) {
        return bytes32((uint256(slot) & ~_STATUS_MASK) | uint256(status));
    }

    function _pack(bytes32 hash, Status status) private pure returns (bytes32) {
        return bytes32((uint256(hash) & ~_STATUS_MASK) | uint256(status));
    }

    function _prefix(bytes32 slot) private pure returns (bytes32) {
        return bytes32(uint256(slot) & ~_STATUS_MASK);
    }

    function _statusOf(bytes32 slot) private pure returns (Status) {
        return Status(uint8(uint256(slot) & _STATUS_MASK));
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IInferenceHub
    function statusOf(uint256 requestId) external view returns (Status) {
        return _statusOf(_requests[requestId]);
    }

    /// @inheritdoc IInferenceHub
    function commitmentOf(uint256 requestId) external view returns (bytes32) {
        bytes32 slot = _requests[requestId];
        if (_holdsResult(_statusOf(slot))) return bytes32(uint256(slot) & _COMMITMENT_MASK);
        return _prefix(slot);
    }

    /// @inheritdoc IInferenceHub
    // slither-disable-next-line incorrect-equality (the slot holds a hash; "tainted" by the request time it mixes in)
    function isCommitment(uint256 requestId, bytes32 commitment) external view returns (bool) {
        bytes32 slot = _requests[requestId];
        return _standing(slot) && uint256(slot) & _COMMITMENT_MASK == uint256(commitment) & _COMMITMENT_MASK;
    }

    /// @dev Whether `slot` holds a result that stands: recorded, confirmed or the one a dispute put in place.
    function _standing(bytes32 slot) private pure returns (bool) {
        Status status = _statusOf(slot);
        // slither-disable-next-line incorrect-equality (a status, not a balance: an exact match is the meaning)
        return status == Status.FULFILLED || status == Status.CONFIRMED || status == Status.OVERTURNED;
    }

    /// @inheritdoc IInferenceHub
    // slither-disable-next-line incorrect-equality (the slot holds a hash; "tainted" by the request time it mixes in)
    function verifyResult(
        uint256 requestId,
        bytes32 modelId,
        bytes32 inputHash,
        bytes32 outputHash,
        bytes32 envHash,
        address node
    ) external view returns (bool) {
        bytes32 slot = _requests[requestId];
        if (!_standing(slot)) return false;
        address[] memory committers = _committers[requestId];
        if (committers.length == 0) {
            bytes32 expected = Commitments.result(requestId, modelId, inputHash, outputHash, envHash, node);
            return uint256(expected) & _COMMITMENT_MASK == uint256(slot) & _COMMITMENT_MASK;
        }
        // CONSENSUS: `node` must have voted for the winning output under `envHash`, and the agreeing nodes'
        // commitments rebuilt from storage must give the stored consensus commitment.
        if (_rounds[requestId].winningOutputHash != outputHash) return false;
        Vote storage mine = _votes[requestId][node];
        if (!mine.revealed || mine.outputHash != outputHash || mine.envHash != envHash) return false;
        (, bytes32[] memory nodeCommitments) = _agreeing(requestId, committers, modelId, inputHash, outputHash);
        return uint256(Commitments.consensus(requestId, outputHash, nodeCommitments)) & _COMMITMENT_MASK
            == uint256(slot) & _COMMITMENT_MASK;
    }

    /// @inheritdoc IInferenceHub
    function finalityOf(uint256 requestId, RequestParams calldata request)
        external
        view
        returns (bool isFinal, uint256 finalAt)
    {
        bytes32 slot = _requests[requestId];
        Status status = _statusOf(slot);
        if (!_holdsResult(status)) return (false, 0);
        if (!_boundTo(slot, Commitments.requestHashCalldata(requestId, request))) {
            revert RequestParamsMismatch(requestId);
        }
        finalAt = _finalAt(slot, request.lottery);
        // slither-disable-next-line incorrect-equality (a status, not a balance: an exact match is the meaning)
        if (status == Status.FULFILLED) isFinal = block.timestamp >= finalAt;
        else isFinal = status != Status.DISPUTED;
    }

    /// @inheritdoc IInferenceHub
    function roundOf(uint256 requestId) external view returns (RoundView memory) {
        Round storage round = _rounds[requestId];
        return RoundView({
            commits: round.commits,
            reveals: round.reveals,
            revealEndsAt: round.revealEndsAt,
            winningOutputHash: round.winningOutputHash,
            committers: _committers[requestId],
            escalationSeats: round.escalationSeats,
            escalatedAt: round.escalatedAt,
            escalationEndsAt: round.escalationEndsAt
        });
    }

    /// @inheritdoc IInferenceHub
    function voteOf(uint256 requestId, address node) external view returns (Vote memory) {
        return _votes[requestId][node];
    }

    /// @inheritdoc IInferenceHub
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IInferenceHub
    function params() external view returns (HubParams memory) {
        Config memory cfg = _config;
        return HubParams({
            maxCallbackGas: cfg.maxCallbackGas,
            maxInputBytes: cfg.maxInputBytes,
            revealWindow: cfg.revealWindow,
            maxDeadlineHorizon: cfg.maxDeadlineHorizon,
            slashBps: cfg.slashBps,
            maxRedundancy: cfg.maxRedundancy,
            ticketDelay: cfg.ticketDelay
        });
    }

    /// @inheritdoc IInferenceHub
    function nextRequestId() external view returns (uint256) {
        return _config.nextRequestId;
    }

    /// @inheritdoc IInferenceHub
    function modelTermsOf(bytes32 modelId) external view returns (ModelTerms memory terms) {
        Model memory model = _modelState[modelId];
        if (model.flags & _EXISTS == 0) revert UnknownModel(modelId);
        terms = ModelTerms({
            price: model.price,
            inputBytes: model.inputBytes | (model.flags & _VARIABLE_INPUT != 0 ? LENGTH_UP_TO : 0),
            outputBytes: model.outputBytes | (model.flags & _VARIABLE_OUTPUT != 0 ? LENGTH_UP_TO : 0),
            modes: model.modes,
            deprecated: model.flags & _DEPRECATED != 0,
            envRestricted: model.flags & _ENV_RESTRICTED != 0,
            exists: true,
            scale: _scales[modelId]
        });
    }

    /// @inheritdoc IInferenceHub
    function servingOf(bytes32 modelId) external view returns (uint256 stake, uint256 nodes) {
        Model memory model = _modelState[modelId];
        return (uint256(model.servingStake) * Lottery.GWEI, model.servingNodes);
    }

    /// @inheritdoc IInferenceHub
    function lotteryWordOf(bytes32 modelId, uint256 requestId, uint256 fee, uint8 redundancy, uint32 callbackGasLimit)
        external
        view
        returns (uint256)
    {
        Model memory model = _modelState[modelId];
        uint256 required = uint256(model.price) * redundancy;
        if (fee < required) revert InsufficientFee(fee, required);
        return _lotteryWord(_config, model, requestId, fee, redundancy, callbackGasLimit);
    }

    /// @inheritdoc IInferenceHub
    function windowOf(uint256 requestId, RequestParams calldata request, address node, uint256 seat)
        external
        view
        returns (uint256 opensAt)
    {
        Standing memory s = _nodes.standing(node, request.modelId);
        uint256 lottery = request.lottery;
        if (s.stake == 0) revert NotAssigned(requestId, node, s.since, uint64(Lottery.requestedAtOf(lottery)));
        _ticketHolder(requestId, lottery, node, s.since);
        return Lottery.opensAt(lottery, requestId, node, seat, s.stake);
    }

    /// @inheritdoc IInferenceHub
    function disputes() external view returns (address) {
        return _disputes;
    }

    /// @inheritdoc IInferenceHub
    function windowCeiling() external view returns (uint256) {
        return _windowCeiling;
    }

    /// @inheritdoc IInferenceHub
    function burned() external view returns (uint256) {
        return _burned;
    }

    /// @inheritdoc IInferenceHub
    function verifierOf(bytes32 modelId) external view returns (address) {
        return address(_verifiers[modelId]);
    }

    /// @inheritdoc IInferenceHub
    function modelRegistry() external view returns (address) {
        return address(_models);
    }

    /// @inheritdoc IInferenceHub
    function nodeRegistry() external view returns (address) {
        return address(_nodes);
    }
}

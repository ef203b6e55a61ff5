// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IDisputes, DisputeState, DisputeView, DisputeVote} from "./interfaces/IDisputes.sol";
import {IInferenceHub, RequestParams} from "./interfaces/IInferenceHub.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeRegistry, Eligibility, Standing} from "./interfaces/INodeRegistry.sol";
import {Commitments} from "./lib/Commitments.sol";
import {Lottery} from "./lib/Lottery.sol";
import {Proofs} from "./lib/Proofs.sol";
import {ZkInstances} from "./lib/ZkInstances.sol";

/// @title Disputes
/// @notice Challenges of provisional SINGLE results, settled by a fresh committee or a proof. See {IDisputes}.
/// @dev The hub keeps the result's slot (DISPUTED while open); this contract keeps the bond, the committee's votes
///      and what the dispute pays, and takes slashed stake from the node registry, which lets it slash, lock and
///      unlock as the hub does. Everything a resolution needs from the request comes back in `RequestParams`, which
///      the hub checks against the result's slot in `closeDispute`, in the same transaction.
contract Disputes is IDisputes {
    /// @dev Layout: slot 0 challenger | bond (96); slot 1 node | state (8) | commits (8) | reveals (8) | seats (16)
    ///      | envRestricted (8) | revealEndsAt (40) | round (8); then the challenged output hash, the model, the first
    ///      committee's draw, the majority's output hash, the escalation's draw (written only if it escalates).
    ///      commits, reveals, seats and revealEndsAt are the current committee's.
    struct Dispute {
        address challenger;
        uint96 bond;
        address node;
        DisputeState state;
        uint8 commits;
        uint8 reveals;
        uint16 seats;
        bool envRestricted;
        uint40 revealEndsAt;
        uint8 round;
        bytes32 outputHash;
        bytes32 modelId;
        uint256 lottery;
        bytes32 winner;
        uint256 escalation;
    }

    /// @notice Committee seats: a strict majority is 2.
    uint8 public constant SEATS = 3;
    /// @notice Seats of the committee drawn when the first has no majority (2 x SEATS + 1): a strict majority is 4.
    uint8 public constant ESCALATION_SEATS = 7;

    IInferenceHub private immutable _hub;
    INodeRegistry private immutable _nodes;
    IModelRegistry private immutable _models;
    /// @notice The smallest bond, whatever the fee.
    uint256 public immutable minBond;

    mapping(uint256 requestId => Dispute) private _disputes;
    mapping(uint256 requestId => address[]) private _members;
    mapping(uint256 requestId => mapping(address member => DisputeVote)) private _votes;
    mapping(address account => uint256) private _balances;
    uint256 private _burned;

    constructor(IInferenceHub hub_, uint256 minBond_) {
        if (address(hub_).code.length == 0) revert ContractInvalid(address(hub_));
        _hub = hub_;
        _nodes = INodeRegistry(hub_.nodeRegistry());
        _models = IModelRegistry(hub_.modelRegistry());
        minBond = minBond_;
    }

    /// @dev Slashed stake arrives from the node registry.
    receive() external payable {
        if (msg.sender != address(_nodes)) revert UnexpectedEther(msg.sender, msg.value);
    }

    /*//////////////////////////////////////////////////////////////
                               CHALLENGE
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IDisputes
    function challenge(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata output,
        bytes32 envHash,
        address node
    ) external payable {
        if (msg.sender == node) revert SelfChallenge(node);
        Dispute storage d = _disputes[requestId];
        if (d.state != DisputeState.NONE) revert AlreadyDisputed(requestId);
        uint256 required = _bondFor(request.fee);
        if (msg.value < required) revert BondTooLow(msg.value, required);
        bytes32 outputHash = keccak256(output);
        // slither-disable-next-line unused-return (the serving node count is not needed)
        (uint256 servingStake,) = _hub.servingOf(request.modelId);
        uint256 lottery = Lottery.withTerms(
            Lottery.pack(
                Lottery.seedAt(requestId), block.timestamp, servingStake, Lottery.ticketDelayOf(request.lottery)
            ),
            0,
            Lottery.slashBpsOf(request.lottery),
            Lottery.revealWindowOf(request.lottery)
        );
        // Recorded before the hub is called (a revert there undoes it). A bond above 2^96 wei (79 billion ether)
        // cannot be paid.
        d.challenger = msg.sender;
        d.bond = uint96(msg.value);
        d.node = node;
        d.state = DisputeState.OPEN;
        d.envRestricted = request.envRestricted;
        d.outputHash = outputHash;
        d.modelId = request.modelId;
        d.lottery = lottery;
        // The hub checks the parameters, that the result is provisional and still in its window, and that these
        // parts give its commitment. When the window would have closed is not needed here: the dispute runs on
        // its own clock.
        // slither-disable-next-line unused-return
        _hub.openDispute(
            requestId,
            request,
            Commitments.result(requestId, request.modelId, request.inputHash, outputHash, envHash, node)
        );
        _nodes.lockStake(node);
        emit DisputeOpened(requestId, msg.sender, node, msg.value, outputHash, lottery, uint64(_commitEndsAt(lottery)));
    }

    /*//////////////////////////////////////////////////////////////
                               COMMITTEE
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IDisputes
    function commit(uint256 requestId, bytes32 commitHash, uint16 seats) external {
        Dispute storage d = _open(requestId);
        if (commitHash == bytes32(0)) revert CommitHashZero();
        if (msg.sender == d.node || msg.sender == d.challenger) revert Conflicted(requestId, msg.sender);
        uint8 round = d.round;
        uint256 count = _seatCount(round);
        if (seats == 0 || seats >> count != 0) revert SeatsInvalid(requestId, seats);
        uint256 lottery = _drawOf(d);
        uint256 closesAt = _commitEndsAt(lottery);
        if (d.commits >= count || block.timestamp > closesAt) revert CommitPhaseClosed(requestId, uint64(closesAt));
        if (d.seats & seats != 0) revert SeatTaken(requestId, d.seats & seats);
        DisputeVote storage vote = _votes[requestId][msg.sender];
        bool first = vote.commitHash == bytes32(0);
        // A member of the first committee never sits on its escalation: that committee must be fresh.
        if (!first && vote.round != round) revert Conflicted(requestId, msg.sender);
        if (!first && vote.commitHash != commitHash) revert AlreadyCommitted(requestId, msg.sender);
        bytes32 modelId = d.modelId;
        Standing memory s = _nodes.standing(msg.sender, modelId);
        if (s.status != Eligibility.ELIGIBLE) revert NotEligible(msg.sender, modelId, s.status);
        // Tickets of either committee are held by stake and service older than the challenge.
        uint256 openedAt = Lottery.requestedAtOf(d.lottery);
        if (s.since >= openedAt) revert NotAssigned(requestId, msg.sender, s.since, uint64(openedAt));
        if (d.envRestricted && !_models.isEnvironmentAllowed(modelId, s.envHash)) {
            revert EnvironmentNotAllowed(modelId, s.envHash);
        }
        for (uint256 j; j < count; ++j) {
            if (seats & (1 << j) == 0) continue;
            uint256 opensAt = Lottery.opensAt(lottery, requestId, msg.sender, j, s.stake);
            if (block.timestamp < opensAt) revert WindowNotOpen(requestId, msg.sender, j, opensAt);
        }
        if (first) {
            vote.commitHash = commitHash;
            vote.envHash = s.envHash;
            vote.round = round;
            _members[requestId].push(msg.sender);
        }
        vote.seats |= seats;
        d.seats |= seats;
        uint8 commits = d.commits + _popcount(seats);
        d.commits = commits;
        emit DisputeCommitted(requestId, msg.sender, commitHash, seats);
        if (commits == count) {
            uint40 endsAt = uint40(block.timestamp + Lottery.revealWindowOf(lottery));
            d.revealEndsAt = endsAt;
            emit DisputeRevealPhase(requestId, endsAt);
        }
        if (first) _nodes.lockStake(msg.sender);
    }

    /// @inheritdoc IDisputes
    function reveal(uint256 requestId, bytes calldata output, bytes32 salt) external {
        Dispute storage d = _open(requestId);
        DisputeVote storage vote = _votes[requestId][msg.sender];
        if (vote.commitHash == bytes32(0)) revert NotCommitted(requestId, msg.sender);
        if (vote.round != d.round) revert EarlierRound(requestId, msg.sender, vote.round);
        uint256 endsAt = _revealEndsAt(d);
        // slither-disable-next-line incorrect-equality (0 marks a phase not yet started, not a time)
        if (endsAt == 0) revert RevealPhaseNotStarted(requestId, d.commits, uint64(_commitEndsAt(_drawOf(d))));
        if (block.timestamp > endsAt) revert RevealPhaseOver(requestId, uint64(endsAt));
        if (vote.revealed) revert AlreadyRevealed(requestId, msg.sender);
        bytes32 outputHash = keccak256(output);
        if (Commitments.vote(outputHash, salt, msg.sender) != vote.commitHash) {
            revert RevealMismatch(requestId, msg.sender);
        }
        vote.revealed = true;
        vote.outputHash = outputHash;
        d.reveals += _popcount(vote.seats);
        emit DisputeRevealed(requestId, msg.sender, outputHash, output);
    }

    /// @inheritdoc IDisputes
    // Slash calls go to the immutable node registry, whose only call back is the slashed ether to receive(); the
    // dispute is settled (no longer OPEN) before the first of them.
    // slither-disable-next-line reentrancy-no-eth
    function resolve(uint256 requestId, RequestParams calldata request, bytes calldata output) external {
        Dispute storage d = _open(requestId);
        _checkModel(requestId, d, request);
        uint256 endsAt = _revealEndsAt(d);
        // Early once every committed seat has revealed (and commits are over); else when reveals close.
        bool allIn = endsAt != 0 && d.reveals == d.commits && d.commits != 0;
        uint256 draw = _drawOf(d);
        // slither-disable-next-line incorrect-equality (0 marks a phase not yet started, not a time)
        uint256 resolvableAt = endsAt == 0 ? _commitEndsAt(draw) + Lottery.revealWindowOf(draw) : endsAt;
        if (!allIn && block.timestamp <= resolvableAt) revert ResolveTooEarly(requestId, resolvableAt);
        address[] memory members = _members[requestId];
        uint8 round = d.round;
        bytes32 winner = _majority(requestId, members, round);
        if (winner == bytes32(0) && round == 0) {
            // No majority: a larger fresh committee decides, and then judges this one's votes too.
            _escalate(requestId, d);
            return;
        }
        d.winner = winner;
        bytes32 given = keccak256(output);
        uint256 bps = Lottery.slashBpsOf(d.lottery);
        uint256 seatsDrawn = round == 0 ? SEATS : uint256(SEATS) + ESCALATION_SEATS;
        if (winner == bytes32(0)) {
            // No majority twice: nothing proves the result wrong. The bond goes back; only silence is punished.
            if (given != d.outputHash) revert OutputMismatch(requestId, d.outputHash, given);
            d.state = DisputeState.VOID;
            _balances[d.challenger] += d.bond;
            _burned += _slashVotes(requestId, members, bytes32(0), bps);
            emit DisputeResolved(requestId, DisputeState.VOID, d.outputHash, 0);
            _close(requestId, d, members, request, output, bytes32(0), 0);
            return;
        }
        if (given != winner) revert OutputMismatch(requestId, winner, given);
        bool upheld = winner == d.outputHash;
        // Settled before any stake is slashed, so nothing can find the dispute OPEN again.
        d.state = upheld ? DisputeState.UPHELD : DisputeState.OVERTURNED;
        _burned += _slashVotes(requestId, members, winner, bps);
        if (upheld) {
            // The bond pays the wrongly challenged node half, the agreeing seats the other half.
            uint256 toNode = d.bond / 2;
            uint256 unpaid = _payCommittee(requestId, members, winner, d.bond - toNode, seatsDrawn);
            _balances[d.node] += toNode + unpaid;
            emit DisputeResolved(requestId, DisputeState.UPHELD, winner, 0);
            _close(requestId, d, members, request, output, bytes32(0), 0);
            return;
        }
        uint256 slashed = _slashNode(requestId, d, bps);
        uint256 refund = _refundOf(request, slashed);
        uint256 rest = slashed - refund;
        uint256 toChallenger = rest / 2;
        _balances[d.challenger] += d.bond + toChallenger;
        _burned += _payCommittee(requestId, members, winner, rest - toChallenger, seatsDrawn);
        emit DisputeResolved(requestId, DisputeState.OVERTURNED, winner, slashed);
        // The record names the first agreeing member, in its environment: `verifyResult` accepts its parts.
        address by = _firstAgreeing(requestId, members, winner);
        bytes32 commitment = Commitments.result(
            requestId, request.modelId, request.inputHash, winner, _votes[requestId][by].envHash, by
        );
        _close(requestId, d, members, request, output, commitment, refund);
    }

    /// @inheritdoc IDisputes
    function settleByProof(
        uint256 requestId,
        RequestParams calldata request,
        bytes calldata input,
        bytes calldata output,
        bytes calldata proof
    ) external {
        Dispute storage d = _open(requestId);
        _checkModel(requestId, d, request);
        address verifier = _hub.verifierOf(request.modelId);
        if (verifier == address(0)) revert NoVerifier(request.modelId);
        bytes32 inputHash = keccak256(input);
        if (inputHash != request.inputHash) revert InputMismatch(requestId, request.inputHash, inputHash);
        if (output.length != request.outputBytes) revert OutputLengthMismatch(output.length, request.outputBytes);
        _checkProof(requestId, verifier, proof, ZkInstances.fromTensors(input, output));
        bytes32 outputHash = keccak256(output);
        d.winner = outputHash;
        address[] memory members = _members[requestId];
        // A proof needs no committee: its votes so far are released, neither paid nor slashed. The prover is paid
        // nothing either, so copying a proof from the mempool gains nothing.
        if (outputHash == d.outputHash) {
            d.state = DisputeState.UPHELD;
            _balances[d.node] += d.bond;
            emit DisputeResolved(requestId, DisputeState.UPHELD, outputHash, 0);
            _close(requestId, d, members, request, output, bytes32(0), 0);
            return;
        }
        d.state = DisputeState.OVERTURNED;
        uint256 slashed = _slashNode(requestId, d, Lottery.slashBpsOf(d.lottery));
        uint256 refund = _refundOf(request, slashed);
        _balances[d.challenger] += d.bond + slashed - refund;
        emit DisputeResolved(requestId, DisputeState.OVERTURNED, outputHash, slashed);
        bytes32 commitment =
            Commitments.result(requestId, request.modelId, request.inputHash, outputHash, bytes32(0), address(this));
        _close(requestId, d, members, request, output, commitment, refund);
    }

    /// @inheritdoc IDisputes
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
                                INTERNAL
    //////////////////////////////////////////////////////////////*/

    function _open(uint256 requestId) private view returns (Dispute storage d) {
        d = _disputes[requestId];
        if (d.state != DisputeState.OPEN) revert DisputeNotOpen(requestId, d.state);
    }

    function _checkModel(uint256 requestId, Dispute storage d, RequestParams calldata request) private view {
        if (request.modelId != d.modelId) revert ModelMismatch(requestId, d.modelId, request.modelId);
    }

    /// @dev Opens the escalation: a fresh draw from now (its seed too), ESCALATION_SEATS seats, the current
    ///      committee's phase counters cleared (the first committee's votes stay, locked, to be judged by its outcome).
    ///      Its seed is biased only by whoever picks the block resolve is mined in, as a request's is by its requester.
    function _escalate(uint256 requestId, Dispute storage d) private {
        uint256 first = d.lottery;
        // slither-disable-next-line unused-return (the serving node count is not needed)
        (uint256 servingStake,) = _hub.servingOf(d.modelId);
        uint256 draw = Lottery.withTerms(
            Lottery.pack(Lottery.seedAt(requestId), block.timestamp, servingStake, Lottery.ticketDelayOf(first)),
            0,
            Lottery.slashBpsOf(first),
            Lottery.revealWindowOf(first)
        );
        d.round = 1;
        d.escalation = draw;
        d.commits = 0;
        d.reveals = 0;
        d.seats = 0;
        d.revealEndsAt = 0;
        emit DisputeEscalated(requestId, ESCALATION_SEATS, draw, uint64(_commitEndsAt(draw)));
    }

    function _seatCount(uint8 round) private pure returns (uint256) {
        // slither-disable-next-line incorrect-equality (a round number, not a balance)
        return round == 0 ? SEATS : ESCALATION_SEATS;
    }

    /// @dev The current committee's draw.
    function _drawOf(Dispute storage d) private view returns (uint256) {
        return d.round == 0 ? d.lottery : d.escalation;
    }

    function _bondFor(uint256 fee) private view returns (uint256) {
        uint256 bond = uint256(SEATS) * fee;
        return bond > minBond ? bond : minBond;
    }

    /// @dev Commits close when every window has opened (MAX_TICKET_UNITS ticket delays) plus a reveal window.
    function _commitEndsAt(uint256 lottery) private pure returns (uint256) {
        return Lottery.requestedAtOf(lottery) + Lottery.MAX_TICKET_UNITS * Lottery.ticketDelayOf(lottery)
            + Lottery.revealWindowOf(lottery);
    }

    /// @dev When reveals close: a reveal window after the last seat was taken, or after commits closed; 0 while
    ///      commits are still open.
    function _revealEndsAt(Dispute storage d) private view returns (uint256) {
        if (d.revealEndsAt != 0) return d.revealEndsAt;
        uint256 draw = _drawOf(d);
        uint256 closesAt = _commitEndsAt(draw);
        if (block.timestamp <= closesAt) return 0;
        return closesAt + Lottery.revealWindowOf(draw);
    }

    /// @dev The strict-majority output hash among the revealed seats of committee `round` (more than half of its
    ///      seats), or zero.
    function _majority(uint256 requestId, address[] memory members, uint8 round) private view returns (bytes32) {
        uint256 count = _seatCount(round);
        for (uint256 i; i < members.length; ++i) {
            DisputeVote storage a = _votes[requestId][members[i]];
            if (!a.revealed || a.round != round) continue;
            uint256 same = 0;
            for (uint256 j; j < members.length; ++j) {
                DisputeVote storage b = _votes[requestId][members[j]];
                // slither-disable-next-line incorrect-equality (round numbers and hashes compared, not balances)
                if (b.revealed && b.round == round && b.outputHash == a.outputHash) same += _popcount(b.seats);
            }
            if (same * 2 > count) return a.outputHash;
        }
        return bytes32(0);
    }

    function _firstAgreeing(uint256 requestId, address[] memory members, bytes32 winner)
        private
        view
        returns (address)
    {
        for (uint256 i; i < members.length; ++i) {
            DisputeVote storage v = _votes[requestId][members[i]];
            if (v.revealed && v.outputHash == winner) return members[i];
        }
        return address(0);
    }

    /// @dev Pays `pool` to the seats (of any committee) that revealed `winner`, pool / seatsDrawn per seat; returns
    ///      what seats that did not agree (or were never taken) would have had, with the rounding.
    // slither-disable-next-line divide-before-multiply (pool / seatsDrawn per seat on purpose; the rest is returned)
    function _payCommittee(
        uint256 requestId,
        address[] memory members,
        bytes32 winner,
        uint256 pool,
        uint256 seatsDrawn
    ) private returns (uint256 unpaid) {
        uint256 perSeat = pool / seatsDrawn;
        unpaid = pool;
        for (uint256 i; i < members.length; ++i) {
            DisputeVote storage v = _votes[requestId][members[i]];
            if (!v.revealed || v.outputHash != winner) continue;
            uint256 share = perSeat * _popcount(v.seats);
            _balances[members[i]] += share;
            unpaid -= share;
        }
    }

    /// @dev Slashes every member that did not reveal `winner` (with zero: every member that did not reveal).
    function _slashVotes(uint256 requestId, address[] memory members, bytes32 winner, uint256 bps)
        private
        returns (uint256 total)
    {
        for (uint256 i; i < members.length; ++i) {
            DisputeVote storage v = _votes[requestId][members[i]];
            bool honest = winner == bytes32(0) ? v.revealed : (v.revealed && v.outputHash == winner);
            if (honest) continue;
            uint256 amount = _nodes.slash(members[i], uint16(bps));
            total += amount;
            emit MemberSlashed(requestId, members[i], amount);
        }
    }

    function _slashNode(uint256 requestId, Dispute storage d, uint256 bps) private returns (uint256 slashed) {
        // At least the model's stake at risk, what its publisher says one result may move (entries are immutable).
        // slither-disable-next-line unused-return (the window was fixed in the request)
        (, uint96 stakeAtRisk) = _models.riskOf(d.modelId);
        slashed = _nodes.slashAtLeast(d.node, uint16(bps), stakeAtRisk);
        emit MemberSlashed(requestId, d.node, slashed);
    }

    /// @dev The requester's fee back out of `slashed` (as much of it as there is), sent with `closeDispute` to its
    ///      balance on the hub, where a consumer contract already withdraws its refunds.
    function _refundOf(RequestParams calldata request, uint256 slashed) private pure returns (uint256) {
        return request.fee < slashed ? request.fee : slashed;
    }

    /// @dev Releases every stake the dispute locked and has the hub record the outcome (overturned when a
    ///      `commitment` replaces the result), sending it the requester's `refund`.
    function _close(
        uint256 requestId,
        Dispute storage d,
        address[] memory members,
        RequestParams calldata request,
        bytes calldata output,
        bytes32 commitment,
        uint256 refund
    ) private {
        _nodes.unlockStake(d.node);
        for (uint256 i; i < members.length; ++i) {
            _nodes.unlockStake(members[i]);
        }
        bool overturned = commitment != bytes32(0);
        _hub.closeDispute{value: refund}(requestId, request, output, commitment, overturned, msg.sender);
    }

    /// @dev As the hub's: reverts with `ProofRejected` unless `verifier` accepts `proof` on `instances`.
    function _checkProof(uint256 requestId, address verifier, bytes calldata proof, uint256[] memory instances)
        private
        view
    {
        if (!Proofs.accepted(verifier, proof, instances)) revert ProofRejected(requestId, verifier);
    }

    function _popcount(uint16 bits) private pure returns (uint8 n) {
        unchecked {
            while (bits != 0) {
                bits &= bits - 1;
                ++n;
            }
        }
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IDisputes
    function bondFor(uint256 fee) external view returns (uint256) {
        return _bondFor(fee);
    }

    /// @inheritdoc IDisputes
    function disputeOf(uint256 requestId) external view returns (DisputeView memory v) {
        Dispute storage d = _disputes[requestId];
        v.state = d.state;
        v.challenger = d.challenger;
        v.bond = d.bond;
        v.node = d.node;
        v.outputHash = d.outputHash;
        v.modelId = d.modelId;
        v.commits = d.commits;
        v.reveals = d.reveals;
        v.round = d.round;
        v.seatCount = uint8(_seatCount(d.round));
        if (d.state != DisputeState.NONE) {
            v.lottery = _drawOf(d);
            v.commitEndsAt = uint64(_commitEndsAt(v.lottery));
            v.revealEndsAt = uint64(_revealEndsAt(d));
            v.openedAt = uint64(Lottery.requestedAtOf(d.lottery));
        }
        v.winner = d.winner;
        v.members = _members[requestId];
    }

    /// @inheritdoc IDisputes
    function majorityOf(uint256 requestId) external view returns (bytes32) {
        return _majority(requestId, _members[requestId], _disputes[requestId].round);
    }

    /// @inheritdoc IDisputes
    function voteOf(uint256 requestId, address member) external view returns (DisputeVote memory) {
        return _votes[requestId][member];
    }

    /// @inheritdoc IDisputes
    function windowOf(uint256 requestId, address member, uint256 seat) external view returns (uint256) {
        Dispute storage d = _disputes[requestId];
        Standing memory s = _nodes.standing(member, d.modelId);
        return Lottery.opensAt(_drawOf(d), requestId, member, seat, s.stake);
    }

    /// @inheritdoc IDisputes
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IDisputes
    function burned() external view returns (uint256) {
        return _burned;
    }

    /// @inheritdoc IDisputes
    function hub() external view returns (address) {
        return address(_hub);
    }
}

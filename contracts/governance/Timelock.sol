// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ITimelock} from "../interfaces/ITimelock.sol";
import {IOwned2Step} from "../interfaces/IOwned2Step.sol";

/// @title Timelock
/// @notice Delays every owner action on the contracts it owns. See {ITimelock}.
contract Timelock is ITimelock {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    enum Progress {
        NONE,
        SCHEDULED,
        DONE
    }

    /// @dev Layout: [0..7] progress | [8..71] eta. A state kept apart from the eta, so no timestamp doubles as a flag.
    struct Call {
        Progress progress;
        uint64 eta;
    }

    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ITimelock
    uint256 public constant MIN_PRODUCTION_DELAY = 2 days;
    /// @inheritdoc ITimelock
    uint256 public constant MAX_DELAY = 30 days;
    /// @inheritdoc ITimelock
    uint256 public constant GRACE_PERIOD = 14 days;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev call id => whether it is scheduled or done, and the timestamp it may run from.
    mapping(bytes32 id => Call) private _calls;
    uint256 private _delay;
    address private _proposer;

    /*//////////////////////////////////////////////////////////////
                               MODIFIERS
    //////////////////////////////////////////////////////////////*/

    modifier onlyProposer() {
        if (msg.sender != _proposer) revert CallerNotProposer(msg.sender, _proposer);
        _;
    }

    modifier onlySelf() {
        if (msg.sender != address(this)) revert CallerNotTimelock(msg.sender);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param proposer_ Schedules, executes and cancels (the deployer's key, a multisig).
    /// @param delay_ Seconds between scheduling and eta: at least 2 days except on devnets, at most 30 days.
    constructor(address proposer_, uint256 delay_) {
        _setProposer(proposer_);
        _setDelay(delay_);
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ITimelock
    function schedule(address target, bytes calldata data, bytes32 salt) external onlyProposer returns (bytes32 id) {
        if (target.code.length == 0) revert TargetNotContract(target);
        id = _callId(target, data, salt);
        Call storage call = _calls[id];
        if (call.progress == Progress.DONE) revert AlreadyExecuted(id);
        if (call.progress == Progress.SCHEDULED) revert AlreadyScheduled(id, call.eta);
        // Fits: a timestamp plus at most MAX_DELAY stays below 2^64 for billions of years.
        uint64 eta = uint64(block.timestamp + _delay);
        _calls[id] = Call({progress: Progress.SCHEDULED, eta: eta});
        emit CallScheduled(id, target, data, salt, eta);
    }

    /// @inheritdoc ITimelock
    function execute(address target, bytes calldata data, bytes32 salt)
        external
        onlyProposer
        returns (bytes memory result)
    {
        bytes32 id = _callId(target, data, salt);
        Call storage call = _calls[id];
        if (call.progress == Progress.DONE) revert AlreadyExecuted(id);
        if (call.progress == Progress.NONE) revert NotScheduled(id);
        uint256 eta = call.eta;
        if (block.timestamp < eta) revert TooEarly(id, eta, block.timestamp);
        if (block.timestamp > eta + GRACE_PERIOD) revert Expired(id, eta + GRACE_PERIOD, block.timestamp);
        // Marked before the call (checks-effects-interactions): a re-entrant execute of the same call finds it done.
        call.progress = Progress.DONE;
        emit CallExecuted(id, target, data);
        bool ok;
        (ok, result) = target.call(data);
        if (!ok) {
            // Passed on unchanged, so the caller reads the target's own error (CallerNotOwner, ParameterOutOfBounds).
            if (result.length == 0) revert CallReverted(id, target);
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }

    /// @inheritdoc ITimelock
    function cancel(bytes32 id) external onlyProposer {
        Progress progress = _calls[id].progress;
        if (progress == Progress.DONE) revert AlreadyExecuted(id);
        if (progress == Progress.NONE) revert NotScheduled(id);
        delete _calls[id];
        emit CallCancelled(id);
    }

    /// @inheritdoc ITimelock
    function acceptOwnership(address target) external onlyProposer {
        IOwned2Step(target).acceptOwnership();
        emit OwnershipAccepted(target);
    }

    /// @inheritdoc ITimelock
    function setDelay(uint256 newDelay) external onlySelf {
        _setDelay(newDelay);
    }

    /// @inheritdoc ITimelock
    function setProposer(address newProposer) external onlySelf {
        _setProposer(newProposer);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _setDelay(uint256 newDelay) private {
        uint256 min = minDelay();
        if (newDelay < min || newDelay > MAX_DELAY) revert DelayOutOfBounds(newDelay, min, MAX_DELAY);
        uint256 previous = _delay;
        _delay = newDelay;
        emit DelayChanged(previous, newDelay);
    }

    function _setProposer(address newProposer) private {
        if (newProposer == address(0)) revert ProposerZero();
        address previous = _proposer;
        _proposer = newProposer;
        emit ProposerChanged(previous, newProposer);
    }

    function _callId(address target, bytes calldata data, bytes32 salt) private pure returns (bytes32) {
        return keccak256(abi.encode(target, data, salt));
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc ITimelock
    function delay() external view returns (uint256) {
        return _delay;
    }

    /// @inheritdoc ITimelock
    function proposer() external view returns (address) {
        return _proposer;
    }

    /// @inheritdoc ITimelock
    function etaOf(bytes32 id) external view returns (uint256) {
        return _calls[id].eta;
    }

    /// @inheritdoc ITimelock
    function stateOf(bytes32 id) external view returns (CallState) {
        Call storage call = _calls[id];
        if (call.progress == Progress.NONE) return CallState.UNSET;
        if (call.progress == Progress.DONE) return CallState.DONE;
        if (block.timestamp < call.eta) return CallState.WAITING;
        if (block.timestamp > uint256(call.eta) + GRACE_PERIOD) return CallState.EXPIRED;
        return CallState.READY;
    }

    /// @inheritdoc ITimelock
    function callId(address target, bytes calldata data, bytes32 salt) external pure returns (bytes32) {
        return _callId(target, data, salt);
    }

    /// @inheritdoc ITimelock
    function minDelay() public view returns (uint256) {
        // Devnets: anvil and hardhat (31337), geth --dev and ganache (1337).
        return block.chainid == 31337 || block.chainid == 1337 ? 0 : MIN_PRODUCTION_DELAY;
    }
}

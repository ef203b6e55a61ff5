// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title ITimelock
/// @notice Owns the hub and the registries so that every owner action on them is public for a delay before it can
///         take effect: the proposer schedules a call, anyone can read it (`CallScheduled` carries the calldata), and
///         only after `delay` seconds can the proposer execute it, within a grace period; until then it can be
///         cancelled. Nodes and requesters who dislike a scheduled change have the whole delay to leave: unbond, stop
///         requesting, withdraw.
/// @dev The delay is at least 2 days on every chain except the devnets (chain ids 31337 and 1337), where any delay up
///      to the maximum is allowed so tests and local demos need not wait. The delay and the proposer can only be
///      changed by the timelock itself, that is through a scheduled call.
interface ITimelock {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @notice Where a scheduled call stands.
    enum CallState {
        UNSET,
        /// @dev Scheduled; its eta has not come yet.
        WAITING,
        /// @dev Executable now: eta <= block.timestamp <= eta + GRACE_PERIOD.
        READY,
        /// @dev Its grace period passed without execution; it can only be cancelled.
        EXPIRED,
        /// @dev Executed; a call runs once (schedule the same call with a new salt to run it again).
        DONE
    }

    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The delay is outside [min, max] on this chain (min is 2 days except on devnets).
    error DelayOutOfBounds(uint256 delay, uint256 min, uint256 max);
    /// @notice Only the proposer may schedule, execute, cancel and accept ownership.
    error CallerNotProposer(address caller, address proposer);
    /// @notice Only the timelock itself (a scheduled call) may change its delay or proposer.
    error CallerNotTimelock(address caller);
    /// @notice The zero address cannot be the proposer.
    error ProposerZero();
    /// @notice The target of a call must be a contract.
    error TargetNotContract(address target);
    /// @notice This call is already scheduled, for `eta`.
    error AlreadyScheduled(bytes32 id, uint256 eta);
    /// @notice This call was executed already; schedule it with a new salt to run it again.
    error AlreadyExecuted(bytes32 id);
    /// @notice No call with this id is scheduled (never, or it was cancelled).
    error NotScheduled(bytes32 id);
    /// @notice The call's delay has not passed: it can run from `eta`; it is `now`.
    error TooEarly(bytes32 id, uint256 eta, uint256 now);
    /// @notice The call's grace period ended at `expiry`; it is `now`. Cancel it and schedule it again.
    error Expired(bytes32 id, uint256 expiry, uint256 now);
    /// @notice The target reverted without a reason.
    error CallReverted(bytes32 id, address target);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A call was scheduled: `target.call(data)` may run from `eta`.
    event CallScheduled(bytes32 indexed id, address indexed target, bytes data, bytes32 salt, uint256 eta);
    /// @notice A scheduled call ran.
    event CallExecuted(bytes32 indexed id, address indexed target, bytes data);
    /// @notice A scheduled call was cancelled.
    event CallCancelled(bytes32 indexed id);
    /// @notice The delay changed (through a scheduled call).
    event DelayChanged(uint256 previous, uint256 delay);
    /// @notice The proposer changed (at deployment, `previous` zero; later through a scheduled call).
    event ProposerChanged(address indexed previous, address indexed proposer);
    /// @notice The timelock accepted ownership of `target`.
    event OwnershipAccepted(address indexed target);

    /*//////////////////////////////////////////////////////////////
                                FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Schedules `target.call(data)` to be executable from `block.timestamp + delay()`. Proposer only.
    /// @param salt Distinguishes two schedulings of the same call (the id is a hash of target, data and salt).
    function schedule(address target, bytes calldata data, bytes32 salt) external returns (bytes32 id);

    /// @notice Runs a READY call once. Proposer only. A revert of the target is passed on unchanged (the call then
    ///         stays scheduled).
    function execute(address target, bytes calldata data, bytes32 salt) external returns (bytes memory result);

    /// @notice Cancels a scheduled call (waiting, ready or expired). Proposer only.
    function cancel(bytes32 id) external;

    /// @notice Accepts a pending two-step ownership transfer of `target` to this timelock, at once. Proposer only.
    ///         No delay: accepting only adds a contract to what the timelock governs; everything the timelock then
    ///         does to it is delayed.
    function acceptOwnership(address target) external;

    /// @notice Changes the delay, within this chain's bounds. Only through a scheduled call.
    function setDelay(uint256 newDelay) external;

    /// @notice Changes the proposer. Only through a scheduled call.
    function setProposer(address newProposer) external;

    /// @notice The minimum delay on production chains (2 days).
    function MIN_PRODUCTION_DELAY() external view returns (uint256);

    /// @notice The longest delay (30 days).
    function MAX_DELAY() external view returns (uint256);

    /// @notice How long a READY call stays executable (14 days).
    function GRACE_PERIOD() external view returns (uint256);

    /// @notice The delay in seconds between scheduling a call and its eta.
    function delay() external view returns (uint256);

    /// @notice The account that schedules, executes and cancels.
    function proposer() external view returns (address);

    /// @notice The eta of a call (kept once it is done); zero when it was never scheduled or was cancelled.
    function etaOf(bytes32 id) external view returns (uint256);

    /// @notice Where the call stands now.
    function stateOf(bytes32 id) external view returns (CallState);

    /// @notice The id of a call: keccak256(abi.encode(target, data, salt)).
    function callId(address target, bytes calldata data, bytes32 salt) external pure returns (bytes32);

    /// @notice The smallest delay allowed on this chain: 0 on a devnet (chain id 31337 or 1337), else 2 days.
    function minDelay() external view returns (uint256);
}

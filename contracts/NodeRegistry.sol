// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {INodeRegistry, Eligibility, NodeInfo} from "./interfaces/INodeRegistry.sol";
import {Owned2Step} from "./utils/Owned2Step.sol";
import {IInferenceHub} from "./interfaces/IInferenceHub.sol";

/// @title NodeRegistry
/// @notice Staked operators and their environment manifests. See {INodeRegistry}.
contract NodeRegistry is INodeRegistry, Owned2Step {
    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Bounds on the minimum stake.
    uint96 public constant MIN_STAKE_FLOOR = 0.001 ether;
    uint96 public constant MIN_STAKE_CEILING = 1_000_000 ether;
    /// @notice Bounds on the unbonding delay.
    uint64 public constant MIN_UNBONDING_DELAY = 1 minutes;
    uint64 public constant MAX_UNBONDING_DELAY = 90 days;
    /// @notice Most models per `register`/`setModels` call.
    uint256 public constant MAX_MODELS_PER_CALL = 64;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev node => bonded state, one packed slot (layout on {NodeInfo}).
    mapping(address node => NodeInfo) private _nodes;
    /// @dev node => keccak256 of its canonical environment manifest.
    mapping(address node => bytes32 envHash) private _environments;
    /// @dev node => modelId => declared as served.
    mapping(address node => mapping(bytes32 modelId => bool)) private _serves;
    /// @dev Slot layout: [0..95] minStake | [96..159] unbondingDelay | [160..255] unused.
    uint96 private _minStake;
    uint64 private _unbondingDelay;
    /// @dev The only account that can slash and lock stake; set once.
    address private _hub;
    /// @dev Sum of all stakes (registered and unbonding); equals this contract's balance.
    uint256 private _totalStake;

    /*//////////////////////////////////////////////////////////////
                               MODIFIERS
    //////////////////////////////////////////////////////////////*/

    modifier onlyHub() {
        if (msg.sender != _hub) revert CallerNotHub(msg.sender, _hub);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(address initialOwner, uint96 minStake_, uint64 unbondingDelay_) Owned2Step(initialOwner) {
        _setMinStake(minStake_);
        _setUnbondingDelay(unbondingDelay_);
    }

    /*//////////////////////////////////////////////////////////////
                           OPERATOR FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc INodeRegistry
    function register(bytes32 envHash, bytes32[] calldata modelIds) external payable {
        NodeInfo storage node = _nodes[msg.sender];
        if (node.registered) revert NodeAlreadyRegistered(msg.sender);
        if (msg.value < _minStake) revert StakeTooLow(msg.value, _minStake);
        if (msg.value > type(uint96).max) revert StakeTooHigh(msg.value);
        if (envHash == bytes32(0)) revert EnvironmentZero();
        node.stake = uint96(msg.value);
        node.registered = true;
        node.unbondingEndsAt = 0;
        _totalStake += msg.value;
        _environments[msg.sender] = envHash;
        emit NodeRegistered(msg.sender, msg.value, envHash);
        _setModels(modelIds, true);
    }

    /// @inheritdoc INodeRegistry
    function addStake() external payable {
        NodeInfo storage node = _activeNode(msg.sender);
        uint256 stake = node.stake + msg.value;
        if (stake > type(uint96).max) revert StakeTooHigh(stake);
        node.stake = uint96(stake);
        _totalStake += msg.value;
        emit StakeAdded(msg.sender, msg.value, stake);
    }

    /// @inheritdoc INodeRegistry
    function updateEnvironment(bytes32 envHash) external {
        _activeNode(msg.sender);
        if (envHash == bytes32(0)) revert EnvironmentZero();
        bytes32 previous = _environments[msg.sender];
        _environments[msg.sender] = envHash;
        emit EnvironmentUpdated(msg.sender, previous, envHash);
    }

    /// @inheritdoc INodeRegistry
    function setModels(bytes32[] calldata modelIds, bool serving) external {
        _activeNode(msg.sender);
        _setModels(modelIds, serving);
    }

    /// @inheritdoc INodeRegistry
    function beginUnbonding() external {
        NodeInfo storage node = _activeNode(msg.sender);
        uint64 endsAt = uint64(block.timestamp) + _unbondingDelay;
        node.unbondingEndsAt = endsAt;
        emit UnbondingStarted(msg.sender, endsAt);
    }

    /// @inheritdoc INodeRegistry
    function withdrawStake(address payable to) external returns (uint256 amount) {
        if (to == address(0)) revert RecipientZero();
        NodeInfo memory node = _nodes[msg.sender];
        if (!node.registered) revert NodeNotRegistered(msg.sender);
        if (node.unbondingEndsAt == 0) revert NodeNotUnbonding(msg.sender);
        if (block.timestamp < node.unbondingEndsAt) {
            revert UnbondingNotOver(msg.sender, node.unbondingEndsAt, block.timestamp);
        }
        if (node.openCommitments != 0) revert StakeLocked(msg.sender, node.openCommitments);
        amount = node.stake;
        delete _nodes[msg.sender];
        delete _environments[msg.sender];
        _totalStake -= amount;
        emit StakeWithdrawn(msg.sender, to, amount);
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    /*//////////////////////////////////////////////////////////////
                             HUB FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc INodeRegistry
    function slash(address nodeAddress, uint16 bps) external onlyHub returns (uint256 amount) {
        if (bps > 10_000) revert SlashFractionInvalid(bps);
        NodeInfo storage node = _nodes[nodeAddress];
        // A node that already withdrew has nothing left to take; the hub treats 0 as "nothing slashed".
        amount = uint256(node.stake) * bps / 10_000;
        if (amount == 0) return 0;
        // amount <= stake, so the subtraction cannot underflow.
        unchecked {
            node.stake -= uint96(amount);
            _totalStake -= amount;
        }
        emit NodeSlashed(nodeAddress, amount, node.stake);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    /// @inheritdoc INodeRegistry
    function lockStake(address nodeAddress) external onlyHub {
        NodeInfo storage node = _nodes[nodeAddress];
        if (!node.registered) revert NodeNotRegistered(nodeAddress);
        ++node.openCommitments;
    }

    /// @inheritdoc INodeRegistry
    function unlockStake(address nodeAddress) external onlyHub {
        NodeInfo storage node = _nodes[nodeAddress];
        if (node.openCommitments == 0) revert NoOpenCommitments(nodeAddress);
        // Checked just above.
        unchecked {
            --node.openCommitments;
        }
    }

    /*//////////////////////////////////////////////////////////////
                            OWNER FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc INodeRegistry
    function setHub(address hub_) external onlyOwner {
        if (_hub != address(0)) revert HubAlreadySet(_hub);
        // The hub must point back at this registry, or slashing and stake locks would go to a stranger.
        if (hub_.code.length == 0 || IInferenceHub(hub_).nodeRegistry() != address(this)) revert HubInvalid(hub_);
        _hub = hub_;
        emit HubSet(hub_);
    }

    /// @inheritdoc INodeRegistry
    function setMinStake(uint96 minStake_) external onlyOwner {
        _setMinStake(minStake_);
    }

    /// @inheritdoc INodeRegistry
    function setUnbondingDelay(uint64 delay) external onlyOwner {
        _setUnbondingDelay(delay);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    function _setMinStake(uint96 minStake_) private {
        if (minStake_ < MIN_STAKE_FLOOR || minStake_ > MIN_STAKE_CEILING) {
            revert ParameterOutOfBounds("minStake", minStake_, MIN_STAKE_FLOOR, MIN_STAKE_CEILING);
        }
        uint96 previous = _minStake;
        _minStake = minStake_;
        emit MinStakeUpdated(previous, minStake_);
    }

    function _setUnbondingDelay(uint64 delay) private {
        if (delay < MIN_UNBONDING_DELAY || delay > MAX_UNBONDING_DELAY) {
            revert ParameterOutOfBounds("unbondingDelay", delay, MIN_UNBONDING_DELAY, MAX_UNBONDING_DELAY);
        }
        uint64 previous = _unbondingDelay;
        _unbondingDelay = delay;
        emit UnbondingDelayUpdated(previous, delay);
    }

    function _setModels(bytes32[] calldata modelIds, bool serving) private {
        if (modelIds.length > MAX_MODELS_PER_CALL) revert TooManyModels(modelIds.length, MAX_MODELS_PER_CALL);
        for (uint256 i; i < modelIds.length; ++i) {
            _serves[msg.sender][modelIds[i]] = serving;
            emit ModelServed(msg.sender, modelIds[i], serving);
        }
    }

    /// @dev The caller's node, which must be registered and not unbonding.
    function _activeNode(address nodeAddress) private view returns (NodeInfo storage node) {
        node = _nodes[nodeAddress];
        if (!node.registered) revert NodeNotRegistered(nodeAddress);
        if (node.unbondingEndsAt != 0) revert NodeIsUnbonding(nodeAddress, node.unbondingEndsAt);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc INodeRegistry
    function eligibility(address nodeAddress, bytes32 modelId)
        external
        view
        returns (Eligibility status, bytes32 envHash)
    {
        NodeInfo memory node = _nodes[nodeAddress];
        if (!node.registered) return (Eligibility.NOT_REGISTERED, bytes32(0));
        if (node.unbondingEndsAt != 0) return (Eligibility.UNBONDING, bytes32(0));
        if (node.stake < _minStake) return (Eligibility.STAKE_BELOW_MINIMUM, bytes32(0));
        if (!_serves[nodeAddress][modelId]) return (Eligibility.MODEL_NOT_SERVED, bytes32(0));
        return (Eligibility.ELIGIBLE, _environments[nodeAddress]);
    }

    /// @inheritdoc INodeRegistry
    function isStaked(address nodeAddress) external view returns (bool) {
        NodeInfo memory node = _nodes[nodeAddress];
        return node.registered && node.stake >= _minStake;
    }

    /// @inheritdoc INodeRegistry
    function nodeInfo(address nodeAddress) external view returns (NodeInfo memory) {
        return _nodes[nodeAddress];
    }

    /// @inheritdoc INodeRegistry
    function environmentOf(address nodeAddress) external view returns (bytes32) {
        return _environments[nodeAddress];
    }

    /// @inheritdoc INodeRegistry
    function serves(address nodeAddress, bytes32 modelId) external view returns (bool) {
        return _serves[nodeAddress][modelId];
    }

    /// @inheritdoc INodeRegistry
    function minStake() external view returns (uint96) {
        return _minStake;
    }

    /// @inheritdoc INodeRegistry
    function unbondingDelay() external view returns (uint64) {
        return _unbondingDelay;
    }

    /// @inheritdoc INodeRegistry
    function hub() external view returns (address) {
        return _hub;
    }

    /// @inheritdoc INodeRegistry
    function totalStake() external view returns (uint256) {
        return _totalStake;
    }
}

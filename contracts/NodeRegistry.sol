// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {INodeRegistry, Eligibility, NodeInfo, Serving, Standing} from "./interfaces/INodeRegistry.sol";
import {Owned2Step} from "./utils/Owned2Step.sol";
import {IInferenceHub} from "./interfaces/IInferenceHub.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title NodeRegistry
/// @notice Staked operators and their environment manifests. See {INodeRegistry}.
contract NodeRegistry is INodeRegistry, Owned2Step {
    /*//////////////////////////////////////////////////////////////
                                 TYPES
    //////////////////////////////////////////////////////////////*/

    /// @dev A node's service of one model. Layout: [0..63] since (unix seconds it started serving, 0 = not served) |
    ///      [64..95] modelIndex (1-based position in the node's model list) | [96..127] serverIndex (1-based position
    ///      in the model's list of counted nodes, 0 = not counted) | [128..223] stakeAtRisk (the model's, copied
    ///      when declared: entries are immutable, and `standing` then checks it without another call).
    struct Service {
        uint64 since;
        uint32 modelIndex;
        uint32 serverIndex;
        uint96 stakeAtRisk;
    }

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
    /// @notice Most models one node serves: every stake change walks the node's models (bounded loops only).
    uint256 public constant MAX_SERVED_MODELS = 16;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev node => bonded state, one packed slot (layout on {NodeInfo}).
    mapping(address node => NodeInfo) private _nodes;
    /// @dev node => keccak256 of its canonical environment manifest.
    mapping(address node => bytes32 envHash) private _environments;
    /// @dev node => the arithmetic class it states (checked against its models whenever either changes).
    mapping(address node => uint8) private _classes;
    /// @dev node => modelId => its service of the model (layout on {Service}).
    mapping(address node => mapping(bytes32 modelId => Service)) private _serves;
    /// @dev node => the models it serves, in declaration order (swap-removed).
    // slither-disable-next-line uninitialized-state (written through storage pointers: list.push)
    mapping(address node => bytes32[]) private _modelsOf;
    /// @dev modelId => its serving stake and node count (layout on {Serving}).
    mapping(bytes32 modelId => Serving) private _serving;
    /// @dev modelId => the counted nodes that serve it (swap-removed).
    // slither-disable-next-line uninitialized-state (written through storage pointers: servers.push)
    mapping(bytes32 modelId => address[]) private _servers;
    /// @dev Slot layout: [0..95] minStake | [96..159] unbondingDelay | [160..255] unused.
    uint96 private _minStake;
    uint64 private _unbondingDelay;
    /// @dev The only account that can slash and lock stake; set once.
    address private _hub;
    /// @dev The dispute contract: slashes, locks and unlocks like the hub (set once).
    address private _disputes;
    /// @dev Sum of all stakes (registered and unbonding); equals this contract's balance.
    uint256 private _totalStake;

    /*//////////////////////////////////////////////////////////////
                               MODIFIERS
    //////////////////////////////////////////////////////////////*/

    modifier onlyHub() {
        if (msg.sender != _hub && (msg.sender != _disputes || _disputes == address(0))) {
            revert CallerNotHub(msg.sender, _hub);
        }
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
    // slither-disable-next-line reentrancy-no-eth,incorrect-equality (the one callee is the hub, wired once and checked)
    function register(bytes32 envHash, uint8 arithmeticClass, bytes32[] calldata modelIds) external payable {
        if (_hub == address(0)) revert HubNotSet();
        NodeInfo storage node = _nodes[msg.sender];
        if (node.registered) revert NodeAlreadyRegistered(msg.sender);
        if (msg.value < _minStake) revert StakeTooLow(msg.value, _minStake);
        if (msg.value > type(uint96).max) revert StakeTooHigh(msg.value);
        if (envHash == bytes32(0)) revert EnvironmentZero();
        node.stake = uint96(msg.value);
        node.registered = true;
        node.unbondingEndsAt = 0;
        node.stakeGrewAt = uint48(block.timestamp);
        _totalStake += msg.value;
        _environments[msg.sender] = envHash;
        emit NodeRegistered(msg.sender, msg.value, envHash);
        _setClass(arithmeticClass);
        _setModels(modelIds, true);
        // The models declared before a withdrawal are kept, so the whole list is counted.
        _count(msg.sender, node);
    }

    /// @inheritdoc INodeRegistry
    function addStake() external payable {
        NodeInfo storage node = _activeNode(msg.sender);
        uint256 previous = node.stake;
        uint256 stake = previous + msg.value;
        if (stake > type(uint96).max) revert StakeTooHigh(stake);
        node.stake = uint96(stake);
        node.stakeGrewAt = uint48(block.timestamp);
        _totalStake += msg.value;
        emit StakeAdded(msg.sender, msg.value, stake);
        if (node.counted) _restake(msg.sender, previous, stake);
        else _count(msg.sender, node);
    }

    /// @inheritdoc INodeRegistry
    function updateEnvironment(bytes32 envHash, uint8 arithmeticClass) external {
        _activeNode(msg.sender);
        if (envHash == bytes32(0)) revert EnvironmentZero();
        bytes32 previous = _environments[msg.sender];
        _environments[msg.sender] = envHash;
        emit EnvironmentUpdated(msg.sender, previous, envHash);
        if (arithmeticClass != _classes[msg.sender]) _setClass(arithmeticClass);
    }

    /// @dev Sets the caller's class after checking that every model it serves accepts it (the models kept from an
    ///      earlier registration included: they are counted again). At most MAX_SERVED_MODELS reads.
    function _setClass(uint8 arithmeticClass) private {
        if (arithmeticClass > 31) revert ArithmeticClassInvalid(arithmeticClass);
        bytes32[] storage list = _modelsOf[msg.sender];
        if (list.length != 0) {
            IModelRegistry models = IModelRegistry(IInferenceHub(_hub).modelRegistry());
            for (uint256 i; i < list.length; ++i) {
                _checkClass(models, list[i], arithmeticClass);
            }
        }
        _classes[msg.sender] = arithmeticClass;
        emit ArithmeticClassSet(msg.sender, arithmeticClass);
    }

    function _checkClass(IModelRegistry models, bytes32 modelId, uint8 arithmeticClass) private view {
        uint32 accepted = models.arithmeticClassesOf(modelId);
        if (accepted != 0 && (accepted >> arithmeticClass) & 1 == 0) {
            revert ArithmeticClassNotAccepted(modelId, arithmeticClass, accepted);
        }
    }

    /// @inheritdoc INodeRegistry
    function setModels(bytes32[] calldata modelIds, bool serving) external {
        _activeNode(msg.sender);
        _setModels(modelIds, serving);
    }

    /// @inheritdoc INodeRegistry
    function beginUnbonding() external {
        NodeInfo storage node = _activeNode(msg.sender);
        // The stake stays at least as long as the longest challenge window any request had: every SINGLE result this
        // node gave (none after now) can still be disputed and slashed until its window closes.
        uint64 delay = _unbondingDelay;
        uint256 window = IInferenceHub(_hub).windowCeiling();
        if (window > delay) delay = uint64(window);
        uint64 endsAt = uint64(block.timestamp) + delay;
        node.unbondingEndsAt = endsAt;
        emit UnbondingStarted(msg.sender, endsAt);
        _uncount(msg.sender, node, node.stake);
    }

    /// @inheritdoc INodeRegistry
    // slither-disable-next-line incorrect-equality (a zero timestamp means "not unbonding", no time is compared)
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
        // Not counted: unbonding took the node out of every serving stake.
        delete _nodes[msg.sender];
        delete _environments[msg.sender];
        delete _classes[msg.sender];
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
        return _slash(nodeAddress, bps, 0);
    }

    /// @inheritdoc INodeRegistry
    function slashAtLeast(address nodeAddress, uint16 bps, uint256 floor) external onlyHub returns (uint256 amount) {
        return _slash(nodeAddress, bps, floor);
    }

    function _slash(address nodeAddress, uint16 bps, uint256 floor) private returns (uint256 amount) {
        if (bps > 10_000) revert SlashFractionInvalid(bps);
        NodeInfo storage node = _nodes[nodeAddress];
        // A node that already withdrew has nothing left to take; the hub treats 0 as "nothing slashed".
        uint256 previous = node.stake;
        amount = previous * bps / 10_000;
        if (amount < floor) amount = floor < previous ? floor : previous;
        if (amount == 0) return 0;
        // amount <= stake, so the subtraction cannot underflow.
        unchecked {
            node.stake -= uint96(amount);
            _totalStake -= amount;
        }
        emit NodeSlashed(nodeAddress, amount, node.stake);
        if (node.counted) {
            if (node.stake < _minStake) _uncount(nodeAddress, node, previous);
            else _restake(nodeAddress, previous, node.stake);
        }
        // slither-disable-next-line arbitrary-send-eth (the caller is the hub or the dispute contract: onlyHub)
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
    function setDisputes(address disputes_) external onlyOwner {
        if (_disputes != address(0)) revert HubAlreadySet(_disputes);
        if (disputes_.code.length == 0) revert HubInvalid(disputes_);
        _disputes = disputes_;
    }

    /// @inheritdoc INodeRegistry
    function disputes() external view returns (address) {
        return _disputes;
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
                             PERMISSIONLESS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc INodeRegistry
    function refreshServing(address nodeAddress) external {
        NodeInfo storage node = _nodes[nodeAddress];
        if (node.counted && node.stake < _minStake) _uncount(nodeAddress, node, node.stake);
        else _count(nodeAddress, node);
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

    // slither-disable-next-line reentrancy-no-eth,incorrect-equality (the one callee is the hub, wired once and checked)
    function _setModels(bytes32[] calldata modelIds, bool serving) private {
        if (modelIds.length > MAX_MODELS_PER_CALL) revert TooManyModels(modelIds.length, MAX_MODELS_PER_CALL);
        NodeInfo storage node = _nodes[msg.sender];
        bytes32[] storage list = _modelsOf[msg.sender];
        IModelRegistry models = serving && modelIds.length != 0
            ? IModelRegistry(IInferenceHub(_hub).modelRegistry())
            : IModelRegistry(address(0));
        for (uint256 i; i < modelIds.length; ++i) {
            bytes32 modelId = modelIds[i];
            Service storage service = _serves[msg.sender][modelId];
            if (serving) {
                // Reverts `ModelNotFound` for an id not registered: its stake at risk is not known yet.
                // slither-disable-next-line unused-return (the window is the hub's business)
                (, uint96 stakeAtRisk) = models.riskOf(modelId);
                if (node.stake < stakeAtRisk) revert StakeBelowModelRisk(modelId, node.stake, stakeAtRisk);
                _checkClass(models, modelId, _classes[msg.sender]);
                service.stakeAtRisk = stakeAtRisk;
                // A model declared again restarts its `since`: no ticket for requests made before.
                service.since = uint64(block.timestamp);
                if (service.modelIndex == 0) {
                    if (list.length == MAX_SERVED_MODELS) revert TooManyModels(list.length + 1, MAX_SERVED_MODELS);
                    list.push(modelId);
                    service.modelIndex = uint32(list.length);
                    if (node.counted) _addServer(msg.sender, modelId, service, node.stake);
                }
            } else if (service.modelIndex != 0) {
                if (service.serverIndex != 0) _removeServer(modelId, service, node.stake);
                uint256 index = service.modelIndex - 1;
                bytes32 last = list[list.length - 1];
                list[index] = last;
                _serves[msg.sender][last].modelIndex = uint32(index + 1);
                list.pop();
                delete _serves[msg.sender][modelId];
            }
            emit ModelServed(msg.sender, modelId, serving);
        }
    }

    /// @dev Adds an active node at or above the minimum stake to the serving stake of each model it serves.
    function _count(address nodeAddress, NodeInfo storage node) private {
        if (node.counted || !node.registered || node.unbondingEndsAt != 0 || node.stake < _minStake) return;
        node.counted = true;
        bytes32[] storage list = _modelsOf[nodeAddress];
        uint256 stake = node.stake;
        for (uint256 i; i < list.length; ++i) {
            _addServer(nodeAddress, list[i], _serves[nodeAddress][list[i]], stake);
        }
    }

    /// @dev Takes a counted node, whose stake in the sums is `stake`, out of the serving stake of each model it serves.
    function _uncount(address nodeAddress, NodeInfo storage node, uint256 stake) private {
        if (!node.counted) return;
        node.counted = false;
        bytes32[] storage list = _modelsOf[nodeAddress];
        for (uint256 i; i < list.length; ++i) {
            _removeServer(list[i], _serves[nodeAddress][list[i]], stake);
        }
    }

    /// @dev A counted node's stake went from `previous` to `current`: moves each of its models' serving stake.
    // slither-disable-next-line reentrancy-no-eth,incorrect-equality (the one callee is the hub, wired once and checked)
    function _restake(address nodeAddress, uint256 previous, uint256 current) private {
        bytes32[] storage list = _modelsOf[nodeAddress];
        for (uint256 i; i < list.length; ++i) {
            Serving storage serving = _serving[list[i]];
            // Never underflows: `previous` is part of the sum.
            serving.stake = uint128(serving.stake - previous + current);
            _push(list[i], serving);
        }
    }

    function _addServer(address nodeAddress, bytes32 modelId, Service storage service, uint256 stake) private {
        address[] storage servers = _servers[modelId];
        servers.push(nodeAddress);
        service.serverIndex = uint32(servers.length);
        Serving storage serving = _serving[modelId];
        serving.stake += uint128(stake);
        ++serving.nodes;
        _push(modelId, serving);
    }

    function _removeServer(bytes32 modelId, Service storage service, uint256 stake) private {
        address[] storage servers = _servers[modelId];
        uint256 index = service.serverIndex - 1;
        address last = servers[servers.length - 1];
        servers[index] = last;
        _serves[last][modelId].serverIndex = uint32(index + 1);
        servers.pop();
        service.serverIndex = 0;
        Serving storage serving = _serving[modelId];
        // The node's stake is part of the sum and the node of the count.
        serving.stake -= uint128(stake);
        --serving.nodes;
        _push(modelId, serving);
    }

    /// @dev Emits the new figures and pushes them to the hub, which reads them when a request is made.
    function _push(bytes32 modelId, Serving storage serving) private {
        uint256 stake = serving.stake;
        uint256 count = serving.nodes;
        emit ServingStakeUpdated(modelId, stake, count);
        IInferenceHub(_hub).syncServing(modelId, stake, count);
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
    // slither-disable-next-line incorrect-equality (a zero `since` means "not served", no time is compared)
    function eligibility(address nodeAddress, bytes32 modelId)
        external
        view
        returns (Eligibility status, bytes32 envHash)
    {
        NodeInfo memory node = _nodes[nodeAddress];
        if (!node.registered) return (Eligibility.NOT_REGISTERED, bytes32(0));
        if (node.unbondingEndsAt != 0) return (Eligibility.UNBONDING, bytes32(0));
        if (node.stake < _minStake) return (Eligibility.STAKE_BELOW_MINIMUM, bytes32(0));
        Service memory service = _serves[nodeAddress][modelId];
        if (service.since == 0) return (Eligibility.MODEL_NOT_SERVED, bytes32(0));
        if (node.stake < service.stakeAtRisk) return (Eligibility.STAKE_BELOW_MODEL_RISK, bytes32(0));
        return (Eligibility.ELIGIBLE, _environments[nodeAddress]);
    }

    /// @inheritdoc INodeRegistry
    // slither-disable-next-line incorrect-equality (a zero `since` means "not served", no time is compared)
    function standing(address nodeAddress, bytes32 modelId) external view returns (Standing memory s) {
        NodeInfo memory node = _nodes[nodeAddress];
        Service memory service = _serves[nodeAddress][modelId];
        uint64 since = service.since;
        s.stake = node.stake;
        s.since = since > node.stakeGrewAt ? since : node.stakeGrewAt;
        if (!node.registered) s.status = Eligibility.NOT_REGISTERED;
        else if (node.unbondingEndsAt != 0) s.status = Eligibility.UNBONDING;
        else if (node.stake < _minStake) s.status = Eligibility.STAKE_BELOW_MINIMUM;
        else if (since == 0) s.status = Eligibility.MODEL_NOT_SERVED;
        else if (node.stake < service.stakeAtRisk) s.status = Eligibility.STAKE_BELOW_MODEL_RISK;
        else s.envHash = _environments[nodeAddress];
    }

    /// @inheritdoc INodeRegistry
    function servingStakeOf(bytes32 modelId) external view returns (Serving memory) {
        return _serving[modelId];
    }

    /// @inheritdoc INodeRegistry
    function servingNodesOf(bytes32 modelId, uint256 offset, uint256 limit)
        external
        view
        returns (address[] memory page)
    {
        address[] storage servers = _servers[modelId];
        uint256 end = servers.length;
        if (offset >= end) return new address[](0);
        if (end - offset > limit) end = offset + limit;
        page = new address[](end - offset);
        for (uint256 i; i < page.length; ++i) {
            page[i] = servers[offset + i];
        }
    }

    /// @inheritdoc INodeRegistry
    function modelsOf(address nodeAddress) external view returns (bytes32[] memory) {
        return _modelsOf[nodeAddress];
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
    function arithmeticClassOf(address nodeAddress) external view returns (uint8) {
        return _classes[nodeAddress];
    }

    /// @inheritdoc INodeRegistry
    function serves(address nodeAddress, bytes32 modelId) external view returns (bool) {
        return _serves[nodeAddress][modelId].since != 0;
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

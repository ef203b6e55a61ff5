// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Why a node may or may not take work.
enum Eligibility {
    ELIGIBLE,
    NOT_REGISTERED,
    STAKE_BELOW_MINIMUM,
    UNBONDING,
    MODEL_NOT_SERVED,
    /// @dev The node's stake is below the model's stake at risk ({ModelSpec-stakeAtRisk}), after a slash.
    STAKE_BELOW_MODEL_RISK
}

/// @notice A node's bonded state, packed into one storage slot.
/// @dev Bit layout, low to high: [0..95] stake (wei) | [96..159] unbondingEndsAt (unix seconds, 0 = active) |
///      [160..191] openCommitments | [192..199] registered | [200..247] stakeGrewAt (unix seconds of the last
///      registration or stake increase) | [248..255] counted (the stake is in the serving stake of every model the
///      node serves). Checked by `tests/node/unit/test_storage_layout.py`.
struct NodeInfo {
    uint96 stake;
    uint64 unbondingEndsAt;
    uint32 openCommitments;
    bool registered;
    uint48 stakeGrewAt;
    bool counted;
}

/// @notice What the hub needs to check a node's assignment to a request in one call.
/// @dev `since` is the later of the node's last stake increase (or registration) and the time it started serving the
///      model: a node may only hold a ticket for requests made strictly after it, so neither a fresh identity nor added
///      stake can improve a ticket once the request's seed is known.
struct Standing {
    Eligibility status;
    bytes32 envHash;
    uint96 stake;
    uint64 since;
}

/// @notice The stake that serves a model: the sum over counted nodes that serve it, and how many they are.
struct Serving {
    uint128 stake;
    uint32 nodes;
}

/// @title INodeRegistry
/// @notice Operators bond native ETH and publish the hash of their environment manifest (runtime and hardware),
///         declare the models they serve, and leave through an unbonding delay. Only the hub slashes.
interface INodeRegistry {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The caller is already registered.
    error NodeAlreadyRegistered(address node);
    /// @notice The address is not a registered node.
    error NodeNotRegistered(address node);
    /// @notice The stake sent is below the minimum.
    error StakeTooLow(uint256 stake, uint256 minimum);
    /// @notice The stake would not fit the registry's accounting (uint96).
    error StakeTooHigh(uint256 stake);
    /// @notice The environment manifest hash must not be zero.
    error EnvironmentZero();
    /// @notice The node is unbonding and can no longer change its bond or take work.
    error NodeIsUnbonding(address node, uint64 unbondingEndsAt);
    /// @notice The node has not started unbonding.
    error NodeNotUnbonding(address node);
    /// @notice The unbonding delay has not passed.
    error UnbondingNotOver(address node, uint64 unbondingEndsAt, uint256 nowTimestamp);
    /// @notice Consensus rounds the node committed to are still open; its stake stays at risk until they settle.
    error StakeLocked(address node, uint32 openCommitments);
    /// @notice Only the hub may call this.
    error CallerNotHub(address caller, address hub);
    /// @notice The hub is wired once, at deployment.
    error HubAlreadySet(address hub);
    /// @notice The hub address must be a contract.
    error HubInvalid(address hub);
    /// @notice A parameter is outside its bounds.
    error ParameterOutOfBounds(string name, uint256 value, uint256 min, uint256 max);
    /// @notice A slash fraction above 100 %.
    error SlashFractionInvalid(uint256 bps);
    /// @notice Sending ETH failed; nothing changed.
    error TransferFailed(address to, uint256 amount);
    /// @notice An open-commitment counter would underflow (a hub accounting bug).
    error NoOpenCommitments(address node);
    /// @notice ETH cannot be sent to the zero address.
    error RecipientZero();
    /// @notice More models in one call, or served by one node, than the limit.
    error TooManyModels(uint256 count, uint256 max);
    /// @notice Nodes can only register once the hub is wired (it keeps a copy of each model's serving stake).
    error HubNotSet();
    /// @notice Serving `modelId` needs a stake of at least its `stakeAtRisk` (what one of its results may move); the
    ///         node has `stake`. Add stake first (`addStake`).
    error StakeBelowModelRisk(bytes32 modelId, uint256 stake, uint256 stakeAtRisk);
    /// @notice `modelId` accepts only the arithmetic classes in `accepted` (bit i = class i), and the node states
    ///         `arithmeticClass`: serve it from a machine of an accepted class, or leave the model out.
    error ArithmeticClassNotAccepted(bytes32 modelId, uint8 arithmeticClass, uint32 accepted);
    /// @notice Arithmetic classes are 0..31.
    error ArithmeticClassInvalid(uint8 arithmeticClass);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    event NodeRegistered(address indexed node, uint256 stake, bytes32 envHash);
    event StakeAdded(address indexed node, uint256 amount, uint256 stake);
    event EnvironmentUpdated(address indexed node, bytes32 previousEnvHash, bytes32 envHash);
    /// @notice `node` states the arithmetic class its results are computed in (see {register}).
    event ArithmeticClassSet(address indexed node, uint8 arithmeticClass);
    event ModelServed(address indexed node, bytes32 indexed modelId, bool serving);
    event UnbondingStarted(address indexed node, uint64 unbondingEndsAt);
    event StakeWithdrawn(address indexed node, address to, uint256 amount);
    event NodeSlashed(address indexed node, uint256 amount, uint256 remainingStake);
    event HubSet(address indexed hub);
    event MinStakeUpdated(uint256 previous, uint256 current);
    event UnbondingDelayUpdated(uint64 previous, uint64 current);
    /// @notice The serving stake of `modelId` changed (pushed to the hub in the same call).
    event ServingStakeUpdated(bytes32 indexed modelId, uint256 stake, uint256 nodes);

    /*//////////////////////////////////////////////////////////////
                            OPERATOR FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Registers the caller with `msg.value` as stake (≥ minStake) and its environment manifest hash.
    /// @param arithmeticClass The class of arithmetic the node's results come from (the ISA features and runtime
    ///        backend that change a model's float results: `verinfer.types.ARITHMETIC_CLASSES`; 0 = unstated). A
    ///        model that names the classes it accepts is served only by nodes of those classes, so its committees
    ///        never mix arithmetic that disagrees (`ArithmeticClassNotAccepted` otherwise).
    /// @param modelIds Models the node serves from the start (more can be added later).
    function register(bytes32 envHash, uint8 arithmeticClass, bytes32[] calldata modelIds) external payable;

    /// @notice Adds `msg.value` to the caller's stake, e.g. to climb back above the minimum after a slash.
    function addStake() external payable;

    /// @notice Publishes a new environment manifest hash and arithmetic class. Open consensus votes keep the hash they
    ///         committed with. Every model the node serves must accept the class (`ArithmeticClassNotAccepted`).
    function updateEnvironment(bytes32 envHash, uint8 arithmeticClass) external;

    /// @notice Declares (`serving` true) or withdraws (false) the caller's service of `modelIds`. A model is declared
    ///         only once registered (`ModelNotFound` from the model registry otherwise), and only with a stake of at
    ///         least its stake at risk (`StakeBelowModelRisk`); the stake at risk is kept with the service, as the
    ///         entry is immutable.
    function setModels(bytes32[] calldata modelIds, bool serving) external;

    /// @notice Starts the unbonding delay; the node takes no new work from now on. Cannot be undone.
    function beginUnbonding() external;

    /// @notice After the delay, and once no consensus round it joined is open, pays the whole stake to `to` and
    ///         deregisters the caller. The declared models are kept: registering again restores them.
    function withdrawStake(address payable to) external returns (uint256 amount);

    /*//////////////////////////////////////////////////////////////
                              HUB FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Takes `bps`/10,000 of `node`'s stake and sends it to the hub. Only the hub.
    function slash(address node, uint16 bps) external returns (uint256 amount);

    /// @notice `slash`, taking at least `floor` wei (all of the stake if less is left): an overturned result of a
    ///         model with a stake at risk. Only the hub or the dispute contract; the ether goes to the caller.
    function slashAtLeast(address node, uint16 bps, uint256 floor) external returns (uint256 amount);

    /// @notice Records that `node` joined a consensus round (its stake cannot be withdrawn until it settles).
    function lockStake(address node) external;

    /// @notice Records that a consensus round `node` joined has settled.
    function unlockStake(address node) external;

    /*//////////////////////////////////////////////////////////////
                             OWNER FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Wires the hub, once.
    function setHub(address hub) external;

    /// @notice Sets the dispute contract (once, owner), which may slash, lock and unlock stake like the hub.
    function setDisputes(address disputes) external;

    /// @notice The dispute contract (zero until set).
    function disputes() external view returns (address);

    /// @notice Sets the minimum stake (bounds: MIN_STAKE_FLOOR..MIN_STAKE_CEILING). Nodes below it take no work.
    function setMinStake(uint96 minStake) external;

    /// @notice Sets the unbonding delay (bounds: MIN_UNBONDING_DELAY..MAX_UNBONDING_DELAY); applies to new unbondings.
    function setUnbondingDelay(uint64 delay) external;

    /*//////////////////////////////////////////////////////////////
                              PERMISSIONLESS
    //////////////////////////////////////////////////////////////*/

    /// @notice Brings `node`'s share of the serving stake up to date with the current minimum stake: after the owner
    ///         raises the minimum, a node below it still counts until someone calls this (anyone may; it only ever
    ///         makes the figures true). Every other change (stake, slash, models, unbonding) is applied at once.
    function refreshServing(address node) external;

    /*//////////////////////////////////////////////////////////////
                                  VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @notice The arithmetic class `node` states (0 = unstated).
    function arithmeticClassOf(address node) external view returns (uint8);

    /// @notice Whether `node` may take work for `modelId` now, and the environment hash it would work under.
    function eligibility(address node, bytes32 modelId) external view returns (Eligibility status, bytes32 envHash);

    /// @notice Whether `node`'s stake is at least the minimum (the condition for being paid).
    function isStaked(address node) external view returns (bool);

    /// @notice `eligibility` with the node's stake and the time since which it may hold tickets for `modelId`.
    function standing(address node, bytes32 modelId) external view returns (Standing memory);

    /// @notice The serving stake of `modelId`: the stake of every registered, bonded node at or above the minimum
    ///         that serves it, and their number. Maintained incrementally; see `refreshServing`.
    function servingStakeOf(bytes32 modelId) external view returns (Serving memory);

    /// @notice The nodes counted in `modelId`'s serving stake, from `offset`, at most `limit` of them (the node
    ///         software reads them to compute every ticket of a request). Order changes as nodes leave.
    function servingNodesOf(bytes32 modelId, uint256 offset, uint256 limit) external view returns (address[] memory);

    /// @notice The models `node` serves (at most MAX_SERVED_MODELS).
    function modelsOf(address node) external view returns (bytes32[] memory);

    function nodeInfo(address node) external view returns (NodeInfo memory);
    function environmentOf(address node) external view returns (bytes32);
    function serves(address node, bytes32 modelId) external view returns (bool);
    function minStake() external view returns (uint96);
    function unbondingDelay() external view returns (uint64);
    function hub() external view returns (address);
    /// @notice Sum of all nodes' stakes: equals the registry's ETH balance.
    function totalStake() external view returns (uint256);
}

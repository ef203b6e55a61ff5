// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice How a result is shown to be correct.
/// @dev SINGLE: one staked node answers. CONSENSUS: k staked nodes commit, reveal, and the strict majority wins.
///      ZK: one staked node answers with a zero-knowledge proof that the model's verifier checks on chain.
enum Mode {
    SINGLE,
    CONSENSUS,
    ZK
}

/// @notice What the hub needs to accept a request, and a client to encode its input, packed into one storage slot.
/// @dev Bit layout of the slot, low to high:
///      [0..95] price (wei per execution) | [96..127] inputBytes | [128..159] outputBytes |
///      [160..167] modes bitmask (bit i = Mode(i) allowed) | [168..175] deprecated | [176..183] envRestricted |
///      [184..191] exists | [192..255] scale (the fixed-point multiplier of the tensor encoding, see {ModelSpec}).
///      Checked by `tests/node/unit/test_storage_layout.py`.
struct ModelTerms {
    uint96 price;
    uint32 inputBytes;
    uint32 outputBytes;
    uint8 modes;
    bool deprecated;
    bool envRestricted;
    bool exists;
    uint64 scale;
}

/// @notice Everything a model owner declares at registration. Immutable afterwards.
struct ModelSpec {
    /// @dev Where the ONNX file can be fetched (file://, https://, ipfs://). The node checks keccak256(bytes) == modelId.
    string uri;
    /// @dev Dimensions of the single input tensor, batch dimension included (every entry > 0).
    uint32[] inputShape;
    /// @dev Dimensions of the single output tensor.
    uint32[] outputShape;
    /// @dev Fixed-point multiplier of the canonical tensor encoding: a real value x travels as round(x * scale).
    uint64 scale;
    /// @dev Fee per execution in wei; a request pays price * redundancy or more.
    uint96 price;
    /// @dev Bitmask of allowed modes, bit i = Mode(i).
    uint8 modes;
    /// @dev Environment manifest hashes allowed to serve the model; empty = any environment.
    bytes32[] allowedEnvironments;
    /// @dev Proof verifier for Mode.ZK ({IZkVerifier}, generated for this model's circuit by `verinfer.zk`); must be a
    ///      contract when ZK is allowed and zero otherwise. With ZK, `scale` must be 2^k for the circuit's scale k.
    address verifier;
}

/// @title IModelTermsSink
/// @notice Receives each model's request terms from the registry (implemented by the hub).
interface IModelTermsSink {
    /// @notice Stores `terms` for `modelId`. Only the model registry may call it.
    function syncModelTerms(bytes32 modelId, ModelTerms calldata terms) external;

    /// @notice Stores the proof verifier of a model that allows ZK, once, at its registration. Only the model registry.
    function syncModelVerifier(bytes32 modelId, address verifier) external;
}

/// @title IModelRegistry
/// @notice Content-addressed model registry: a model's id is keccak256 of its ONNX file bytes, so a result can be tied
///         to the exact weights that produced it. Entries are immutable; the owner can only deprecate one, which stops
///         new requests while requests in flight finish. A new version is a new id.
interface IModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The zero hash is not a model id.
    error ModelIdZero();
    /// @notice `modelId` is already registered; publish a new file (a new hash) for a new version.
    error ModelAlreadyRegistered(bytes32 modelId, address owner);
    /// @notice No model with this id.
    error ModelNotFound(bytes32 modelId);
    /// @notice Only the model's owner may do this.
    error NotModelOwner(bytes32 modelId, address caller, address owner);
    /// @notice The model was already deprecated.
    error ModelAlreadyDeprecated(bytes32 modelId);
    /// @notice The URI is empty or longer than `maxLength` bytes.
    error UriInvalid(uint256 length, uint256 maxLength);
    /// @notice A tensor shape has no dimensions. `which` is "input" or "output".
    error ShapeEmpty(string which);
    /// @notice A tensor shape has more than `maxRank` dimensions.
    error ShapeRankTooHigh(string which, uint256 rank, uint256 maxRank);
    /// @notice Dimension `index` of a tensor shape is zero.
    error ShapeDimensionZero(string which, uint256 index);
    /// @notice The tensor has more elements than `maxElements` (the registry's size bound divided by 8 bytes).
    error TensorTooLarge(string which, uint256 elements, uint256 maxElements);
    /// @notice The fixed-point scale must be at least 1.
    error ScaleZero();
    /// @notice `modes` is empty or sets bits beyond the known modes.
    error ModesInvalid(uint8 modes, uint8 knownModes);
    /// @notice ZK mode needs a verifier contract, and a verifier is only meaningful with ZK mode.
    error VerifierInvalid(uint8 modes, address verifier);
    /// @notice A model that allows ZK must have a scale of 2^k, the fixed-point scale of its circuit.
    error ScaleNotPowerOfTwo(uint64 scale);
    /// @notice An allowed environment hash is zero.
    error EnvironmentZero(uint256 index);
    /// @notice An allowed environment hash appears twice.
    error EnvironmentDuplicate(bytes32 envHash);
    /// @notice More allowed environments than `max`.
    error TooManyEnvironments(uint256 count, uint256 max);
    /// @notice Models can only be registered once the hub is wired (it keeps a copy of each model's request terms).
    error HubNotSet();
    /// @notice The hub is wired once, at deployment.
    error HubAlreadySet(address hub);
    /// @notice The hub address must be a contract.
    error HubInvalid(address hub);

    /*//////////////////////////////////////////////////////////////
                                 EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice A model was registered; the event carries the whole entry.
    event ModelRegistered(bytes32 indexed modelId, address indexed owner, ModelSpec spec);
    /// @notice A model was deprecated; requests in flight still finish.
    event ModelDeprecated(bytes32 indexed modelId);
    /// @notice The hub was wired.
    event HubSet(address indexed hub);

    /*//////////////////////////////////////////////////////////////
                                FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Registers a model; the caller becomes its owner. Its terms (and, with ZK, its verifier) are pushed to
    ///         the hub.
    /// @param modelId keccak256 of the ONNX file's bytes (computed off chain: files are too large for calldata).
    function registerModel(bytes32 modelId, ModelSpec calldata spec) external;

    /// @notice Stops new requests for `modelId`. Only its owner; cannot be undone.
    function deprecateModel(bytes32 modelId) external;

    /// @notice Wires the hub, once (owner only). Every registration and deprecation is pushed to it, so a request
    ///         reads the terms from the hub's own storage instead of calling the registry (~3,700 gas less).
    function setHub(address hub) external;

    /// @notice The hub the terms are pushed to.
    function hub() external view returns (address);

    /// @notice Whether `modelId` is registered (deprecated models included). The views below revert with
    ///         `ModelNotFound` for an id that is not.
    function isRegistered(bytes32 modelId) external view returns (bool);

    /// @notice The request terms of `modelId` in one slot read. Reverts `ModelNotFound` for an unknown id.
    function termsOf(bytes32 modelId) external view returns (ModelTerms memory);

    /// @notice The full entry of `modelId` (the tensor shapes are in `spec`). Reverts `ModelNotFound` for an unknown
    ///         id.
    function getModel(bytes32 modelId)
        external
        view
        returns (address owner, ModelSpec memory spec, ModelTerms memory terms);

    /// @notice Whether a node with environment `envHash` may serve `modelId` (true for unrestricted models).
    function isEnvironmentAllowed(bytes32 modelId, bytes32 envHash) external view returns (bool);

    /// @notice The number of registered models.
    function modelCount() external view returns (uint256);

    /// @notice The id of the `index`-th registered model (0-based, registration order).
    function modelIdAt(uint256 index) external view returns (bytes32);
}

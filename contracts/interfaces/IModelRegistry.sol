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

// Set in a size word (`ModelTerms.inputBytes` and `outputBytes`, `RequestParams.outputBytes`) of a variable-length
//         side: its payload is raw bytes of any length up to the low 31 bits (UTF-8 text in, token ids and text out),
//         not a tensor of exactly that size.
uint32 constant LENGTH_UP_TO = 1 << 31;

// Bits of `ModelSpec.format`. VARIABLE_INPUT / VARIABLE_OUTPUT: that side is variable-length bytes, and its shape
//         is one dimension, its largest length in bytes. BUNDLE: the model id is a bundle manifest's keccak256
//         (docs/text.md) and `uri` the base URI under which `verinfer-bundle.json` and every file it lists are fetched.
uint8 constant FORMAT_VARIABLE_INPUT = 1;
uint8 constant FORMAT_VARIABLE_OUTPUT = 2;
uint8 constant FORMAT_BUNDLE = 4;

/// @notice What the hub needs to accept a request, and a client to encode its input, packed into one storage slot.
/// @dev Bit layout of the slot, low to high:
///      [0..95] price (wei per execution) | [96..127] inputBytes | [128..159] outputBytes |
///      [160..167] modes bitmask (bit i = Mode(i) allowed) | [168..175] deprecated | [176..183] envRestricted |
///      [184..191] exists | [192..255] scale (the fixed-point multiplier of the tensor encoding, see {ModelSpec}).
///      A variable-length side's size carries `LENGTH_UP_TO` (its maximum in the low bits). Checked by
///      `tests/node/unit/test_storage_layout.py`.
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

/// @notice Everything a model publisher declares at registration. Immutable afterwards.
struct ModelSpec {
    /// @dev Where the ONNX file can be fetched (file://, https://, ipfs://). The node checks keccak256(bytes) == modelId.
    ///      For a bundle (`FORMAT_BUNDLE`): the base URI of its manifest and files.
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
    /// @dev Seconds a SINGLE result of this model stays provisional (challengeable) after it is recorded; 0 = the
    ///      hub's window. Between `MIN_CHALLENGE_WINDOW` and `MAX_CHALLENGE_WINDOW`; a request takes the shorter of
    ///      this and the hub's window when it is made, so the hub bounds it (and unbonding outlasts every window).
    uint32 challengeWindow;
    /// @dev The most value (wei) one result of this model may move, as the publisher declares it: a node needs at
    ///      least this much stake to serve the model, and an overturned result costs it at least this much (all of
    ///      its stake if less is left). 0 = only the hub's minimum stake and slash.
    uint96 stakeAtRisk;
    /// @dev The arithmetic classes (bit i = class i, see {INodeRegistry-register}) whose nodes may serve the model,
    ///      and so sit on its committees; 0 = any class. Name only classes that give this model's canonical outputs
    ///      bit for bit (`verinfer env show` prints the local one): then honest nodes never disagree, and a
    ///      dissenting vote is a wrong one.
    uint32 arithmeticClasses;
    /// @dev Proof verifier for Mode.ZK ({IZkVerifier}, generated for this model's circuit by `verinfer.zk`); must be a
    ///      contract when ZK is allowed and zero otherwise. With ZK, `scale` must be 2^k for the circuit's scale k.
    address verifier;
    /// @dev `FORMAT_*` bits: variable-length sides and bundles (0: one ONNX file, fixed-size tensors). Not with ZK.
    uint8 format;
    /// @dev The model card: canonical JSON (verinfer.inference.card) listing the file's ports with a scale per float
    ///      port, the outputs committed, class labels and per-request limits; at most `MAX_CARD_BYTES`, empty for
    ///      none. Nodes check it against the file and refuse to serve a model whose card does not describe it.
    bytes card;
}

/// @notice What the registry pins about an entry besides its spec, kept apart from {ModelTerms} (the hub's copy).
/// @dev Layout: slot 0, low to high: [0..159] publisher | [160..223] registeredAt; slot 1 verifierCodeHash;
///      slot 2 vkHash. Checked by `tests/node/unit/test_storage_layout.py`.
struct ModelProvenance {
    /// @dev The account that committed to the registration: the only one that may deprecate the model.
    address publisher;
    /// @dev Block number of the registration.
    uint64 registeredAt;
    /// @dev `extcodehash` of the ZK verifier at registration (zero without ZK). Compare it with the verifier's
    ///      code hash now ({IModelRegistry-checkVerifier}) before trusting a "ZK-verified" result.
    bytes32 verifierCodeHash;
    /// @dev keccak256 of the verifying key the publisher's verifier was generated from (zero without ZK).
    bytes32 vkHash;
}

/// @title IModelTermsSink
/// @notice Receives each model's request terms from the registry (implemented by the hub).
interface IModelTermsSink {
    /// @notice Stores `terms` and the model's challenge window (seconds, 0 = the hub's) for `modelId`. Only the model
    ///         registry may call it.
    function syncModelTerms(bytes32 modelId, ModelTerms calldata terms, uint32 challengeWindow) external;

    /// @notice Stores the proof verifier of a model that allows ZK, once, at its registration. Only the model registry.
    function syncModelVerifier(bytes32 modelId, address verifier) external;
}

/// @title IModelRegistry
/// @notice Content-addressed model registry: a model's id is keccak256 of its ONNX file bytes, so a result can be tied
///         to the exact weights that produced it. Entries are immutable; their publisher can only deprecate one, which
///         stops new requests while requests in flight finish. A new version is a new id.
///
///         Registration is commit-reveal, so a copier watching the mempool cannot take a publisher's id:
///         1. the publisher sends `commitRegistration(c)` with c = `registrationCommitment(modelId, spec, vkHash,
///            publisher, salt)`: a hash that hides the id, and is stored under the sender, so it names its publisher;
///         2. in any later block, anyone sends `registerModel(modelId, spec, vkHash, publisher, salt)`: it succeeds only
///            if `publisher` committed to exactly these values at least one block earlier.
///         The id first becomes public in step 2, when it is too late for a copier to commit: its own commitment would
///         be younger than one block. Copying step 1 stores the copy under the copier, naming the copier, for an id it
///         does not know; replaying step 2 registers the publisher's own entry.
///         Why not a publisher signature (EIP-712) instead: a signature proves who chose the terms, not who was
///         first. A copier signs the same id with its own key, with its own price and verifier, and outbids the
///         publisher's gas; only hiding the id until it is too late to copy stops that.
///         What neither can stop: someone who knows a file's hash BEFORE its publisher registers it (the file was
///         published first) can register it first. The entry then names that account as its publisher, so a dApp
///         that pins the publisher (and, for ZK, the verifier's code hash and the verifying-key hash) it trusts
///         gains nothing false from the squat. Register before publishing the file.
interface IModelRegistry {
    /*//////////////////////////////////////////////////////////////
                                 ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice The zero hash is not a model id.
    error ModelIdZero();
    /// @notice `modelId` is already registered; publish a new file (a new hash) for a new version.
    error ModelAlreadyRegistered(bytes32 modelId, address publisher);
    /// @notice No model with this id.
    error ModelNotFound(bytes32 modelId);
    /// @notice Only the model's publisher may do this.
    error NotModelPublisher(bytes32 modelId, address caller, address publisher);
    /// @notice The zero hash is not a commitment.
    error CommitmentZero();
    /// @notice `publisher` already committed to `commitment` (at block `committedAt`); a commitment is used once.
    error CommitmentExists(address publisher, bytes32 commitment, uint256 committedAt);
    /// @notice `publisher` never committed to these registration values (or the commitment was used): commit first
    ///         with `commitRegistration(registrationCommitment(...))`, from the publisher's account.
    error CommitmentNotFound(address publisher, bytes32 commitment);
    /// @notice The commitment was made in this block (`committedAt`); reveal it in a later block.
    error CommitmentTooNew(bytes32 commitment, uint256 committedAt, uint256 blockNumber);
    /// @notice The zero address cannot publish a model.
    error PublisherZero();
    /// @notice A model that allows ZK needs the hash of its verifying key, and only such a model has one.
    error VkHashInvalid(uint8 modes, bytes32 vkHash);
    /// @notice The model has no ZK verifier.
    error ModelHasNoVerifier(bytes32 modelId);
    /// @notice The code at the model's verifier is no longer the code pinned at registration.
    error VerifierCodeChanged(bytes32 modelId, address verifier, bytes32 pinned, bytes32 actual);
    /// @notice The model already has `max` mirror URIs.
    error TooManyMirrors(bytes32 modelId, uint256 max);
    /// @notice The model was already deprecated.
    error ModelAlreadyDeprecated(bytes32 modelId);
    /// @notice The URI is empty or longer than `maxLength` bytes.
    error UriInvalid(uint256 length, uint256 maxLength);
    /// @notice The model card is longer than `maxLength` bytes.
    error CardTooLarge(uint256 length, uint256 maxLength);
    /// @notice Only the model's publisher or the registry's owner may add its mirrors.
    error NotMirrorAdmin(bytes32 modelId, address caller, address publisher, address owner);
    /// @notice A tensor shape has no dimensions. `which` is "input" or "output".
    error ShapeEmpty(string which);
    /// @notice A tensor shape has more than `maxRank` dimensions.
    error ShapeRankTooHigh(string which, uint256 rank, uint256 maxRank);
    /// @notice Dimension `index` of a tensor shape is zero.
    error ShapeDimensionZero(string which, uint256 index);
    /// @notice The tensor has more elements than `maxElements` (the registry's size bound divided by 8 bytes).
    error TensorTooLarge(string which, uint256 elements, uint256 maxElements);
    /// @notice `format` sets unknown bits, or a variable-length side with ZK (a circuit has fixed-size instances).
    error FormatInvalid(uint8 format, uint8 modes);
    /// @notice A variable-length side's shape is one dimension, its largest length: 1 to `maxBytes` bytes.
    error VariableLengthInvalid(string which, uint256 rank, uint256 length, uint256 maxBytes);
    /// @notice The fixed-point scale must be at least 1.
    error ScaleZero();
    /// @notice A challenge window must be 0 (the hub's) or between `min` and `max` seconds.
    error ChallengeWindowInvalid(uint32 window, uint32 min, uint32 max);
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

    /// @notice `publisher` committed to a registration it has not revealed yet.
    event RegistrationCommitted(address indexed publisher, bytes32 indexed commitment);
    /// @notice A model was registered; the event carries the whole entry.
    event ModelRegistered(
        bytes32 indexed modelId, address indexed publisher, ModelSpec spec, bytes32 verifierCodeHash, bytes32 vkHash
    );
    /// @notice The model's publisher or the registry's owner added a mirror URI for the model's file (safe: the node
    ///         checks the file's hash).
    event MirrorAdded(bytes32 indexed modelId, uint256 index, string uri);
    /// @notice A model was deprecated; requests in flight still finish.
    event ModelDeprecated(bytes32 indexed modelId);
    /// @notice The hub was wired.
    event HubSet(address indexed hub);

    /*//////////////////////////////////////////////////////////////
                                FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @notice Step 1 of a registration: records that the caller, as publisher, commits to `commitment`
    ///         (`registrationCommitment(...)` of the values it will reveal). Reveal with `registerModel` in a later
    ///         block.
    function commitRegistration(bytes32 commitment) external;

    /// @notice Step 2: registers `modelId` with `publisher` as its publisher, if `publisher` committed to exactly
    ///         these values in an earlier block. Anyone may send it (a relayer, say): the commitment names the
    ///         publisher. Its terms (and, with ZK, its verifier) are pushed to the hub; a ZK verifier's code hash is
    ///         pinned in the entry.
    /// @param modelId keccak256 of the ONNX file's bytes (computed off chain: files are too large for calldata).
    /// @param vkHash keccak256 of the verifying key the ZK verifier was generated from; zero without ZK.
    /// @param salt The secret that hid the commitment; a fresh random 32 bytes per registration.
    function registerModel(bytes32 modelId, ModelSpec calldata spec, bytes32 vkHash, address publisher, bytes32 salt)
        external;

    /// @notice Stops new requests for `modelId`. Only its publisher; cannot be undone.
    function deprecateModel(bytes32 modelId) external;

    /// @notice Adds a URI the model's file can also be fetched from: by its publisher, or by the registry's owner
    ///         (behind the timelock once deployed). Safe: the node checks keccak256 of the bytes it fetches against
    ///         the id, so a mirror can only serve the file or fail.
    function addMirror(bytes32 modelId, string calldata uri) external;

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
        returns (address publisher, ModelSpec memory spec, ModelTerms memory terms);

    /// @notice What a SINGLE result of `modelId` risks (see {ModelSpec}): its challenge window in seconds (0 = the
    ///         hub's) and the stake a node needs to serve it, which an overturned result loses at least. Reverts
    ///         `ModelNotFound`.
    function riskOf(bytes32 modelId) external view returns (uint32 challengeWindow, uint96 stakeAtRisk);

    /// @notice The arithmetic classes whose nodes may serve `modelId` (bit i = class i; 0 = any). Reverts
    ///         `ModelNotFound`.
    function arithmeticClassesOf(bytes32 modelId) external view returns (uint32);

    /// @notice Who published `modelId`, when, and what its ZK verifier is pinned to. Reverts `ModelNotFound`.
    function provenanceOf(bytes32 modelId) external view returns (ModelProvenance memory);

    /// @notice The model's ZK verifier, after checking that its code is still the code pinned at registration
    ///         (`VerifierCodeChanged` otherwise; `ModelHasNoVerifier` without ZK). Call it before trusting a proof.
    function checkVerifier(bytes32 modelId) external view returns (address verifier);

    /// @notice The mirror URIs the owner added for `modelId`, in order (the spec's `uri` comes first and is not
    ///         repeated here). Reverts `ModelNotFound`.
    function mirrorsOf(bytes32 modelId) external view returns (string[] memory);

    /// @notice The commitment `registerModel` checks: keccak256(abi.encode(chainid, registry, modelId,
    ///         keccak256(abi.encode(spec)), vkHash, publisher, salt)). Compute it locally rather than through an RPC
    ///         endpoint, which would see the id before the commitment is mined.
    function registrationCommitment(
        bytes32 modelId,
        ModelSpec calldata spec,
        bytes32 vkHash,
        address publisher,
        bytes32 salt
    ) external view returns (bytes32);

    /// @notice The block in which `publisher` committed to `commitment`; zero if it did not (or it was used).
    function commitmentBlockOf(address publisher, bytes32 commitment) external view returns (uint256);

    /// @notice Whether a node with environment `envHash` may serve `modelId` (true for unrestricted models).
    function isEnvironmentAllowed(bytes32 modelId, bytes32 envHash) external view returns (bool);

    /// @notice The number of registered models.
    function modelCount() external view returns (uint256);

    /// @notice The id of the `index`-th registered model (0-based, registration order).
    function modelIdAt(uint256 index) external view returns (bytes32);
}

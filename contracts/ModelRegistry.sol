// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {
    IModelRegistry,
    IModelTermsSink,
    FORMAT_BUNDLE,
    FORMAT_VARIABLE_INPUT,
    FORMAT_VARIABLE_OUTPUT,
    LENGTH_UP_TO,
    ModelProvenance,
    ModelSpec,
    ModelTerms,
    Mode
} from "./interfaces/IModelRegistry.sol";
import {TensorCodec} from "./lib/TensorCodec.sol";
import {Owned2Step} from "./utils/Owned2Step.sol";
import {IInferenceHub} from "./interfaces/IInferenceHub.sol";

/// @title ModelRegistry
/// @notice Content-addressed, immutable model entries, registered by commit-reveal and bound to their publisher. See
///         {IModelRegistry} for the scheme and why it was chosen over a publisher signature.
contract ModelRegistry is IModelRegistry, Owned2Step {
    /*//////////////////////////////////////////////////////////////
                               CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Bitmask of the modes this registry knows (SINGLE, CONSENSUS, ZK).
    uint8 public constant KNOWN_MODES = uint8((1 << (uint256(type(Mode).max) + 1)) - 1);
    /// @notice Every `FORMAT_*` bit this registry knows.
    uint8 public constant KNOWN_FORMAT = FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT | FORMAT_BUNDLE;
    /// @notice Longest URI accepted, in bytes.
    uint256 public constant MAX_URI_BYTES = 512;
    /// @notice Most dimensions of a tensor shape.
    uint256 public constant MAX_RANK = 8;
    /// @notice Largest encoded tensor, in bytes (the hub's input bound can only be lower).
    uint256 public constant MAX_TENSOR_BYTES = 65_536;
    /// @notice Most allowed environments per model.
    uint256 public constant MAX_ENVIRONMENTS = 32;
    /// @notice Longest model card accepted, in bytes.
    uint256 public constant MAX_CARD_BYTES = 8192;
    /// @notice Most mirror URIs per model.
    uint256 public constant MAX_MIRRORS = 16;
    /// @notice Bounds on a model's own challenge window, the hub's bounds on its window.
    uint32 public constant MIN_CHALLENGE_WINDOW = 10 seconds;
    uint32 public constant MAX_CHALLENGE_WINDOW = 7 days;

    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev modelId => request terms, one packed slot (layout on {ModelTerms}).
    mapping(bytes32 modelId => ModelTerms) private _terms;
    /// @dev modelId => the spec as registered.
    mapping(bytes32 modelId => ModelSpec) private _specs;
    /// @dev modelId => its publisher, registration block, pinned verifier code hash and verifying-key hash.
    mapping(bytes32 modelId => ModelProvenance) private _provenance;
    /// @dev modelId => mirror URIs added by its publisher or the registry's owner.
    mapping(bytes32 modelId => string[]) private _mirrors;
    /// @dev publisher => registration commitment => block number it was made in (zero: none, or used).
    mapping(address publisher => mapping(bytes32 commitment => uint256 blockNumber)) private _commitments;
    /// @dev modelId => envHash => allowed to serve it (only consulted when the model's envRestricted bit is set).
    mapping(bytes32 modelId => mapping(bytes32 envHash => bool)) private _allowedEnv;
    /// @dev Registration order, for enumeration.
    bytes32[] private _modelIds;
    /// @dev The hub that keeps a copy of every model's terms; set once.
    IModelTermsSink private _hub;

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    /// @param initialOwner May wire the hub and add mirror URIs; has no other power over models (an entry belongs to
    ///        its publisher).
    constructor(address initialOwner) Owned2Step(initialOwner) {}

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function commitRegistration(bytes32 commitment) external {
        if (commitment == bytes32(0)) revert CommitmentZero();
        uint256 committedAt = _commitments[msg.sender][commitment];
        // Never refreshed: a commitment's age only grows, so re-sending it cannot push back its own reveal.
        if (committedAt != 0) revert CommitmentExists(msg.sender, commitment, committedAt);
        _commitments[msg.sender][commitment] = block.number;
        emit RegistrationCommitted(msg.sender, commitment);
    }

    /// @inheritdoc IModelRegistry
    function registerModel(bytes32 modelId, ModelSpec calldata spec, bytes32 vkHash, address publisher, bytes32 salt)
        external
    {
        if (address(_hub) == address(0)) revert HubNotSet();
        if (modelId == bytes32(0)) revert ModelIdZero();
        if (publisher == address(0)) revert PublisherZero();
        if (_terms[modelId].exists) revert ModelAlreadyRegistered(modelId, _provenance[modelId].publisher);
        _useCommitment(publisher, _commitment(modelId, spec, vkHash, publisher, salt));

        uint256 uriLength = bytes(spec.uri).length;
        if (uriLength == 0 || uriLength > MAX_URI_BYTES) revert UriInvalid(uriLength, MAX_URI_BYTES);
        uint256 cardLength = spec.card.length;
        if (cardLength > MAX_CARD_BYTES) revert CardTooLarge(cardLength, MAX_CARD_BYTES);
        uint8 format = spec.format;
        uint256 inputBytes = format & FORMAT_VARIABLE_INPUT != 0
            ? _variableBytes("input", spec.inputShape)
            : _tensorBytes("input", spec.inputShape);
        uint256 outputBytes = format & FORMAT_VARIABLE_OUTPUT != 0
            ? _variableBytes("output", spec.outputShape)
            : _tensorBytes("output", spec.outputShape);
        if (spec.scale == 0) revert ScaleZero();
        uint32 window = spec.challengeWindow;
        if (window != 0 && (window < MIN_CHALLENGE_WINDOW || window > MAX_CHALLENGE_WINDOW)) {
            revert ChallengeWindowInvalid(window, MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW);
        }
        if (spec.modes == 0 || spec.modes & ~KNOWN_MODES != 0) revert ModesInvalid(spec.modes, KNOWN_MODES);
        bool zk = spec.modes & (1 << uint8(Mode.ZK)) != 0;
        if (zk != (spec.verifier != address(0)) || (zk && spec.verifier.code.length == 0)) {
            revert VerifierInvalid(spec.modes, spec.verifier);
        }
        if (zk == (vkHash == bytes32(0))) revert VkHashInvalid(spec.modes, vkHash);
        // A circuit's instances are fixed-size tensors: no variable-length side with ZK.
        bool variable = format & (FORMAT_VARIABLE_INPUT | FORMAT_VARIABLE_OUTPUT) != 0;
        if (format & ~KNOWN_FORMAT != 0 || (zk && variable)) revert FormatInvalid(format, spec.modes);
        // A ZK circuit's integers are fixed-point at 2^k: only then are the canonical values its public instances.
        if (zk && spec.scale & (spec.scale - 1) != 0) revert ScaleNotPowerOfTwo(spec.scale);
        uint256 envCount = spec.allowedEnvironments.length;
        if (envCount > MAX_ENVIRONMENTS) revert TooManyEnvironments(envCount, MAX_ENVIRONMENTS);
        for (uint256 i; i < envCount; ++i) {
            bytes32 env = spec.allowedEnvironments[i];
            if (env == bytes32(0)) revert EnvironmentZero(i);
            if (_allowedEnv[modelId][env]) revert EnvironmentDuplicate(env);
            _allowedEnv[modelId][env] = true;
        }

        ModelTerms memory terms = ModelTerms({
            price: spec.price,
            // Both fit: _tensorBytes and _variableBytes cap them at MAX_TENSOR_BYTES (and the flag at bit 31).
            inputBytes: uint32(inputBytes),
            outputBytes: uint32(outputBytes),
            modes: spec.modes,
            deprecated: false,
            envRestricted: envCount != 0,
            exists: true,
            scale: spec.scale
        });
        // The code the publisher committed to (by address) is pinned by hash: a verifier whose code later differs
        // (a metamorphic redeploy) is caught by `checkVerifier`.
        bytes32 codeHash = zk ? spec.verifier.codehash : bytes32(0);
        _terms[modelId] = terms;
        _specs[modelId] = spec;
        _provenance[modelId] = ModelProvenance({
            publisher: publisher,
            // A block number fits 64 bits for longer than the chain will run.
            registeredAt: uint64(block.number),
            verifierCodeHash: codeHash,
            vkHash: vkHash
        });
        _modelIds.push(modelId);
        emit ModelRegistered(modelId, publisher, spec, codeHash, vkHash);
        _hub.syncModelTerms(modelId, terms, window);
        if (zk) _hub.syncModelVerifier(modelId, spec.verifier);
    }

    /// @inheritdoc IModelRegistry
    function deprecateModel(bytes32 modelId) external {
        ModelTerms storage terms = _terms[modelId];
        if (!terms.exists) revert ModelNotFound(modelId);
        address publisher = _provenance[modelId].publisher;
        if (msg.sender != publisher) revert NotModelPublisher(modelId, msg.sender, publisher);
        if (terms.deprecated) revert ModelAlreadyDeprecated(modelId);
        terms.deprecated = true;
        emit ModelDeprecated(modelId);
        _hub.syncModelTerms(modelId, terms, _specs[modelId].challengeWindow);
    }

    /// @inheritdoc IModelRegistry
    function addMirror(bytes32 modelId, string calldata uri) external {
        if (!_terms[modelId].exists) revert ModelNotFound(modelId);
        address publisher = _provenance[modelId].publisher;
        address owner_ = _ownerAddress();
        if (msg.sender != publisher && msg.sender != owner_) {
            revert NotMirrorAdmin(modelId, msg.sender, publisher, owner_);
        }
        uint256 uriLength = bytes(uri).length;
        if (uriLength == 0 || uriLength > MAX_URI_BYTES) revert UriInvalid(uriLength, MAX_URI_BYTES);
        uint256 index = _mirrors[modelId].length;
        if (index == MAX_MIRRORS) revert TooManyMirrors(modelId, MAX_MIRRORS);
        _mirrors[modelId].push(uri);
        emit MirrorAdded(modelId, index, uri);
    }

    /// @inheritdoc IModelRegistry
    function setHub(address hub_) external onlyOwner {
        if (address(_hub) != address(0)) revert HubAlreadySet(address(_hub));
        // The hub must point back at this registry, or every push (and so every registration) would revert.
        if (hub_.code.length == 0 || IInferenceHub(hub_).modelRegistry() != address(this)) revert HubInvalid(hub_);
        _hub = IModelTermsSink(hub_);
        emit HubSet(hub_);
    }

    /*//////////////////////////////////////////////////////////////
                                PRIVATE
    //////////////////////////////////////////////////////////////*/

    /// @dev Consumes `publisher`'s `commitment`, which must be at least one block old.
    function _useCommitment(address publisher, bytes32 commitment) private {
        uint256 committedAt = _commitments[publisher][commitment];
        if (committedAt == 0) revert CommitmentNotFound(publisher, commitment);
        // A copier learns the id from this very transaction; a commitment it makes now is in this block or later.
        if (committedAt >= block.number) revert CommitmentTooNew(commitment, committedAt, block.number);
        delete _commitments[publisher][commitment];
    }

    function _commitment(bytes32 modelId, ModelSpec calldata spec, bytes32 vkHash, address publisher, bytes32 salt)
        private
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(block.chainid, address(this), modelId, keccak256(abi.encode(spec)), vkHash, publisher, salt)
        );
    }

    /// @dev Encoded size of a tensor of `shape`, validating the shape.
    function _tensorBytes(string memory which, uint32[] calldata shape) private pure returns (uint256 bytes_) {
        uint256 rank = shape.length;
        if (rank == 0) revert ShapeEmpty(which);
        if (rank > MAX_RANK) revert ShapeRankTooHigh(which, rank, MAX_RANK);
        uint256 elements = 1;
        for (uint256 i; i < rank; ++i) {
            if (shape[i] == 0) revert ShapeDimensionZero(which, i);
            // Cannot overflow: at most MAX_RANK (8) factors, each below 2^32, multiply to less than 2^256.
            elements *= shape[i];
        }
        uint256 maxElements = MAX_TENSOR_BYTES / TensorCodec.ELEMENT_BYTES;
        if (elements > maxElements) revert TensorTooLarge(which, elements, maxElements);
        bytes_ = elements * TensorCodec.ELEMENT_BYTES;
    }

    /// @dev The size word of a variable-length side of `shape` ([maxBytes]): its maximum with `LENGTH_UP_TO`.
    function _variableBytes(string memory which, uint32[] calldata shape) private pure returns (uint256) {
        uint256 rank = shape.length;
        uint256 length = rank == 1 ? shape[0] : 0;
        if (length == 0 || length > MAX_TENSOR_BYTES) {
            revert VariableLengthInvalid(which, rank, length, MAX_TENSOR_BYTES);
        }
        return length | LENGTH_UP_TO;
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IModelRegistry
    function isRegistered(bytes32 modelId) external view returns (bool) {
        return _terms[modelId].exists;
    }

    /// @inheritdoc IModelRegistry
    function termsOf(bytes32 modelId) external view returns (ModelTerms memory terms) {
        terms = _terms[modelId];
        if (!terms.exists) revert ModelNotFound(modelId);
    }

    /// @inheritdoc IModelRegistry
    function getModel(bytes32 modelId)
        external
        view
        returns (address publisher, ModelSpec memory spec, ModelTerms memory terms)
    {
        terms = _terms[modelId];
        if (!terms.exists) revert ModelNotFound(modelId);
        return (_provenance[modelId].publisher, _specs[modelId], terms);
    }

    /// @inheritdoc IModelRegistry
    function riskOf(bytes32 modelId) external view returns (uint32 challengeWindow, uint96 stakeAtRisk) {
        if (!_terms[modelId].exists) revert ModelNotFound(modelId);
        ModelSpec storage spec = _specs[modelId];
        return (spec.challengeWindow, spec.stakeAtRisk);
    }

    /// @inheritdoc IModelRegistry
    function arithmeticClassesOf(bytes32 modelId) external view returns (uint32) {
        if (!_terms[modelId].exists) revert ModelNotFound(modelId);
        return _specs[modelId].arithmeticClasses;
    }

    /// @inheritdoc IModelRegistry
    function provenanceOf(bytes32 modelId) external view returns (ModelProvenance memory) {
        if (!_terms[modelId].exists) revert ModelNotFound(modelId);
        return _provenance[modelId];
    }

    /// @inheritdoc IModelRegistry
    function checkVerifier(bytes32 modelId) external view returns (address verifier) {
        if (!_terms[modelId].exists) revert ModelNotFound(modelId);
        verifier = _specs[modelId].verifier;
        if (verifier == address(0)) revert ModelHasNoVerifier(modelId);
        bytes32 pinned = _provenance[modelId].verifierCodeHash;
        bytes32 actual = verifier.codehash;
        if (actual != pinned) revert VerifierCodeChanged(modelId, verifier, pinned, actual);
    }

    /// @inheritdoc IModelRegistry
    function mirrorsOf(bytes32 modelId) external view returns (string[] memory) {
        if (!_terms[modelId].exists) revert ModelNotFound(modelId);
        return _mirrors[modelId];
    }

    /// @inheritdoc IModelRegistry
    function registrationCommitment(
        bytes32 modelId,
        ModelSpec calldata spec,
        bytes32 vkHash,
        address publisher,
        bytes32 salt
    ) external view returns (bytes32) {
        return _commitment(modelId, spec, vkHash, publisher, salt);
    }

    /// @inheritdoc IModelRegistry
    function commitmentBlockOf(address publisher, bytes32 commitment) external view returns (uint256) {
        return _commitments[publisher][commitment];
    }

    /// @inheritdoc IModelRegistry
    function isEnvironmentAllowed(bytes32 modelId, bytes32 envHash) external view returns (bool) {
        ModelTerms memory terms = _terms[modelId];
        if (!terms.exists) revert ModelNotFound(modelId);
        return !terms.envRestricted || _allowedEnv[modelId][envHash];
    }

    /// @inheritdoc IModelRegistry
    function hub() external view returns (address) {
        return address(_hub);
    }

    /// @inheritdoc IModelRegistry
    function modelCount() external view returns (uint256) {
        return _modelIds.length;
    }

    /// @inheritdoc IModelRegistry
    function modelIdAt(uint256 index) external view returns (bytes32) {
        return _modelIds[index];
    }
}

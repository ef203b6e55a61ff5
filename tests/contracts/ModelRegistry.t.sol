// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BaseTest} from "./Base.t.sol";
import {IInferenceHub, RequestParams, Status} from "../../contracts/interfaces/IInferenceHub.sol";
import {
    IModelRegistry,
    ModelProvenance,
    ModelSpec,
    ModelTerms,
    Mode
} from "../../contracts/interfaces/IModelRegistry.sol";
import {IOwned2Step} from "../../contracts/interfaces/IOwned2Step.sol";

/// @notice Stands in for a ZK proof verifier: the registry only checks that it is a contract.
contract MockVerifier {}

/// @notice A squatter's verifier: "verifies" every proof.
contract AcceptAnythingVerifier {
    function verifyProof(bytes calldata, uint256[] calldata) external pure returns (bool) {
        return true;
    }
}

/// @notice Registration rules, immutability, deprecation, the hub's copy of the terms, enumeration.
contract ModelRegistryTest is BaseTest {
    bytes32 internal constant MODEL2 = keccak256("onnx bytes of a second model");
    bytes32 internal constant MODEL3 = keccak256("onnx bytes of a third model");
    uint8 internal constant ALL_MODES = 7;
    uint8 internal constant ZK_BIT = uint8(1 << uint8(Mode.ZK));
    uint8 internal constant SINGLE_BIT = uint8(1 << uint8(Mode.SINGLE));

    /*//////////////////////////////////////////////////////////////
                                HELPERS
    //////////////////////////////////////////////////////////////*/

    function _valid() internal pure returns (ModelSpec memory) {
        return spec(Mode.SINGLE, Mode.CONSENSUS);
    }

    function _dims(uint256 n, uint32 value) internal pure returns (uint32[] memory s) {
        s = new uint32[](n);
        for (uint256 i; i < n; ++i) {
            s[i] = value;
        }
    }

    function _envs(uint256 n) internal pure returns (bytes32[] memory e) {
        e = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            e[i] = keccak256(abi.encode("env", i));
        }
    }

    function _uri(uint256 length) internal pure returns (string memory) {
        bytes memory b = new bytes(length);
        for (uint256 i; i < length; ++i) {
            b[i] = "a";
        }
        return string(b);
    }

    function _restrictedToEnvA() internal pure returns (ModelSpec memory s) {
        s = _valid();
        s.allowedEnvironments = new bytes32[](1);
        s.allowedEnvironments[0] = ENV_A;
    }

    /// @dev Commits to registering MODEL2 with `s` (vkHash from `vkHashFor`) and expects the reveal to fail with `err`.
    function _expectRegisterRevert(ModelSpec memory s, bytes memory err) internal {
        _expectRevealRevert(MODEL2, s, vkHashFor(MODEL2, s), err);
    }

    /// @dev Commits `publisher` to registering `modelId` with `s` and rolls one block; the reveal is left to the test.
    function _commitAs(address publisher, bytes32 modelId, ModelSpec memory s) internal returns (bytes32 salt) {
        salt = keccak256(abi.encode("salt", publisher, modelId));
        bytes32 c = models.registrationCommitment(modelId, s, vkHashFor(modelId, s), publisher, salt);
        vm.prank(publisher);
        models.commitRegistration(c);
        vm.roll(block.number + 1);
    }

    function _expectRevealRevert(bytes32 modelId, ModelSpec memory s, bytes32 vkHash, bytes memory err) internal {
        bytes32 salt = keccak256("salt");
        models.commitRegistration(models.registrationCommitment(modelId, s, vkHash, address(this), salt));
        vm.roll(block.number + 1);
        vm.expectRevert(err);
        models.registerModel(modelId, s, vkHash, address(this), salt);
    }

    function _assertTermsEq(ModelTerms memory a, ModelTerms memory b, string memory what) internal pure {
        vm.assertEq(abi.encode(a), abi.encode(b), what);
    }

    /// @dev Product of the first `rank` dims, each bounded so the whole tensor stays within MAX_TENSOR_BYTES.
    function _boundShape(uint256 rank, uint32[8] memory raw)
        internal
        pure
        returns (uint32[] memory s, uint256 product)
    {
        s = new uint32[](rank);
        product = 1;
        uint256 maxElements = 65_536 / 8;
        for (uint256 i; i < rank; ++i) {
            s[i] = uint32(bound(raw[i], 1, maxElements / product));
            product *= s[i];
        }
    }

    /*//////////////////////////////////////////////////////////////
                              REGISTRATION
    //////////////////////////////////////////////////////////////*/

    function test_registerModel_storesTermsAndOwner() public {
        registerModelAs(alice, MODEL2, _valid());

        ModelTerms memory t = models.termsOf(MODEL2);
        vm.assertEq(t.price, PRICE, "price");
        vm.assertEq(t.inputBytes, 32, "input bytes = 8 * 1 * 4");
        vm.assertEq(t.outputBytes, 32, "output bytes");
        vm.assertEq(t.modes, 3, "modes");
        vm.assertFalse(t.deprecated, "not deprecated");
        vm.assertFalse(t.envRestricted, "unrestricted");
        vm.assertTrue(t.exists, "exists");
        (address publisher,,) = models.getModel(MODEL2);
        vm.assertEq(publisher, alice, "the committer publishes it");
        ModelProvenance memory p = models.provenanceOf(MODEL2);
        vm.assertEq(p.publisher, alice, "provenance: publisher");
        vm.assertEq(p.registeredAt, block.number, "provenance: block");
        vm.assertEq(p.verifierCodeHash, bytes32(0), "no verifier pinned");
        vm.assertEq(p.vkHash, bytes32(0), "no verifying key");
    }

    function test_registerModel_emitsEventWithWholeSpec() public {
        ModelSpec memory s = _restrictedToEnvA();
        bytes32 salt = _commitAs(alice, MODEL2, s);
        vm.expectEmit(true, true, true, true, address(models));
        emit IModelRegistry.ModelRegistered(MODEL2, alice, s, bytes32(0), bytes32(0));
        models.registerModel(MODEL2, s, bytes32(0), alice, salt);
    }

    function test_registerModel_pushesTermsToHub() public {
        registerModel(MODEL2, _restrictedToEnvA());
        _assertTermsEq(hub.modelTermsOf(MODEL2), models.termsOf(MODEL2), "hub copy == registry terms");
        vm.assertTrue(hub.modelTermsOf(MODEL2).envRestricted, "restriction reaches the hub");
    }

    function test_registerModel_acceptsUpperBounds() public {
        ModelSpec memory s = _valid();
        s.uri = _uri(512);
        s.inputShape = _dims(8, 1);
        s.inputShape[0] = 8_192; // 8 * 8192 = 65,536 bytes, the maximum
        s.outputShape = _dims(1, 8_192);
        s.allowedEnvironments = _envs(32);
        s.modes = ALL_MODES;
        s.scale = 1 << 63; // ZK needs a power of two; the largest fits uint64
        s.verifier = address(new MockVerifier());
        registerModel(MODEL2, s);

        ModelTerms memory t = models.termsOf(MODEL2);
        vm.assertEq(t.inputBytes, 65_536, "max input");
        vm.assertEq(t.outputBytes, 65_536, "max output");
        vm.assertEq(t.modes, ALL_MODES, "all modes");
        vm.assertTrue(t.envRestricted, "restricted");
    }

    function test_registerModel_zkWithVerifierContract() public {
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT;
        s.scale = 1 << 10;
        s.verifier = address(new MockVerifier());
        registerModel(MODEL2, s);
        vm.assertEq(models.termsOf(MODEL2).modes, ZK_BIT, "zk only");
    }

    function test_registerModel_zkPushesVerifierToHub() public {
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT | SINGLE_BIT;
        s.scale = 1;
        s.verifier = address(new MockVerifier());
        registerModel(MODEL2, s);
        vm.assertEq(hub.verifierOf(MODEL2), s.verifier, "hub copy of the verifier");
    }

    function test_registerModel_withoutZkPushesNoVerifier() public view {
        vm.assertEq(hub.verifierOf(MODEL), address(0), "no verifier");
    }

    function test_RevertWhen_ZkScaleNotPowerOfTwo() public {
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT;
        s.scale = 1_000;
        s.verifier = address(new MockVerifier());
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ScaleNotPowerOfTwo.selector, uint64(1_000)));
    }

    function testFuzz_RevertWhen_ZkScaleNotPowerOfTwo(uint64 scale) public {
        scale = uint64(bound(scale, 3, type(uint64).max));
        // 2^k + 1 is no power of two for k >= 1, and cannot overflow: the largest power of two in range is 2^63.
        if (scale & (scale - 1) == 0) ++scale;
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT;
        s.scale = scale;
        s.verifier = address(new MockVerifier());
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ScaleNotPowerOfTwo.selector, scale));
    }

    function test_registerModel_inputBytesIsEightTimesProduct() public {
        ModelSpec memory s = _valid();
        s.inputShape = new uint32[](3);
        s.inputShape[0] = 2;
        s.inputShape[1] = 3;
        s.inputShape[2] = 4;
        registerModel(MODEL2, s);
        vm.assertEq(models.termsOf(MODEL2).inputBytes, 8 * 2 * 3 * 4, "8 * product");
    }

    function testFuzz_registerModel_inputBytesIsEightTimesProduct(uint256 rank, uint32[8] memory raw) public {
        rank = bound(rank, 1, 8);
        (uint32[] memory s, uint256 product) = _boundShape(rank, raw);
        ModelSpec memory m = _valid();
        m.inputShape = s;
        m.outputShape = s;
        registerModel(MODEL2, m);
        ModelTerms memory t = models.termsOf(MODEL2);
        vm.assertEq(t.inputBytes, 8 * product, "input bytes");
        vm.assertEq(t.outputBytes, 8 * product, "output bytes");
    }

    /*//////////////////////////////////////////////////////////////
                          REGISTRATION ERRORS
    //////////////////////////////////////////////////////////////*/

    function test_RevertWhen_HubNotSet() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.HubNotSet.selector));
        fresh.registerModel(MODEL2, _valid(), bytes32(0), address(this), bytes32(0));
    }

    function test_RevertWhen_ModelIdZero() public {
        _expectRevealRevert(
            bytes32(0), _valid(), bytes32(0), abi.encodeWithSelector(IModelRegistry.ModelIdZero.selector)
        );
    }

    function test_RevertWhen_PublisherZero() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.PublisherZero.selector));
        models.registerModel(MODEL2, _valid(), bytes32(0), address(0), bytes32(0));
    }

    function test_RevertWhen_ModelAlreadyRegistered() public {
        ModelSpec memory s = _valid();
        bytes32 salt = keccak256("alice's salt");
        bytes32 c = models.registrationCommitment(MODEL, s, bytes32(0), alice, salt);
        vm.prank(alice);
        models.commitRegistration(c);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelAlreadyRegistered.selector, MODEL, address(this)));
        models.registerModel(MODEL, s, bytes32(0), alice, salt);
    }

    function test_RevertWhen_ZkWithoutVkHash() public {
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT;
        s.scale = 1 << 10;
        s.verifier = address(new MockVerifier());
        _expectRevealRevert(
            MODEL2, s, bytes32(0), abi.encodeWithSelector(IModelRegistry.VkHashInvalid.selector, ZK_BIT, bytes32(0))
        );
    }

    function test_RevertWhen_VkHashWithoutZk() public {
        bytes32 vk = keccak256("a verifying key");
        _expectRevealRevert(
            MODEL2, _valid(), vk, abi.encodeWithSelector(IModelRegistry.VkHashInvalid.selector, uint8(3), vk)
        );
    }

    function test_RevertWhen_UriEmpty() public {
        ModelSpec memory s = _valid();
        s.uri = "";
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.UriInvalid.selector, 0, 512));
    }

    function test_RevertWhen_UriTooLong() public {
        ModelSpec memory s = _valid();
        s.uri = _uri(513);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.UriInvalid.selector, 513, 512));
    }

    function test_registerModel_storesItsCard() public {
        ModelSpec memory s = _valid();
        s.card = bytes('{"limits":{"memory_mb":512},"v":1}');
        registerModelAs(alice, MODEL2, s);
        (, ModelSpec memory got,) = models.getModel(MODEL2);
        vm.assertEq(got.card, s.card, "the card as registered");
    }

    function test_registerModel_acceptsLongestCard() public {
        ModelSpec memory s = _valid();
        s.card = new bytes(8192);
        registerModelAs(alice, MODEL2, s);
        (, ModelSpec memory got,) = models.getModel(MODEL2);
        vm.assertEq(got.card.length, 8192, "8 KiB of card");
    }

    function test_RevertWhen_CardTooLarge() public {
        ModelSpec memory s = _valid();
        s.card = new bytes(8193);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.CardTooLarge.selector, 8193, 8192));
    }

    function test_RevertWhen_InputShapeEmpty() public {
        ModelSpec memory s = _valid();
        s.inputShape = new uint32[](0);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ShapeEmpty.selector, "input"));
    }

    function test_RevertWhen_OutputShapeEmpty() public {
        ModelSpec memory s = _valid();
        s.outputShape = new uint32[](0);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ShapeEmpty.selector, "output"));
    }

    function test_RevertWhen_ShapeRankTooHigh() public {
        ModelSpec memory s = _valid();
        s.inputShape = _dims(9, 1);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ShapeRankTooHigh.selector, "input", 9, 8));
    }

    function test_RevertWhen_ShapeDimensionZero() public {
        ModelSpec memory s = _valid();
        s.outputShape = shape(1, 0);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ShapeDimensionZero.selector, "output", 1));
    }

    /// @dev The error reports the tensor's full element count, whatever dimension crosses the bound.
    function test_RevertWhen_TensorTooLarge() public {
        ModelSpec memory s = _valid();
        s.inputShape = shape(8_192, 2);
        _expectRegisterRevert(
            s, abi.encodeWithSelector(IModelRegistry.TensorTooLarge.selector, "input", 8_192 * 2, 8_192)
        );
    }

    function test_RevertWhen_TensorTooLarge_maxRankMaxDims() public {
        ModelSpec memory s = _valid();
        s.inputShape = new uint32[](8);
        uint256 elements = 1;
        for (uint256 i; i < 8; ++i) {
            s.inputShape[i] = type(uint32).max;
            elements *= type(uint32).max;
        }
        _expectRegisterRevert(
            s, abi.encodeWithSelector(IModelRegistry.TensorTooLarge.selector, "input", elements, 8_192)
        );
    }

    function testFuzz_RevertWhen_TensorTooLarge(uint32 a, uint32 b) public {
        a = uint32(bound(a, 1, type(uint32).max));
        // Smallest b that pushes a * b past 8,192 elements, up to the largest dimension.
        uint256 minB = 8_192 / a + 1;
        b = uint32(bound(b, minB, type(uint32).max));
        ModelSpec memory s = _valid();
        s.outputShape = shape(a, b);
        _expectRegisterRevert(
            s, abi.encodeWithSelector(IModelRegistry.TensorTooLarge.selector, "output", uint256(a) * b, 8_192)
        );
    }

    function test_RevertWhen_ScaleZero() public {
        ModelSpec memory s = _valid();
        s.scale = 0;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ScaleZero.selector));
    }

    function test_RevertWhen_ModesEmpty() public {
        ModelSpec memory s = _valid();
        s.modes = 0;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ModesInvalid.selector, 0, ALL_MODES));
    }

    function test_RevertWhen_ModesUnknownBit() public {
        ModelSpec memory s = _valid();
        s.modes = SINGLE_BIT | 8;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.ModesInvalid.selector, 9, ALL_MODES));
    }

    function test_RevertWhen_ZkWithoutVerifier() public {
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.VerifierInvalid.selector, ZK_BIT, address(0)));
    }

    function test_RevertWhen_ZkVerifierNotContract() public {
        ModelSpec memory s = _valid();
        s.modes = ZK_BIT;
        s.verifier = outsider;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.VerifierInvalid.selector, ZK_BIT, outsider));
    }

    function test_RevertWhen_VerifierWithoutZk() public {
        ModelSpec memory s = _valid();
        address verifier = address(new MockVerifier());
        s.verifier = verifier;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.VerifierInvalid.selector, 3, verifier));
    }

    function test_RevertWhen_EnvironmentZero() public {
        ModelSpec memory s = _valid();
        s.allowedEnvironments = _envs(2);
        s.allowedEnvironments[1] = bytes32(0);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.EnvironmentZero.selector, 1));
    }

    function test_RevertWhen_EnvironmentDuplicate() public {
        ModelSpec memory s = _valid();
        s.allowedEnvironments = new bytes32[](3);
        s.allowedEnvironments[0] = ENV_A;
        s.allowedEnvironments[1] = ENV_B;
        s.allowedEnvironments[2] = ENV_A;
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.EnvironmentDuplicate.selector, ENV_A));
    }

    function test_RevertWhen_TooManyEnvironments() public {
        ModelSpec memory s = _valid();
        s.allowedEnvironments = _envs(33);
        _expectRegisterRevert(s, abi.encodeWithSelector(IModelRegistry.TooManyEnvironments.selector, 33, 32));
    }

    /*//////////////////////////////////////////////////////////////
                        COMMIT-REVEAL, PUBLISHER
    //////////////////////////////////////////////////////////////*/

    /// @dev The publisher's ZK entry for MODEL2 with `verifier`, and the commitment it makes.
    function _zkSpec(address verifier) internal pure returns (ModelSpec memory s) {
        s = _valid();
        s.modes = ZK_BIT | SINGLE_BIT;
        s.scale = 1 << 20;
        s.verifier = verifier;
    }

    // Actors of the squatting exploit (storage, so the legacy pipeline's stack holds the test).
    address internal publisher_;
    address internal squatter_;
    address internal honestVerifier_;
    address internal squatVerifier_;
    bytes32 internal constant VK = keccak256("publisher's verifying key");
    bytes32 internal constant SALT = keccak256("publisher's secret salt");
    bytes32 internal constant SQUAT_SALT = keccak256("squatter's salt");

    /// @dev What the squatter would like to register: its own price and an accept-anything verifier.
    function _squatSpec() internal view returns (ModelSpec memory s) {
        s = _zkSpec(squatVerifier_);
        s.price = 1 wei;
    }

    /// @dev A squatter watches the mempool and copies a publisher's registration at each step. Every copy fails or
    ///      registers the publisher's own entry; and a verifier whose code changes after registration is detected.
    function test_exploit_modelSquattingFails() public {
        publisher_ = makeAddr("publisher");
        squatter_ = makeAddr("squatter");
        honestVerifier_ = address(new MockVerifier());
        squatVerifier_ = address(new AcceptAnythingVerifier());

        _squatterCopiesTheCommit();
        vm.roll(block.number + 1);
        _squatterFrontRunsTheReveal();
        _entryIsThePublishers();

        // One block later the squatter's own, now mature, commitment is refused: the id is taken.
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelAlreadyRegistered.selector, MODEL2, publisher_));
        vm.prank(squatter_);
        models.registerModel(MODEL2, _squatSpec(), VK, squatter_, SQUAT_SALT);
        // Nor can it deprecate the publisher's model.
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.NotModelPublisher.selector, MODEL2, squatter_, publisher_)
        );
        vm.prank(squatter_);
        models.deprecateModel(MODEL2);

        _changedVerifierCodeIsDetected();
    }

    /// @dev Step 1 in the mempool: the commitment hides the id. Copying it stores the copy under the squatter, which
    ///      can only ever reveal an entry naming the publisher (the hash binds it); the publisher's own commitment and
    ///      its age are untouched, and not even a re-send refreshes (so delays) it.
    function _squatterCopiesTheCommit() internal {
        bytes32 c = models.registrationCommitment(MODEL2, _zkSpec(honestVerifier_), VK, publisher_, SALT);
        vm.prank(publisher_);
        models.commitRegistration(c);
        vm.prank(squatter_);
        models.commitRegistration(c);
        vm.assertEq(models.commitmentBlockOf(publisher_, c), block.number, "the publisher's commitment stands");
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.CommitmentExists.selector, publisher_, c, block.number));
        vm.prank(publisher_);
        models.commitRegistration(c);
    }

    /// @dev Step 2 in the mempool: the id is now public and the squatter front-runs the reveal.
    function _squatterFrontRunsTheReveal() internal {
        ModelSpec memory theirs = _zkSpec(honestVerifier_);
        ModelSpec memory squat = _squatSpec();
        bytes32 squatC = models.registrationCommitment(MODEL2, squat, VK, squatter_, SQUAT_SALT);
        // (a) its own price and verifier, with no commitment: refused;
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.CommitmentNotFound.selector, squatter_, squatC));
        vm.prank(squatter_);
        models.registerModel(MODEL2, squat, VK, squatter_, SQUAT_SALT);
        // (b) committing now, in the reveal's block, and revealing at once: too new;
        vm.prank(squatter_);
        models.commitRegistration(squatC);
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.CommitmentTooNew.selector, squatC, block.number, block.number)
        );
        vm.prank(squatter_);
        models.registerModel(MODEL2, squat, VK, squatter_, SQUAT_SALT);
        // (c) the publisher's exact values under its own name (riding the copied commitment): not its commitment;
        bytes32 renamed = models.registrationCommitment(MODEL2, theirs, VK, squatter_, SALT);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.CommitmentNotFound.selector, squatter_, renamed));
        vm.prank(squatter_);
        models.registerModel(MODEL2, theirs, VK, squatter_, SALT);
        // (d) naming the publisher but swapping in its own verifier and price: the commitment does not match;
        bytes32 swapped = models.registrationCommitment(MODEL2, squat, VK, publisher_, SALT);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.CommitmentNotFound.selector, publisher_, swapped));
        vm.prank(squatter_);
        models.registerModel(MODEL2, squat, VK, publisher_, SALT);
        // (e) replaying the publisher's reveal verbatim, first: it registers the publisher's entry.
        vm.prank(squatter_);
        models.registerModel(MODEL2, theirs, VK, publisher_, SALT);
    }

    function _entryIsThePublishers() internal view {
        (address registeredBy, ModelSpec memory got, ModelTerms memory t) = models.getModel(MODEL2);
        vm.assertEq(registeredBy, publisher_, "the publisher owns the entry");
        vm.assertEq(got.verifier, honestVerifier_, "the publisher's verifier");
        vm.assertEq(t.price, PRICE, "the publisher's price");
        vm.assertEq(hub.verifierOf(MODEL2), honestVerifier_, "the hub's copy is the publisher's verifier");
        ModelProvenance memory p = models.provenanceOf(MODEL2);
        vm.assertEq(p.publisher, publisher_, "provenance names the publisher");
        vm.assertEq(p.verifierCodeHash, honestVerifier_.codehash, "verifier code pinned");
        vm.assertEq(p.vkHash, VK, "verifying key pinned");
    }

    /// @dev The verifier passes its check while its code is the pinned code, and is caught once the code at that
    ///      address differs (a metamorphic redeploy).
    function _changedVerifierCodeIsDetected() internal {
        vm.assertEq(models.checkVerifier(MODEL2), honestVerifier_, "intact verifier");
        bytes32 pinned = models.provenanceOf(MODEL2).verifierCodeHash;
        vm.etch(honestVerifier_, squatVerifier_.code);
        vm.expectRevert(
            abi.encodeWithSelector(
                IModelRegistry.VerifierCodeChanged.selector, MODEL2, honestVerifier_, pinned, squatVerifier_.codehash
            )
        );
        models.checkVerifier(MODEL2);
    }

    function test_commitRegistration_recordsBlockAndEmits() public {
        bytes32 c = keccak256("a commitment");
        vm.expectEmit(true, true, true, true, address(models));
        emit IModelRegistry.RegistrationCommitted(alice, c);
        vm.prank(alice);
        models.commitRegistration(c);
        vm.assertEq(models.commitmentBlockOf(alice, c), block.number, "block recorded");
        vm.assertEq(models.commitmentBlockOf(outsider, c), 0, "under the committer only");
    }

    function test_registerModel_consumesCommitment() public {
        ModelSpec memory s = _valid();
        bytes32 salt = keccak256("salt");
        bytes32 c = models.registrationCommitment(MODEL2, s, bytes32(0), alice, salt);
        vm.prank(alice);
        models.commitRegistration(c);
        vm.roll(block.number + 1);
        models.registerModel(MODEL2, s, bytes32(0), alice, salt); // a relayer (this contract) reveals for alice
        vm.assertEq(models.commitmentBlockOf(alice, c), 0, "used up");
        (address publisher,,) = models.getModel(MODEL2);
        vm.assertEq(publisher, alice, "the committer, not the relayer, publishes");
    }

    function test_registrationCommitment_bindsEveryValue() public view {
        ModelSpec memory s = _valid();
        bytes32 base = models.registrationCommitment(MODEL2, s, bytes32(0), alice, bytes32(0));
        bytes32 expected = keccak256(
            abi.encode(block.chainid, address(models), MODEL2, keccak256(abi.encode(s)), bytes32(0), alice, bytes32(0))
        );
        vm.assertEq(base, expected, "documented formula");
        vm.assertTrue(base != models.registrationCommitment(MODEL3, s, bytes32(0), alice, bytes32(0)), "id");
        vm.assertTrue(base != models.registrationCommitment(MODEL2, s, bytes32(uint256(1)), alice, bytes32(0)), "vk");
        vm.assertTrue(base != models.registrationCommitment(MODEL2, s, bytes32(0), bob(), bytes32(0)), "publisher");
        vm.assertTrue(base != models.registrationCommitment(MODEL2, s, bytes32(0), alice, bytes32(uint256(1))), "salt");
        s.price += 1;
        vm.assertTrue(base != models.registrationCommitment(MODEL2, s, bytes32(0), alice, bytes32(0)), "terms");
        s.price -= 1;
        s.card = bytes('{"v":1}'); // a copier cannot swap the card (another scale, other committed outputs) either
        vm.assertTrue(base != models.registrationCommitment(MODEL2, s, bytes32(0), alice, bytes32(0)), "card");
    }

    function bob() internal pure returns (address) {
        return address(0xB0B);
    }

    function test_RevertWhen_CommitmentZero() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.CommitmentZero.selector));
        models.commitRegistration(bytes32(0));
    }

    function test_RevertWhen_RevealInCommitBlock() public {
        ModelSpec memory s = _valid();
        bytes32 c = models.registrationCommitment(MODEL2, s, bytes32(0), address(this), bytes32(0));
        models.commitRegistration(c);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.CommitmentTooNew.selector, c, block.number, block.number));
        models.registerModel(MODEL2, s, bytes32(0), address(this), bytes32(0));
    }

    function test_RevertWhen_CommitmentReused() public {
        ModelSpec memory s = _valid();
        bytes32 c = models.registrationCommitment(MODEL2, s, bytes32(0), address(this), bytes32(0));
        models.commitRegistration(c);
        vm.roll(block.number + 1);
        models.registerModel(MODEL2, s, bytes32(0), address(this), bytes32(0));
        models.deprecateModel(MODEL2);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelAlreadyRegistered.selector, MODEL2, address(this)));
        models.registerModel(MODEL2, s, bytes32(0), address(this), bytes32(0));
    }

    /*//////////////////////////////////////////////////////////////
                            VERIFIER PINNING
    //////////////////////////////////////////////////////////////*/

    function test_registerModel_zkPinsVerifierCodeAndVkHash() public {
        address verifier = address(new MockVerifier());
        ModelSpec memory s = _zkSpec(verifier);
        bytes32 vk = vkHashFor(MODEL2, s);
        bytes32 salt = _commitAs(address(this), MODEL2, s);
        vm.expectEmit(true, true, true, true, address(models));
        emit IModelRegistry.ModelRegistered(MODEL2, address(this), s, verifier.codehash, vk);
        models.registerModel(MODEL2, s, vk, address(this), salt);
        ModelProvenance memory p = models.provenanceOf(MODEL2);
        vm.assertEq(p.verifierCodeHash, verifier.codehash, "code hash");
        vm.assertTrue(p.verifierCodeHash != bytes32(0), "a real hash");
        vm.assertEq(p.vkHash, vk, "vk hash");
        vm.assertEq(models.checkVerifier(MODEL2), verifier, "intact");
    }

    function test_RevertWhen_CheckVerifierOfModelWithoutZk() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelHasNoVerifier.selector, MODEL));
        models.checkVerifier(MODEL);
    }

    function test_RevertWhen_CheckVerifierOfUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        models.checkVerifier(MODEL2);
    }

    function test_RevertWhen_ProvenanceOfUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        models.provenanceOf(MODEL2);
    }

    /*//////////////////////////////////////////////////////////////
                                MIRRORS
    //////////////////////////////////////////////////////////////*/

    function test_addMirror_appendsAndEmits() public {
        vm.expectEmit(true, true, true, true, address(models));
        emit IModelRegistry.MirrorAdded(MODEL, 0, "https://mirror.example/test.onnx");
        vm.prank(owner);
        models.addMirror(MODEL, "https://mirror.example/test.onnx");
        vm.prank(owner);
        models.addMirror(MODEL, "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi");
        string[] memory m = models.mirrorsOf(MODEL);
        vm.assertEq(m.length, 2, "two mirrors");
        vm.assertEq(bytes(m[0]), bytes("https://mirror.example/test.onnx"), "first");
        (, ModelSpec memory s,) = models.getModel(MODEL);
        vm.assertEq(bytes(s.uri), bytes(_valid().uri), "the spec's uri is unchanged");
    }

    function test_addMirror_byItsPublisher() public {
        // The id is the file's hash, so the publisher can add a mirror without anyone's leave: it serves the file
        // or fails the hash check.
        models.addMirror(MODEL, "https://publisher.example/test.onnx"); // this contract published MODEL
        vm.assertEq(models.mirrorsOf(MODEL).length, 1, "the publisher's mirror");
    }

    function test_RevertWhen_AddMirrorByStranger() public {
        vm.expectRevert(
            abi.encodeWithSelector(IModelRegistry.NotMirrorAdmin.selector, MODEL, outsider, address(this), owner)
        );
        vm.prank(outsider);
        models.addMirror(MODEL, "https://mirror.example/test.onnx");
    }

    function test_RevertWhen_AddMirrorForUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        vm.prank(owner);
        models.addMirror(MODEL2, "https://mirror.example/x.onnx");
    }

    function test_RevertWhen_MirrorUriInvalid() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.UriInvalid.selector, 0, 512));
        vm.prank(owner);
        models.addMirror(MODEL, "");
        string memory long = _uri(513);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.UriInvalid.selector, 513, 512));
        vm.prank(owner);
        models.addMirror(MODEL, long);
    }

    function test_RevertWhen_TooManyMirrors() public {
        vm.startPrank(owner);
        for (uint256 i; i < 16; ++i) {
            models.addMirror(MODEL, "https://mirror.example/test.onnx");
        }
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.TooManyMirrors.selector, MODEL, 16));
        models.addMirror(MODEL, "https://mirror.example/test.onnx");
        vm.stopPrank();
    }

    /*//////////////////////////////////////////////////////////////
                               GETMODEL
    //////////////////////////////////////////////////////////////*/

    function test_getModel_roundTripsSpec() public {
        ModelSpec memory s = _restrictedToEnvA();
        s.uri = "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
        s.inputShape = new uint32[](3);
        s.inputShape[0] = 1;
        s.inputShape[1] = 3;
        s.inputShape[2] = 7;
        s.outputShape = shape(1, 2);
        s.scale = 65_536;
        s.price = 123 gwei;
        s.modes = ALL_MODES;
        s.verifier = address(new MockVerifier());
        registerModelAs(alice, MODEL2, s);

        (address publisher, ModelSpec memory got, ModelTerms memory t) = models.getModel(MODEL2);
        vm.assertEq(publisher, alice, "publisher");
        vm.assertEq(abi.encode(got), abi.encode(s), "spec round-trips");
        vm.assertEq(bytes(got.uri), bytes(s.uri), "uri");
        vm.assertEq(got.verifier, s.verifier, "verifier");
        _assertTermsEq(t, models.termsOf(MODEL2), "terms == termsOf");
        vm.assertEq(t.inputBytes, 8 * 21, "input bytes");
        vm.assertEq(t.outputBytes, 16, "output bytes");
    }

    function test_RevertWhen_GetModelUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        models.getModel(MODEL2);
    }

    function test_RevertWhen_TermsOfUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        models.termsOf(MODEL2);
        vm.assertFalse(models.isRegistered(MODEL2), "the probe answers without reverting");
    }

    /*//////////////////////////////////////////////////////////////
                              ENVIRONMENTS
    //////////////////////////////////////////////////////////////*/

    function test_isEnvironmentAllowed_restrictedModel() public {
        registerModel(MODEL2, _restrictedToEnvA());
        vm.assertTrue(models.isEnvironmentAllowed(MODEL2, ENV_A), "listed env allowed");
        vm.assertFalse(models.isEnvironmentAllowed(MODEL2, ENV_B), "other env refused");
        vm.assertFalse(models.isEnvironmentAllowed(MODEL2, bytes32(0)), "zero env refused");
    }

    function test_isEnvironmentAllowed_unrestrictedModelAllowsAny() public view {
        vm.assertTrue(models.isEnvironmentAllowed(MODEL, ENV_A), "env A");
        vm.assertTrue(models.isEnvironmentAllowed(MODEL, ENV_B), "env B");
        vm.assertTrue(models.isEnvironmentAllowed(MODEL, keccak256("anything")), "any env");
    }

    function test_RevertWhen_EnvironmentQueryForUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        models.isEnvironmentAllowed(MODEL2, ENV_A);
    }

    /*//////////////////////////////////////////////////////////////
                              DEPRECATION
    //////////////////////////////////////////////////////////////*/

    function test_deprecateModel_setsFlagEmitsAndSyncsHub() public {
        vm.expectEmit(true, true, true, true, address(models));
        emit IModelRegistry.ModelDeprecated(MODEL);
        models.deprecateModel(MODEL);

        vm.assertTrue(models.termsOf(MODEL).deprecated, "registry flag");
        vm.assertTrue(hub.modelTermsOf(MODEL).deprecated, "hub flag");
        _assertTermsEq(hub.modelTermsOf(MODEL), models.termsOf(MODEL), "hub copy == registry terms");
        (, ModelSpec memory s,) = models.getModel(MODEL);
        vm.assertEq(abi.encode(s), abi.encode(_valid()), "spec unchanged");
    }

    function test_deprecateModel_refusesNewRequests() public {
        models.deprecateModel(MODEL);
        uint64 deadline = uint64(block.timestamp + 1 hours);
        bytes memory input = input32();
        vm.expectRevert(abi.encodeWithSelector(IInferenceHub.ModelIsDeprecated.selector, MODEL));
        vm.prank(alice);
        hub.requestInference{value: PRICE}(MODEL, input, Mode.SINGLE, 1, 0, deadline);
    }

    function test_deprecateModel_requestInFlightIsStillFulfilled() public {
        (uint256 id, RequestParams memory p) = requestSingle();
        models.deprecateModel(MODEL);

        vm.prank(node1);
        hub.submitResult(id, p, output32(1));
        vm.assertEq(uint256(hub.statusOf(id)), uint256(Status.FULFILLED), "fulfilled after deprecation");
        vm.assertEq(hub.balanceOf(node1), PRICE, "node paid");
        vm.assertEq(consumer.calls(), 1, "callback ran");
    }

    function test_RevertWhen_DeprecatingUnknownModel() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelNotFound.selector, MODEL2));
        models.deprecateModel(MODEL2);
    }

    function test_RevertWhen_DeprecatingByNonPublisher() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.NotModelPublisher.selector, MODEL, owner, address(this)));
        vm.prank(owner); // the registry's owner has no power over models
        models.deprecateModel(MODEL);
    }

    function test_RevertWhen_ModelAlreadyDeprecated() public {
        models.deprecateModel(MODEL);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.ModelAlreadyDeprecated.selector, MODEL));
        models.deprecateModel(MODEL);
    }

    function test_RevertWhen_RegisteringDeprecatedId() public {
        models.deprecateModel(MODEL);
        _expectRevealRevert(
            MODEL,
            _valid(),
            bytes32(0),
            abi.encodeWithSelector(IModelRegistry.ModelAlreadyRegistered.selector, MODEL, address(this))
        );
    }

    /*//////////////////////////////////////////////////////////////
                                  HUB
    //////////////////////////////////////////////////////////////*/

    function test_hub_isWired() public view {
        vm.assertEq(models.hub(), address(hub), "hub");
    }

    function test_setHub_wiresOnceAndEmits() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        IInferenceHub freshHub = deployHub(owner, fresh, nodes, defaultParams());
        vm.expectEmit(true, true, true, true, address(fresh));
        emit IModelRegistry.HubSet(address(freshHub));
        vm.prank(owner);
        fresh.setHub(address(freshHub));
        vm.assertEq(fresh.hub(), address(freshHub), "wired");
    }

    function test_RevertWhen_HubAlreadySet() public {
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.HubAlreadySet.selector, address(hub)));
        vm.prank(owner);
        models.setHub(address(consumer));
    }

    function test_RevertWhen_HubNotContract() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.HubInvalid.selector, outsider));
        vm.prank(owner);
        fresh.setHub(outsider);
    }

    function test_RevertWhen_SetHubByNonOwner() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, alice, owner));
        vm.prank(alice);
        fresh.setHub(address(hub));
    }

    function test_RevertWhen_SyncModelTermsFromNonRegistry() public {
        ModelTerms memory forged = models.termsOf(MODEL);
        forged.deprecated = true;
        vm.expectRevert(
            abi.encodeWithSelector(IInferenceHub.CallerNotModelRegistry.selector, outsider, address(models))
        );
        vm.prank(outsider);
        hub.syncModelTerms(MODEL, forged, 0);
    }

    /// @dev A hub wired to another registry would refuse every push, so this registry could never register a model.
    function test_RevertWhen_HubBelongsToAnotherRegistry() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.expectRevert(abi.encodeWithSelector(IModelRegistry.HubInvalid.selector, address(hub)));
        vm.prank(owner);
        fresh.setHub(address(hub));
    }

    /*//////////////////////////////////////////////////////////////
                               OWNERSHIP
    //////////////////////////////////////////////////////////////*/

    function test_acceptOwnership_movesSetHubPower() public {
        IModelRegistry fresh = deployModelRegistry(owner);
        vm.prank(owner);
        IOwned2Step(address(fresh)).transferOwnership(alice);
        vm.assertEq(IOwned2Step(address(fresh)).pendingOwner(), alice, "pending");
        vm.prank(alice);
        IOwned2Step(address(fresh)).acceptOwnership();
        vm.assertEq(IOwned2Step(address(fresh)).owner(), alice, "new owner");

        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.CallerNotOwner.selector, owner, alice));
        vm.prank(owner);
        fresh.setHub(address(hub));
        IInferenceHub freshHub = deployHub(alice, fresh, nodes, defaultParams());
        vm.prank(alice);
        fresh.setHub(address(freshHub));
        vm.assertEq(fresh.hub(), address(freshHub), "new owner wired the hub");
    }

    function test_RevertWhen_RegistryOwnerZero() public {
        vm.expectRevert(abi.encodeWithSelector(IOwned2Step.OwnerZero.selector));
        deployModelRegistry(address(0));
    }

    /*//////////////////////////////////////////////////////////////
                              ENUMERATION
    //////////////////////////////////////////////////////////////*/

    function test_modelIdAt_registrationOrder() public {
        vm.assertEq(models.modelCount(), 1, "base model");
        registerModel(MODEL3, _valid());
        registerModelAs(alice, MODEL2, _valid());

        vm.assertEq(models.modelCount(), 3, "count");
        vm.assertEq(models.modelIdAt(0), MODEL, "first");
        vm.assertEq(models.modelIdAt(1), MODEL3, "second");
        vm.assertEq(models.modelIdAt(2), MODEL2, "third");
    }

    function test_modelCount_unchangedByDeprecation() public {
        models.deprecateModel(MODEL);
        vm.assertEq(models.modelCount(), 1, "deprecated models stay listed");
        vm.assertEq(models.modelIdAt(0), MODEL, "still enumerable");
    }

    function test_RevertWhen_ModelIndexOutOfBounds() public {
        vm.expectRevert(abi.encodeWithSignature("Panic(uint256)", 0x32));
        models.modelIdAt(1);
    }
}

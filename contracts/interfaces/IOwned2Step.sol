// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IOwned2Step
/// @notice Two-step ownership: the owner proposes, the new owner accepts. A typo cannot hand the contract away.
interface IOwned2Step {
    /// @notice The caller is not the owner.
    error CallerNotOwner(address caller, address owner);
    /// @notice The caller is not the proposed owner.
    error CallerNotPendingOwner(address caller, address pendingOwner);
    /// @notice The zero address cannot own the contract.
    error OwnerZero();

    /// @notice `newOwner` was proposed and must call `acceptOwnership`.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    /// @notice Ownership moved (also emitted at deployment with `previousOwner` zero).
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice The current owner.
    function owner() external view returns (address);
    /// @notice The proposed owner, zero when no transfer is under way.
    function pendingOwner() external view returns (address);
    /// @notice Proposes `newOwner`; a later proposal replaces an earlier one.
    function transferOwnership(address newOwner) external;
    /// @notice Completes the transfer; only the proposed owner may call it.
    function acceptOwnership() external;
}

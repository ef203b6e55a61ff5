// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IOwned2Step} from "../interfaces/IOwned2Step.sol";

/// @title Owned2Step
/// @notice Minimal two-step ownership shared by the registries and the hub.
abstract contract Owned2Step is IOwned2Step {
    /*//////////////////////////////////////////////////////////////
                                STORAGE
    //////////////////////////////////////////////////////////////*/

    address private _owner;
    address private _pendingOwner;

    /*//////////////////////////////////////////////////////////////
                               MODIFIERS
    //////////////////////////////////////////////////////////////*/

    /// @dev The current owner, for rules that let it act beside others.
    function _ownerAddress() internal view returns (address) {
        return _owner;
    }

    modifier onlyOwner() {
        if (msg.sender != _owner) revert CallerNotOwner(msg.sender, _owner);
        _;
    }

    /*//////////////////////////////////////////////////////////////
                              CONSTRUCTOR
    //////////////////////////////////////////////////////////////*/

    constructor(address initialOwner) {
        if (initialOwner == address(0)) revert OwnerZero();
        _owner = initialOwner;
        emit OwnershipTransferred(address(0), initialOwner);
    }

    /*//////////////////////////////////////////////////////////////
                                EXTERNAL
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IOwned2Step
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert OwnerZero();
        _pendingOwner = newOwner;
        emit OwnershipTransferStarted(_owner, newOwner);
    }

    /// @inheritdoc IOwned2Step
    function acceptOwnership() external {
        if (msg.sender != _pendingOwner) revert CallerNotPendingOwner(msg.sender, _pendingOwner);
        address previous = _owner;
        _owner = msg.sender;
        delete _pendingOwner;
        emit OwnershipTransferred(previous, msg.sender);
    }

    /*//////////////////////////////////////////////////////////////
                                 VIEWS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IOwned2Step
    function owner() external view returns (address) {
        return _owner;
    }

    /// @inheritdoc IOwned2Step
    function pendingOwner() external view returns (address) {
        return _pendingOwner;
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Lottery} from "../../../contracts/lib/Lottery.sol";

/// @notice Exposes the Lottery library to the Python differential test (tests/node/integration/test_lottery_diff.py).
contract LotteryHarness {
    function exponential(uint256 u) external pure returns (uint256) {
        return Lottery.exponential(u);
    }

    function ticket(uint256 lottery, uint256 requestId, address node, uint256 seat, uint256 stake)
        external
        pure
        returns (uint256)
    {
        return Lottery.ticket(lottery, requestId, node, seat, stake);
    }

    function opensAt(uint256 lottery, uint256 requestId, address node, uint256 seat, uint256 stake)
        external
        pure
        returns (uint256)
    {
        return Lottery.opensAt(lottery, requestId, node, seat, stake);
    }

    function pack(uint256 seed, uint256 requestedAt, uint256 servingStake, uint256 ticketDelay)
        external
        pure
        returns (uint256)
    {
        return Lottery.pack(seed, requestedAt, servingStake, ticketDelay);
    }

    function withTerms(uint256 word, uint256 callbackGasPrice, uint256 slashBps, uint256 revealWindow)
        external
        pure
        returns (uint256)
    {
        return Lottery.withTerms(word, callbackGasPrice, slashBps, revealWindow);
    }

    function terms(uint256 word) external pure returns (uint256 callbackGasPrice, uint256 slashBps, uint256 window) {
        return (Lottery.callbackGasPriceOf(word), Lottery.slashBpsOf(word), Lottery.revealWindowOf(word));
    }
}

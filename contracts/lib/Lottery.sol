// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Lottery
/// @notice Stake-weighted, Sybil-neutral assignment of a request's seats, checked in O(1) at submission.
/// @dev Node i's ticket for seat j of request r is x = E * S / s, where E = -ln(U / 2^256) with
///      U = keccak256(abi.encode(seed, r, node, j)), s the node's stake and S the model's serving stake when the request
///      was made. U is uniform, so E ~ Exp(1) and x ~ Exp(s / S): the minimum over a set of nodes is Exp(sum s / S)
///      and node i holds the best ticket with probability s_i / S. Splitting a stake over many identities changes
///      neither the distribution of the best ticket of the attacker's set nor its chance to be best: the lottery is
///      Sybil-neutral. A node's window on a seat opens `delay(x)` seconds after the request: `ticketDelay` seconds per
///      unit of ticket, capped at `MAX_TICKET_UNITS` units, after which every eligible node may act (the backstop when
///      the best holders are down). `verinfer.chain.lottery` computes the same integers; a differential test keeps
///      them equal bit for bit.
library Lottery {
    /// @notice Fixed point: tickets and logarithms are Q64.64.
    uint256 internal constant ONE = 0x10000000000000000;
    /// @notice ln(2) in Q64.64, rounded down.
    uint256 internal constant LN2 = 12_786_308_645_202_655_659;
    /// @notice The largest ticket a window waits for: P(best ticket > 8) = e^-8 (0.03 %) when the serving stake is
    ///         live, so a dead primary is replaced after at most 8 * ticketDelay seconds.
    uint256 internal constant MAX_TICKET_UNITS = 8;
    /// @notice What `exponential` returns for u < 2^240 (E > 11.09): 16 units, past every window.
    uint256 internal constant BEYOND = 0x100000000000000000;
    uint256 internal constant GWEI = 1e9;
    /// @notice The ticket at which windows stop waiting: MAX_TICKET_UNITS units.
    uint256 internal constant CAP = 0x80000000000000000;

    /// @notice -ln(u / 2^256) in Q64.64 (u = 0 is read as 1), for u >= 2^240; `BEYOND` for u below (E > 11, a ticket
    ///         past every window: the stake-weighted ticket E * S / s >= E >= 8 units is capped anyway). Monotone
    ///         non-increasing in u; absolute error below 1.2e-6 (u = 2^k * y with y in [1, 2),
    ///         ln(y) = 2 * atanh(z) with z = (y - 1) / (y + 1) in [0, 1/3), summed to z^9/9, every step rounding down):
    ///         far below what 2,000 or even 10^6 draws could detect, and it errs alike for every identity, split or
    ///         not. Assembly, because every delivery pays one: checked Solidity costs several times more.
    // slither-disable-next-line divide-before-multiply (fixed point: every step rounds down on purpose)
    function exponential(uint256 u) internal pure returns (uint256 e) {
        assembly ("memory-safe") {
            e := BEYOND
            let v := shr(240, u)
            if v {
                // k - 240 = floor(log2(v)) for v in [1, 2^16), by halving the search range four times.
                let k := shl(3, lt(0xff, v))
                k := or(k, shl(2, lt(0xf, shr(k, v))))
                k := or(k, shl(1, lt(0x3, shr(k, v))))
                k := or(k, lt(0x1, shr(k, v)))
                k := add(k, 240)
                // y = u / 2^k in Q64.64, in [2^64, 2^65); z < 2^64 / 3, z^2 < 2^128: no product overflows.
                let y := shr(sub(k, 64), u)
                let z := div(shl(64, sub(y, ONE)), add(y, ONE))
                let z2 := shr(64, mul(z, z))
                let t := shr(64, mul(z, z2))
                let sum := add(z, div(t, 3))
                t := shr(64, mul(t, z2))
                sum := add(sum, div(t, 5))
                t := shr(64, mul(t, z2))
                sum := add(sum, div(t, 7))
                t := shr(64, mul(t, z2))
                sum := add(sum, div(t, 9))
                let lnY := shl(1, sum)
                // The truncated series only underestimates and ln(y) < ln 2, but LN2 is rounded down: clamp.
                if gt(lnY, LN2) { lnY := LN2 }
                // -ln(u / 2^256) = (256 - k) * ln 2 - ln(y) = (255 - k) * ln 2 + (ln 2 - ln y) >= 0.
                e := add(mul(sub(255, k), LN2), sub(LN2, lnY))
            }
        }
    }

    /// @notice The `lottery` word of a request's parameters (layout on {RequestParams}): `servingStake` in wei is
    ///         stored in gwei (rounded down: it only scales every ticket of the request alike); the seed, the time and
    ///         the delay must fit their 32, 40 and 32 bits (the hub passes a 32-bit seed, block.timestamp and its
    ///         uint32 delay).
    function pack(uint256 seed, uint256 requestedAt, uint256 servingStake, uint256 ticketDelay)
        internal
        pure
        returns (uint256)
    {
        return seed | (requestedAt << 32) | ((servingStake / GWEI) << 72) | (ticketDelay << 136);
    }

    /// @notice `word` with the request's terms added, fixed for the request's life whatever the owner sets later:
    ///         the callback gas price cap in wei (48 bits: up to ~281,000 gwei), the slash in basis points and the
    ///         reveal window in seconds (24 bits: the hub bounds it at 7 days).
    function withTerms(uint256 word, uint256 callbackGasPrice, uint256 slashBps, uint256 revealWindow)
        internal
        pure
        returns (uint256)
    {
        return word | (callbackGasPrice << 168) | (slashBps << 216) | (revealWindow << 232);
    }

    /// @notice The seed of request `requestId` made in this block: the low 32 bits of
    ///         keccak256(abi.encode(block.prevrandao, requestId)). 32 bits are plenty: nobody chooses the seed (a
    ///         requester chooses only the block), and the ticket hash mixes in the request id and the node.
    function seedAt(uint256 requestId) internal view returns (uint256) {
        return uint32(uint256(keccak256(abi.encode(block.prevrandao, requestId))));
    }

    function seedOf(uint256 lottery) internal pure returns (uint256) {
        return uint32(lottery);
    }

    function requestedAtOf(uint256 lottery) internal pure returns (uint256) {
        return uint40(lottery >> 32);
    }

    /// @notice The serving stake in gwei.
    function servingStakeOf(uint256 lottery) internal pure returns (uint256) {
        return uint64(lottery >> 72);
    }

    function ticketDelayOf(uint256 lottery) internal pure returns (uint256) {
        return uint32(lottery >> 136);
    }

    /// @notice The most wei per gas the request's escrow reimburses its callback at (0: no escrow).
    function callbackGasPriceOf(uint256 lottery) internal pure returns (uint256) {
        return uint48(lottery >> 168);
    }

    /// @notice The slash, in basis points, of a vote of this request that lost or was never revealed.
    function slashBpsOf(uint256 lottery) internal pure returns (uint256) {
        return uint16(lottery >> 216);
    }

    /// @notice The request's reveal window in seconds (CONSENSUS).
    function revealWindowOf(uint256 lottery) internal pure returns (uint256) {
        return lottery >> 232;
    }

    /// @notice Node `node`'s ticket for seat `seat` of request `requestId` (Q64.64): E * servingStake / stake (both
    ///         in wei; the serving stake as stored, in gwei, times 1e9), with
    ///         U = keccak256(abi.encodePacked(uint64 seed, uint192 requestId, address node, uint96 seat)) (two words,
    ///         hashed in scratch space).
    function ticket(uint256 lottery, uint256 requestId, address node, uint256 seat, uint256 stake)
        internal
        pure
        returns (uint256 x)
    {
        uint256 u;
        assembly ("memory-safe") {
            // Request ids are below 2^64 and seats below 16: both fit their fields.
            mstore(0x00, or(shl(192, and(lottery, 0xffffffff)), requestId))
            mstore(0x20, or(shl(96, node), seat))
            u := keccak256(0x00, 0x40)
        }
        uint256 e = exponential(u);
        assembly ("memory-safe") {
            // E < 2^72, servingStake < 2^64 gwei < 2^94 wei: the product cannot overflow; stake > 0 for any eligible
            // node (a zero stake gives 0, as EVM division by zero does).
            x := div(mul(e, mul(and(shr(72, lottery), 0xffffffffffffffff), GWEI)), stake)
        }
    }

    /// @notice When node `node`, with `stake`, may act on seat `seat` of request `requestId`: requestedAt plus the
    ///         delay of its ticket. `ticket`, `exponential` and `delay` in one assembly block: every delivery pays it,
    ///         and a block saves the calls and stack shuffles between them (~300 gas on a batch item).
    // slither-disable-next-line divide-before-multiply (fixed point: every step rounds down on purpose)
    function opensAt(uint256 lottery, uint256 requestId, address node, uint256 seat, uint256 stake)
        internal
        pure
        returns (uint256 t)
    {
        assembly ("memory-safe") {
            mstore(0x00, or(shl(192, and(lottery, 0xffffffff)), requestId))
            mstore(0x20, or(shl(96, node), seat))
            let u := keccak256(0x00, 0x40)
            let e := BEYOND
            let v := shr(240, u)
            if v {
                let k := shl(3, lt(0xff, v))
                k := or(k, shl(2, lt(0xf, shr(k, v))))
                k := or(k, shl(1, lt(0x3, shr(k, v))))
                k := or(k, lt(0x1, shr(k, v)))
                k := add(k, 240)
                let y := shr(sub(k, 64), u)
                let z := div(shl(64, sub(y, ONE)), add(y, ONE))
                let z2 := shr(64, mul(z, z))
                let w := shr(64, mul(z, z2))
                let sum := add(z, div(w, 3))
                w := shr(64, mul(w, z2))
                sum := add(sum, div(w, 5))
                w := shr(64, mul(w, z2))
                sum := add(sum, div(w, 7))
                w := shr(64, mul(w, z2))
                sum := add(sum, div(w, 9))
                let lnY := shl(1, sum)
                if gt(lnY, LN2) { lnY := LN2 }
                e := add(mul(sub(255, k), LN2), sub(LN2, lnY))
            }
            let x := div(mul(e, mul(and(shr(72, lottery), 0xffffffffffffffff), GWEI)), stake)
            let ticketDelay := and(shr(136, lottery), 0xffffffff)
            let wait := mul(MAX_TICKET_UNITS, ticketDelay)
            if lt(x, CAP) { wait := shr(64, mul(x, ticketDelay)) }
            t := add(and(shr(32, lottery), 0xffffffffff), wait)
        }
    }

    /// @notice Seconds after the request at which a ticket's window opens: floor(x * ticketDelay), capped.
    function delay(uint256 x, uint256 ticketDelay) internal pure returns (uint256) {
        if (x >= MAX_TICKET_UNITS * ONE) return MAX_TICKET_UNITS * ticketDelay;
        // x < 2^67 and ticketDelay < 2^32.
        unchecked {
            return (x * ticketDelay) >> 64;
        }
    }
}

"""The wallet's low-balance guard: below `min_balance_wei` (default: what one full batch costs at twice the base
fee) the node stops taking new work, with a warning, the `verinfer_wallet_paused` metric at 1 and /healthz failing
("cannot pay for gas"), and resumes by itself once the balance is back. Transactions already in flight (reveals
above all) are still tracked and sent: pausing only stops new computations, deliveries and commits."""

from __future__ import annotations

from typing import Any

from verinfer.node.metrics import Health, NodeMetrics


class Wallet:
    def __init__(
        self, health: Health, metrics: NodeMetrics, log: Any, *, min_balance_wei: int | None, batch_gas: int
    ) -> None:
        self.health = health
        self.metrics = metrics
        self.log = log
        self.min_balance_wei = min_balance_wei
        self.batch_gas = batch_gas
        self.paused = False

    def threshold(self, base_fee: int) -> int:
        if self.min_balance_wei is not None:
            return self.min_balance_wei
        return self.batch_gas * 2 * base_fee

    def update(self, balance: int, base_fee: int) -> bool:
        """Judges the balance read with a new block; returns whether serving is paused."""
        threshold = self.threshold(base_fee)
        low = balance < threshold
        if low and not self.paused:
            self.log.warning(
                "wallet balance low: serving paused until it is funded",
                balance_wei=balance,
                threshold_wei=threshold,
                fix="send ETH to the node's address, or lower tx.min_balance_wei",
            )
        elif self.paused and not low:
            self.log.info("wallet funded again: serving resumed", balance_wei=balance)
        self.paused = low
        self.metrics.wallet_paused.set(1 if low else 0)
        self.health.problem(
            "funds",
            f"cannot pay for gas: balance {balance} wei < {threshold} wei (tx.min_balance_wei)" if low else None,
        )
        return low

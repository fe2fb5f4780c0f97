"""The paper broker: fills simulated against the latest quote (see fills.py)."""

from __future__ import annotations

from peaktrade.execution.codes import PAPER_ROUTE
from peaktrade.execution.fills import FillPlan, plan_fill
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import Order, Quote


class PaperBroker:
    """Simulated fills: far side of the quote plus slippage, limits only when marketable."""

    route_id = PAPER_ROUTE
    description = "Paper simulator: fills at the quote with slippage and optional fees"

    def accept(self, order: Order) -> None:
        """Nothing to send: the simulator fills from the desk's own quotes."""

    def execute(self, order: Order, quote: Quote | None, reference: float | None,
                rules: Rules) -> FillPlan | None:
        return plan_fill(order.side, order.order_type, order.limit_price, order.leaves, quote,
                         reference, slippage_bps=rules.slippage_bps, fee_bps=rules.fee_bps)

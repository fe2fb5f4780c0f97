"""The live broker adapter, dry: it logs the order it would send and sends nothing."""

from __future__ import annotations

import logging

from peaktrade.execution.codes import LIVE_ROUTE
from peaktrade.execution.fills import FillPlan
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import Order, Quote

log = logging.getLogger("peaktrade.broker.live")


class DryRunBroker:
    """Live route in dry-run: every order is logged as it would be sent and stays working."""

    route_id = LIVE_ROUTE
    description = "Live broker (dry run: logs what it would send, sends nothing)"

    def accept(self, order: Order) -> None:
        """Log the order as it would be sent."""
        log.info("dry run, not sent: %s %s %s %s %s limit=%s tif=%s order_id=%s", order.route,
                 order.side, order.leaves, order.symbol, order.order_type, order.limit_price,
                 order.tif, order.order_id)

    def execute(self, order: Order, quote: Quote | None, reference: float | None,
                rules: Rules) -> FillPlan | None:
        """A dry run never fills: the order stays working."""
        return None

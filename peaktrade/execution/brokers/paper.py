"""The paper broker: fills simulated against the desk's latest quote (see fills.py)."""

from __future__ import annotations

from peaktrade.execution.brokers import BrokerOrder
from peaktrade.execution.codes import PAPER_ROUTE, Status
from peaktrade.execution.fills import FillPlan, plan_fill
from peaktrade.execution.state import QTY_EPSILON, DeskState, Order

_WORDS = {Status.NEW: "new", Status.PARTIAL: "partially_filled", Status.FILLED: "filled",
          Status.CANCELLED: "canceled"}


class PaperBroker:
    """Simulated fills: far side of the quote plus slippage, limits only when marketable.

    The book is the desk's projection: the simulator's orders are the desk's orders. A
    new order may fill at its reference price when no quote is known; a resting order
    fills only against a quote.
    """

    route_id = PAPER_ROUTE
    description = "Paper simulator: fills at the quote with slippage and optional fees"
    remote = False
    dry_run = False

    def __init__(self, slippage_bps: float, fee_bps: float) -> None:
        self.slippage_bps = slippage_bps
        self.fee_bps = fee_bps

    def submit(self, order: Order, book: DeskState) -> BrokerOrder:
        """A new order fills at once when marketable, else rests (NEW)."""
        return self._report(order, self.execute(order, book, order.price))

    def fetch_order(self, order: Order, book: DeskState) -> BrokerOrder:
        """The order with the fill the latest quote gives it now, if any."""
        return self._report(order, self.execute(order, book, None))

    def cancel(self, order: Order, book: DeskState) -> BrokerOrder:
        return self._report(order, None, Status.CANCELLED)

    def open_orders(self, book: DeskState) -> list[BrokerOrder]:
        return [self._report(order, None) for order in book.working.values()
                if order.route == PAPER_ROUTE]

    def execute(self, order: Order, book: DeskState,
                reference: float | None) -> FillPlan | None:
        """The matching engine: the fill this order gets now, None when it is not marketable."""
        return plan_fill(order.side, order.order_type, order.limit_price, order.leaves,
                         book.quotes.get(order.symbol), reference,
                         slippage_bps=self.slippage_bps, fee_bps=self.fee_bps)

    @staticmethod
    def _report(order: Order, plan: FillPlan | None, status: str | None = None) -> BrokerOrder:
        filled, notional = order.filled, order.fill_notional
        if plan is not None:
            qty, price, _, _ = plan
            filled += qty
            notional += qty * price
            status = Status.FILLED if order.quantity - filled <= QTY_EPSILON else Status.PARTIAL
        elif status is None:
            status = order.status
        return BrokerOrder(order.client_order_id, order.order_id, status,
                           _WORDS.get(status) or status.lower(), filled,
                           notional / filled if filled > 0 else None, None, order.symbol,
                           order.side, order.quantity, plan)

"""Where orders go: the paper simulator, or a live adapter that can run dry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from peaktrade.execution.codes import LIVE_MODE, LIVE_ROUTE, PAPER_ROUTE
from peaktrade.execution.fills import FillPlan
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import Order, Quote


class Broker(Protocol):
    """Executes a working order against the market it sees; None when nothing trades now."""

    route_id: str
    description: str

    def accept(self, order: Order) -> None:
        """A new order was accepted for this route (sent, for a real broker)."""

    def execute(self, order: Order, quote: Quote | None, reference: float | None,
                rules: Rules) -> FillPlan | None:
        """The fill the order gets now, if any."""


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    description: str
    is_default: bool

    def to_dict(self) -> dict[str, Any]:
        return {"route_id": self.route_id, "description": self.description,
                "is_default": self.is_default}


def brokers_for(mode: str) -> dict[str, Broker]:
    """The brokers by route: PAPER always; LIVE (dry run, sends nothing) in live mode."""
    from peaktrade.execution.brokers.live import DryRunBroker
    from peaktrade.execution.brokers.paper import PaperBroker

    brokers: dict[str, Broker] = {PAPER_ROUTE: PaperBroker()}
    if mode == LIVE_MODE:
        brokers[LIVE_ROUTE] = DryRunBroker()
    return brokers


def routes_of(brokers: dict[str, Broker]) -> list[Route]:
    return [Route(route_id, broker.description, route_id == PAPER_ROUTE)
            for route_id, broker in brokers.items()]

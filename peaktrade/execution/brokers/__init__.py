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
    """The brokers by route, the default first: paper mode routes to PAPER; live mode to
    LIVE (the adapter, dry: it sends nothing), with PAPER still available."""
    from peaktrade.execution.brokers.live import DryRunBroker
    from peaktrade.execution.brokers.paper import PaperBroker

    if mode == LIVE_MODE:
        return {LIVE_ROUTE: DryRunBroker(), PAPER_ROUTE: PaperBroker()}
    return {PAPER_ROUTE: PaperBroker()}


def default_route(brokers: dict[str, Broker]) -> str:
    """Where an intent without a route goes."""
    return next(iter(brokers))


def routes_of(brokers: dict[str, Broker]) -> list[Route]:
    default = default_route(brokers)
    return [Route(route_id, broker.description, route_id == default)
            for route_id, broker in brokers.items()]

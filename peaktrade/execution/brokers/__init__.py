"""Where orders go: one adapter per route, the paper simulator and real brokers alike.

Every adapter answers the same four calls (submit, cancel, fetch an order, list open
orders) with BrokerOrder reports; the desk turns a report into journal events. A
`remote` adapter talks to a broker over the network: the desk journals the order first,
calls it outside its locks, and journals what it learned after. A local adapter (the paper
simulator) also answers `execute(order, book, reference) -> FillPlan | None`, its matching
engine, which the desk calls under its lock for the fill an order gets now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from peaktrade.execution.codes import LIVE_MODE, PAPER_ROUTE

if TYPE_CHECKING:
    from peaktrade.execution.fills import FillPlan
    from peaktrade.execution.state import DeskState, Order


class BrokerOrder(NamedTuple):
    """What a broker reports about one order: status in our words, fills so far."""

    client_order_id: str | None
    broker_order_id: str | None
    status: str  # ours: NEW, PARTIAL, FILLED, CANCELLED, REJECTED
    broker_status: str  # the broker's own word (e.g. "pending_cancel")
    filled_qty: float  # cumulative
    filled_avg_price: float | None  # average over filled_qty
    reason: str | None = None  # why it was rejected, cancelled or expired
    symbol: str | None = None
    side: str | None = None
    qty: float | None = None
    fill: FillPlan | None = None  # the execution just made, when the broker knows it exactly


class BrokerError(Exception):
    """A broker call failed; the message says what the broker or the network answered."""


class BrokerRejected(BrokerError):
    """The broker answered and refused (e.g. HTTP 403 buying power, 422 validation)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class BrokerUnavailable(BrokerError):
    """No usable answer (timeout, connection error, 5xx): the outcome of a write is unknown."""


class Broker(Protocol):
    """An order route. Paper adapters read the desk's book; remote ones ignore it."""

    route_id: str
    description: str
    remote: bool  # calls leave the process: made outside the desk's locks
    dry_run: bool  # orders are journaled as they would be sent, and never sent

    def submit(self, order: Order, book: DeskState) -> BrokerOrder:
        """Send a new order (a remote adapter sends it once, never retried)."""

    def cancel(self, order: Order, book: DeskState) -> BrokerOrder | None:
        """Ask the broker to cancel; the report after, None when it does not know the order."""

    def fetch_order(self, order: Order, book: DeskState) -> BrokerOrder | None:
        """The broker's view of the order now; None when it does not know it."""

    def open_orders(self, book: DeskState) -> list[BrokerOrder]:
        """Every order the broker holds open on this route."""


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    description: str
    is_default: bool

    def to_dict(self) -> dict[str, Any]:
        return {"route_id": self.route_id, "description": self.description,
                "is_default": self.is_default}


def brokers_for(config: Mapping[str, Any], environ: Mapping[str, str] | None = None, *,
                session: Any = None, require_live: bool = True) -> dict[str, Broker]:
    """The brokers by route, the default first.

    Paper mode routes to PAPER; a configured broker ([alpaca] enabled) is a further route
    that runs dry unless the desk is in live mode with `dry_run = false`. Live mode makes
    the broker the default route and needs one (ConfigError otherwise, unless
    `require_live` is off, as for a dry run that sends nothing anyway).
    """
    from peaktrade.config import ConfigError
    from peaktrade.execution.brokers.paper import PaperBroker

    paper = PaperBroker(config["paper"]["slippage_bps"], config["paper"]["fee_bps"])
    live: dict[str, Broker] = {}
    if config["alpaca"]["enabled"]:
        from peaktrade.execution.brokers.alpaca import AlpacaBroker, AlpacaSettings

        settings = AlpacaSettings.from_config(config, environ)
        live[AlpacaBroker.route_id] = AlpacaBroker(settings, session=session)
    if config["mode"] == LIVE_MODE:
        if not live and require_live:
            raise ConfigError("config mode = 'live': live mode needs a broker route; set "
                              "[alpaca] enabled = true (with dry_run = true to journal "
                              "orders without sending them)")
        return {**live, PAPER_ROUTE: paper}
    return {PAPER_ROUTE: paper, **live}


def sends_orders(broker: Broker) -> bool:
    """Orders on this route leave the process: a remote broker that is not dry."""
    return broker.remote and not broker.dry_run


def default_route(brokers: dict[str, Broker]) -> str:
    """Where an intent without a route goes."""
    return next(iter(brokers))


def routes_of(brokers: dict[str, Broker]) -> list[Route]:
    default = default_route(brokers)
    return [Route(route_id, broker.description, route_id == default)
            for route_id, broker in brokers.items()]

"""The demo feed: random-walk quotes and a demo strategy trading them through the desk."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from peaktrade.events import ts_to_epoch
from peaktrade.execution.codes import PAPER_ROUTE, Breaker, Side, Status
from peaktrade.execution.desk import Desk
from peaktrade.execution.errors import DeskError
from peaktrade.journal import JournalError

log = logging.getLogger("peaktrade.demo")

START_PRICES = {"BTC-USD": 65_000.0, "ETH-USD": 3_200.0, "SOL-USD": 150.0, "AAPL": 190.0,
                "MSFT": 420.0, "GOOGL": 170.0, "AMZN": 180.0}
DEFAULT_PRICE = 100.0
STRATEGIES = ("demo-momentum", "demo-meanrev", "demo-pairs")
VOLATILITY = 0.0015  # per tick, of the price
SPREAD = 0.0004  # of the price
HEARTBEAT_S = 5.0
CANCEL_AFTER_S = 8.0
AUTO_RESET_S = 15.0  # the demo "operator" resets its own breaker trips after this long
DEMO_BREAKERS = {"max_loss_streak": 10}  # used when no breaker is configured: the odd trip


@dataclass
class DemoStats:
    """What the feed did: intents sent, results by status and reject code, cancels, quotes."""

    intents: int = 0
    quotes: int = 0
    cancels: int = 0
    heartbeats: int = 0
    errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    rejects: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        rejects = ", ".join(f"{code} {n}" for code, n in self.rejects.most_common()) or "none"
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items())) or "none"
        return (f"demo: {self.intents} intents ({statuses}); rejects: {rejects}; "
                f"{self.cancels} cancels, {self.quotes} quote ticks, {self.heartbeats} "
                f"heartbeats, {self.errors} errors")


def demo_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The demo's overrides: a loss-streak breaker when none is configured, so trips happen."""
    if any(value is not None for value in config["breakers"].values()):
        return {}
    return {"breakers": dict(DEMO_BREAKERS)}


class DemoFeed:
    """One tick: quotes move, the strategy sends an intent, old resting orders get cancelled."""

    def __init__(self, desk: Desk, symbols: list[str], rng: random.Random) -> None:
        self.desk = desk
        self.symbols = symbols
        self.rng = rng
        self.prices = {s: START_PRICES.get(s, DEFAULT_PRICE) for s in symbols}
        self.stats = DemoStats()
        self._rested: dict[str, float] = {}

    def quote_tick(self) -> None:
        """Every symbol takes a random-walk step; the desk fills what became marketable."""
        quotes = []
        for symbol, price in self.prices.items():
            price *= math.exp(self.rng.gauss(0.0, VOLATILITY))
            self.prices[symbol] = price
            half = price * SPREAD / 2
            quotes.append({"symbol": symbol, "bid": round(price - half, 6),
                           "ask": round(price + half, 6), "last": round(price, 6),
                           "size": None if self.rng.random() < 0.7 else
                           round(self._lot_qty(symbol, 2_000 / price), 6)})
        self.desk.quote(quotes, source="DEMO")
        self.stats.quotes += 1

    def trade_tick(self, now: float) -> None:
        """Send one intent from the demo strategy's mix (most pass, some are vetoed)."""
        intent = self._intent()
        (result,) = self.desk.submit(intent, source="DEMO")
        self.stats.intents += 1
        self.stats.statuses[result.status] += 1
        if result.status == Status.REJECTED and result.reason:
            self.stats.rejects[result.reason.split(":", 1)[0]] += 1
        if result.status in (Status.NEW, Status.PARTIAL):
            self._rested[result.order_id] = now

    def cancel_tick(self, now: float) -> None:
        """Cancel resting orders that waited too long (some filled or went in the meantime)."""
        for order_id, since in list(self._rested.items()):
            if now - since < CANCEL_AFTER_S:
                continue
            del self._rested[order_id]
            if self.rng.random() < 0.6:
                try:
                    self.desk.cancel(order_id, source="DEMO", actor="demo")
                    self.stats.cancels += 1
                except DeskError:
                    pass  # filled or cancelled meanwhile, or a new session started

    def reset_stale_trips(self) -> None:
        """Play the operator: reset a breaker that has been tripped for a while."""
        for breaker in self.desk.controls()["breakers"]:
            if breaker["tripped"] and breaker["name"] == Breaker.LOSS_STREAK and \
                    time.time() - _epoch(breaker["since"]) > AUTO_RESET_S:
                with contextlib.suppress(DeskError):
                    self.desk.control("breaker.reset", actor="demo", breaker=breaker["name"],
                                      reason="demo operator reviewed the loss streak")

    def _intent(self) -> dict[str, Any]:
        rng = self.rng
        symbol = rng.choice(self.symbols)
        price = self.prices[symbol]
        position = next((p["quantity"] for p in self.desk.positions()
                         if p["symbol"] == symbol), 0.0)
        notional = rng.uniform(300, 4_000)
        side = rng.choice((Side.BUY, Side.SELL))
        if abs(position) * price > 8_000:  # keep the book small: lean against the position
            side = Side.SELL if position > 0 else Side.BUY
        # Always the simulator: demo intents never reach a broker route, whatever the default.
        intent: dict[str, Any] = {"symbol": symbol, "side": side, "price": round(price, 6),
                                  "route": PAPER_ROUTE,
                                  "strategy": rng.choice(STRATEGIES),
                                  "quantity": self._lot_qty(symbol, notional / price),
                                  "confidence": round(rng.uniform(0.3, 0.95), 2)}
        roll = rng.random()
        sign = 1 if side == Side.BUY else -1
        if roll < 0.30:  # a limit near the touch: some fill at once, most rest
            intent["limit_price"] = round(price * (1 - sign * rng.uniform(-0.0005, 0.002)), 6)
        elif roll < 0.36:  # a fat-fingered limit far from the market: PRICE_SANITY
            intent["limit_price"] = round(price * (1 + sign * rng.uniform(0.12, 0.3)), 6)
        elif roll < 0.42:  # too small to be worth it: MIN_NOTIONAL or LOT_SIZE
            intent["quantity"] = max(self._lot_qty(symbol, rng.uniform(1, 8) / price),
                                     _lot(symbol, self.desk) / 2)
        elif roll < 0.46:
            intent["tags"] = ["research_only"]
        elif roll < 0.50:
            intent["tif"] = "IOC"
            intent["limit_price"] = round(price * (1 - sign * 0.001), 6)
        return intent

    def _lot_qty(self, symbol: str, qty: float) -> float:
        lot = _lot(symbol, self.desk)
        return max(lot, round(math.floor(qty / lot) * lot, 10))


def _lot(symbol: str, desk: Desk) -> float:
    return desk.catalog.get(symbol).lot_size


def _epoch(ts: str | None) -> float:
    return ts_to_epoch(ts) if ts else time.time()


def run_demo(desk: Desk, *, symbols: list[str], rate: float, duration: float | None,
             stop: threading.Event, seed: int | None = None,
             monotonic: Callable[[], float] = time.monotonic) -> DemoStats:
    """Tick at `rate` intents per second until `stop` is set or `duration` has passed."""
    feed = DemoFeed(desk, symbols, random.Random(seed))
    interval = 1.0 / rate
    start = monotonic()
    next_tick = start
    last_heartbeat = -math.inf
    while not stop.is_set():
        now = monotonic()
        if duration is not None and now - start >= duration:
            break
        lag_ms = max(0.0, (now - next_tick) * 1000)
        try:
            feed.quote_tick()
            feed.trade_tick(now)
            feed.cancel_tick(now)
            feed.reset_stale_trips()
            if now - last_heartbeat >= HEARTBEAT_S:
                desk.heartbeat("demo", "ok" if lag_ms < 1000 else "degraded", lag_ms)
                feed.stats.heartbeats += 1
                last_heartbeat = now
        except DeskError as err:
            feed.stats.errors += 1
            log.warning("demo tick failed: %s", err)
            with contextlib.suppress(DeskError, JournalError, OSError):
                desk.journal_error("demo", type(err).__name__, str(err))
        except (JournalError, OSError) as err:  # the journal itself failed: try again later
            feed.stats.errors += 1
            log.error("demo tick not recorded: %s", err)
        next_tick += interval
        delay = next_tick - monotonic()
        if delay < -5 * interval:
            next_tick = monotonic()  # fell far behind (machine busy): do not burst to catch up
        stop.wait(max(0.0, delay))
    return feed.stats

"""Replay a journal: rebuild intent -> verdict -> order -> fill chains, coverage and latency.

Chains are joined on `intent_id` and `order_id`, never on the symbol. Only open chains
are held in memory; a chain is handed to `on_chain` as soon as it ends (vetoed, rejected,
filled or cancelled), and the ones still open when the journal ends are handed over last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from peaktrade.journal import LineStats
from peaktrade.telemetry.summary import QUANTILES, nearest_rank

HOPS = ("intent_to_gate", "intent_to_order", "order_to_fill", "intent_to_fill")
DEFAULT_NO_FILL_AFTER_S = 30.0
MAX_LISTED_UNFILLED = 100
UNKNOWN = "(none)"


@dataclass(frozen=True)
class LatencyStats:
    """Latency of one hop in seconds: count, unmatched, min, nearest-rank quantiles, max."""

    n: int
    unmatched: int
    min: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None

    @classmethod
    def of(cls, values: list[float], unmatched: int = 0) -> LatencyStats:
        if not values:
            return cls(0, unmatched, None, None, None, None, None, None)
        ordered = sorted(values)
        p50, p90, p95, p99 = (round(nearest_rank(ordered, q), 6) for q in QUANTILES)
        return cls(len(ordered), unmatched, round(ordered[0], 6), p50, p90, p95, p99,
                   round(ordered[-1], 6))


@dataclass(frozen=True)
class Coverage:
    """How far intents got: verdicts, vetoes, orders, fills, and orders left unfilled."""

    intents: int
    with_verdict: int
    vetoed: int
    reached_order: int
    orders: int
    orders_filled: int
    orders_fully_filled: int
    orders_cancelled: int
    orders_rejected: int
    orders_without_fill: int
    no_fill_after_s: float
    orders_no_fill_after_n: int

    @property
    def order_rate(self) -> float:
        """Intents that reached an order / intents that were not vetoed."""
        eligible = self.intents - self.vetoed
        return self.reached_order / eligible if eligible > 0 else 0.0

    @property
    def fill_rate(self) -> float:
        """Orders with at least one fill / orders."""
        return self.orders_filled / self.orders if self.orders else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["order_rate"] = round(self.order_rate, 6)
        out["fill_rate"] = round(self.fill_rate, 6)
        return out


@dataclass(frozen=True)
class GroupReplay:
    """Counts and latency of one symbol or one strategy."""

    intents: int
    vetoed: int
    orders: int
    filled: int
    intent_to_order: LatencyStats
    order_to_fill: LatencyStats

    def to_dict(self) -> dict[str, Any]:
        return {"intents": self.intents, "vetoed": self.vetoed, "orders": self.orders,
                "filled": self.filled,
                "fill_rate": round(self.filled / self.orders, 6) if self.orders else 0.0,
                "intent_to_order": asdict(self.intent_to_order),
                "order_to_fill": asdict(self.order_to_fill)}


@dataclass(frozen=True)
class UnfilledOrder:
    """An order that had no fill within the allowed time."""

    session_id: str | None
    order_id: str
    symbol: str | None
    strategy: str | None
    placed_at: str
    status: str
    waited_s: float


@dataclass(frozen=True)
class ReplayReport:
    """Everything a replay found."""

    events: int
    sessions: tuple[str, ...]
    first_ts: str | None
    last_ts: str | None
    coverage: Coverage
    latency: dict[str, LatencyStats]
    per_symbol: dict[str, GroupReplay]
    per_strategy: dict[str, GroupReplay]
    unfilled_orders: tuple[UnfilledOrder, ...]
    lines: LineStats = field(default_factory=LineStats)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events, "sessions": list(self.sessions),
            "first_ts": self.first_ts, "last_ts": self.last_ts,
            "coverage": self.coverage.to_dict(),
            "latency": {hop: asdict(stats) for hop, stats in self.latency.items()},
            "per_symbol": {k: v.to_dict() for k, v in sorted(self.per_symbol.items())},
            "per_strategy": {k: v.to_dict() for k, v in sorted(self.per_strategy.items())},
            "unfilled_orders": [asdict(u) for u in self.unfilled_orders],
            "lines": {**self.lines.as_dict(), "error_rate": round(self.lines.error_rate, 6)},
        }


class Chain:
    """One intent's way through the desk; mutable while the chain is open.

    Only what a record brings is set on the instance; the rest are class defaults, so
    opening a chain stays cheap on journals of millions of events.
    """

    intent_ts: str | None = None
    intent_t: float | None = None
    verdict: str | None = None
    code: str | None = None
    order_ts: str | None = None
    order_t: float | None = None
    fills = 0
    filled_qty = 0.0
    first_fill_ts: str | None = None
    first_fill_t: float | None = None
    last_fill_ts: str | None = None
    status = "INTENT"
    groups: tuple[Any, ...] = ()

    def __init__(self, rec: dict) -> None:
        self.session_id: str | None = rec["session_id"]
        self.intent_id: str | None = rec["intent_id"]
        self.order_id: str | None = rec["order_id"]
        self.symbol: str | None = rec["symbol"]
        self.strategy: str | None = rec["strategy"]
        self.payload: dict = rec["payload"]

    @property
    def order_type(self) -> str | None:
        """MARKET or LIMIT, as the intent (or an order without intent) asked."""
        return self.payload.get("order_type")

    def to_dict(self) -> dict[str, Any]:
        """The chain as JSON-ready data, with its two hop latencies in seconds."""
        payload = self.payload
        return {
            "session_id": self.session_id, "intent_id": self.intent_id,
            "order_id": self.order_id, "symbol": self.symbol, "strategy": self.strategy,
            "side": payload.get("side"), "qty": payload.get("qty"),
            "order_type": self.order_type, "status": self.status,
            "verdict": self.verdict, "code": self.code, "intent_ts": self.intent_ts,
            "order_ts": self.order_ts, "first_fill_ts": self.first_fill_ts,
            "last_fill_ts": self.last_fill_ts, "fills": self.fills,
            "filled_qty": self.filled_qty,
            "intent_to_order_s": _hop(self.intent_t, self.order_t),
            "order_to_fill_s": _hop(self.order_t, self.first_fill_t),
        }


def _hop(start: float | None, end: float | None) -> float | None:
    return round(end - start, 6) if start is not None and end is not None else None


class _Group:
    __slots__ = ("intents", "vetoed", "orders", "filled", "to_order", "to_fill")

    def __init__(self) -> None:
        self.intents = self.vetoed = self.orders = self.filled = 0
        self.to_order: list[float] = []
        self.to_fill: list[float] = []

    def freeze(self) -> GroupReplay:
        return GroupReplay(self.intents, self.vetoed, self.orders, self.filled,
                           LatencyStats.of(self.to_order), LatencyStats.of(self.to_fill))


def epoch_clock() -> Callable[[str], float]:
    """Canonical timestamp -> epoch seconds; repeats of the last time and second are cheap."""
    last_ts = ""
    last = 0.0
    prefix = ""
    base = 0.0

    def seconds(ts: str) -> float:
        nonlocal last_ts, last, prefix, base
        if ts == last_ts:  # the events of one batch share their time
            return last
        if ts[:19] != prefix:
            prefix = ts[:19]
            base = datetime.fromisoformat(prefix + "+00:00").timestamp()
        last_ts = ts
        last = base + int(ts[20:26]) / 1_000_000
        return last

    return seconds


ChainSink = Callable[[Chain], None]


class Replay:
    """Feed records in journal order, then ask for the report."""

    def __init__(self, *, no_fill_after_s: float = DEFAULT_NO_FILL_AFTER_S,
                 on_chain: ChainSink | None = None) -> None:
        if not no_fill_after_s > 0:
            raise ValueError(f"no_fill_after_s must be > 0, got {no_fill_after_s!r}")
        self.no_fill_after_s = no_fill_after_s
        self.on_chain = on_chain
        self.events = 0
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self._sessions: set[str] = set()
        self._epoch = epoch_clock()
        self._by_intent: dict[tuple[str | None, str], Chain] = {}
        self._by_order: dict[tuple[str | None, str], Chain] = {}
        self._to_gate: list[float] = []
        self._to_order: list[float] = []
        self._to_fill: list[float] = []
        self._intent_to_fill: list[float] = []
        self._hops = dict(zip(HOPS, (self._to_gate, self._to_order, self._to_fill,
                                     self._intent_to_fill), strict=True))
        self._symbols: dict[str, _Group] = {}
        self._strategies: dict[str, _Group] = {}
        self._unfilled: list[UnfilledOrder] = []
        self._counts = dict.fromkeys(
            ("intents", "with_verdict", "vetoed", "reached_order", "orders", "orders_filled",
             "orders_fully_filled", "orders_cancelled", "orders_rejected",
             "orders_no_fill_after_n", "orders_without_intent"), 0)
        self._handlers = {"intent": self._intent, "gate": self._gate, "order": self._order,
                          "fill": self._fill, "cancel": self._cancel, "reject": self._reject}

    def feed_all(self, records: Iterable[dict]) -> Replay:
        """Feed every record of an iterable; returns self."""
        handlers = self._handlers
        sessions = self._sessions
        first = self.first_ts
        last = self.last_ts
        count = 0
        try:
            for rec in records:
                count += 1
                ts = rec["ts"]
                if last is None or ts > last:
                    last = ts
                if first is None or ts < first:
                    first = ts
                sid = rec["session_id"]
                if sid not in sessions and sid is not None:
                    sessions.add(sid)
                handler = handlers.get(rec["kind"])
                if handler is not None:
                    handler(rec, ts)
        finally:
            self.events += count
            self.first_ts = first
            self.last_ts = last
        return self

    def feed(self, rec: dict) -> None:
        """Take one record into account."""
        self.events += 1
        ts = rec["ts"]
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        sid = rec["session_id"]
        if sid not in self._sessions and sid is not None:
            self._sessions.add(sid)
        handler = self._handlers.get(rec["kind"])
        if handler is not None:
            handler(rec, ts)

    def report(self, lines: LineStats | None = None) -> ReplayReport:
        """The coverage and latency of everything fed so far; open chains are flushed."""
        end_t = self._epoch(self.last_ts) if self.last_ts else 0.0
        counts = self._counts
        for chain in list(self._by_order.values()):
            if chain.fills == 0 and chain.order_t is not None \
                    and end_t - chain.order_t > self.no_fill_after_s:
                self._late(chain, end_t - chain.order_t)
        for chain in self._open_chains():
            self._emit(chain)
        self._by_intent.clear()
        self._by_order.clear()
        orders = counts["orders"]
        unmatched_to_order = counts["intents"] - counts["vetoed"] - counts["reached_order"]
        coverage = Coverage(
            intents=counts["intents"], with_verdict=counts["with_verdict"],
            vetoed=counts["vetoed"], reached_order=counts["reached_order"], orders=orders,
            orders_filled=counts["orders_filled"],
            orders_fully_filled=counts["orders_fully_filled"],
            orders_cancelled=counts["orders_cancelled"],
            orders_rejected=counts["orders_rejected"],
            orders_without_fill=orders - counts["orders_filled"],
            no_fill_after_s=self.no_fill_after_s,
            orders_no_fill_after_n=counts["orders_no_fill_after_n"])
        hops = self._hops
        latency = {
            "intent_to_gate": LatencyStats.of(hops["intent_to_gate"],
                                              counts["intents"] - len(hops["intent_to_gate"])),
            "intent_to_order": LatencyStats.of(hops["intent_to_order"],
                                               max(0, unmatched_to_order)
                                               + counts["orders_without_intent"]),
            "order_to_fill": LatencyStats.of(hops["order_to_fill"],
                                             orders - counts["orders_filled"]),
            "intent_to_fill": LatencyStats.of(hops["intent_to_fill"],
                                              counts["reached_order"]
                                              - len(hops["intent_to_fill"])),
        }
        return ReplayReport(
            events=self.events, sessions=tuple(sorted(self._sessions)),
            first_ts=self.first_ts, last_ts=self.last_ts, coverage=coverage, latency=latency,
            per_symbol={k: g.freeze() for k, g in self._symbols.items()},
            per_strategy={k: g.freeze() for k, g in self._strategies.items()},
            unfilled_orders=tuple(self._unfilled), lines=lines or LineStats())

    def _open_chains(self) -> list[Chain]:
        seen: dict[int, Chain] = {id(c): c for c in self._by_intent.values()}
        seen.update((id(c), c) for c in self._by_order.values())
        return list(seen.values())

    def _groups(self, chain: Chain) -> tuple[_Group, _Group]:
        if chain.groups:
            return chain.groups
        symbol = chain.symbol or UNKNOWN
        strategy = chain.strategy or UNKNOWN
        by_symbol = self._symbols.get(symbol)
        if by_symbol is None:
            by_symbol = self._symbols[symbol] = _Group()
        by_strategy = self._strategies.get(strategy)
        if by_strategy is None:
            by_strategy = self._strategies[strategy] = _Group()
        chain.groups = (by_symbol, by_strategy)
        return chain.groups

    def _intent(self, rec: dict, ts: str) -> None:
        intent_id = rec["intent_id"]
        self._counts["intents"] += 1
        chain = Chain(rec)
        chain.intent_ts = ts
        chain.intent_t = self._epoch(ts)
        by_symbol, by_strategy = self._groups(chain)
        by_symbol.intents += 1
        by_strategy.intents += 1
        if intent_id is not None:
            self._by_intent[(rec["session_id"], intent_id)] = chain

    def _gate(self, rec: dict, ts: str) -> None:
        intent_id = rec["intent_id"]
        chain = self._by_intent.get((rec["session_id"], intent_id)) if intent_id else None
        if chain is None or chain.verdict is not None:
            return
        payload = rec["payload"]
        chain.verdict = payload.get("decision")
        chain.code = payload.get("code")
        self._counts["with_verdict"] += 1
        self._to_gate.append(self._epoch(ts) - chain.intent_t)
        if chain.verdict == "block":
            chain.status = "VETOED"
            self._counts["vetoed"] += 1
            by_symbol, by_strategy = chain.groups
            by_symbol.vetoed += 1
            by_strategy.vetoed += 1
            self._close(chain)

    def _order(self, rec: dict, ts: str) -> None:
        order_id = rec["order_id"]
        if order_id is None:
            return
        sid = rec["session_id"]
        intent_id = rec["intent_id"]
        chain = self._by_intent.get((sid, intent_id)) if intent_id else None
        t = self._epoch(ts)
        if chain is None or chain.order_t is not None:
            chain = Chain(rec)
            self._counts["orders_without_intent"] += 1
        else:
            self._counts["reached_order"] += 1
            to_order = t - chain.intent_t
            self._to_order.append(to_order)
            by_symbol, by_strategy = chain.groups
            by_symbol.to_order.append(to_order)
            by_strategy.to_order.append(to_order)
        chain.order_id = order_id
        chain.order_ts = ts
        chain.order_t = t
        chain.status = "NEW"
        self._counts["orders"] += 1
        by_symbol, by_strategy = self._groups(chain)
        by_symbol.orders += 1
        by_strategy.orders += 1
        self._by_order[(sid, order_id)] = chain

    def _fill(self, rec: dict, ts: str) -> None:
        order_id = rec["order_id"]
        chain = self._by_order.get((rec["session_id"], order_id)) if order_id else None
        if chain is None:
            return
        payload = rec["payload"]
        qty = payload.get("qty")
        if isinstance(qty, int | float):
            chain.filled_qty += qty
        chain.fills += 1
        chain.last_fill_ts = ts
        if chain.fills == 1:
            t = self._epoch(ts)
            chain.first_fill_ts = ts
            chain.first_fill_t = t
            self._counts["orders_filled"] += 1
            to_fill = t - chain.order_t
            self._to_fill.append(to_fill)
            if chain.intent_t is not None:
                self._intent_to_fill.append(t - chain.intent_t)
            by_symbol, by_strategy = chain.groups
            by_symbol.filled += 1
            by_symbol.to_fill.append(to_fill)
            by_strategy.filled += 1
            by_strategy.to_fill.append(to_fill)
            if to_fill > self.no_fill_after_s:
                self._late(chain, to_fill)
        status = payload.get("status") or "PARTIAL"
        chain.status = status
        if status == "FILLED":
            self._counts["orders_fully_filled"] += 1
            self._close(chain)

    def _cancel(self, rec: dict, ts: str) -> None:
        chain = self._by_order.get((rec["session_id"], rec["order_id"]))
        if chain is None:
            return
        chain.status = "CANCELLED"
        self._counts["orders_cancelled"] += 1
        self._check_unfilled_at_end(chain, ts)
        self._close(chain)

    def _reject(self, rec: dict, ts: str) -> None:
        sid = rec["session_id"]
        chain = self._by_order.get((sid, rec["order_id"])) if rec["order_id"] else None
        if chain is not None:
            self._counts["orders_rejected"] += 1
            self._check_unfilled_at_end(chain, ts)
        else:
            intent_id = rec["intent_id"]
            chain = self._by_intent.get((sid, intent_id)) if intent_id else None
            if chain is None:
                return
        chain.status = "REJECTED"
        if chain.code is None:
            chain.code = rec["payload"].get("code")
        self._close(chain)

    def _check_unfilled_at_end(self, chain: Chain, ts: str) -> None:
        """An order that ends unfilled after waiting longer than allowed counts as late."""
        if chain.fills == 0 and chain.order_t is not None:
            waited = self._epoch(ts) - chain.order_t
            if waited > self.no_fill_after_s:
                self._late(chain, waited)

    def _late(self, chain: Chain, waited: float) -> None:
        self._counts["orders_no_fill_after_n"] += 1
        if len(self._unfilled) < MAX_LISTED_UNFILLED:
            self._unfilled.append(UnfilledOrder(
                session_id=chain.session_id, order_id=chain.order_id or "",
                symbol=chain.symbol, strategy=chain.strategy,
                placed_at=chain.order_ts or "", status=chain.status,
                waited_s=round(waited, 6)))

    def _close(self, chain: Chain) -> None:
        sid = chain.session_id
        if chain.intent_id is not None:
            self._by_intent.pop((sid, chain.intent_id), None)
        if chain.order_id is not None:
            self._by_order.pop((sid, chain.order_id), None)
        self._emit(chain)

    def _emit(self, chain: Chain) -> None:
        if self.on_chain is not None:
            self.on_chain(chain)


def replay(records: Iterable[dict], *, no_fill_after_s: float = DEFAULT_NO_FILL_AFTER_S,
           lines: LineStats | None = None, on_chain: ChainSink | None = None) -> ReplayReport:
    """Replay records in journal order and report coverage and latency."""
    engine = Replay(no_fill_after_s=no_fill_after_s, on_chain=on_chain)
    engine.feed_all(records)
    return engine.report(lines)

"""The numbers every view shows, computed from journal records in one streaming pass."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peaktrade.events import is_valid_session_id
from peaktrade.journal.files import list_sessions
from peaktrade.journal.reader import LineStats, read_events

QUANTILES = (50, 90, 95, 99)
_FILLED = object()  # an order's entry once its first fill is counted
_MISSING = object()
TOP_VETO_REASONS = 10
# Only verdicts that block need their payload decoded (for the veto code).
VETO_MARKER = b'"block"'
SUMMARY_KEYS = ("event_count", "kind_counts", "symbols", "sessions", "first_ts", "last_ts",
                "lines", "error_rate", "latency_ms", "fill_rate", "vetoes", "strategies")


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_stats(values: Iterable[float], unmatched: int) -> dict[str, Any]:
    """n, unmatched, min, p50, p90, p95, p99, max in ms (None when n is 0)."""
    ordered = sorted(round(value, 3) for value in values)
    out: dict[str, Any] = {"n": len(ordered), "unmatched": unmatched,
                           "min": ordered[0] if ordered else None}
    for pct in QUANTILES:
        out[f"p{pct}"] = nearest_rank(ordered, pct) if ordered else None
    out["max"] = ordered[-1] if ordered else None
    return out


class _Clock:
    """Milliseconds since the epoch of canonical timestamps, with each second cached."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def ms(self, ts: str) -> float | None:
        key = ts[:19]
        second = self._seconds.get(key)
        try:
            if second is None:
                moment = datetime.fromisoformat(key).replace(tzinfo=UTC)
                if len(self._seconds) > 100_000:
                    self._seconds.clear()
                second = self._seconds[key] = moment.timestamp() * 1000
            return second + int(ts[20:26]) / 1000
        except ValueError:
            return None


class _Joins:
    """One session's ids (ids are unique within a session, not across sessions)."""

    __slots__ = ("intent_ms", "orders", "vetoed")

    def __init__(self) -> None:
        # intent_id -> its time in ms, or None once an order matched it
        self.intent_ms: dict[str, float | None] = {}
        # order_id -> (order time in ms or None, strategy name or None), or FILLED
        self.orders: dict[str, tuple[float | None, str | None] | object] = {}
        self.vetoed: set[str] = set()


class _Strategy:
    __slots__ = ("attempted", "executed", "filled", "vetoed")

    def __init__(self) -> None:
        self.attempted = self.vetoed = self.executed = self.filled = 0

    def as_dict(self) -> dict[str, Any]:
        return {"attempted": self.attempted, "vetoed": self.vetoed, "executed": self.executed,
                "fill_rate": _ratio(self.filled, self.executed)}


class SummaryBuilder:
    """Accumulates records one by one; `result()` gives the summary so far.

    Latency joins on ids only: intent->order on intent_id (order.ts - intent.ts), and
    order->fill on order_id (first fill.ts - order.ts). `executed` counts intents
    that became orders; a strategy's fill rate is its orders with a fill / its orders.
    """

    def __init__(self) -> None:
        self.event_count = 0
        self.kind_counts: dict[str, int] = {}
        self.symbols: set[str] = set()
        self.sessions: set[str] = set()
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self.veto_codes: Counter[str] = Counter()
        self.strategies: dict[str, _Strategy] = {}
        self._clock = _Clock()
        self._joins: dict[str | None, _Joins] = {}
        self._filled_orders = 0
        self._orphan_orders = 0
        self._orphan_fills = 0
        self._intent_to_order = array("d")
        self._order_to_fill = array("d")

    def add(self, rec: dict) -> None:
        """Count one record."""
        self.add_all((rec,))

    def add_all(self, records: Iterable[dict]) -> SummaryBuilder:
        """Count every record in one pass (the hot loop of every summary: kept inline)."""
        kind_counts = self.kind_counts
        symbols, sessions = self.symbols, self.sessions
        first, last = self.first_ts, self.last_ts
        joins_of = self._joins
        session_now: str | None = ""  # no record is of session "": the first one switches
        joins = intent_ms = orders = None
        to_order, to_fill = self._intent_to_order, self._order_to_fill
        ms_of = self._clock.ms
        strategy_of = self._strategy
        count = filled = 0
        try:
            for rec in records:
                count += 1
                kind = rec["kind"]
                kind_counts[kind] = kind_counts.get(kind, 0) + 1
                ts = rec["ts"]
                if first is None or ts < first:
                    first = ts
                if last is None or ts > last:
                    last = ts
                symbol = rec["symbol"]
                if symbol is not None:
                    symbols.add(symbol)
                session = rec["session_id"]
                if session != session_now:
                    if session is not None:
                        sessions.add(session)
                    joins = joins_of.get(session)
                    if joins is None:
                        joins = joins_of[session] = _Joins()
                    intent_ms, orders = joins.intent_ms, joins.orders
                    session_now = session
                if kind == "intent":
                    stats = strategy_of(rec["strategy"])
                    if stats is not None:
                        stats.attempted += 1
                    intent_id = rec["intent_id"]
                    if intent_id is not None and intent_id not in intent_ms:
                        ms = ms_of(ts)
                        if ms is not None:
                            intent_ms[intent_id] = ms
                elif kind == "gate":
                    self._gate(rec, joins.vetoed)
                elif kind == "order":
                    order_id = rec["order_id"]
                    if order_id is None or order_id in orders:
                        continue
                    ms = ms_of(ts)
                    strategy = rec["strategy"]
                    orders[order_id] = (ms, strategy)
                    stats = strategy_of(strategy)
                    if stats is not None:
                        stats.executed += 1
                    intent_id = rec["intent_id"]
                    start = intent_ms.get(intent_id, _MISSING) if intent_id is not None \
                        else _MISSING
                    if start is _MISSING or ms is None:
                        self._orphan_orders += 1
                    elif start is not None:  # the first order of this intent
                        intent_ms[intent_id] = None
                        to_order.append(ms - start)
                elif kind == "fill":
                    order_id = rec["order_id"]
                    order = orders.get(order_id) if order_id is not None else None
                    if order is None:
                        self._orphan_fills += 1
                    elif order is not _FILLED:
                        orders[order_id] = _FILLED
                        filled += 1
                        start, strategy = order  # type: ignore[misc]
                        ms = ms_of(ts)
                        if start is not None and ms is not None:
                            to_fill.append(ms - start)
                        stats = strategy_of(strategy)
                        if stats is not None:
                            stats.filled += 1
        finally:
            self.event_count += count
            self._filled_orders += filled
            self.first_ts, self.last_ts = first, last
        return self

    def _strategy(self, name: str | None) -> _Strategy | None:
        if name is None:
            return None
        stats = self.strategies.get(name)
        if stats is None:
            stats = self.strategies[name] = _Strategy()
        return stats

    def _gate(self, rec: dict, vetoed: set[str]) -> None:
        payload = rec["payload"]
        if payload is None or payload.get("decision") != "block":
            return
        intent_id = rec["intent_id"]
        if intent_id is not None:
            if intent_id in vetoed:
                return  # a legacy journal may log several blocking gates for one intent
            vetoed.add(intent_id)
        code = payload.get("code")
        self.veto_codes[code if isinstance(code, str) and code else "UNKNOWN"] += 1
        stats = self._strategy(rec["strategy"])
        if stats is not None:
            stats.vetoed += 1

    def result(self, stats: LineStats | None = None) -> dict[str, Any]:
        """The summary with exactly SUMMARY_KEYS; `stats` fills `lines` and `error_rate`."""
        if stats is None:
            stats = LineStats(total=self.event_count, valid=self.event_count)
        intents_without_order = sum(1 for joins in self._joins.values()
                                    for intent_id, ms in joins.intent_ms.items()
                                    if ms is not None and intent_id not in joins.vetoed)
        orders = sum(len(joins.orders) for joins in self._joins.values())
        filled = self._filled_orders
        return {
            "event_count": self.event_count,
            "kind_counts": dict(sorted(self.kind_counts.items())),
            "symbols": sorted(self.symbols),
            "sessions": sorted(self.sessions),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "lines": stats.as_dict(),
            "error_rate": stats.error_rate,
            "latency_ms": {
                "intent_to_order": latency_stats(self._intent_to_order,
                                                 intents_without_order + self._orphan_orders),
                "order_to_fill": latency_stats(self._order_to_fill,
                                               orders - filled + self._orphan_fills),
            },
            "fill_rate": _ratio(filled, orders),
            "vetoes": {"count": sum(self.veto_codes.values()),
                       "top_reasons": [{"code": code, "count": count} for code, count
                                       in self.veto_codes.most_common(TOP_VETO_REASONS)]},
            "strategies": {name: stats.as_dict()
                           for name, stats in sorted(self.strategies.items())},
        }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(records: Iterable[dict], stats: LineStats | None = None) -> dict[str, Any]:
    """Summarise records in one pass; `stats` (of the read) fills `lines` and `error_rate`."""
    builder = SummaryBuilder().add_all(records)
    return builder.result(stats)


def summarize_path(path: str | Path, **filters: Any) -> dict[str, Any]:
    """Summarise a journal file or folder read with read_events(path, **filters)."""
    path = Path(path)
    builder = SummaryBuilder()
    stats = LineStats()
    # A summary needs no time order across sessions: read them one after the other.
    sessions = [filters.pop("session_id", None)]
    if sessions == [None] and path.is_dir() and filters.get("limit") is None:
        sessions = [sid for sid in list_sessions(path) if is_valid_session_id(sid)]
    for session_id in sessions:
        reader = read_events(path, session_id=session_id, payload_marker=VETO_MARKER,
                             **filters)
        builder.add_all(reader)
        stats.add(reader.stats)
    return builder.result(stats)

"""The numbers every view shows, computed from journal records in one streaming pass."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peaktrade.journal.reader import LineStats, read_events

QUANTILES = (50, 90, 95, 99)
TOP_VETO_REASONS = 10
# Only verdicts that block need their payload decoded (for the veto code).
VETO_MARKER = b'"block"'
SUMMARY_KEYS = ("event_count", "kind_counts", "symbols", "sessions", "first_ts", "last_ts",
                "lines", "error_rate", "latency_ms", "fill_rate", "vetoes", "strategies")


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_stats(values: list[float], unmatched: int) -> dict[str, Any]:
    """n, unmatched, min, p50, p90, p95, p99, max in ms (None when n is 0)."""
    ordered = sorted(values)
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
        second = self._seconds.get(ts[:19])
        try:
            if second is None:
                moment = datetime.fromisoformat(ts[:19]).replace(tzinfo=UTC)
                second = self._seconds[ts[:19]] = moment.timestamp() * 1000
                if len(self._seconds) > 100_000:
                    self._seconds.clear()
            return second + int(ts[20:26]) / 1000
        except ValueError:
            return None


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
        self.kind_counts: Counter[str] = Counter()
        self.symbols: set[str] = set()
        self.sessions: set[str] = set()
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self.veto_codes: Counter[str] = Counter()
        self.vetoed_intents: set[str] = set()
        self.strategies: dict[str, _Strategy] = {}
        self._clock = _Clock()
        self._intent_ms: dict[str, float] = {}
        self._intent_has_order: set[str] = set()
        self._order_ms: dict[str, float | None] = {}
        self._order_strategy: dict[str, str | None] = {}
        self._orders_filled: set[str] = set()
        self._orphan_orders = 0
        self._orphan_fills = 0
        self._intent_to_order: list[float] = []
        self._order_to_fill: list[float] = []

    def add(self, rec: dict) -> None:
        """Count one record."""
        self.add_all((rec,))

    def add_all(self, records: Iterable[dict]) -> SummaryBuilder:
        """Count every record; the common fields are handled inline for speed."""
        kind_counts = self.kind_counts
        symbols, sessions = self.symbols, self.sessions
        first, last = self.first_ts, self.last_ts
        count = 0
        handlers = {"gate": self._gate, "intent": self._intent, "order": self._order,
                    "fill": self._fill}
        try:
            for rec in records:
                count += 1
                kind = rec["kind"]
                kind_counts[kind] += 1
                ts = rec["ts"]
                if first is None or ts < first:
                    first = ts
                if last is None or ts > last:
                    last = ts
                symbol = rec["symbol"]
                if symbol is not None:
                    symbols.add(symbol)
                session = rec["session_id"]
                if session is not None:
                    sessions.add(session)
                handler = handlers.get(kind)
                if handler is not None:
                    handler(rec)
        finally:
            self.event_count += count
            self.first_ts, self.last_ts = first, last
        return self

    def _strategy(self, name: str | None) -> _Strategy | None:
        if name is None:
            return None
        stats = self.strategies.get(name)
        if stats is None:
            stats = self.strategies[name] = _Strategy()
        return stats

    def _intent(self, rec: dict) -> None:
        stats = self._strategy(rec["strategy"])
        if stats is not None:
            stats.attempted += 1
        intent_id = rec["intent_id"]
        if intent_id is not None and intent_id not in self._intent_ms:
            ms = self._clock.ms(rec["ts"])
            if ms is not None:
                self._intent_ms[intent_id] = ms

    def _gate(self, rec: dict) -> None:
        payload = rec["payload"]
        if payload is None or payload.get("decision") != "block":
            return
        intent_id = rec["intent_id"]
        if intent_id is not None:
            if intent_id in self.vetoed_intents:
                return  # a legacy journal may log several blocking gates for one intent
            self.vetoed_intents.add(intent_id)
        code = payload.get("code")
        self.veto_codes[code if isinstance(code, str) and code else "UNKNOWN"] += 1
        stats = self._strategy(rec["strategy"])
        if stats is not None:
            stats.vetoed += 1

    def _order(self, rec: dict) -> None:
        order_id = rec["order_id"]
        if order_id is None or order_id in self._order_ms:
            return
        ms = self._clock.ms(rec["ts"])
        self._order_ms[order_id] = ms
        self._order_strategy[order_id] = rec["strategy"]
        stats = self._strategy(rec["strategy"])
        if stats is not None:
            stats.executed += 1
        intent_id = rec["intent_id"]
        start = self._intent_ms.get(intent_id) if intent_id is not None else None
        if start is None or ms is None:
            self._orphan_orders += 1
        elif intent_id not in self._intent_has_order:
            self._intent_has_order.add(intent_id)
            self._intent_to_order.append(round(ms - start, 3))

    def _fill(self, rec: dict) -> None:
        order_id = rec["order_id"]
        if order_id is None or order_id not in self._order_ms:
            self._orphan_fills += 1
            return
        if order_id in self._orders_filled:
            return
        self._orders_filled.add(order_id)
        start = self._order_ms[order_id]
        ms = self._clock.ms(rec["ts"])
        if start is not None and ms is not None:
            self._order_to_fill.append(round(ms - start, 3))
        stats = self._strategy(self._order_strategy.get(order_id))
        if stats is not None:
            stats.filled += 1

    def result(self, stats: LineStats | None = None) -> dict[str, Any]:
        """The summary with exactly SUMMARY_KEYS; `stats` fills `lines` and `error_rate`."""
        if stats is None:
            stats = LineStats(total=self.event_count, valid=self.event_count)
        intents_without_order = sum(1 for intent_id in self._intent_ms
                                    if intent_id not in self._intent_has_order
                                    and intent_id not in self.vetoed_intents)
        orders = len(self._order_ms)
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
                                               orders - len(self._orders_filled)
                                               + self._orphan_fills),
            },
            "fill_rate": _ratio(len(self._orders_filled), orders),
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
    reader = read_events(path, payload_marker=VETO_MARKER, **filters)
    builder = SummaryBuilder().add_all(reader)
    return builder.result(reader.stats)

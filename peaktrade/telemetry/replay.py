"""Replay a journal: rebuild intent -> verdict -> order -> fill chains, coverage and latency.

Chains are joined on `intent_id` and `order_id`, never on the symbol. Only open chains
are held in memory; a chain is handed to `on_chain` as soon as it ends (vetoed, rejected,
filled or cancelled), and the ones still open when the journal ends are handed over last.
"""

from __future__ import annotations

import heapq
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from peaktrade.journal import LineStats, read_events
from peaktrade.journal.reader import Filter, line_ranges, read_file, read_range
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


@dataclass(frozen=True, order=True)
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

    def state(self) -> tuple[int, int, int, int, list[float], list[float]]:
        return (self.intents, self.vetoed, self.orders, self.filled, self.to_order,
                self.to_fill)

    def add(self, state: tuple[int, int, int, int, list[float], list[float]]) -> None:
        intents, vetoed, orders, filled, to_order, to_fill = state
        self.intents += intents
        self.vetoed += vetoed
        self.orders += orders
        self.filled += filled
        self.to_order.extend(to_order)
        self.to_fill.extend(to_fill)

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


UnfilledKey = tuple[float, str, str, str]  # waited, placed at, order id, session


@dataclass
class ReplayPart:
    """The state of a replay of one part of a journal, as the merge needs it."""

    events: int
    first_ts: str | None
    last_ts: str | None
    sessions: set[str]
    counts: dict[str, int]
    hops: list[list[float]]
    groups: list[dict[str, tuple[int, int, int, int, list[float], list[float]]]]
    unfilled: list[tuple[UnfilledKey, UnfilledOrder]]
    by_intent: dict[tuple[str | None, str], Chain]
    by_order: dict[tuple[str | None, str], Chain]
    stash: list[dict]


class Replay:
    """Feed records in journal order, then ask for the report."""

    def __init__(self, *, no_fill_after_s: float = DEFAULT_NO_FILL_AFTER_S,
                 on_chain: ChainSink | None = None, stash_unjoined: bool = False) -> None:
        if not no_fill_after_s > 0:
            raise ValueError(f"no_fill_after_s must be > 0, got {no_fill_after_s!r}")
        self.no_fill_after_s = no_fill_after_s
        self.on_chain = on_chain
        # A later part of a split journal keeps what refers to earlier parts for the merge.
        self.stash: list[dict] | None = [] if stash_unjoined else None
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
        self._unfilled: list[tuple[UnfilledKey, UnfilledOrder]] = []  # a heap
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
            unfilled_orders=tuple(u for _, u in sorted(self._unfilled, key=lambda e: e[0],
                                                       reverse=True)),
            lines=lines or LineStats())

    def part(self) -> ReplayPart:
        """What this replay of one part of a journal hands to the merge (picklable)."""
        for chain in self._open_chains():
            chain.groups = ()  # the merge resolves groups again, by name
        return ReplayPart(
            events=self.events, first_ts=self.first_ts, last_ts=self.last_ts,
            sessions=self._sessions, counts=self._counts,
            hops=[self._to_gate, self._to_order, self._to_fill, self._intent_to_fill],
            groups=[{name: g.state() for name, g in by.items()}
                    for by in (self._symbols, self._strategies)],
            unfilled=self._unfilled, by_intent=self._by_intent, by_order=self._by_order,
            stash=self.stash or [])

    def absorb(self, part: ReplayPart) -> None:
        """Merge the replay of the next part of the journal, then join what it kept aside."""
        self.events += part.events
        for ts in (part.first_ts, part.last_ts):
            if ts is not None:
                self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
                self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        self._sessions |= part.sessions
        for name, value in part.counts.items():
            self._counts[name] += value
        for mine, theirs in zip((self._to_gate, self._to_order, self._to_fill,
                                 self._intent_to_fill), part.hops, strict=True):
            mine.extend(theirs)
        for mine, theirs in zip((self._symbols, self._strategies), part.groups, strict=True):
            for name, state in theirs.items():
                mine.setdefault(name, _Group()).add(state)
        for entry in part.unfilled:
            self._keep_unfilled(entry)
        handlers = self._handlers
        for rec in part.stash:
            handlers[rec["kind"]](rec, rec["ts"])
        self._by_intent.update(part.by_intent)
        self._by_order.update(part.by_order)

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
        if chain is None:
            if intent_id and self.stash is not None:
                self.stash.append(rec)
            return
        if chain.verdict is not None:
            return
        payload = rec["payload"]
        chain.verdict = payload.get("decision")
        chain.code = payload.get("code")
        self._counts["with_verdict"] += 1
        self._to_gate.append(self._epoch(ts) - chain.intent_t)
        if chain.verdict == "block":
            chain.status = "VETOED"
            self._counts["vetoed"] += 1
            by_symbol, by_strategy = self._groups(chain)
            by_symbol.vetoed += 1
            by_strategy.vetoed += 1
            self._close(chain)

    def _order(self, rec: dict, ts: str) -> None:
        order_id = rec["order_id"]
        if order_id is None:
            return
        sid = rec["session_id"]
        if (sid, order_id) in self._by_order:
            return  # a live broker's acknowledgement of an order already placed
        intent_id = rec["intent_id"]
        chain = self._by_intent.get((sid, intent_id)) if intent_id else None
        if chain is None and intent_id and self.stash is not None:
            self.stash.append(rec)
            return
        t = self._epoch(ts)
        if chain is None or chain.order_t is not None:
            chain = Chain(rec)
            self._counts["orders_without_intent"] += 1
        else:
            self._counts["reached_order"] += 1
            to_order = t - chain.intent_t
            self._to_order.append(to_order)
            by_symbol, by_strategy = self._groups(chain)
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
            if order_id and self.stash is not None:
                self.stash.append(rec)
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
            by_symbol, by_strategy = self._groups(chain)
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
            if rec["order_id"] and self.stash is not None:
                self.stash.append(rec)
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
                if (intent_id or rec["order_id"]) and self.stash is not None:
                    self.stash.append(rec)
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
        order = UnfilledOrder(session_id=chain.session_id, order_id=chain.order_id or "",
                              symbol=chain.symbol, strategy=chain.strategy,
                              placed_at=chain.order_ts or "", status=chain.status,
                              waited_s=round(waited, 6))
        self._keep_unfilled(((order.waited_s, order.placed_at, order.order_id,
                              order.session_id or ""), order))

    def _keep_unfilled(self, entry: tuple[UnfilledKey, UnfilledOrder]) -> None:
        """Keep the MAX_LISTED_UNFILLED orders that waited longest, however the input was cut."""
        if len(self._unfilled) < MAX_LISTED_UNFILLED:
            heapq.heappush(self._unfilled, entry)
        elif entry[0] > self._unfilled[0][0]:
            heapq.heapreplace(self._unfilled, entry)

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


PARALLEL_MIN_BYTES = 64_000_000  # below this, starting a second process costs more than it saves
MAX_PROCESSES = 4


@dataclass(frozen=True)
class Slice:
    """A byte range of one journal file that starts and ends on line boundaries."""

    path: Path
    start: int = 0
    end: int | None = None  # None: to the end of the file

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None


def split_session(files: list[Path], parts: int) -> list[list[Slice]]:
    """A session's files as `parts` runs in order, of about equal size.

    Files go to runs whole; a plain file larger than a run is first cut into line ranges
    (journal.reader.line_ranges); gzipped segments are never cut.
    """
    sizes = [f.stat().st_size for f in files]
    target = max(1, sum(sizes) // parts)
    pieces: list[tuple[Slice, int]] = []
    for path, size in zip(files, sizes, strict=True):
        if size > target and not path.name.endswith(".gz"):
            ranges = line_ranges(path, max(2, round(size / target)))
            pieces += [(Slice(path, start, end), (end or size) - start) for start, end in ranges]
        else:
            pieces.append((Slice(path), size))
    runs: list[list[Slice]] = [[]]
    done = 0
    for piece, size in pieces:
        if runs[-1] and len(runs) < parts and done + size / 2 > target * len(runs):
            runs.append([])
        runs[-1].append(piece)
        done += size
    return runs


def read_slice(part: Slice, stats: LineStats, session_id: str | None,
               keep: Callable[[dict], bool]) -> Iterator[dict]:
    """The records of one slice, bad lines counted in `stats` as the reader counts them."""
    if part.whole:
        return read_file(part.path, stats, session_id, keep)
    return read_range(part.path, part.start, part.end, stats, session_id, keep)


Job = tuple[list[Slice], str | None, dict[str, Any], float]


Wrap = Callable[[Iterable[dict], int], Iterable[dict]]


def _replay_run(job: Job, *, later: bool, wrap: Wrap | None = None
                ) -> tuple[Replay, LineStats]:
    """Replay one run of slices; a later run keeps aside what refers to earlier ones."""
    slices, session_id, filters, no_fill_after_s = job
    keep = Filter(**filters)
    engine = Replay(no_fill_after_s=no_fill_after_s, stash_unjoined=later)
    stats = LineStats()
    records: Iterable[dict] = (rec for part in slices
                               for rec in read_slice(part, stats, session_id, keep))
    if wrap is not None:
        records = wrap(records, sum(_slice_size(part) for part in slices))
    engine.feed_all(records)
    return engine, stats


def _slice_size(part: Slice) -> int:
    end = part.path.stat().st_size if part.end is None else part.end
    return end - part.start


def _replay_later_run(job: Job) -> tuple[ReplayPart, LineStats]:
    """In a worker process: the part a later run hands back for the merge."""
    engine, stats = _replay_run(job, later=True)
    return engine.part(), stats


def replay_journal(path: str | Path, *, no_fill_after_s: float = DEFAULT_NO_FILL_AFTER_S,
                   processes: int | None = None, wrap: Wrap | None = None,
                   **filters: Any) -> ReplayReport:
    """Replay a journal file or folder (read_events filters); large sessions use every core.

    One large session is cut into runs replayed side by side in forked processes; the
    runs are merged in journal order, so the report equals a replay in one process.
    `wrap(records, bytes)` wraps what this process replays (e.g. in a progress bar).
    """
    reader = read_events(path, **filters)
    sessions = reader.files()
    if processes is None:
        processes = min(os.cpu_count() or 1, MAX_PROCESSES)
    total = sum(f.stat().st_size for _, files in sessions for f in files)
    # Forking a process with threads could leave a lock held forever in the child.
    if (processes < 2 or len(sessions) != 1 or total < PARALLEL_MIN_BYTES
            or threading.active_count() > 1):
        records = reader if wrap is None else wrap(reader, total)
        return replay(records, no_fill_after_s=no_fill_after_s, lines=reader.stats)
    session_id, files = sessions[0]
    runs = split_session(files, processes)
    keep = {k: v for k, v in filters.items() if k != "session_id"}
    jobs: list[Job] = [(run, session_id, keep, no_fill_after_s) for run in runs]
    with multiprocessing.get_context("fork").Pool(max(1, len(jobs) - 1)) as pool:
        later = pool.map_async(_replay_later_run, jobs[1:])
        engine, stats = _replay_run(jobs[0], later=False, wrap=wrap)
        results = later.get()
    for part, part_stats in results:
        engine.absorb(part)
        stats.add(part_stats)
    return engine.report(stats)

"""The numbers every view shows, computed from journal records in one streaming pass.

A large plain journal file is read as byte ranges, one per process, and the partial
summaries merged exactly (see summarize_in_parts).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from peaktrade.events import is_valid_session_id, parse_line, parse_line_head
from peaktrade.journal.files import list_sessions
from peaktrade.journal.reader import (
    LineStats,
    line_ranges,
    range_line_blocks,
    read_events,
    read_range,
)

QUANTILES = (50, 90, 95, 99)
_FILLED = False  # an order's entry once its first fill is counted (the same after pickling)
_MISSING = object()
TOP_VETO_REASONS = 10
# Only verdicts that block need their payload decoded (for the veto code).
VETO_MARKER = b'"block"'
VETO_KINDS = frozenset({"gate"})
# Below this size a file is summarised in-process: forking would cost more than it saves.
SPLIT_MIN_BYTES = 32 << 20
MAX_PARTS = 4
# The first range, read by this process, is a little longer than the others: its
# latencies sort while the workers sort and send theirs.
FIRST_PART_LEAD = 0.02
KEYS_PER_CHUNK = 16_384
SUMMARY_KEYS = ("event_count", "kind_counts", "symbols", "sessions", "first_ts", "last_ts",
                "lines", "error_rate", "latency_ms", "fill_rate", "vetoes", "strategies")


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_stats(values: Iterable[float], unmatched: int) -> dict[str, Any]:
    """n, unmatched, min, p50, p90, p95, p99, max in ms (None when n is 0)."""
    # Rounding never reorders values: round the ones picked, not every one.
    ordered = sorted(values)
    out: dict[str, Any] = {"n": len(ordered), "unmatched": unmatched,
                           "min": round(ordered[0], 3) if ordered else None}
    for pct in QUANTILES:
        out[f"p{pct}"] = round(nearest_rank(ordered, pct), 3) if ordered else None
    out["max"] = round(ordered[-1], 3) if ordered else None
    return out


class _Clock:
    """Milliseconds since the epoch of canonical timestamps, with each second cached."""

    def __init__(self) -> None:
        self.seconds = _Seconds()

    def __reduce__(self) -> tuple[type[_Clock], tuple[()]]:
        return _Clock, ()  # a clock travels without its cache

    def ms(self, ts: str) -> float | None:
        try:
            return self.seconds[ts[:19]] + int(ts[20:26]) / 1000
        except ValueError:
            return None


class _Seconds(dict[str, float]):
    """Milliseconds since the epoch of 'YYYY-MM-DDTHH:MM:SS' keys; ValueError for others."""

    def __missing__(self, key: str) -> float:
        moment = datetime.fromisoformat(key).replace(tzinfo=UTC)
        if len(self) > 10_000:
            self.clear()
        second = self[key] = moment.timestamp() * 1000
        return second


class _Joins:
    """One session's ids (ids are unique within a session, not across sessions)."""

    __slots__ = ("filled_count", "filled_keys", "intent_ms", "matched_keys", "orders",
                 "vetoed")

    def __init__(self) -> None:
        # intent_id -> its time in ms, or None once an order matched it
        self.intent_ms: dict[str, float | None] = {}
        # order_id -> (order time in ms or None, strategy name or None), or FILLED
        self.orders: dict[str, tuple[float | None, str | None] | bool] = {}
        # intent_id -> (veto code, strategy) of its first blocking gate
        self.vetoed: dict[str, tuple[str, str | None]] = {}
        # Ids of intents matched and orders filled in parts merged in, not in the dicts
        # above: JSON arrays of KEYS_PER_CHUNK ids, decoded one at a time when looked at.
        self.matched_keys: list[bytes] = []
        self.filled_keys: list[bytes] = []
        self.filled_count = 0

    def __getstate__(self) -> tuple:
        """The form a part travels in to its merge: done ids as compact chunks."""
        intent_ms, orders = self.intent_ms, self.orders
        filled = [key for key, order in orders.items() if order is _FILLED]
        return ({key: ms for key, ms in intent_ms.items() if ms is not None},
                self.matched_keys + _chunks([key for key, ms in intent_ms.items()
                                             if ms is None]),
                {key: order for key, order in orders.items() if order is not _FILLED},
                self.filled_keys + _chunks(filled), self.filled_count + len(filled),
                self.vetoed)

    def __setstate__(self, state: tuple) -> None:
        (self.intent_ms, self.matched_keys, self.orders, self.filled_keys,
         self.filled_count, self.vetoed) = state

    def order_count(self) -> int:
        return len(self.orders) + self.filled_count

    def shares_ids_with(self, other: _Joins) -> bool:
        """Whether an intent id or an order id is in both."""
        for ours, ours_kept, theirs, theirs_kept in (
                (self.intent_ms, self.matched_keys, other.intent_ms, other.matched_keys),
                (self.orders, self.filled_keys, other.orders, other.filled_keys)):
            if not ours.keys().isdisjoint(theirs):
                return True
            for chunk in theirs_kept:  # a list at a time: the test runs in C
                if not ours.keys().isdisjoint(orjson.loads(chunk)):
                    return True
            if ours_kept:
                their_keys = set(theirs)
                their_keys.update(_unchunked(theirs_kept))
                if not their_keys.isdisjoint(_unchunked(ours_kept)):
                    return True
        return False


def _chunks(keys: list[str]) -> list[bytes]:
    return [orjson.dumps(keys[at:at + KEYS_PER_CHUNK])
            for at in range(0, len(keys), KEYS_PER_CHUNK)]


def _unchunked(chunks: list[bytes]) -> Iterator[str]:
    for chunk in chunks:
        yield from orjson.loads(chunk)


class _Strategy:
    __slots__ = ("attempted", "executed", "filled", "vetoed")

    def __init__(self) -> None:
        self.attempted = self.vetoed = self.executed = self.filled = 0

    def add(self, other: _Strategy) -> None:
        self.attempted += other.attempted
        self.vetoed += other.vetoed
        self.executed += other.executed
        self.filled += other.filled

    def as_dict(self) -> dict[str, Any]:
        return {"attempted": self.attempted, "vetoed": self.vetoed, "executed": self.executed,
                "fill_rate": _ratio(self.filled, self.executed)}


class SummaryBuilder:
    """Accumulates records one by one; `result()` gives the summary so far.

    Latency joins on ids only: intent->order on intent_id (order.ts - intent.ts), and
    order->fill on order_id (first fill.ts - order.ts). `executed` counts intents
    that became orders; a strategy's fill rate is its orders with a fill / its orders.

    A builder `after_start` summarises a part of a journal that follows other parts: what
    depends on records before it (a join to an id it has not seen, whether an intent was
    already vetoed) is kept for `merge` into the builder of the parts before.
    """

    def __init__(self, *, after_start: bool = False) -> None:
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
        self._after_start = after_start
        # (session, intent_id, order ms) of orders, (session, order_id, ts) of fills,
        # whose intent or order this part has not seen, in file order
        self._open_orders: list[tuple[str | None, str, float]] = []
        self._open_fills: list[tuple[str | None, str, str]] = []

    def add(self, rec: dict) -> None:
        """Count one record."""
        self.add_all((rec,))

    def add_all(self, records: Iterable[dict]) -> SummaryBuilder:
        """Count every record in one pass."""
        return self._count(records, None, None)

    def add_lines(self, lines: Iterable[bytes | None], stats: LineStats,
                  default_session: str | None = None) -> SummaryBuilder:
        """Decode and count journal lines in one pass, as read_file reads them unfiltered.

        None stands for an oversized line; `stats` gets the lines' figures.
        """
        return self._count(lines, stats, default_session)

    def _count(self, items: Iterable[Any], stats: LineStats | None,
               default_session: str | None) -> SummaryBuilder:
        """Count records, or lines decoded here when `stats` is given.

        The hot loop of every summary, kept inline: decoding a line's head in the same
        loop spares a generator and a record filter per line.
        """
        decode = stats is not None
        line_no = blank = valid = invalid = breaks = 0
        last_seqs: dict[str | None, int] = {}  # per session: a stale or repeated line counts once
        kind_counts = self.kind_counts
        symbols, sessions = self.symbols, self.sessions
        first, last = self.first_ts, self.last_ts
        joins_of = self._joins
        session_now: str | None = ""  # no record is of session "": the first one switches
        joins: Any = None
        intent_ms: dict[str, float | None] = {}
        orders: dict[str, Any] = {}
        to_order, to_fill = self._intent_to_order, self._order_to_fill
        seconds = self._clock.seconds
        strategies = self.strategies
        new_strategy = self._strategy
        after_start = self._after_start
        filled = orphan_orders = orphan_fills = 0
        n_gate = n_intent = n_order = n_fill = n_other = 0  # kind counts, added at the end
        ms: float | None
        try:
            for rec in items:
                if decode:
                    line = rec
                    line_no += 1
                    if not line:
                        if line is None:
                            invalid += 1
                        else:
                            blank += 1
                        continue
                    rec = parse_line_head(line, line_no, default_session)
                    # only a blocking gate's payload is needed (for the veto code)
                    if (rec is not None and rec["kind"] == "gate" and rec["payload"] is None
                            and VETO_MARKER in line):
                        rec = parse_line(line, line_no, default_session)
                    if rec is None:
                        if line.isspace():
                            blank += 1
                        else:
                            invalid += 1
                        continue
                    valid += 1
                    if rec["v"]:  # a legacy line's seq is its line number, not a seq
                        seq, sid = rec["seq"], rec["session_id"]
                        if seq <= last_seqs.get(sid, 0):
                            breaks += 1
                            continue
                        last_seqs[sid] = seq
                kind = rec["kind"]
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
                if kind == "gate":
                    n_gate += 1
                    # a head-only record (payload None) is a gate that did not block
                    if rec["payload"] is not None:
                        self._gate(rec, joins.vetoed)
                elif kind == "intent":
                    n_intent += 1
                    strategy = rec["strategy"]
                    if strategy is not None:
                        (strategies.get(strategy) or new_strategy(strategy)).attempted += 1
                    intent_id = rec["intent_id"]
                    if intent_id is not None and intent_id not in intent_ms:
                        try:
                            ms = seconds[ts[:19]] + int(ts[20:26]) / 1000
                        except ValueError:
                            continue
                        intent_ms[intent_id] = ms
                elif kind == "order":
                    n_order += 1
                    order_id = rec["order_id"]
                    if order_id is None or order_id in orders:
                        continue
                    try:
                        ms = seconds[ts[:19]] + int(ts[20:26]) / 1000
                    except ValueError:
                        ms = None
                    strategy = rec["strategy"]
                    orders[order_id] = (ms, strategy)
                    if strategy is not None:
                        (strategies.get(strategy) or new_strategy(strategy)).executed += 1
                    intent_id = rec["intent_id"]
                    start = intent_ms.get(intent_id, _MISSING)  # None is never a key
                    if ms is None:
                        orphan_orders += 1
                    elif start is _MISSING:
                        if after_start and intent_id is not None:
                            self._open_orders.append((session, intent_id, ms))
                        else:
                            orphan_orders += 1
                    elif start is not None:  # the first order of this intent
                        intent_ms[intent_id] = None
                        to_order.append(ms - start)
                elif kind == "fill":
                    n_fill += 1
                    order_id = rec["order_id"]
                    order = orders.get(order_id)  # None is never a key
                    if order is None:
                        if after_start and order_id is not None:
                            self._open_fills.append((session, order_id, ts))
                        else:
                            orphan_fills += 1
                    elif order is not _FILLED:
                        orders[order_id] = _FILLED
                        filled += 1
                        start, strategy = order
                        try:
                            ms = seconds[ts[:19]] + int(ts[20:26]) / 1000
                        except ValueError:
                            ms = None
                        if start is not None and ms is not None:
                            to_fill.append(ms - start)
                        if strategy is not None:
                            (strategies.get(strategy) or new_strategy(strategy)).filled += 1
                else:
                    n_other += 1
                    kind_counts[kind] = kind_counts.get(kind, 0) + 1
        finally:
            for kind, n in (("gate", n_gate), ("intent", n_intent), ("order", n_order),
                            ("fill", n_fill)):
                if n:
                    kind_counts[kind] = kind_counts.get(kind, 0) + n
            self.event_count += n_gate + n_intent + n_order + n_fill + n_other
            self._filled_orders += filled
            self._orphan_orders += orphan_orders
            self._orphan_fills += orphan_fills
            self.first_ts, self.last_ts = first, last
            if stats is not None:
                stats.add(LineStats(line_no, blank, valid, invalid, breaks))
        return self

    def _strategy(self, name: str) -> _Strategy:
        stats = self.strategies.get(name)
        if stats is None:
            stats = self.strategies[name] = _Strategy()
        return stats

    def _gate(self, rec: dict, vetoed: dict[str, tuple[str, str | None]]) -> None:
        payload = rec["payload"]
        if payload.get("decision") != "block":
            return
        code = payload.get("code")
        code = code if isinstance(code, str) and code else "UNKNOWN"
        strategy = rec["strategy"]
        intent_id = rec["intent_id"]
        if intent_id is not None:
            if intent_id in vetoed:
                return  # a legacy journal may log several blocking gates for one intent
            vetoed[intent_id] = (code, strategy)
            if self._after_start:
                return  # counted by merge, unless a part before vetoed the intent already
        self._count_veto(code, strategy)

    def _count_veto(self, code: str, strategy: str | None) -> None:
        self.veto_codes[code] += 1
        if strategy is not None:
            self._strategy(strategy).vetoed += 1

    def merge(self, part: SummaryBuilder) -> bool:
        """Add the builder of the part of a journal that follows this one's, exactly.

        False, and nothing added, when an intent or order id of `part` is one this
        builder has seen already: only a read in one pass gives that journal's figures.
        """
        for session, theirs in part._joins.items():
            ours = self._joins.get(session)
            if ours is not None and ours.shares_ids_with(theirs):
                return False
        # Joins the part could not make: against this builder's ids, as a read in one
        # pass would have made them when it came to those records.
        matched = self._kept(part._open_orders,
                             lambda joins: (joins.intent_ms, joins.matched_keys))
        for session, intent_id, ms in part._open_orders:
            intent_ms = self._joins_of(session).intent_ms
            start = intent_ms.get(intent_id, _MISSING)
            if start is _MISSING:
                if (session, intent_id) not in matched:
                    self._orphan_orders += 1
            elif start is not None:
                intent_ms[intent_id] = None
                self._intent_to_order.append(ms - start)
        filled = self._kept(part._open_fills, lambda joins: (joins.orders, joins.filled_keys))
        for session, order_id, ts in part._open_fills:
            orders = self._joins_of(session).orders
            order = orders.get(order_id)
            if order is None:
                if (session, order_id) not in filled:
                    self._orphan_fills += 1
            elif order is not _FILLED:
                orders[order_id] = _FILLED
                self._filled_orders += 1
                start, strategy = order  # type: ignore[misc]
                ms = self._clock.ms(ts)
                if start is not None and ms is not None:
                    self._order_to_fill.append(ms - start)
                if strategy is not None:
                    self._strategy(strategy).filled += 1
        for session, theirs in part._joins.items():
            ours = self._joins_of(session)
            ours.intent_ms.update(theirs.intent_ms)
            ours.orders.update(theirs.orders)
            ours.matched_keys += theirs.matched_keys
            ours.filled_keys += theirs.filled_keys
            ours.filled_count += theirs.filled_count
            vetoed = {intent_id: veto for intent_id, veto in theirs.vetoed.items()
                      if intent_id not in ours.vetoed}
            ours.vetoed.update(vetoed)
            # counted per (code, strategy), codes first seen in the same order as one by one
            for (code, strategy), count in Counter(vetoed.values()).items():
                self.veto_codes[code] += count
                if strategy is not None:
                    self._strategy(strategy).vetoed += count
        self.event_count += part.event_count
        for kind, count in part.kind_counts.items():
            self.kind_counts[kind] = self.kind_counts.get(kind, 0) + count
        self.symbols |= part.symbols
        self.sessions |= part.sessions
        for ts in (part.first_ts, part.last_ts):
            if ts is not None:
                if self.first_ts is None or ts < self.first_ts:
                    self.first_ts = ts
                if self.last_ts is None or ts > self.last_ts:
                    self.last_ts = ts
        self.veto_codes.update(part.veto_codes)
        for name, stats in part.strategies.items():
            self._strategy(name).add(stats)
        self._filled_orders += part._filled_orders
        self._orphan_orders += part._orphan_orders
        self._orphan_fills += part._orphan_fills
        self._intent_to_order.extend(part._intent_to_order)
        self._order_to_fill.extend(part._order_to_fill)
        return True

    def _kept(self, opened: list[tuple[str | None, str, Any]],
              ids_of: Callable[[_Joins], tuple[dict[str, Any], list[bytes]]],
              ) -> set[tuple[str | None, str]]:
        """(session, id) of the `opened` joins whose id is in this builder's chunks."""
        wanted: dict[str | None, set[str]] = {}
        for session, key, _ in opened:
            joins = self._joins.get(session)
            if joins is not None:
                held, chunks = ids_of(joins)
                if chunks and key not in held:
                    wanted.setdefault(session, set()).add(key)
        out: set[tuple[str | None, str]] = set()
        for session, keys in wanted.items():
            _held, chunks = ids_of(self._joins[session])
            out.update((session, key) for key in keys.intersection(_unchunked(chunks)))
        return out

    def sort_latencies(self) -> None:
        """Put the latencies so far in order (a sort of more of them then merges this run)."""
        self._intent_to_order = array("d", sorted(self._intent_to_order))
        self._order_to_fill = array("d", sorted(self._order_to_fill))

    def _joins_of(self, session: str | None) -> _Joins:
        joins = self._joins.get(session)
        if joins is None:
            joins = self._joins[session] = _Joins()
        return joins

    def result(self, stats: LineStats | None = None) -> dict[str, Any]:
        """The summary with exactly SUMMARY_KEYS; `stats` fills `lines` and `error_rate`."""
        if stats is None:
            stats = LineStats(total=self.event_count, valid=self.event_count)
        # intents still waiting for an order (time not None) and not vetoed
        intents_without_order = sum(
            len(joins.intent_ms) - list(joins.intent_ms.values()).count(None)
            - sum(1 for intent_id in joins.vetoed if joins.intent_ms.get(intent_id) is not None)
            for joins in self._joins.values())
        orders = sum(joins.order_count() for joins in self._joins.values())
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


def summarize_path(path: str | Path, *, split_min_bytes: int = SPLIT_MIN_BYTES,
                   **filters: Any) -> dict[str, Any]:
    """Summarise a journal file or folder read with read_events(path, **filters).

    A plain file of `split_min_bytes` or more is read in parts by several processes.
    """
    path = Path(path)
    parts = min(os.cpu_count() or 1, MAX_PARTS)
    if parts > 1 and _splittable(path, filters, split_min_bytes):
        summary = summarize_in_parts(path, parts, **filters)
        if summary is not None:
            return summary
    builder = SummaryBuilder()
    stats = LineStats()
    # A summary needs no time order across sessions: read them one after the other.
    sessions = [filters.pop("session_id", None)]
    if sessions == [None] and path.is_dir() and filters.get("limit") is None:
        sessions = [sid for sid in list_sessions(path) if is_valid_session_id(sid)]
    for session_id in sessions:
        reader = read_events(path, session_id=session_id, payload_marker=VETO_MARKER,
                             payload_kinds=VETO_KINDS, **filters)
        builder.add_all(reader)
        stats.add(reader.stats)
    return builder.result(stats)


def _splittable(path: Path, filters: dict[str, Any], min_bytes: int) -> bool:
    """A plain file of `min_bytes` or more, read forwards in full, by a process that may fork.

    Filters on seq are left out (a legacy line's seq is its line number, which a part
    does not know), and so is a process with threads (a lock another thread holds when
    the process forks stays held in the child).
    """
    if (filters.get("limit") is not None or filters.get("newest_first")
            or filters.get("after_seq") or filters.get("where") is not None):
        return False
    if not path.name.endswith(".jsonl") or threading.active_count() > 1:
        return False
    if ("fork" not in multiprocessing.get_all_start_methods()
            or multiprocessing.current_process().daemon):  # a daemon may not fork workers
        return False
    try:
        return path.is_file() and path.stat().st_size >= min_bytes
    except OSError:
        return False


def summarize_in_parts(path: str | Path, parts: int, **filters: Any) -> dict[str, Any] | None:
    """Summarise a plain journal file as up to `parts` byte ranges, one process each.

    This process reads the first range while forked children read the others; their
    builders merge in file order into exactly the summary of a read in one pass. None
    when an intent or order id repeats across ranges (only a read in one pass will do).
    """
    path = Path(path)
    reader = read_events(path, payload_marker=VETO_MARKER, payload_kinds=VETO_KINDS, **filters)
    keep = None if reader.filter.passes_all else reader.filter
    ((session, _files),) = reader.files()
    # One open file for every part: a rename (a rotation) meanwhile changes nothing.
    with open(path, "rb") as journal_file:
        fd = journal_file.fileno()
        ranges = line_ranges(path, parts, fd=fd, first_share=(1 + FIRST_PART_LEAD) / parts)
        context = multiprocessing.get_context("fork")
        children = []
        try:
            for start, end in ranges[1:]:
                receiver, sender = context.Pipe(duplex=False)
                child = context.Process(target=_summarize_range_in_child, daemon=True,
                                        args=(sender, path, fd, start, end, session, keep))
                child.start()
                sender.close()
                children.append((child, receiver, start))
            builder, stats = _summarize_range(path, fd, *ranges[0], session, keep,
                                              after_start=False)
            builder.sort_latencies()  # while the children finish: the quantiles sort less
            for child, receiver, start in children:
                try:
                    answer = receiver.recv()
                except EOFError:
                    raise RuntimeError(f"summary of {path} from byte {start}: the reading "
                                       f"process ended with exit code {child.exitcode}"
                                       ) from None
                if isinstance(answer, BaseException):
                    raise answer
                part, part_stats = answer
                if not builder.merge(part):
                    return None
                stats.add(part_stats)
        finally:
            for child, receiver, _start in children:
                receiver.close()
                if child.is_alive():
                    child.terminate()
                child.join()
    return builder.result(stats)


def _summarize_range(path: Path, fd: int, start: int, end: int | None, session: str | None,
                     keep: Any, *, after_start: bool) -> tuple[SummaryBuilder, LineStats]:
    """The builder and line stats of the lines between two line starts of a file."""
    stats = LineStats()
    builder = SummaryBuilder(after_start=after_start)
    if keep is None:
        blocks = range_line_blocks(path, start, end, fd=fd)
        builder.add_lines(chain.from_iterable(blocks), stats, session)
        return builder, stats
    builder.add_all(read_range(path, start, end, stats, session, keep, VETO_MARKER, fd=fd,
                               payload_kinds=VETO_KINDS))
    return builder, stats


def _summarize_range_in_child(sender: Any, path: Path, fd: int, start: int, end: int | None,
                              session: str | None, keep: Any) -> None:
    """In a forked child: send back a range's builder and line stats, or the error."""
    try:
        answer: Any = _summarize_range(path, fd, start, end, session, keep, after_start=True)
        # Sorted here, in parallel: the merged latencies are then a few sorted runs,
        # which the quantiles' sort merges in linear time.
        answer[0].sort_latencies()
    except Exception as exc:
        answer = exc
    sender.send(answer)
    sender.close()

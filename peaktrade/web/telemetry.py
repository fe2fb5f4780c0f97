"""Live telemetry pages: execution timeline and sessions."""

from __future__ import annotations

import contextlib
import gzip
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, redirect, render_template, request, url_for

from peaktrade.events import (
    DECISIONS,
    DESK_SESSION,
    KINDS,
    InvalidSessionId,
    parse_line,
    validate_session_id,
)
from peaktrade.execution import active_session_id
from peaktrade.journal import LineStats, list_sessions, newest, read_events, session_files
from peaktrade.journal.reader import iter_lines
from peaktrade.journal.tail import RecordFilter
from peaktrade.telemetry.describe import describe, details
from peaktrade.web.context import get_config, get_journal

bp = Blueprint("telemetry", __name__)

CHIP_SCAN_RECORDS = 500
TIMELINE_SCAN_RECORDS = 20_000  # a rare filter searches this many newest events, not all


@dataclass(frozen=True)
class QuickFilter:
    """A timeline button: a name for the URL, a label, the kinds and decisions it keeps."""

    name: str
    label: str
    kinds: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()


QUICK_FILTERS = (
    QuickFilter("all", "All"),
    QuickFilter("intents", "Intents", ("intent",)),
    QuickFilter("verdicts", "Verdicts", ("gate",)),
    QuickFilter("vetoes", "Vetoes", ("gate",), ("block",)),
    QuickFilter("orders", "Orders", ("order",)),
    QuickFilter("fills", "Fills", ("fill",)),
    QuickFilter("cancels", "Cancels/Rejects", ("cancel", "reject")),
    QuickFilter("errors", "Errors", ("error",)),
    QuickFilter("controls", "Controls", ("control",)),
)


def _csv_list(value: str | None) -> tuple[str, ...]:
    return tuple(sorted({part.strip() for part in (value or "").split(",") if part.strip()}))


@dataclass(frozen=True)
class TimelineQuery:
    """The timeline's filter as it appears in the URL of the page, its stream and its CSV."""

    kinds: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    strategy: str | None = None
    limit: int = 200

    @classmethod
    def from_args(cls, args: Mapping[str, str], max_rows: int) -> TimelineQuery:
        """Parse query arguments; a wrong value aborts with 400 saying what is allowed."""
        kinds = _csv_list(args.get("kind"))
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            abort(400, f"kind {unknown[0]!r} is not one of {', '.join(KINDS)}")
        decisions = _csv_list(args.get("decision"))
        wrong = [d for d in decisions if d not in DECISIONS]
        if wrong:
            abort(400, f"decision {wrong[0]!r} is not one of {', '.join(DECISIONS)}")
        raw_limit = args.get("limit") or str(min(200, max_rows))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= max_rows:
            abort(400, f"limit must be a whole number from 1 to {max_rows}, got {raw_limit!r}")
        return cls(kinds=kinds, decisions=decisions, symbols=_csv_list(args.get("symbol")),
                   strategy=args.get("strategy") or None, limit=int(raw_limit))

    @property
    def record_filter(self) -> RecordFilter:
        return RecordFilter(kinds=frozenset(self.kinds), symbols=frozenset(self.symbols),
                            strategy=self.strategy, decisions=frozenset(self.decisions))

    def params(self, *, with_limit: bool = True) -> dict[str, str]:
        """The non-empty query arguments, in a stable order."""
        out = {"kind": ",".join(self.kinds), "decision": ",".join(self.decisions),
               "symbol": ",".join(self.symbols), "strategy": self.strategy or "",
               "limit": str(self.limit) if with_limit else ""}
        return {key: value for key, value in out.items() if value}

    def query_string(self, **extra: Any) -> str:
        return urlencode({**self.params(), **{k: v for k, v in extra.items() if v is not None}})

    def quick(self, quick: QuickFilter) -> TimelineQuery:
        return replace(self, kinds=quick.kinds, decisions=quick.decisions)

    def is_quick(self, quick: QuickFilter) -> bool:
        return self.kinds == quick.kinds and self.decisions == quick.decisions

    def toggle_symbol(self, symbol: str) -> TimelineQuery:
        symbols = set(self.symbols) ^ {symbol}
        return replace(self, symbols=tuple(sorted(symbols)))

    def with_strategy(self, strategy: str | None) -> TimelineQuery:
        return replace(self, strategy=strategy)


def known_session(session_id: str) -> str:
    """The session id if its journal exists: 400 for a malformed id, 404 for an unknown one."""
    try:
        validate_session_id(session_id)
    except InvalidSessionId as err:
        abort(400, str(err))
    if not session_files(get_journal().root, session_id):
        abort(404, f"Session {session_id!r} doesn't exist in the journal "
                   f"(see /sessions for the sessions there are).")
    return session_id


def active_session() -> str | None:
    """The desk's active paper session, else the most recently written session."""
    root = get_journal().root
    session_id = active_session_id(get_journal())
    if session_id:
        return session_id
    candidates = [(path.stat().st_mtime, sid) for sid in list_sessions(root)
                  if sid != DESK_SESSION for path in session_files(root, sid)[-1:]]
    return max(candidates)[1] if candidates else None


def timeline_rows(records: list[dict]) -> list[dict[str, Any]]:
    """What a timeline row shows of each record, in the given order."""
    return [{"seq": rec["seq"], "ts": rec["ts"], "time": rec["ts"][11:23],
             "date": rec["ts"][:10], "kind": rec["kind"], "symbol": rec["symbol"] or "",
             "strategy": rec["strategy"] or "", "description": describe(rec),
             "details": details(rec), "blocked": rec["payload"].get("decision") == "block"}
            for rec in records]


@bp.get("/live/execution")
def live_active():
    """The timeline of the desk's active session."""
    session_id = active_session()
    if session_id is None or not session_files(get_journal().root, session_id):
        return render_template("timeline_empty.html", session_id=session_id)
    return redirect(url_for("telemetry.timeline", session_id=session_id, **request.args))


@bp.get("/live/execution/<path:session_id>")
def timeline(session_id: str):
    """Newest-first execution timeline of a session; it updates live over SSE."""
    known_session(session_id)
    config = get_config()
    max_rows = config["web"]["timeline_max_rows"]
    query = TimelineQuery.from_args(request.args, max_rows)
    snap = timeline_snapshot(get_journal().root, session_id, query)
    csv_args = {"session_id": session_id, "format": "csv", **query.params(with_limit=False)}
    context = {
        "session_id": session_id, "query": query, "rows": timeline_rows(snap.records),
        "quick_filters": QUICK_FILTERS, "symbols": sorted(snap.symbols | set(query.symbols)),
        "strategies": sorted(snap.strategies | ({query.strategy} - {None})),
        "snapshot_seq": snap.snapshot_seq, "max_rows": max_rows,
        "searched": snap.scanned if snap.capped else None,
        "stream_url": url_for("stream.execution", session_id=session_id)
                      + "?" + query.query_string(since_seq=snap.snapshot_seq),
        "csv_url": "/api/telemetry?" + urlencode(csv_args),
    }
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        return render_template("_timeline_page.html", **context)
    return render_template("timeline.html", **context)


@dataclass(frozen=True)
class TimelineSnapshot:
    """What the page shows when it opens: matching rows, chips, and the seq it is up to."""

    records: list[dict]
    snapshot_seq: int
    symbols: frozenset[str]
    strategies: frozenset[str]
    scanned: int
    capped: bool


def timeline_snapshot(root: Path, session_id: str, query: TimelineQuery) -> TimelineSnapshot:
    """One newest-first pass: rows of the filter, chips, last seq; bounded for rare filters."""
    matches = query.record_filter.matches
    records: list[dict] = []
    symbols: set[str] = set()
    strategies: set[str] = set()
    snapshot_seq = scanned = 0
    capped = False
    reader = iter(read_events(root, session_id=session_id, newest_first=True))
    try:
        for rec in reader:
            if not scanned:
                snapshot_seq = rec["seq"]
            scanned += 1
            if scanned <= CHIP_SCAN_RECORDS:
                if rec["symbol"]:
                    symbols.add(rec["symbol"])
                if rec["strategy"]:
                    strategies.add(rec["strategy"])
            if len(records) < query.limit and matches(rec):
                records.append(rec)
            if len(records) >= query.limit and scanned >= CHIP_SCAN_RECORDS:
                break
            if scanned >= TIMELINE_SCAN_RECORDS:
                capped = True
                break
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return TimelineSnapshot(records, snapshot_seq, frozenset(symbols), frozenset(strategies),
                            scanned, capped and len(records) < query.limit)


class _FileStats:
    """Line counts of journal files, cached by (path, size, mtime).

    The active segment (at most one rotation size) is counted on request; archive
    segments never change and are counted once, in the background, so a large session
    does not hold up the page.
    """

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], LineStats]] = {}
        self._pending: set[Path] = set()
        self._lock = threading.Lock()

    def of(self, path: Path, *, wait: bool) -> LineStats | None:
        """The counts of a file; None while an archive is still being counted."""
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            if not wait:
                if path not in self._pending:
                    self._pending.add(path)
                    threading.Thread(target=self._count, args=(path, stamp), daemon=True,
                                     name="sessions-count").start()
                return None
        return self._count(path, stamp)

    def _count(self, path: Path, stamp: tuple[int, int]) -> LineStats:
        stats = LineStats()
        with contextlib.suppress(FileNotFoundError):  # compressed meanwhile: .gz is listed next
            stats = count_lines(path)
        with self._lock:
            self._cache[path] = (stamp, stats)
            self._pending.discard(path)
        return stats


def count_lines(path: Path) -> LineStats:
    """Total, blank, valid and invalid lines of one journal file (.jsonl or .jsonl.gz)."""
    stats = LineStats()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line in iter_lines(fh):
            stats.total += 1
            if line is None:
                stats.invalid += 1
            elif not line.strip():
                stats.blank += 1
            elif parse_line(line, stats.total) is None:
                stats.invalid += 1
            else:
                stats.valid += 1
    return stats


_FILE_STATS = _FileStats()


@dataclass(frozen=True)
class SessionInfo:
    """One row of the sessions page; `complete` is False while archives are being counted."""

    session_id: str
    size_bytes: int
    event_count: int
    first_ts: str | None
    last_ts: str | None
    error_rate: float
    files: int
    complete: bool


def session_info(root: Path, session_id: str) -> SessionInfo | None:
    """Size, count, time range and error rate of a session, without re-reading archives."""
    files = session_files(root, session_id)
    if not files:
        return None
    stats = LineStats()
    size = 0
    complete = True
    try:
        for path in files:
            size += path.stat().st_size
            counted = _FILE_STATS.of(path, wait=path.parent == root)
            if counted is None:
                complete = False
            else:
                stats.add(counted)
    except FileNotFoundError:
        return session_info(root, session_id)  # rotated or compressed meanwhile
    last = next(iter(newest(root, 1, session_id=session_id)), None)
    first = None
    for path in files:
        first = next(iter(read_events(path, limit=1)), None)
        if first is not None:
            break
    return SessionInfo(session_id=session_id, size_bytes=size, event_count=stats.valid,
                       first_ts=first["ts"] if first else None,
                       last_ts=last["ts"] if last else None,
                       error_rate=stats.error_rate, files=len(files), complete=complete)


@bp.get("/sessions")
def sessions():
    """Every session in the journal with its size, event count, time range and error rate."""
    root = get_journal().root
    infos = [info for sid in list_sessions(root)
             if (info := session_info(root, sid)) is not None]
    infos.sort(key=lambda info: info.last_ts or "", reverse=True)
    return render_template("sessions.html", sessions=infos, active=active_session())

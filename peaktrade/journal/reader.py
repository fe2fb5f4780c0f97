"""Streaming journal reads: constant memory, bad lines counted, newest-first from the end."""

from __future__ import annotations

import gzip
import heapq
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from peaktrade.events import (
    LEGACY_VERSION,
    canonical_ts,
    is_valid_session_id,
    parse_line,
)
from peaktrade.journal.files import archive_segments, list_sessions, session_files

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 1 << 20  # a longer line is counted invalid without being held in memory
_GZIP_ERRORS = (EOFError, OSError, zlib.error)


@dataclass
class LineStats:
    """What a read saw: lines in total, blank, valid and invalid."""

    total: int = 0
    blank: int = 0
    valid: int = 0
    invalid: int = 0

    @property
    def error_rate(self) -> float:
        """Invalid lines / non-blank lines (0.0 when there are none)."""
        nonblank = self.total - self.blank
        return self.invalid / nonblank if nonblank else 0.0

    def add(self, other: LineStats) -> None:
        self.total += other.total
        self.blank += other.blank
        self.valid += other.valid
        self.invalid += other.invalid

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def iter_lines(fh: BinaryIO) -> Iterator[bytes | None]:
    """Every line of a stream without its newline; None stands for an oversized line."""
    carry = b""
    skipping = False
    while True:
        chunk = fh.read(CHUNK_BYTES)
        if not chunk:
            break
        parts = chunk.split(b"\n")
        if skipping:
            if len(parts) == 1:
                continue
            yield None
            skipping = False
            parts[0] = b""
            parts = parts[1:]
        else:
            parts[0] = carry + parts[0]
        carry = parts.pop()
        yield from parts
        if len(carry) > MAX_LINE_BYTES:
            carry = b""
            skipping = True
    if skipping:
        yield None
    elif carry:
        yield carry


def iter_lines_reversed(fh: BinaryIO, size: int) -> Iterator[bytes | None]:
    """Every line of a file from the last to the first, reading blocks from the end."""
    pos = size
    carry = b""
    skipping = False
    first_block = True
    while pos > 0:
        start = max(0, pos - CHUNK_BYTES)
        fh.seek(start)
        block = fh.read(pos - start)
        pos = start
        parts = block.split(b"\n")
        if first_block:
            first_block = False
            if parts[-1] == b"":
                parts.pop()  # the file's final newline ends the last line
        if skipping:
            if len(parts) == 1:
                continue
            yield None
            skipping = False
            parts.pop()  # the head of the oversized line
        else:
            parts[-1] = parts[-1] + carry
        carry = parts[0] if start > 0 else b""
        body = parts[1:] if start > 0 else parts
        if start > 0 and len(parts) == 1:
            body = []
        yield from reversed(body)
        if len(carry) > MAX_LINE_BYTES:
            carry = b""
            skipping = True
    if skipping:
        yield None


class Filter:
    """Which records a read keeps; times compare as times (canonical UTC strings)."""

    def __init__(self, *, session_id: str | None = None, kind: str | Iterable[str] | None = None,
                 symbol: str | Iterable[str] | None = None, strategy: str | None = None,
                 since: Any = None, until: Any = None, after_seq: int | None = None,
                 where: Callable[[dict], bool] | None = None) -> None:
        self.session_id = session_id
        self.kinds = _as_set(kind)
        self.symbols = _as_set(symbol)
        self.strategy = strategy
        self.since = canonical_ts(since) if since is not None else None
        self.until = canonical_ts(until) if until is not None else None
        self.after_seq = after_seq
        self.where = where
        self.passes_all = not any((session_id, self.kinds, self.symbols, strategy, self.since,
                                   self.until, after_seq, where))

    def __call__(self, rec: dict) -> bool:
        if self.passes_all:
            return True
        return ((self.kinds is None or rec["kind"] in self.kinds)
                and (self.symbols is None or rec["symbol"] in self.symbols)
                and (self.strategy is None or rec["strategy"] == self.strategy)
                and (self.session_id is None or rec["session_id"] == self.session_id)
                and (self.since is None or rec["ts"] >= self.since)
                and (self.until is None or rec["ts"] <= self.until)
                and (self.after_seq is None or rec["seq"] > self.after_seq)
                and (self.where is None or self.where(rec)))


def _as_set(value: str | Iterable[str] | None) -> frozenset[str] | None:
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, str):
        return frozenset(v for v in value.split(",") if v)
    return frozenset(value) or None


def read_file(path: Path, stats: LineStats, default_session: str | None = None,
              keep: Callable[[dict], bool] | None = None) -> Iterator[dict]:
    """Records of one file (.jsonl or .jsonl.gz) in file order; bad lines are counted."""
    opener = gzip.open if path.name.endswith(".gz") else open
    line_no = 0
    try:
        with opener(path, "rb") as fh:
            for line in iter_lines(fh):
                line_no += 1
                stats.total += 1
                if line is None:
                    stats.invalid += 1
                    continue
                if not line or line.isspace():
                    stats.blank += 1
                    continue
                rec = parse_line(line, line_no, default_session)
                if rec is None:
                    stats.invalid += 1
                    continue
                stats.valid += 1
                if keep is None or keep(rec):
                    yield rec
    except _GZIP_ERRORS:
        # A truncated or corrupt archive: what was read stands, the rest is one bad line.
        stats.total += 1
        stats.invalid += 1


def read_file_reversed(path: Path, stats: LineStats, default_session: str | None = None,
                       keep: Callable[[dict], bool] | None = None) -> Iterator[dict]:
    """Records of one file, newest first: plain files are read from the end."""
    if path.name.endswith(".gz"):
        yield from reversed(list(read_file(path, stats, default_session, keep)))
        return
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        total_lines: int | None = None
        from_end = 0
        for line in iter_lines_reversed(fh, size):
            from_end += 1
            stats.total += 1
            if line is None:
                stats.invalid += 1
                continue
            if not line or line.isspace():
                stats.blank += 1
                continue
            rec = parse_line(line, 0, default_session)
            if rec is None:
                stats.invalid += 1
                continue
            if rec["v"] == LEGACY_VERSION and rec["seq"] == 0:
                if total_lines is None:
                    total_lines = _count_lines(path)
                rec["seq"] = total_lines - from_end + 1
            stats.valid += 1
            if keep is None or keep(rec):
                yield rec


def _count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


class EventReader:
    """An iterable read of a journal file or folder; `stats` fills in as it is consumed."""

    def __init__(self, path: str | Path, *, session_id: str | None = None,
                 kind: str | Iterable[str] | None = None,
                 symbol: str | Iterable[str] | None = None, strategy: str | None = None,
                 since: datetime | str | None = None, until: datetime | str | None = None,
                 limit: int | None = None, newest_first: bool = False,
                 after_seq: int | None = None,
                 where: Callable[[dict], bool] | None = None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.path = Path(path)
        self.filter = Filter(session_id=session_id, kind=kind, symbol=symbol, strategy=strategy,
                             since=since, until=until, after_seq=after_seq, where=where)
        self.session_id = session_id
        self.limit = limit
        self.newest_first = newest_first
        self.after_seq = after_seq
        self.stats = LineStats()

    def files(self) -> list[tuple[str | None, list[Path]]]:
        """(session id, its files in order) for every session this read covers."""
        if self.path.is_file() or self.path.name.endswith((".jsonl", ".gz")):
            return [(_session_from_name(self.path.name), [self.path])]
        if self.session_id is not None:
            sessions = [self.session_id] if is_valid_session_id(self.session_id) else []
        else:
            sessions = [s for s in list_sessions(self.path) if is_valid_session_id(s)]
        out = []
        for sid in sessions:
            files = session_files(self.path, sid)
            if self.after_seq:
                files = _skip_segments_before(self.path, sid, files, self.after_seq)
            if files:
                out.append((sid, files))
        return out

    def __iter__(self) -> Iterator[dict]:
        if self.limit == 0:
            return iter(())
        streams = [self._session_stream(sid, files) for sid, files in self.files()]
        if not streams:
            return iter(())
        if len(streams) == 1:
            merged: Iterator[dict] = streams[0]
        else:
            merged = heapq.merge(*streams, key=_order_key, reverse=self.newest_first)
        if self.limit is None:
            return merged
        return _take(merged, self.limit)

    def _session_stream(self, sid: str | None, files: list[Path]) -> Iterator[dict]:
        keep = self.filter
        if self.newest_first:
            for path in reversed(files):
                yield from read_file_reversed(path, self.stats, sid, keep)
        else:
            for path in files:
                yield from read_file(path, self.stats, sid, keep)


def read_events(path: str | Path, **filters: Any) -> EventReader:
    """Read records from a journal file or folder; see EventReader for the filters."""
    return EventReader(path, **filters)


def newest(path: str | Path, limit: int, **filters: Any) -> list[dict]:
    """The newest `limit` matching records, newest first."""
    return list(read_events(path, limit=limit, newest_first=True, **filters))


def _take(records: Iterator[dict], limit: int) -> Iterator[dict]:
    for count, rec in enumerate(records, 1):
        yield rec
        if count >= limit:
            return


def _order_key(rec: dict) -> tuple[str, int]:
    return rec["ts"], rec["seq"]


def _session_from_name(name: str) -> str | None:
    for suffix in (".jsonl.gz", ".jsonl"):
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            head, _, tail = stem.rpartition(".")
            return head if head and tail.isdigit() else stem
    return None


def _skip_segments_before(root: Path, sid: str, files: list[Path], after_seq: int) -> list[Path]:
    """Drop archive segments that end at or before `after_seq`."""
    segments = archive_segments(root, sid).get(sid, [])
    keep_from = 0
    for index, segment in enumerate(segments):
        nxt = segments[index + 1].first_seq if index + 1 < len(segments) else None
        if nxt is not None and nxt <= after_seq + 1:
            keep_from = index + 1
    skipped = {seg.path for seg in segments[:keep_from]}
    return [f for f in files if f not in skipped]

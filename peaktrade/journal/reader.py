"""Streaming journal reads: constant memory, bad lines counted, newest-first from the end."""

from __future__ import annotations

import gzip
import heapq
import os
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
    parse_line_head,
)
from peaktrade.journal.files import (
    Segment,
    active_path,
    archive_segments,
    list_sessions,
    session_files,
)
from peaktrade.journal.integrity import CHUNK_BYTES, MAX_LINE_BYTES, iter_line_blocks

# A newest-first read starts with a small block (a page of the newest rows needs a few
# hundred lines) and grows it up to CHUNK_BYTES.
FIRST_REVERSED_BYTES = 64 << 10
_GZIP_ERRORS = (EOFError, OSError, zlib.error)
_MAX_RELISTS = 20


@dataclass
class LineStats:
    """What a read saw: lines in total, blank, valid and invalid, and seq breaks.

    A seq break is a valid line whose seq is at or below one before it (a stale or
    repeated line): it is counted among the valid lines and not returned, so each seq
    counts once. Complete once the read is exhausted or closed; during a read it may
    lag by a block.
    """

    total: int = 0
    blank: int = 0
    valid: int = 0
    invalid: int = 0
    seq_breaks: int = 0

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
        self.seq_breaks += other.seq_breaks

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def iter_lines(fh: BinaryIO) -> Iterator[bytes | None]:
    """Every line of a stream without its newline; None stands for an oversized line."""
    for block in iter_line_blocks(fh):
        yield from block


def iter_lines_reversed(fh: BinaryIO, size: int) -> Iterator[bytes | None]:
    """Every line of a file from the last to the first, reading blocks from the end.

    A file with a descriptor is read with pread (one system call a block, and the
    file's position is left alone).
    """
    try:
        fd: int | None = fh.fileno()
    except (AttributeError, OSError):
        fd = None
    pos = size
    carry = b""
    skipping = False
    first_block = True
    block_bytes = FIRST_REVERSED_BYTES
    while pos > 0:
        start = max(0, pos - block_bytes)
        block_bytes = min(block_bytes * 4, CHUNK_BYTES)
        if fd is None:
            fh.seek(start)
            block = fh.read(pos - start)
        else:
            block = os.pread(fd, pos - start, start)
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
              keep: Callable[[dict], bool] | None = None,
              opened: BinaryIO | None = None,
              payload_marker: bytes | None = None,
              payload_kinds: frozenset[str] | None = None) -> Iterator[dict]:
    """Records of one file (.jsonl or .jsonl.gz) in file order; bad lines are counted.

    `opened` is the file already open (it is closed at the end); otherwise a file that
    is gone raises FileNotFoundError when the first record is asked for. With a
    `payload_marker`, v1 lines without those bytes are read without their payload;
    with `payload_kinds` too, only lines of those kinds are looked at for the marker.
    """
    opener = gzip.open if path.name.endswith(".gz") else open
    fh = opened if opened is not None else opener(path, "rb")
    # Counted locally, added to `stats` per block and when the read ends or is closed:
    # this loop runs for every line read.
    line_no = blank = valid = invalid = breaks = 0
    last_seqs: dict[str | None, int] = {}  # per session (a file may hold several)
    try:
        with fh:
            for block in iter_line_blocks(fh):
                for line in block:
                    line_no += 1
                    if not line:
                        if line is None:
                            invalid += 1
                        else:
                            blank += 1
                        continue
                    if payload_marker is None:
                        rec = parse_line(line, line_no, default_session)
                    elif payload_kinds is None:
                        if payload_marker in line:
                            rec = parse_line(line, line_no, default_session)
                        else:
                            rec = parse_line_head(line, line_no, default_session)
                    else:
                        # The head first: searching every line for the marker costs
                        # more than decoding again the few lines of those kinds that hold it.
                        rec = parse_line_head(line, line_no, default_session)
                        if (rec is not None and rec["payload"] is None
                                and rec["kind"] in payload_kinds and payload_marker in line):
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
                        if seq <= last_seqs.get(sid, 0):  # a stale or repeated line
                            breaks += 1
                            continue
                        last_seqs[sid] = seq
                    if keep is None or keep(rec):
                        yield rec
                stats.total += blank + valid + invalid
                stats.blank += blank
                stats.valid += valid
                stats.invalid += invalid
                stats.seq_breaks += breaks
                blank = valid = invalid = breaks = 0
    except _GZIP_ERRORS:
        # A truncated or corrupt archive: what was read stands, the rest is one bad line.
        invalid += 1
    finally:
        stats.total += blank + valid + invalid
        stats.blank += blank
        stats.valid += valid
        stats.invalid += invalid
        stats.seq_breaks += breaks


def line_ranges(path: Path, parts: int, *, fd: int | None = None,
                first_share: float | None = None) -> list[tuple[int, int | None]]:
    """Up to `parts` byte ranges of a plain file, each starting at a line start, in order.

    The last range runs to the end of the file (None), wherever that is when it is read.
    `fd` is the file already open (read with pread and left open). `first_share` is
    the fraction of the file the first range covers (the others split the rest evenly);
    by default all are about equal.
    """
    if fd is None:
        with open(path, "rb") as fh:
            return line_ranges(path, parts, fd=fh.fileno(), first_share=first_share)
    size = os.fstat(fd).st_size
    first = size // parts if first_share is None else int(size * first_share)
    starts = [0]
    for index in range(1, parts):
        if first_share is None:
            cut = size * index // parts
        else:
            cut = first + (size - first) * (index - 1) // (parts - 1)
        start = _next_line_start(fd, max(cut, starts[-1]))
        if start >= size:
            break
        if start > starts[-1]:
            starts.append(start)
    return [(start, end) for start, end in zip(starts, [*starts[1:], None], strict=True)]


def _next_line_start(fd: int, offset: int) -> int:
    """The first offset >= `offset` where a line starts (the file's size if none does)."""
    if offset == 0:
        return 0
    pos = offset - 1
    while chunk := os.pread(fd, CHUNK_BYTES, pos):
        newline = chunk.find(b"\n")
        if newline >= 0:
            return pos + newline + 1
        pos += len(chunk)
    return pos


class _ByteRange:
    """Bytes `start` to `end` (None: the end) of a file, in CHUNK_BYTES-aligned reads.

    A whole-file read reads CHUNK_BYTES at a time from offset 0; reading a range in the
    same blocks judges an oversized line exactly as the whole-file read does. Reads
    with pread, so processes sharing a descriptor share no file position; a descriptor
    given (`fd`) is left open, a file opened here is closed by close().
    """

    def __init__(self, path: Path, start: int, end: int | None, fd: int | None = None) -> None:
        self._owned = open(path, "rb") if fd is None else None  # noqa: SIM115 - see close()
        self._fd = fd if self._owned is None else self._owned.fileno()
        self._pos = start
        self._end = end

    def read(self, size: int) -> bytes:
        """Up to `size` (> 0) bytes, never past the next multiple of `size` or the range's end."""
        size -= self._pos % size
        if self._end is not None:
            size = min(size, self._end - self._pos)
        data = os.pread(self._fd, size, self._pos) if size > 0 else b""
        self._pos += len(data)
        return data

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> _ByteRange:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def read_range(path: Path, start: int, end: int | None, stats: LineStats,
               default_session: str | None = None, keep: Callable[[dict], bool] | None = None,
               payload_marker: bytes | None = None, *, fd: int | None = None,
               payload_kinds: frozenset[str] | None = None) -> Iterator[dict]:
    """Records of the lines of a plain file between two line starts (see line_ranges).

    Counts its lines as read_file does; a legacy line without a seq gets its line number
    within the range. `fd` is the file already open (left open).
    """
    opened: Any = _ByteRange(path, start, end, fd)
    return read_file(path, stats, default_session, keep, opened, payload_marker,
                     payload_kinds)


def range_line_blocks(path: Path, start: int, end: int | None, *,
                      fd: int | None = None) -> Iterator[list[bytes | None]]:
    """The lines of a plain file between two line starts in blocks, as read_range reads them.

    For a scan that decodes and counts lines itself (it then keeps the line stats):
    the same blocks, with None for an oversized line. `fd` is left open.
    """
    with _ByteRange(path, start, end, fd) as opened:
        yield from iter_line_blocks(opened)


def read_file_reversed(path: Path, stats: LineStats, default_session: str | None = None,
                       keep: Callable[[dict], bool] | None = None,
                       opened: BinaryIO | None = None) -> Iterator[dict]:
    """Records of one file, newest first: plain files are read from the end."""
    if path.name.endswith(".gz"):
        yield from reversed(list(read_file(path, stats, default_session, keep, opened)))
        return
    with opened if opened is not None else open(path, "rb") as fh:
        size = fh.seek(0, 2)
        total_lines: int | None = None
        from_end = 0
        # A record is held until the line before it is read: a line whose seq is not
        # above the seq of an earlier line is a stale or repeated line (integrity rule 1)
        # and is dropped, as a forward read drops it.
        held: dict | None = None
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
                    total_lines = _count_lines(fh, size)
                rec["seq"] = total_lines - from_end + 1
            stats.valid += 1
            if held is not None:
                if rec["seq"] >= held["seq"] and rec["v"] and held["v"] \
                        and rec["session_id"] == held["session_id"]:
                    stats.seq_breaks += 1
                elif keep is None or keep(held):
                    yield held
            held = rec
        if held is not None and (keep is None or keep(held)):
            yield held


def _count_lines(fh: BinaryIO, size: int) -> int:
    """Lines in the first `size` bytes of a file; the read position is restored."""
    here = fh.tell()
    fh.seek(0)
    count = 0
    last = b"\n"
    left = size
    while left > 0 and (chunk := fh.read(min(CHUNK_BYTES, left))):
        left -= len(chunk)
        count += chunk.count(b"\n")
        last = chunk[-1:]
    fh.seek(here)
    return count + (last != b"\n")


class EventReader:
    """An iterable read of a journal file or folder; `stats` fills in as it is consumed."""

    def __init__(self, path: str | Path, *, session_id: str | None = None,
                 kind: str | Iterable[str] | None = None,
                 symbol: str | Iterable[str] | None = None, strategy: str | None = None,
                 since: datetime | str | None = None, until: datetime | str | None = None,
                 limit: int | None = None, newest_first: bool = False,
                 after_seq: int | None = None,
                 where: Callable[[dict], bool] | None = None,
                 payload_marker: bytes | None = None,
                 payload_kinds: frozenset[str] | None = None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.path = Path(path)
        self.filter = Filter(session_id=session_id, kind=kind, symbol=symbol, strategy=strategy,
                             since=since, until=until, after_seq=after_seq, where=where)
        self.session_id = session_id
        self.limit = limit
        self.newest_first = newest_first
        self.after_seq = after_seq
        # Forward reads only decode the payloads of v1 lines holding these bytes (and of
        # these kinds, when given).
        self.payload_marker = payload_marker
        self.payload_kinds = payload_kinds
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
        streams = [self._session_stream(sid, files) for sid, files in self._sources()]
        if not streams:
            return iter(())
        if len(streams) == 1:
            merged: Iterator[dict] = streams[0]
        else:
            merged = heapq.merge(*streams, key=_order_key, reverse=self.newest_first)
        if self.limit is None:
            return merged
        return _take(merged, self.limit)

    def _sources(self) -> list[tuple[str | None, list[Path] | None]]:
        """(session, files) of a single-file read, else (session, None) per session."""
        if self.path.is_file() or self.path.name.endswith((".jsonl", ".gz")):
            return [(_session_from_name(self.path.name), [self.path])]
        if self.session_id is not None:
            return [(self.session_id, None)] if is_valid_session_id(self.session_id) else []
        return [(sid, None) for sid in list_sessions(self.path) if is_valid_session_id(sid)]

    def _session_stream(self, sid: str | None, files: list[Path] | None) -> Iterator[dict]:
        if files is not None or sid is None:
            keep = None if self.filter.passes_all else self.filter
            try:
                if self.newest_first:
                    for path in reversed(files or []):
                        yield from read_file_reversed(path, self.stats, sid, keep)
                else:
                    for path in files or []:
                        yield from read_file(path, self.stats, sid, keep,
                                             payload_marker=self.payload_marker,
                                             payload_kinds=self.payload_kinds)
            except FileNotFoundError:
                return
        elif self.newest_first:
            yield from self._session_backwards(sid)
        else:
            yield from self._session_forwards(sid)

    def _archive_after(self, sid: str, after_seq: int | None) -> list[Path]:
        segments = archive_segments(self.path, sid).get(sid, [])
        return [seg.path for seg in segments_after(segments, after_seq)]

    def _session_forwards(self, sid: str) -> Iterator[dict]:
        """Archive segments, then the active file, with no gap even while rotation runs.

        A segment compressed away while listed is found by listing again. If the active
        file, once opened, starts past the last seq read, segments were rotated into the
        archive meanwhile: they are read first (repeats drop by seq). One file is open
        at a time.
        """
        seen = _SeqMarks(self.filter)
        yield from self._archive_forwards(sid, seen, self.after_seq)
        active = active_path(self.path, sid)
        held = _open_or_none(active)
        first = _first_seq(held) if held is not None else 0
        # Rotated since the archive was listed: the active file starts past what was read,
        # or is still empty (created by the append after a rotation, its first line not
        # written yet). The segment moved meanwhile is in the archive now.
        if first == 0 or first > (seen.last or self.after_seq or 0) + 1:
            try:
                yield from self._archive_forwards(sid, seen, seen.last or self.after_seq)
            except BaseException:
                if held is not None:
                    held.close()
                raise
        if held is not None:
            seen.bound = seen.last
            yield from read_file(active, self.stats, sid, seen.keep_forwards, held,
                                 self.payload_marker, self.payload_kinds)

    def _archive_forwards(self, sid: str, seen: _SeqMarks,
                          after_seq: int | None) -> Iterator[dict]:
        """Archive segments after `after_seq` in order, listing again when one moves."""
        seen.bound = seen.last
        pending = self._archive_after(sid, after_seq)
        for _attempt in range(_MAX_RELISTS):
            try:
                while pending:
                    yield from read_file(pending[0], self.stats, sid, seen.keep_forwards,
                                         payload_marker=self.payload_marker,
                                         payload_kinds=self.payload_kinds)
                    pending.pop(0)
                return
            except FileNotFoundError:
                seen.bound = seen.last
                pending = self._archive_after(sid, seen.last or after_seq)

    def _session_backwards(self, sid: str) -> Iterator[dict]:
        """The active file from its end, then archive segments newest first, with no gap.

        The archive is listed only once the active file is read, so a newest-N read
        that the active file satisfies never touches the archive.
        """
        active = active_path(self.path, sid)
        seen = _SeqMarks(self.filter)
        held = _open_or_none(active)
        if held is not None:
            yield from read_file_reversed(active, self.stats, sid, seen.keep_backwards, held)
        for _attempt in range(_MAX_RELISTS):
            seen.bound = seen.last
            segments = archive_segments(self.path, sid).get(sid, [])
            try:
                for segment in reversed(segments):
                    if seen.last is None or segment.first_seq < seen.last:
                        yield from read_file_reversed(segment.path, self.stats, sid,
                                                      seen.keep_backwards)
                return
            except FileNotFoundError:
                continue  # compressed while listed: list again, resume below what was read


class _SeqMarks:
    """The last seq a session read has passed, and the bound a re-listed read resumes from."""

    __slots__ = ("bound", "filter", "last")

    def __init__(self, keep: Filter) -> None:
        self.filter = keep
        self.last: int | None = None
        self.bound: int | None = None

    def keep_forwards(self, rec: dict) -> bool:
        seq = rec["seq"]
        if self.bound is not None and seq <= self.bound:
            return False
        self.last = seq
        return self.filter(rec)

    def keep_backwards(self, rec: dict) -> bool:
        seq = rec["seq"]
        if self.bound is not None and seq >= self.bound:
            return False
        self.last = seq
        return self.filter(rec)


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


def _first_seq(fh: BinaryIO, lines: int = 100) -> int:
    """The seq of the first valid record among a file's first lines (0 if none)."""
    try:
        for _ in range(lines):
            line = fh.readline(MAX_LINE_BYTES)
            if not line:
                break
            rec = parse_line_head(line.rstrip(b"\n"), 1)
            if rec is not None:
                return rec["seq"]
        return 0
    finally:
        fh.seek(0)


def _open_or_none(path: Path) -> BinaryIO | None:
    try:
        return open(path, "rb")  # noqa: SIM115 - closed by the reading generator
    except FileNotFoundError:
        return None


def segments_after(segments: list[Segment], after_seq: int | None) -> list[Segment]:
    """Drop archive segments that end at or before `after_seq`."""
    if not after_seq:
        return segments
    keep_from = 0
    for index in range(len(segments) - 1):
        if segments[index + 1].first_seq <= after_seq + 1:
            keep_from = index + 1
    return segments[keep_from:]


def _skip_segments_before(root: Path, sid: str, files: list[Path], after_seq: int) -> list[Path]:
    """Drop archive segments that end at or before `after_seq`."""
    segments = archive_segments(root, sid).get(sid, [])
    skipped = {seg.path for seg in segments} - {
        seg.path for seg in segments_after(segments, after_seq)}
    return [f for f in files if f not in skipped]

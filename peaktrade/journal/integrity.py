"""The journal's integrity rules, in one place: how lines split, how seqs must follow.

Writer and readers share this module (DESIGN.md §3.1):

1. Within a session, seq strictly increases; a record whose seq is at or below one
   already seen breaks the chain. The writer refuses to append to a chain that is broken.
2. A line is a record only when it parses; a torn or oversized line is counted, never
   applied. A line longer than MAX_LINE_BYTES is refused on write and skipped on read
   without being held in memory (linear in its length).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from peaktrade.events import parse_line, parse_line_head

MAX_LINE_BYTES = 1 << 20  # default maximum length of one journal line
CHUNK_BYTES = 1 << 20
MAX_PROBLEMS_KEPT = 1000  # problems named one by one; beyond this they are only counted

_V1_HEAD = b'{"v":1,"seq":'
_SEQ_AT = len(_V1_HEAD)

BACKWARDS, REPEAT, GAP, TORN, OVERSIZED = "backwards", "repeat", "gap", "torn", "oversized"
CHAIN_BREAKS = frozenset({BACKWARDS, REPEAT})  # a journal with one is not appended to


@dataclass(frozen=True, slots=True)
class Problem:
    """One break of the rules, where it stands: the line number and the seqs around it."""

    kind: str
    line_no: int
    seq: int | None  # the seq of the offending line (None for a line that is no record)
    after: int  # the highest seq before it
    path: str = ""

    @property
    def breaks_chain(self) -> bool:
        return self.kind in CHAIN_BREAKS

    def describe(self) -> str:
        where = f" of {self.path}" if self.path else ""
        if self.kind in CHAIN_BREAKS:
            return f"seq {self.seq} after {self.after} at line {self.line_no}{where}"
        if self.kind == GAP:
            return (f"seq {self.seq} after {self.after} at line {self.line_no}{where} "
                    f"(seq {self.after + 1} to {self.seq - 1} missing)")  # type: ignore[operator]
        if self.kind == OVERSIZED:
            return (f"line {self.line_no}{where} after seq {self.after} is longer than "
                    f"{MAX_LINE_BYTES} bytes")
        return f"unreadable line {self.line_no}{where} after seq {self.after}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "line": self.line_no, "seq": self.seq, "after": self.after,
                "path": self.path, "message": self.describe()}


class JournalIntegrityError(RuntimeError):
    """A journal breaks the seq rule: it is not appended to until an operator repairs it."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(f"journal integrity broken: {problem.describe()}; nothing is appended "
                         "until `peaktrade journal repair` quarantines the offending lines")


class LineSplitter:
    """The one line splitter: bytes in, complete lines out, in order.

    A partial last line is held until its newline arrives; a line longer than
    `max_line` is dropped as it streams past and stands as None once it ends.
    """

    __slots__ = ("_partial", "_skipping", "max_line")

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self._partial = b""
        self._skipping = False

    @property
    def pending(self) -> bool:
        """Bytes of an unfinished line are held (or being skipped)."""
        return bool(self._partial) or self._skipping

    def reset(self) -> None:
        self._partial = b""
        self._skipping = False

    def feed(self, chunk: bytes) -> list[bytes | None]:
        """The lines that `chunk` completes, without their newlines (None: oversized)."""
        parts: list[bytes | None] = chunk.split(b"\n")  # type: ignore[assignment]
        limit = self.max_line
        if self._skipping:
            if len(parts) == 1:
                return []
            self._skipping = False
            parts[0] = None
        elif self._partial:
            first = self._partial + parts[0]  # type: ignore[operator]
            parts[0] = first if len(first) <= limit or len(parts) == 1 else None
        partial: bytes = parts.pop()  # type: ignore[assignment]
        if len(chunk) > limit:  # only then can a line within the chunk be over the limit
            parts = [p if p is None or len(p) <= limit else None for p in parts]
        if len(partial) > limit:
            self._partial = b""
            self._skipping = True
        else:
            self._partial = partial
        return parts

    def finish(self) -> list[bytes | None]:
        """The unterminated last line of a stream that ended (a torn write), if any."""
        if self._skipping:
            self.reset()
            return [None]
        partial, self._partial = self._partial, b""
        return [partial] if partial else []


def iter_line_blocks(fh: BinaryIO, max_line: int = MAX_LINE_BYTES) -> Iterator[list[bytes | None]]:
    """The lines of a stream, a chunk's worth at a time (None: an oversized line)."""
    splitter = LineSplitter(max_line)
    while chunk := fh.read(CHUNK_BYTES):
        lines = splitter.feed(chunk)
        if lines:
            yield lines
    rest = splitter.finish()
    if rest:
        yield rest


class SeqChain:
    """Follows the seqs of one session's lines in file order and names every rule break.

    `take` answers whether a record is to be applied: only a record whose seq is above
    every seq before it. Lines that are no record are counted (torn, oversized).
    """

    __slots__ = ("breaks", "gaps", "last_seq", "line_no", "path", "problems", "unreadable")

    def __init__(self, last_seq: int = 0, path: str = "", line_no: int = 0) -> None:
        self.last_seq = last_seq
        self.line_no = line_no
        self.path = path
        self.problems: list[Problem] = []
        self.breaks = 0  # backwards or repeated seqs
        self.gaps = 0
        self.unreadable = 0  # torn or oversized lines

    @property
    def first_break(self) -> Problem | None:
        return next((p for p in self.problems if p.breaks_chain), None)

    def take(self, seq: int) -> bool:
        """A record's seq at the next line: True when it follows the chain."""
        self.line_no += 1
        last = self.last_seq
        if seq > last:
            if seq != last + 1 and last:
                self.gaps += 1
                self._note(GAP, seq, last)
            self.last_seq = seq
            return True
        self.breaks += 1
        self._note(REPEAT if seq == last else BACKWARDS, seq, last)
        return False

    def skip(self, oversized: bool = False) -> None:
        """A line at the next line number that is no record."""
        self.line_no += 1
        self.unreadable += 1
        self._note(OVERSIZED if oversized else TORN, None, self.last_seq)

    def blank(self) -> None:
        self.line_no += 1

    def _note(self, kind: str, seq: int | None, after: int) -> None:
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(Problem(kind, self.line_no, seq, after, self.path))


def take_line(chain: SeqChain, line: bytes | None, session_id: str | None = None,
              full: bool = False) -> dict | None:
    """Read one line into `chain`: the record if it is to be applied, else None.

    `full` parses the payload too; otherwise only the head (payload None) for v1 lines.
    """
    if line is None:
        chain.skip(oversized=True)
        return None
    if not line or line.isspace():
        chain.blank()
        return None
    record = (parse_line if full else parse_line_head)(line, chain.line_no + 1, session_id)
    if record is None:
        chain.skip()
        return None
    return record if chain.take(record["seq"]) else None


def take_seq(chain: SeqChain, line: bytes | None) -> None:
    """Like take_line, for a writer finding where the session ends: a line in the shape the
    journal writes is not decoded, its seq is read from its head. A torn line that happens
    to end in '}' then counts its seq, so the writer errs towards a gap, never a repeat."""
    if line and line.startswith(_V1_HEAD) and line.endswith(b"}"):
        end = line.find(b",", _SEQ_AT, _SEQ_AT + 20)
        digits = line[_SEQ_AT:end]
        if end > 0 and digits.isdigit():
            chain.take(int(digits))
            return
    take_line(chain, line, full=False)


def scan_chain(fd: int, start: int, end: int, chain: SeqChain,
               max_line: int = MAX_LINE_BYTES, *, final: bool = True,
               exact: bool = True) -> int:
    """Read bytes [start, end) of a file into `chain` (heads only); returns how many bytes
    follow the last newline. `final`: those bytes are a torn line (the file is complete),
    else an append in progress, left unread. `exact`: every line is decoded (a reader);
    otherwise see take_seq (the writer).

    The one last-seq scanner: forward, linear in the bytes read, an oversized line
    skipped without being held.
    """
    take = take_line if exact else take_seq
    splitter = LineSplitter(max_line)
    pos = start
    after_newline = start
    while pos < end:
        chunk = os.pread(fd, min(CHUNK_BYTES, end - pos), pos)
        if not chunk:
            break
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            after_newline = pos + newline + 1
        pos += len(chunk)
        for line in splitter.feed(chunk):
            take(chain, line)
    if final:
        for line in splitter.finish():
            take(chain, line)
    return pos - after_newline


def scan_file(path: Path, max_line: int = MAX_LINE_BYTES) -> SeqChain:
    """The chain of a whole journal file, plain or gzipped (archive segments)."""
    chain = SeqChain(path=str(path))
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as fh:
                for block in iter_line_blocks(fh, max_line):  # type: ignore[arg-type]
                    for line in block:
                        take_line(chain, line, full=False)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            chain.skip()  # a truncated or corrupt archive: the rest is one bad line
        return chain
    with open(path, "rb") as fh:
        scan_chain(fh.fileno(), 0, os.fstat(fh.fileno()).st_size, chain, max_line)
    return chain

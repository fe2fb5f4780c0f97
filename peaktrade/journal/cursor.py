"""Follow one session's journal from a seq onwards: byte offsets, partial lines, rotation."""

from __future__ import annotations

import os
from pathlib import Path

from peaktrade.events import parse_line, parse_line_head
from peaktrade.journal.files import active_path, archive_segments
from peaktrade.journal.integrity import (
    CHUNK_BYTES,
    MAX_LINE_BYTES,
    LineSplitter,
    Problem,
    SeqChain,
    scan_chain,
)
from peaktrade.journal.reader import LineStats, read_events, read_file, segments_after

UNREADABLE = "unreadable"  # the kind of the marker a cursor reports for a bad line
_V1_HEAD = b'{"v":1,"seq":'
_KIND_KEY = b',"kind":"'
_HEAD_SPAN = 200  # v, seq, ts and a valid session id always end before this


class JournalCursor:
    """Reads the records appended to a session since the last poll, each exactly once.

    It keeps the active file open at a byte offset, holds back a partial last line
    until its newline arrives, drains a segment that was rotated away before moving
    on, and falls back to the archive when it missed whole segments. Every line goes
    through the journal's integrity rules (a stale or repeated seq is never returned;
    `problems` names it). A writer that appends while holding the session lock calls
    `wrote` so that its own lines are not read back.

    `head_only`: kinds whose payload the reader ignores, read without decoding it
    (payload None). `report_unreadable`: a line that is no record is returned as a
    marker of kind UNREADABLE where it stands, for a projection that must fail closed.
    """

    def __init__(self, root: str | os.PathLike[str], session_id: str,
                 after_seq: int | None = 0, *, head_only: frozenset[str] = frozenset(),
                 report_unreadable: bool = False, max_line: int = MAX_LINE_BYTES) -> None:
        self.root = Path(root)
        self.session_id = session_id
        self.path = active_path(self.root, session_id)
        self._path = str(self.path)
        self.stats = LineStats()
        self.last_seq = 0
        self.report_unreadable = report_unreadable
        self._head_only = frozenset(kind.encode() for kind in head_only)
        self._splitter = LineSplitter(max_line)
        self.chain = SeqChain(path=self._path)
        self._fd = -1
        self._ino = -1
        self._offset = 0
        self._held: list[dict] = []  # markers met while skipping the caller's own lines
        if after_seq is None:
            self._start_at_end()
        else:
            self.last_seq = after_seq
            self._needs_archive = True

    @property
    def problems(self) -> list[Problem]:
        """Rule breaks met in the active file, in line order."""
        return self.chain.problems

    @property
    def broken(self) -> Problem | None:
        """The first stale or repeated seq in the active file (None while it is sound)."""
        return self.chain.first_break

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._ino = -1

    def poll(self) -> list[dict]:
        """Every complete record appended by anyone since the previous poll, in seq order."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            st = None
        out: list[dict] = []
        if self._held:
            out, self._held = self._held, []
        if self._fd < 0:
            self._adopt(out)
            return out
        if st is not None and st.st_ino == self._ino:
            size = st.st_size
            if size == self._offset:
                return out
            if size < self._offset:
                # Truncated in place (a repair, an undone write): read it again from the
                # start; what was returned already is not returned again.
                self._restart_file()
            self._drain(out, size)
            return out
        # Rotated (or replaced): nothing more is written to the old segment once renamed.
        self._drain(out)
        self._finish_file(out)
        self.close()
        self._needs_archive = True
        self._adopt(out)
        return out

    def wrote(self, last_seq: int, end: tuple[int, int, int] | None = None) -> None:
        """The caller appended up to `last_seq` holding the session lock: skip those lines.

        `end` is the writer's (inode, size, lines) after the append (SessionWriter.end):
        the cursor moves there without reading, onto the new active file when the journal
        rotated (under the lock, everything up to `last_seq` is known). Without it, the
        caller's lines are read (and dropped: the caller has them).
        """
        if end is None:
            self.poll()
            return
        if end[0] != self._ino:
            self.close()
            self._open()
        if end[0] != self._ino:  # rotated again since: read what there is
            self.poll()
            return
        for line in self._splitter.finish():  # a torn line the writer newline-terminated
            self._take(line, self._held)
        self._offset = end[1]
        self.last_seq = last_seq
        chain = self.chain
        chain.last_seq = max(chain.last_seq, last_seq)
        chain.line_no = end[2]

    def _adopt(self, out: list[dict]) -> None:
        """Open the active file, read what the archive holds after last_seq, then drain it.

        The active file is opened before the archive is listed, so a rotation in between
        makes a segment read twice (seq drops the repeats) and never skipped.
        """
        opened = self._open()
        if self._needs_archive:
            self._read_archive(out)
            self._needs_archive = opened is False
        if opened:
            self._drain(out)

    def _archived_last_seq(self) -> int:
        last = next(iter(read_events(self.root, session_id=self.session_id,
                                     newest_first=True, limit=1)), None)
        return last["seq"] if last else 0

    def _start_at_end(self) -> None:
        """Start after the last complete line; everything before it is checked, not returned."""
        self._needs_archive = False
        if not self._open():
            # Between a rotation and the next append: the end is in the archive.
            self.last_seq = self._archived_last_seq()
            self._needs_archive = True
            return
        size = os.fstat(self._fd).st_size
        pending = scan_chain(self._fd, 0, size, self.chain, self._splitter.max_line,
                             final=False)
        self._offset = size - pending
        chain = self.chain
        # An active file with no record yet (just rotated): the end is in the archive.
        self.last_seq = chain.last_seq or self._archived_last_seq()
        chain.last_seq = self.last_seq

    def _open(self) -> bool:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        self._fd = fd
        self._ino = os.fstat(fd).st_ino
        self._restart_file()
        return True

    def _restart_file(self) -> None:
        """Read the active file from its start; its chain is judged on its own (a segment
        after a rotation continues the archive's, which _adopt sets before reading)."""
        self._offset = 0
        self._splitter.reset()
        self.chain = SeqChain(path=self._path)

    def _drain(self, out: list[dict], size: int | None = None) -> None:
        """Read from the offset up to `size` (the file's size when not given).

        Exactly what is there is read: a buffered read of a whole chunk would allocate
        (and map) a megabyte on every poll, which costs more than the records.
        """
        fd = self._fd
        if fd < 0:
            return
        if size is None:
            size = os.fstat(fd).st_size
        feed, take = self._splitter.feed, self._take
        while self._offset < size:
            chunk = os.pread(fd, min(CHUNK_BYTES, size - self._offset), self._offset)
            if not chunk:
                break  # truncated under us
            self._offset += len(chunk)
            for line in feed(chunk):
                take(line, out)

    def _finish_file(self, out: list[dict]) -> None:
        """The segment ended (rotated away): an unterminated last line is a torn line."""
        for line in self._splitter.finish():
            self._take(line, out)

    def _take(self, line: bytes | None, out: list[dict]) -> None:
        chain = self.chain
        stats = self.stats
        stats.total += 1
        if line is None:
            stats.invalid += 1
            chain.skip(oversized=True)
            self._unreadable(b"(a line longer than the maximum line length)", out)
            return
        if not line or line.isspace():
            stats.blank += 1
            chain.blank()
            return
        record = None
        if self._head_only and line.startswith(_V1_HEAD):
            at = line.find(_KIND_KEY, 0, _HEAD_SPAN)
            if at > 0:
                start = at + len(_KIND_KEY)
                if line[start:line.find(b'"', start)] in self._head_only:
                    record = parse_line_head(line, chain.line_no + 1, self.session_id)
        if record is None:
            record = parse_line(line, chain.line_no + 1, self.session_id)
        if record is None:
            stats.invalid += 1
            chain.skip()
            self._unreadable(line, out)
            return
        stats.valid += 1
        if not chain.take(record["seq"]):
            stats.seq_breaks += 1
            return
        if record["seq"] > self.last_seq:
            self.last_seq = record["seq"]
            out.append(record)

    def _unreadable(self, line: bytes, out: list[dict]) -> None:
        if self.report_unreadable:
            out.append({"kind": UNREADABLE, "seq": self.last_seq, "ts": None,
                        "line_no": self.chain.line_no,
                        "payload": {"line": line[:120].decode("utf-8", "replace")}})

    def _read_archive(self, out: list[dict]) -> None:
        """Records after last_seq that sit in archive segments (missed rotations)."""
        for _attempt in range(5):
            segments = archive_segments(self.root, self.session_id).get(self.session_id, [])
            try:
                for segment in segments_after(segments, self.last_seq):
                    for rec in read_file(segment.path, self.stats, self.session_id,
                                         self._newer):
                        self.last_seq = rec["seq"]
                        self.chain.last_seq = max(self.chain.last_seq, rec["seq"])
                        out.append(rec)
                return
            except FileNotFoundError:
                continue  # a segment was compressed while listed: list again

    def _newer(self, rec: dict) -> bool:
        return rec["seq"] > self.last_seq


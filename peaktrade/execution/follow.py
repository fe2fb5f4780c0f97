"""Keep a projection current with one session's journal without re-reading its own writes."""

from __future__ import annotations

import os
from pathlib import Path

from peaktrade.events import parse_line, parse_line_head
from peaktrade.journal import archive_segments, read_events
from peaktrade.journal.files import active_path

_CHUNK = 1 << 20
UNREADABLE = "unreadable"  # the kind of the marker a tail reports for a bad line
_V1_HEAD = b'{"v":1,"seq":'
_KIND_KEY = b',"kind":"'
_HEAD_SPAN = 200  # v, seq, ts and a valid session id always end before this


class SessionTail:
    """The records of a session after `last_seq`, read from a byte offset in the active file.

    After the desk appends under the session lock it calls `wrote(last_seq)`, which moves
    the offset to the end of the file, so the desk never parses what it just wrote. On
    rotation the old segment is drained, missed archive segments are read, and the new
    active file is read from its start; seq drops anything already seen.
    """

    def __init__(self, root: str | os.PathLike[str], session_id: str, *,
                 report_unreadable: bool = False,
                 head_only: frozenset[str] = frozenset()) -> None:
        self.root = Path(root)
        # Kinds whose payload the projection ignores: their lines are read without
        # decoding the payload (payload None), which is most of a gate event's bytes.
        self._head_only = frozenset(kind.encode() for kind in head_only)
        # A projection that must fail closed (the desk's controls) is told where bad
        # lines stand among the records, as markers of kind UNREADABLE.
        self.report_unreadable = report_unreadable
        self.session_id = session_id
        self.path = active_path(self.root, session_id)
        self._path = str(self.path)  # stat on every decision: skip the Path conversion
        self.last_seq = 0
        self._fh = None
        self._ino = -1
        self._offset = 0
        self._partial = b""
        # The segment last followed was drained after it rotated away and no active file
        # was open since: only archive segments that start after last_seq can be new.
        self._drained_rotated = False

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._ino = -1

    def poll(self) -> list[dict]:
        """Every complete record appended by anyone since the last poll, in seq order."""
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            st = None
        if st is not None and st.st_ino == self._ino:
            if st.st_size == self._offset:
                return []
            out: list[dict] = []
            self._drain(out, st.st_size)
            return out
        out = []
        if self._fh is not None:
            self._drain(out)  # the rotated segment: nothing more is written to it
            self.close()
            self._drained_rotated = True
        self._read_archive(out, only_newer=self._drained_rotated)
        if st is not None:
            self._open()
            self._drain(out)
        return out

    def wrote(self, last_seq: int, end: tuple[int, int] | None = None) -> None:
        """The caller appended up to `last_seq` while holding the session lock: skip it.

        `end` is the writer's (inode, size) after the append (SessionWriter.end): the tail
        moves to that offset without asking the file, and onto the new active file when
        the journal rotated since (under the lock, everything up to `last_seq` is known).
        """
        if end is not None:
            if end[0] != self._ino:
                self.close()
                self._open()
            if end[0] == self._ino:
                self._offset = end[1]
                self._partial = b""
                self.last_seq = last_seq
                return
        if self._fh is None:
            self._open()
        if self._fh is not None:
            self._offset = os.fstat(self._fh.fileno()).st_size
            self._partial = b""
        self.last_seq = last_seq

    def _open(self) -> None:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held open across polls
        except FileNotFoundError:
            return
        self._fh = fh
        self._ino = os.fstat(fh.fileno()).st_ino
        self._offset = 0
        self._partial = b""
        self._drained_rotated = False

    def _drain(self, out: list[dict], size: int | None = None) -> None:
        """Read from the offset up to `size` (the file's size when not given).

        Exactly what is there is read: a buffered read of a whole chunk would allocate
        (and map) a megabyte on every poll, which costs more than the records.
        """
        fd = self._fh.fileno()
        if size is None:
            size = os.fstat(fd).st_size
        while self._offset < size:
            chunk = os.pread(fd, min(_CHUNK, size - self._offset), self._offset)
            if not chunk:
                break  # truncated under us
            self._offset += len(chunk)
            parts = chunk.split(b"\n")
            parts[0] = self._partial + parts[0]
            self._partial = parts.pop()
            for line in parts:
                self._take(line, out)

    def _take(self, line: bytes, out: list[dict]) -> None:
        if not line or line.isspace():
            return
        record = None
        if self._head_only and line.startswith(_V1_HEAD):
            at = line.find(_KIND_KEY, 0, _HEAD_SPAN)
            if at > 0:
                start = at + len(_KIND_KEY)
                if line[start:line.find(b'"', start)] in self._head_only:
                    record = parse_line_head(line, 0, self.session_id)
        if record is None:
            record = parse_line(line, 0, self.session_id)
        if record is None:
            if self.report_unreadable:
                out.append({"kind": UNREADABLE, "seq": self.last_seq, "ts": None,
                            "payload": {"line": line[:120].decode("utf-8", "replace")}})
        elif record["seq"] > self.last_seq:
            self.last_seq = record["seq"]
            out.append(record)

    def _read_archive(self, out: list[dict], *, only_newer: bool) -> None:
        """Records after last_seq in rotated segments (rotations this tail did not see).

        After draining the segment it had open, only segments that start after last_seq
        can hold anything new; otherwise a segment is skipped when the next one starts
        at or before last_seq + 1.
        """
        for _attempt in range(5):
            try:
                segments = archive_segments(self.root, self.session_id).get(self.session_id, [])
                for index, segment in enumerate(segments):
                    later = segments[index + 1].first_seq if index + 1 < len(segments) else None
                    if (only_newer and segment.first_seq <= self.last_seq) or (
                            later is not None and later <= self.last_seq + 1):
                        continue
                    for record in read_events(segment.path, after_seq=self.last_seq):
                        record["session_id"] = self.session_id
                        self.last_seq = record["seq"]
                        out.append(record)
                return
            except FileNotFoundError:
                continue  # compressed while listed: list again

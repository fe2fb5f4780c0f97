"""Follow one session's journal from a seq onwards: byte offsets, partial lines, rotation."""

from __future__ import annotations

import os
from pathlib import Path

from peaktrade.events import LEGACY_VERSION, parse_line
from peaktrade.journal.files import active_path, archive_segments
from peaktrade.journal.reader import (
    MAX_LINE_BYTES,
    LineStats,
    iter_lines_reversed,
    read_events,
    read_file,
    segments_after,
)


class JournalCursor:
    """Reads the records appended to a session since the last poll, each exactly once.

    It keeps the active file open at a byte offset, holds back a partial last line
    until its newline arrives, drains a segment that was rotated away before moving
    on, and falls back to the archive when it missed whole segments. seq dedupes.
    """

    def __init__(self, root: str | os.PathLike[str], session_id: str,
                 after_seq: int | None = 0) -> None:
        self.root = Path(root)
        self.session_id = session_id
        self.path = active_path(self.root, session_id)
        self.stats = LineStats()
        self.last_seq = 0
        self._fh = None
        self._ino = -1
        self._offset = 0
        self._partial = b""
        self._skipping = False
        self._line_no = 0
        if after_seq is None:
            self._start_at_end()
        else:
            self.last_seq = after_seq
            self._needs_archive = True

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def poll(self) -> list[dict]:
        """Every complete record appended since the previous poll, in seq order."""
        out: list[dict] = []
        if self._fh is None:
            self._adopt(out)
            return out
        self._drain(out)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is None or st.st_ino != self._ino:
            # Rotated: nothing more is written to the old segment once it is renamed.
            self._drain(out)
            self._flush_partial(out)
            self.close()
            self._needs_archive = True
            self._adopt(out)
        elif st.st_size < self._offset:
            # Truncated in place: read it again from the start; seq drops repeats.
            self._fh.seek(0)
            self._offset = 0
            self._partial = b""
            self._skipping = False
            self._line_no = 0
            self._drain(out)
        return out

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
        self._needs_archive = False
        if not self._open():
            # Between a rotation and the next append: the end is in the archive.
            self.last_seq = self._archived_last_seq()
            self._needs_archive = True
            return
        # Start after the last complete line (a write in progress is read when it ends),
        # and take the last seq from the lines before that point: an append landing
        # between the two steps is then read by the next poll, not skipped.
        pos = self._fh.seek(0, os.SEEK_END)
        self._offset = 0
        while pos > 0:
            start = max(0, pos - 65536)
            self._fh.seek(start)
            newline = self._fh.read(pos - start).rfind(b"\n")
            if newline >= 0:
                self._offset = start + newline + 1
                break
            pos = start
        last = None
        for line in iter_lines_reversed(self._fh, self._offset):
            last = parse_line(line, 0, self.session_id) if line else None
            if last is not None:
                break
        # An active file with no record yet (just rotated): the end is in the archive.
        self.last_seq = last["seq"] if last else self._archived_last_seq()
        if last is not None and last["v"] == LEGACY_VERSION:
            self._fh.seek(0)
            remaining, self._line_no = self._offset, 0
            while remaining > 0:
                chunk = self._fh.read(min(remaining, 1 << 20))
                remaining -= len(chunk)
                self._line_no += chunk.count(b"\n")
            self.last_seq = self._line_no

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held open across polls
        except FileNotFoundError:
            return False
        self._fh = fh
        self._ino = os.fstat(fh.fileno()).st_ino
        self._offset = 0
        self._partial = b""
        self._skipping = False
        self._line_no = 0
        return True

    def _drain(self, out: list[dict]) -> None:
        fh = self._fh
        if fh is None:
            return
        fh.seek(self._offset)
        while chunk := fh.read(1 << 20):
            self._offset += len(chunk)
            parts = chunk.split(b"\n")
            if self._skipping:
                if len(parts) == 1:
                    continue
                # the rest of an oversized line ends here: it counts once, as invalid
                self._skipping = False
                self._take(b"\x00oversized", out)
                parts[0] = b""
                parts = parts[1:]
            else:
                parts[0] = self._partial + parts[0]
            self._partial = parts.pop()
            for line in parts:
                self._take(line, out)
            if len(self._partial) > MAX_LINE_BYTES:
                self._partial = b""
                self._skipping = True

    def _flush_partial(self, out: list[dict]) -> None:
        if self._skipping:
            self._skipping = False
            self._take(b"\x00oversized", out)
        if self._partial:
            self._take(self._partial, out)
            self._partial = b""

    def _take(self, line: bytes, out: list[dict]) -> None:
        self._line_no += 1
        self.stats.total += 1
        if not line or line.isspace():
            self.stats.blank += 1
            return
        rec = parse_line(line, self._line_no, self.session_id)
        if rec is None:
            self.stats.invalid += 1
            return
        self.stats.valid += 1
        if rec["seq"] > self.last_seq:
            self.last_seq = rec["seq"]
            out.append(rec)

    def _read_archive(self, out: list[dict]) -> None:
        """Records after last_seq that sit in archive segments (missed rotations)."""
        for _attempt in range(5):
            segments = archive_segments(self.root, self.session_id).get(self.session_id, [])
            try:
                for segment in segments_after(segments, self.last_seq):
                    keep = self._newer
                    for rec in read_file(segment.path, LineStats(), self.session_id, keep):
                        self.last_seq = rec["seq"]
                        out.append(rec)
                return
            except FileNotFoundError:
                continue  # a segment was compressed while listed: list again

    def _newer(self, rec: dict) -> bool:
        return rec["seq"] > self.last_seq

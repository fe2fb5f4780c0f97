"""Retention of closed sessions: gzip what is still plain, purge what is old or over budget.

Only closed sessions are touched: never the active paper session, never the desk journal,
never a file outside the journal root or one that is not named like a journal file.
`plan_retention` decides, `apply_retention` carries out exactly that plan.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from peaktrade.events import DESK_SESSION, is_valid_session_id, parse_line
from peaktrade.journal.files import (
    ACTIVE_SUFFIX,
    ARCHIVE_DIR,
    LOCK_SUFFIX,
    archive_name,
    archive_segments,
    list_sessions,
)
from peaktrade.journal.writer import compress_segment

GZIP = "gzip"
PURGE = "purge"
SECONDS_PER_DAY = 86_400
MB = 1_000_000


class NotAJournal(ValueError):
    """The folder given as journal root does not look like a journal."""


@dataclass(frozen=True)
class SessionFiles:
    """A session's files on disk, their total size and when it was last written."""

    session_id: str
    files: tuple[Path, ...]
    bytes: int
    last_write: float

    @property
    def plain_files(self) -> tuple[Path, ...]:
        return tuple(f for f in self.files if f.name.endswith(ACTIVE_SUFFIX))


@dataclass(frozen=True)
class RetentionAction:
    """One thing apply will do to one closed session."""

    action: str
    session_id: str
    files: tuple[Path, ...]
    bytes: int
    reason: str

    def describe(self, root: Path) -> str:
        names = ", ".join(str(f.relative_to(root)) for f in self.files)
        return (f"{self.action:<5} {self.session_id}  {len(self.files)} file(s), "
                f"{format_bytes(self.bytes)}  ({self.reason}): {names}")


@dataclass(frozen=True)
class RetentionPlan:
    """What apply will do, what it keeps and why, and the sizes before and after."""

    root: Path
    actions: tuple[RetentionAction, ...]
    kept: tuple[tuple[str, str], ...]
    total_bytes: int

    @property
    def purge_bytes(self) -> int:
        return sum(a.bytes for a in self.actions if a.action == PURGE)

    def lines(self) -> list[str]:
        """The plan as the lines `retention plan` prints."""
        out = [a.describe(self.root) for a in self.actions]
        out += [f"keep  {sid}  ({why})" for sid, why in self.kept]
        out.append(f"journal {self.root}: {format_bytes(self.total_bytes)} now, "
                   f"{format_bytes(self.purge_bytes)} to purge, "
                   f"{sum(1 for a in self.actions if a.action == GZIP)} session(s) to gzip")
        return out


@dataclass(frozen=True)
class RetentionResult:
    """What apply did: one line per action, and the bytes freed on disk."""

    done: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_before: int
    bytes_after: int


def format_bytes(size: int) -> str:
    """Bytes in the unit an operator reads at a glance (decimal units, like `ls -h --si`)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def check_journal_root(root: Path) -> Path:
    """The resolved root, or NotAJournal saying why the folder is refused."""
    if not root.is_dir():
        raise NotAJournal(f"journal root {root} is not a directory")
    resolved = root.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise NotAJournal(f"refusing {resolved}: a journal root is never / or a home folder")
    if (resolved / ARCHIVE_DIR).is_symlink():
        raise NotAJournal(f"{resolved / ARCHIVE_DIR} is a symlink; retention only works "
                          "inside the journal root")
    sessions = list_sessions(resolved)
    if not sessions:
        raise NotAJournal(f"{resolved} holds no session journals (<session>.jsonl or "
                          f"{ARCHIVE_DIR}/<session>.<seq>.jsonl.gz); refusing to touch it")
    for entry in resolved.iterdir():
        if entry.name.endswith(ACTIVE_SUFFIX) and entry.is_file() \
                and not _starts_with_an_event(entry):
            raise NotAJournal(f"{entry} does not start with a journal event; refusing "
                              f"{resolved} as a journal root")
    return resolved


def _starts_with_an_event(path: Path) -> bool:
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                return parse_line(line, 1) is not None
    return True


def session_files_on_disk(root: Path) -> list[SessionFiles]:
    """Every session under the root with its own files only (symlinks are never followed)."""
    out = []
    archived = archive_segments(root)
    for sid in list_sessions(root):
        if not is_valid_session_id(sid):
            continue
        files = _archive_files(root, sid) if sid in archived else []
        for name in (f"{sid}{ACTIVE_SUFFIX}", f"{sid}{LOCK_SUFFIX}"):
            path = root / name
            if path.is_file() and not path.is_symlink():
                files.append(path)
        stats = [f.stat() for f in files]
        out.append(SessionFiles(sid, tuple(files), sum(s.st_size for s in stats),
                                max((s.st_mtime for s in stats), default=0.0)))
    return out


def _archive_files(root: Path, sid: str) -> list[Path]:
    """Every archive file of a session, .jsonl and .jsonl.gz alike."""
    folder = root / ARCHIVE_DIR
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file():
            continue
        for suffix in (".jsonl.gz", ACTIVE_SUFFIX):
            if entry.name.endswith(suffix):
                head, _, first = entry.name[: -len(suffix)].rpartition(".")
                if head == sid and first.isdigit():
                    found.append(entry)
                break
    return found


def plan_retention(root: Path, *, active_session: str | None, days: float,
                   max_mb: float | None = None, keep_last: int = 0,
                   now: datetime | None = None) -> RetentionPlan:
    """Decide which closed sessions to purge (too old, or over the size budget) or gzip."""
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    if max_mb is not None and max_mb <= 0:
        raise ValueError(f"max-mb must be > 0, got {max_mb}")
    if keep_last < 0:
        raise ValueError(f"keep-last must be >= 0, got {keep_last}")
    root = check_journal_root(root)
    now_s = (now or datetime.now(UTC)).timestamp()
    sessions = session_files_on_disk(root)
    total = sum(s.bytes for s in sessions)
    kept: list[tuple[str, str]] = []
    closed = []
    for s in sessions:
        if s.session_id == DESK_SESSION:
            kept.append((s.session_id, "desk journal"))
        elif s.session_id == active_session:
            kept.append((s.session_id, "active session"))
        else:
            closed.append(s)
    closed.sort(key=lambda s: s.last_write, reverse=True)
    protected = {s.session_id for s in closed[:keep_last]}
    purge: dict[str, str] = {}
    for s in closed:
        age_days = (now_s - s.last_write) / SECONDS_PER_DAY
        if s.session_id not in protected and age_days > days:
            purge[s.session_id] = f"closed, last written {age_days:.1f} days ago > {days:g}"
    if max_mb is not None:
        remaining = total - sum(s.bytes for s in closed if s.session_id in purge)
        for s in reversed(closed):
            if remaining <= max_mb * MB:
                break
            if s.session_id in purge or s.session_id in protected:
                continue
            purge[s.session_id] = (f"closed, oldest while the journal is over "
                                   f"{max_mb:g} MB ({format_bytes(remaining)})")
            remaining -= s.bytes
    actions = []
    for s in sorted(closed, key=lambda s: s.last_write):
        if s.session_id in purge:
            actions.append(RetentionAction(PURGE, s.session_id, s.files, s.bytes,
                                           purge[s.session_id]))
        elif s.plain_files:
            actions.append(RetentionAction(GZIP, s.session_id, s.plain_files,
                                           sum(f.stat().st_size for f in s.plain_files),
                                           "closed, not compressed yet"))
        elif s.session_id in protected:
            kept.append((s.session_id, f"one of the last {keep_last} sessions"))
        else:
            kept.append((s.session_id, f"closed, younger than {days:g} days"))
    return RetentionPlan(root, tuple(actions), tuple(kept), total)


@contextlib.contextmanager
def _session_lock(root: Path, sid: str) -> Iterator[bool]:
    """Try the session's writer lock without waiting; yields whether it was taken."""
    lock = root / f"{sid}{LOCK_SUFFIX}"
    if not lock.exists():
        yield True
        return
    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def apply_retention(plan: RetentionPlan, *, active_session: str | None) -> RetentionResult:
    """Carry out a plan; a session that became active or is being written is skipped."""
    root = plan.root
    done: list[str] = []
    skipped: list[str] = []
    before = sum(s.bytes for s in session_files_on_disk(root))
    for action in plan.actions:
        sid = action.session_id
        if sid in (active_session, DESK_SESSION):
            skipped.append(f"skip  {sid}: it is the active session now")
            continue
        if any(not _inside(root, f) for f in action.files):
            skipped.append(f"skip  {sid}: a file lies outside {root}")
            continue
        with _session_lock(root, sid) as free:
            if not free:
                skipped.append(f"skip  {sid}: a writer holds its lock")
                continue
            if action.action == PURGE:
                for path in action.files:
                    if path.name.endswith(LOCK_SUFFIX):
                        continue
                    path.unlink(missing_ok=True)
                done.append(f"purged {sid}: {format_bytes(action.bytes)}")
            else:
                made = [_gzip(root, sid, path) for path in action.files]
                done.append(f"gzipped {sid}: {format_bytes(action.bytes)} -> "
                            f"{format_bytes(sum(p.stat().st_size for p in made))}")
        if action.action == PURGE:
            (root / f"{sid}{LOCK_SUFFIX}").unlink(missing_ok=True)
    after = sum(s.bytes for s in session_files_on_disk(root))
    return RetentionResult(tuple(done), tuple(skipped), before, after)


def _inside(root: Path, path: Path) -> bool:
    return not path.is_symlink() and path.resolve().parent in (root, root / ARCHIVE_DIR)


def _gzip(root: Path, sid: str, path: Path) -> Path:
    """Gzip a plain file of a closed session into the archive, where readers look for it."""
    if path.parent == root:
        with open(path, "rb") as fh:
            first = next((parse_line(line, 1, sid) for line in fh if line.strip()), None)
        first_seq = first["seq"] if first else 1
        target = root / ARCHIVE_DIR / archive_name(sid, first_seq)
        if target.exists() or target.with_name(target.name + ".gz").exists():
            raise FileExistsError(f"cannot archive {path}: {target} already exists")
        target.parent.mkdir(exist_ok=True)
        os.rename(path, target)
        path = target
    return compress_segment(path)

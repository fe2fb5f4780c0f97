"""Where a session's journal lives on disk: the active segment and its archive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peaktrade.events import validate_session_id

ACTIVE_SUFFIX = ".jsonl"
ARCHIVE_DIR = "archive"
LOCK_SUFFIX = ".lock"


def active_path(root: Path, session_id: str) -> Path:
    """The active segment of a session (the session id is validated first)."""
    return root / f"{validate_session_id(session_id)}{ACTIVE_SUFFIX}"


def lock_path(root: Path, session_id: str) -> Path:
    return root / f"{validate_session_id(session_id)}{LOCK_SUFFIX}"


def archive_name(session_id: str, first_seq: int) -> str:
    return f"{session_id}.{first_seq}{ACTIVE_SUFFIX}"


@dataclass(frozen=True, order=True)
class Segment:
    """One rotated segment: its first seq and the file holding it."""

    first_seq: int
    path: Path


def split_archive_name(name: str) -> tuple[str, int] | None:
    """'<session>.<first_seq>.jsonl[.gz]' -> (session, first_seq); None for other names."""
    if name.endswith(".jsonl.gz"):
        stem = name[: -len(".jsonl.gz")]
    elif name.endswith(ACTIVE_SUFFIX):
        stem = name[: -len(ACTIVE_SUFFIX)]
    else:
        return None
    session, _, first = stem.rpartition(".")
    if not session or not first.isdigit():
        return None
    return session, int(first)


def archive_segments(root: Path, session_id: str | None = None) -> dict[str, list[Segment]]:
    """Archive segments per session, oldest first; one file per segment.

    While a segment is being compressed both '.jsonl' and '.jsonl.gz' exist with the
    same content; the plain one is listed then.
    """
    folder = root / ARCHIVE_DIR
    found: dict[str, dict[int, Path]] = {}
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return {}
    for entry in entries:
        parsed = split_archive_name(entry.name)
        if parsed is None or (session_id is not None and parsed[0] != session_id) \
                or entry.is_symlink():
            continue
        per = found.setdefault(parsed[0], {})
        if parsed[1] not in per or entry.name.endswith(ACTIVE_SUFFIX):
            per[parsed[1]] = entry
    return {sid: [Segment(first, path) for first, path in sorted(per.items())]
            for sid, per in found.items()}


def session_files(root: Path, session_id: str) -> list[Path]:
    """Every file of a session in reading order: archive segments, then the active file."""
    files = [seg.path for seg in archive_segments(root, session_id).get(session_id, [])]
    active = active_path(root, session_id)
    if active.is_file() and not active.is_symlink():
        files.append(active)
    return files


def list_sessions(root: Path) -> list[str]:
    """Session ids with an active file or archived segments under the journal root."""
    ids = set(archive_segments(root))
    try:
        for entry in root.iterdir():
            # A link could lead outside the journal root: it is no session of ours.
            if entry.name.endswith(ACTIVE_SUFFIX) and entry.is_file() and not entry.is_symlink():
                ids.add(entry.name[: -len(ACTIVE_SUFFIX)])
    except (FileNotFoundError, NotADirectoryError):
        pass
    return sorted(ids)

"""The execution journal: append-only JSONL per session, the desk's source of truth."""

from peaktrade.journal.cursor import JournalCursor
from peaktrade.journal.files import active_path, archive_segments, list_sessions, session_files
from peaktrade.journal.reader import EventReader, LineStats, newest, read_events
from peaktrade.journal.writer import Journal, JournalError, SessionWriter, compress_leftovers

__all__ = [
    "EventReader", "Journal", "JournalCursor", "JournalError", "LineStats", "SessionWriter",
    "active_path", "archive_segments", "compress_leftovers", "list_sessions", "newest",
    "read_events", "session_files",
]

"""Exports of journal records: timeline items, CSV and JSON lines, streamed in chunks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from peaktrade.telemetry.describe import describe, details

CSV_COLUMNS = ("ts", "kind", "symbol", "session_id", "description", "details")
MISSING = "-"  # every CSV column is filled: this stands for a record without the value
ROWS_PER_CHUNK = 500


def timeline_item(record: dict) -> dict[str, Any]:
    """A record as the timeline shows it: every field plus its one-line description."""
    return {**record, "description": describe(record)}


def csv_row(record: dict) -> tuple[str, ...]:
    """The CSV columns of one record."""
    return (record.get("ts") or MISSING, record.get("kind") or MISSING,
            record.get("symbol") or MISSING, record.get("session_id") or MISSING,
            describe(record), details(record))


def csv_chunks(records: Iterable[dict], *, header: bool = True) -> Iterator[str]:
    """CSV text (header first) in chunks of a few hundred rows; constant memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for rows, record in enumerate(records, 1):
        writer.writerow(csv_row(record))
        if rows % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def jsonl_chunks(records: Iterable[dict]) -> Iterator[bytes]:
    """Timeline items as JSON lines, in chunks of a few hundred lines; constant memory."""
    dumps = orjson.dumps
    lines: list[bytes] = []
    for record in records:
        lines.append(dumps(timeline_item(record), option=orjson.OPT_APPEND_NEWLINE))
        if len(lines) == ROWS_PER_CHUNK:
            yield b"".join(lines)
            lines.clear()
    if lines:
        yield b"".join(lines)


def export_file_name(session_id: str | None, kinds: Iterable[str] | None,
                     extension: str = "csv") -> str:
    """'telemetry_<session|all>_<kind|all>.<extension>'; several kinds join with '-'."""
    kind_part = "-".join(sorted(kinds)) if kinds else "all"
    return f"telemetry_{session_id or 'all'}_{kind_part}.{extension}"

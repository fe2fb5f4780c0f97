"""Telemetry JSON and CSV: /api/telemetry, /api/live/execution/<session_id>."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint, Response, jsonify, request, stream_with_context
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from peaktrade.events import DECISIONS, KINDS, InvalidSessionId, canonical_ts, validate_session_id
from peaktrade.execution import active_session_id
from peaktrade.journal import EventReader, read_events, session_files
from peaktrade.telemetry.export import csv_chunks, export_file_name, jsonl_chunks, timeline_item
from peaktrade.telemetry.summary import SummaryBuilder, summarize
from peaktrade.web.context import get_journal
from peaktrade.web.errors import error_response

bp = Blueprint("telemetry_api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
FORMATS = ("json", "csv", "jsonl")
TIME_FORMAT_HINT = "an ISO-8601 time such as 2026-01-05T14:30:00Z, or epoch seconds"


class CommaList(fields.Field):
    """'a,b' -> ('a', 'b'); empty -> None; each item must be one of `choices` when given."""

    def __init__(self, choices: tuple[str, ...] | None = None, **kwargs: Any) -> None:
        super().__init__(load_default=None, **kwargs)
        self.choices = choices

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        items = tuple(sorted({part.strip() for part in str(value).split(",") if part.strip()}))
        wrong = [item for item in items if self.choices and item not in self.choices]
        if wrong:
            raise ValidationError(f"{self.data_key or attr} must be one of "
                                  f"{', '.join(self.choices or ())}, got {wrong[0]!r}")
        return items or None


class TimeArg(fields.Field):
    """A time bound: ISO-8601 (any offset, naive = UTC) or epoch seconds -> canonical UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = str(value).strip()
        if not text:
            return None
        try:
            return canonical_ts(float(text) if _is_number(text) else text)
        except (ValueError, OverflowError, OSError):
            raise ValidationError(f"{self.data_key or attr} must be {TIME_FORMAT_HINT}, "
                                  f"got {text!r}") from None


class LimitArg(fields.Field):
    """A whole number from 1 to MAX_LIMIT."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = str(value).strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise ValidationError(f"limit must be a whole number from 1 to {MAX_LIMIT}, "
                                  f"got {text!r}")
        return int(text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class TimelineArgs(Schema):
    """Query arguments of the live timeline API."""

    class Meta:
        unknown = EXCLUDE

    kind = CommaList(KINDS)
    symbol = CommaList()
    strategy = fields.String(load_default=None)
    decision = CommaList(DECISIONS)
    since = TimeArg(data_key="from", load_default=None)
    until = TimeArg(data_key="to", load_default=None)
    limit = LimitArg(load_default=DEFAULT_LIMIT)


class TelemetryArgs(TimelineArgs):
    """Query arguments of /api/telemetry: the timeline's, plus session and format."""

    session_id = fields.String(load_default=None)
    limit = LimitArg(load_default=None)
    format = fields.String(load_default="json", validate=validate.OneOf(
        FORMATS, error="format must be one of json, csv, jsonl, got {input!r}"))


@dataclass(frozen=True)
class TelemetryQuery:
    """A validated read of the journal: which records, how many, in which format."""

    session_id: str | None = None
    kind: tuple[str, ...] | None = None
    symbol: tuple[str, ...] | None = None
    strategy: str | None = None
    decision: tuple[str, ...] | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    format: str = "json"

    def reader(self, **extra: Any) -> EventReader:
        """A journal read with this query's filters (the limit is the caller's)."""
        wanted = frozenset(self.decision or ())
        where = (lambda rec: rec["payload"].get("decision") in wanted) if wanted else None
        return read_events(get_journal().root, session_id=self.session_id, kind=self.kind,
                           symbol=self.symbol, strategy=self.strategy, since=self.since,
                           until=self.until, where=where, **extra)

    def as_dict(self) -> dict[str, Any]:
        """The query as the response echoes it ('from'/'to' as canonical UTC)."""
        return {"session_id": self.session_id, "kind": list(self.kind or []),
                "symbol": list(self.symbol or []), "strategy": self.strategy,
                "decision": list(self.decision or []), "from": self.since, "to": self.until,
                "limit": self.limit, "format": self.format}


class BadQuery(Exception):
    """A query argument is wrong: the response it should get."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@bp.errorhandler(BadQuery)
def _bad_query(err: BadQuery) -> Response:
    return err.response


def parse_args(schema: Schema, **known: Any) -> TelemetryQuery:
    """Validate query arguments: 422 naming every bad argument and what is allowed."""
    # A repeated argument (kind=fill&kind=order) means the same as kind=fill,order.
    args = {key: ",".join(request.args.getlist(key)) for key in request.args}
    try:
        values = schema.load(args)
    except ValidationError as err:
        messages = {key: value if isinstance(value, list) else [str(value)]
                    for key, value in err.messages.items()}
        first = next(iter(messages.values()))[0]
        raise BadQuery(error_response(422, first, messages)) from None
    for key in ("session_id", "strategy"):
        if key in values and not values[key]:
            values[key] = None
    return TelemetryQuery(**{**values, **known})


def known_session(session_id: str) -> str:
    """400 for a malformed session id, 404 for one the journal does not know."""
    try:
        validate_session_id(session_id)
    except InvalidSessionId as err:
        raise BadQuery(error_response(400, str(err), {"session_id": [str(err)]})) from None
    root = get_journal().root
    if not session_files(root, session_id) and session_id != active_session_id(root):
        message = f"session {session_id!r} not found in the journal"
        raise BadQuery(error_response(404, message, {"session_id": [message]}))
    return session_id


@bp.get("/live/execution/<path:session_id>")
def live_execution(session_id: str):
    """Newest-first timeline of a session, filtered before the limit, with its summary."""
    query = parse_args(TimelineArgs(), session_id=known_session(session_id))
    reader = query.reader(newest_first=True, limit=query.limit)
    records = list(reader)
    return jsonify({"timeline": [timeline_item(rec) for rec in records],
                    "summary": summarize(reversed(records), reader.stats),
                    "filters": query.as_dict(), "count": len(records)})


@bp.get("/telemetry")
def telemetry():
    """Summary and newest-first timeline of a journal query; CSV or JSON lines on request."""
    query = parse_args(TelemetryArgs())
    if query.session_id is not None:
        known_session(query.session_id)
    if query.format != "json":
        return _export(query)
    query = replace(query, limit=query.limit or DEFAULT_LIMIT)
    reader = query.reader()
    builder = SummaryBuilder()
    newest: deque[dict] = deque(maxlen=query.limit)
    builder.add_all(_kept(reader, newest))
    return jsonify({"summary": builder.result(reader.stats),
                    "timeline": [timeline_item(rec) for rec in reversed(newest)],
                    "query": query.as_dict(),
                    "stats": {**reader.stats.as_dict(), "error_rate": reader.stats.error_rate}})


def _kept(records: EventReader, window: deque[dict]) -> Iterator[dict]:
    """Pass records through, keeping the last ones in `window`."""
    for rec in records:
        window.append(rec)
        yield rec


def _export(query: TelemetryQuery) -> Response:
    """Stream the query's records oldest first; a limit keeps only the newest ones."""
    if query.limit is not None:
        records: Any = reversed(list(query.reader(newest_first=True, limit=query.limit)))
    else:
        records = query.reader()
    if query.format == "csv":
        body, mimetype = csv_chunks(records), "text/csv"
    else:
        body, mimetype = jsonl_chunks(records), "application/x-ndjson"
    name = export_file_name(query.session_id, query.kind, query.format)
    return Response(stream_with_context(body), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Accel-Buffering": "no"})

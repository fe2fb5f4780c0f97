"""The event record (schema v1), its kinds, and how journal lines become records.

A record is a plain dict with exactly the keys of FIELDS. Timestamps are kept in
one canonical form (UTC, microseconds, ``Z``), so comparing two of them as
strings compares them as times. Lines of the predecessor system are normalised
into the same shape on read.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

SCHEMA_VERSION = 1
LEGACY_VERSION = 0

FIELDS = ("v", "seq", "ts", "session_id", "kind", "mode", "symbol", "strategy",
          "intent_id", "order_id", "source", "payload")
OPTIONAL_STR_FIELDS = ("symbol", "strategy", "intent_id", "order_id", "source")


class Kind(StrEnum):
    INTENT = "intent"
    GATE = "gate"
    ORDER = "order"
    FILL = "fill"
    CANCEL = "cancel"
    REJECT = "reject"
    POSITION = "position"
    QUOTE = "quote"
    CONTROL = "control"
    HEARTBEAT = "heartbeat"
    ERROR = "error"
    ALERT = "alert"


KINDS = tuple(k.value for k in Kind)
MODES = ("paper", "live", "dry_run")
DECISIONS = ("pass", "adjust", "block")  # a gate verdict's decision

SESSION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
DESK_SESSION = "desk"  # the journal of controls that span sessions


class InvalidSessionId(ValueError):
    """A session id that could name a path outside the journal, or is malformed."""


def validate_session_id(session_id: Any) -> str:
    """Return the session id, or raise InvalidSessionId saying what is allowed."""
    if not isinstance(session_id, str) or not _SESSION_ID_RE.match(session_id) \
            or ".." in session_id or session_id.endswith((".jsonl", ".lock", ".gz")):
        raise InvalidSessionId(
            f"invalid session id {session_id!r}: use 1-64 characters of letters, digits, "
            "'_', '.', '-', starting with a letter or digit, without '..'")
    return session_id


def is_valid_session_id(session_id: Any) -> bool:
    try:
        validate_session_id(session_id)
    except InvalidSessionId:
        return False
    return True


def format_ts(moment: datetime) -> str:
    """Canonical timestamp: UTC, ISO-8601, microseconds, 'Z'."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: Any) -> datetime:
    """Parse an ISO-8601 time ('Z', '+00:00' or naive = UTC) or epoch seconds; aware UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def canonical_ts(value: Any) -> str:
    """The canonical form of any accepted timestamp; fast for one already canonical."""
    if isinstance(value, str) and len(value) == 27 and value[26] == "Z" and value[10] == "T":
        return value
    return format_ts(parse_ts(value))


def ts_to_epoch(ts: str) -> float:
    """Seconds since the epoch of a canonical timestamp."""
    return datetime.fromisoformat(ts).timestamp()


def parse_line(line: bytes, line_no: int, default_session: str | None = None) -> dict | None:
    """Turn one journal line into a record, or None when the line is not a valid event."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(raw) is not dict:
        return None
    if raw.get("v") == SCHEMA_VERSION and type(raw.get("seq")) is int and len(raw) == 12:
        ts = raw["ts"]
        if (type(ts) is str and len(ts) == 27 and ts[26] == "Z" and type(raw["kind"]) is str
                and type(raw["payload"]) is dict):
            return raw
    return normalize(raw, line_no, default_session)


_V1_HEAD = b'{"v":1,"seq":'
_PAYLOAD_KEY = b',"payload":{'


def parse_line_head(line: bytes, line_no: int, default_session: str | None = None) -> dict | None:
    """Like parse_line, but a v1 line's payload is not decoded: the record has payload None.

    For scans of millions of lines that need no payload (counts, ids, times). A v1 line
    as the journal writes it ends its payload with '}}'; a line cut short does not, and
    any line that does not look like one is parsed in full.
    """
    cut = line.find(_PAYLOAD_KEY)
    if cut > 0 and line.startswith(_V1_HEAD) and line.endswith(b"}}"):
        try:
            raw = orjson.loads(line[:cut] + b"}")
        except orjson.JSONDecodeError:
            raw = None
        if type(raw) is dict and len(raw) == 11:
            # Subscripts, not get(): this runs for every line of a scan.
            try:
                ts = raw["ts"]
                head = (type(raw["seq"]) is int and type(ts) is str and len(ts) == 27
                        and ts[26] == "Z" and type(raw["kind"]) is str)
            except KeyError:
                head = False
            if head:
                raw["payload"] = None
                return raw
    return parse_line(line, line_no, default_session)


def normalize(raw: dict, line_no: int, default_session: str | None = None) -> dict | None:
    """Normalise a v1 record written by hand, or a legacy line, into the record shape."""
    payload = raw.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return None
    kind = raw.get("kind") or raw.get("event_type") or raw.get("type")
    if not isinstance(kind, str) or not kind:
        return None
    ts_raw = raw.get("ts", raw.get("timestamp"))
    try:
        ts = canonical_ts(ts_raw)
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    seq = raw.get("seq")
    if type(seq) is not int:
        seq = line_no
    mode = raw.get("mode")
    mode = mode.lower().replace("-", "_") if isinstance(mode, str) else None
    record = {
        "v": raw["v"] if type(raw.get("v")) is int else LEGACY_VERSION,
        "seq": seq,
        "ts": ts,
        "session_id": _str_or_none(raw.get("session_id")) or default_session,
        "kind": kind.lower(),
        "mode": mode,
        "symbol": _first_str(raw, payload, "symbol"),
        "strategy": _first_str(raw, payload, "strategy"),
        "intent_id": _first_str(raw, payload, "intent_id"),
        "order_id": _first_str(raw, payload, "order_id", "client_id"),
        "source": _first_str(raw, payload, "source"),
        "payload": payload,
    }
    decision = payload.get("decision")
    if record["kind"] == Kind.GATE and (decision is None or
                                        isinstance(decision, str) and decision.isupper()):
        record["payload"] = _normalize_gate_payload(payload)
    return record


def _normalize_gate_payload(payload: dict) -> dict:
    """Legacy gate payloads {gate, decision: ALLOW|BLOCK} or {gate_name, passed}."""
    out = dict(payload)
    if "gate_name" in out and "gate" not in out:
        out["gate"] = out["gate_name"]
    decision = out.get("decision")
    if isinstance(decision, str):
        out["decision"] = {"ALLOW": "pass", "PASS": "pass", "BLOCK": "block", "VETO": "block",
                           "ADJUST": "adjust"}.get(decision.upper(), decision.lower())
    elif "passed" in out:
        out["decision"] = "pass" if out["passed"] else "block"
    if out.get("decision") == "block" and not out.get("code"):
        gate = str(out.get("gate") or "GATE")
        out["code"] = re.sub(r"(?<!^)(?=[A-Z])", "_", gate).upper().removesuffix("_GATE")
    return out


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _first_str(raw: dict, payload: dict, *keys: str) -> str | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, str) and value:
            return value
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def dumps(record: dict) -> bytes:
    """One journal line for a record (newline included)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


class EventSchema(Schema):
    """Validates a complete v1 record and names the bad field."""

    class Meta:
        unknown = RAISE

    v = fields.Integer(required=True, strict=True, validate=validate.Equal(SCHEMA_VERSION))
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    ts = fields.String(required=True)
    session_id = fields.String(required=True, validate=validate.Regexp(SESSION_ID_PATTERN))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    mode = fields.String(required=True, allow_none=True, validate=validate.OneOf(MODES))
    symbol = fields.String(load_default=None, allow_none=True)
    strategy = fields.String(load_default=None, allow_none=True)
    intent_id = fields.String(load_default=None, allow_none=True)
    order_id = fields.String(load_default=None, allow_none=True)
    source = fields.String(load_default=None, allow_none=True)
    payload = fields.Dict(keys=fields.String(), required=True)

    @validates_schema
    def _check_ts(self, data: dict, **_: Any) -> None:
        ts = data.get("ts")
        if ts is None:
            return
        try:
            if canonical_ts(ts) != ts:
                raise ValueError
        except (ValueError, TypeError):
            raise ValidationError(
                f"ts must be UTC ISO-8601 with microseconds and 'Z', got {ts!r}",
                field_name="ts") from None


def validate_record(record: dict) -> dict:
    """Validate a record against schema v1; raises marshmallow.ValidationError."""
    return EventSchema().load(record)

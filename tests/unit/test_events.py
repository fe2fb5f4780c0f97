"""Event schema v1, session ids, timestamps, and legacy lines read as normal records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from marshmallow import ValidationError

from peaktrade.events import (
    FIELDS,
    KINDS,
    InvalidSessionId,
    Kind,
    canonical_ts,
    dumps,
    format_ts,
    parse_line,
    parse_line_head,
    parse_ts,
    validate_record,
    validate_session_id,
)


def v1(**fields):
    record = {"v": 1, "seq": 1, "ts": "2026-01-05T14:30:00.000000Z", "session_id": "s1",
              "kind": "fill", "mode": "paper", "symbol": "BTC-USD", "strategy": None,
              "intent_id": None, "order_id": "o1", "source": "API", "payload": {"qty": 1}}
    record.update(fields)
    return record


def legacy(line: dict, line_no: int = 7):
    return parse_line(orjson.dumps(line), line_no, "old")


def test_kinds_are_the_designed_ones():
    assert KINDS == ("intent", "gate", "order", "fill", "cancel", "reject", "position",
                     "quote", "control", "heartbeat", "error", "alert")
    assert Kind.FILL == "fill"


def test_a_v1_line_reads_back_as_the_same_record():
    record = v1()
    assert parse_line(dumps(record).rstrip(b"\n"), 1) == record
    assert tuple(parse_line(dumps(record), 1)) == FIELDS


@pytest.mark.parametrize("line", [b"", b"nope", b"[1]", b"42", b'"text"', b"\xff\xfe",
                                  b'{"v":1}', b'{"kind":"fill","ts":"yesterday"}',
                                  b'{"kind":"fill","ts":"2026-01-05T14:30:00Z","payload":3}',
                                  b'{"kind":"","ts":"2026-01-05T14:30:00Z"}'])
def test_lines_that_are_not_events_parse_as_none(line):
    assert parse_line(line, 1) is None


def test_legacy_line_without_v_or_seq_takes_its_line_number():
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "fill", "symbol": "BTC-USD",
                  "payload": {"qty": 1}}, line_no=12)
    assert rec["v"] == 0 and rec["seq"] == 12
    assert rec["session_id"] == "old"
    assert rec["ts"] == "2026-01-05T14:30:00.000000Z"
    assert tuple(rec) == FIELDS


def test_legacy_client_id_is_the_order_id():
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "order", "client_id": "c-9",
                  "payload": {}})
    assert rec["order_id"] == "c-9"
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "fill", "payload": {"client_id": "c-8"}})
    assert rec["order_id"] == "c-8"


def test_legacy_ids_inside_payload_are_lifted():
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "fill",
                  "payload": {"intent_id": "i-1", "order_id": "o-1", "symbol": "ETH-USD",
                              "strategy": "mom"}})
    assert (rec["intent_id"], rec["order_id"], rec["symbol"], rec["strategy"]) \
        == ("i-1", "o-1", "ETH-USD", "mom")


@pytest.mark.parametrize(("payload", "decision", "code"), [
    ({"gate": "MinNotionalGate", "decision": "BLOCK"}, "block", "MIN_NOTIONAL"),
    ({"gate": "PriceSanity", "decision": "ALLOW"}, "pass", None),
    ({"gate_name": "LotSize", "passed": False}, "block", "LOT_SIZE"),
    ({"gate_name": "LotSize", "passed": True}, "pass", None),
    ({"gate": "MinNotional", "decision": "BLOCK", "code": "TOO_SMALL"}, "block", "TOO_SMALL"),
])
def test_legacy_gate_payloads_become_verdicts(payload, decision, code):
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "gate", "payload": payload})
    assert rec["payload"]["decision"] == decision
    assert rec["payload"].get("code") == code
    assert rec["payload"]["gate"] == payload.get("gate", payload.get("gate_name"))


def test_legacy_upper_case_mode_and_kind():
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "FILL", "mode": "PAPER", "payload": {}})
    assert rec["mode"] == "paper" and rec["kind"] == "fill"
    rec = legacy({"ts": "2026-01-05T14:30:00Z", "kind": "order", "mode": "DRY-RUN",
                  "payload": {}})
    assert rec["mode"] == "dry_run"


@pytest.mark.parametrize("ts", ["2026-01-05T14:30:00Z", "2026-01-05T14:30:00+00:00",
                                "2026-01-05T15:30:00+01:00", "2026-01-05T14:30:00",
                                "2026-01-05T14:30:00.000000Z", 1767623400])
def test_legacy_offsets_all_become_canonical_utc(ts):
    rec = legacy({"timestamp": ts, "event_type": "quote", "payload": {}})
    assert rec["ts"] == "2026-01-05T14:30:00.000000Z"
    assert rec["kind"] == "quote"


def test_canonical_timestamps_compare_as_times():
    early = canonical_ts("2026-01-05T15:00:00+01:00")   # 14:00 UTC
    late = canonical_ts("2026-01-05T14:30:00Z")
    assert early < late
    assert parse_ts(early) < parse_ts(late)


def test_format_ts_is_utc_with_microseconds():
    moment = datetime(2026, 1, 5, 16, 30, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_ts(moment) == "2026-01-05T14:30:00.000005Z"
    assert parse_ts("2026-01-05T14:30:00").tzinfo == UTC


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a\\b", ".hidden", "x" * 65, "a..b",
                                 "s.jsonl", "s.lock", "s.gz", None, 5, "with space", "é"])
def test_session_ids_that_could_leave_the_journal_are_refused(bad):
    with pytest.raises(InvalidSessionId, match="invalid session id"):
        validate_session_id(bad)


@pytest.mark.parametrize("good", ["s1", "paper-2026-01-05", "A_b.c-d", "x" * 64])
def test_valid_session_ids(good):
    assert validate_session_id(good) == good


def test_schema_accepts_a_complete_record():
    assert validate_record(v1()) == v1()


@pytest.mark.parametrize(("change", "field"), [
    ({"v": 2}, "v"), ({"seq": 0}, "seq"), ({"seq": "1"}, "seq"),
    ({"ts": "2026-01-05T14:30:00+00:00"}, "ts"), ({"ts": "yesterday"}, "ts"),
    ({"session_id": "../x"}, "session_id"), ({"kind": "trade"}, "kind"),
    ({"mode": "PAPER"}, "mode"), ({"symbol": 5}, "symbol"), ({"payload": [1]}, "payload"),
    ({"extra": 1}, "extra"),
])
def test_schema_names_the_bad_field(change, field):
    with pytest.raises(ValidationError) as err:
        validate_record(v1(**change))
    assert set(err.value.messages) == {field}


def test_schema_names_a_missing_field():
    record = v1()
    del record["payload"]
    with pytest.raises(ValidationError) as err:
        validate_record(record)
    assert "payload" in err.value.messages


def test_head_parse_of_a_v1_line_skips_only_the_payload():
    record = v1(payload={"decision": "pass", "checks": [{"gate": "x"}]})
    line = dumps(record).rstrip(b"\n")
    head = parse_line_head(line, 1)
    assert head == {**record, "payload": None}
    assert tuple(head) == FIELDS


@pytest.mark.parametrize("line", [
    b'{"v":1,"seq":2,"ts":"2026-01-05T14:30:00.000000Z","session_id":"s","kind":"fill","mo',
    b'{"v":1,"seq":2,"ts":"2026-01-05T14:30:00.000000Z","session_id":"s","kind":"fill",'
    b'"mode":"paper","symbol":null,"strategy":null,"intent_id":null,"order_id":null,'
    b'"source":null,"payload":{"a":[1,2',
])
def test_head_parse_refuses_a_line_cut_short(line):
    assert parse_line_head(line, 1) is None


def test_head_parse_falls_back_to_a_full_parse_for_other_lines():
    legacy_line = b'{"ts":"2026-01-05T14:30:00Z","kind":"GATE","payload":{"gate":"X",' \
                  b'"decision":"BLOCK"}}'
    assert parse_line_head(legacy_line, 3) == parse_line(legacy_line, 3)
    assert parse_line_head(legacy_line, 3)["payload"]["decision"] == "block"

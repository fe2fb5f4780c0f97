"""Regression gates on the golden journals in fixtures/ (regenerate: make fixtures)."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.events import FIELDS, parse_ts, validate_record
from peaktrade.journal import read_events
from peaktrade.telemetry.summary import SUMMARY_KEYS, summarize_path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
OK = FIXTURES / "golden_session_ok.jsonl"
BAD = FIXTURES / "golden_session_bad_lines.jsonl"
LATENCY = FIXTURES / "golden_session_latency.jsonl"
GOLDEN = (OK, BAD, LATENCY)


def load_generator():
    spec = importlib.util.spec_from_file_location("make_fixtures",
                                                  ROOT / "scripts" / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixtures_regenerate_byte_identically(tmp_path):
    written = load_generator().generate(tmp_path)
    assert [p.name for p in written] == [p.name for p in GOLDEN]
    for path in written:
        assert path.read_bytes() == (FIXTURES / path.name).read_bytes(), path.name


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_valid_record_has_the_required_keys_and_types(path):
    records = list(read_events(path))
    assert records
    for rec in records:
        assert tuple(rec) == FIELDS
        assert validate_record(rec) == rec
        assert rec["session_id"] == path.stem


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_timestamps_are_utc_and_monotonic_and_seq_has_no_gaps(path):
    records = list(read_events(path))
    for rec in records:
        assert rec["ts"].endswith("Z")
        assert parse_ts(rec["ts"]).tzinfo == UTC
    times = [parse_ts(r["ts"]) for r in records]
    assert times == sorted(times)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_ids_are_consistent_along_each_chain(path):
    intents, orders = {}, {}
    for rec in read_events(path):
        if rec["kind"] == "intent":
            assert rec["intent_id"] not in intents
            intents[rec["intent_id"]] = rec
        elif rec["kind"] in ("gate", "reject"):
            assert rec["intent_id"] in intents
        elif rec["kind"] == "order":
            intent = intents[rec["intent_id"]]
            assert rec["symbol"] == intent["symbol"]
            assert rec["strategy"] == intent["strategy"]
            assert rec["order_id"] not in orders
            orders[rec["order_id"]] = rec
        elif rec["kind"] == "fill":
            order = orders[rec["order_id"]]
            assert rec["intent_id"] == order["intent_id"]
            assert rec["symbol"] == order["symbol"]
            assert rec["ts"] >= order["ts"]


def test_clean_session_summary():
    summary = summarize_path(OK)
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["lines"] == {"total": 49, "blank": 0, "valid": 49, "invalid": 0, "seq_breaks": 0}
    assert summary["error_rate"] == 0.0
    assert summary["event_count"] == 49
    assert summary["kind_counts"] == {"fill": 9, "gate": 9, "heartbeat": 1, "intent": 9,
                                      "order": 9, "position": 9, "quote": 3}
    assert sum(summary["kind_counts"].values()) == summary["event_count"]
    assert summary["symbols"] == ["BTC-USD", "ETH-USD", "SOL-USD"]
    assert summary["sessions"] == ["golden_session_ok"]
    assert summary["first_ts"] == "2026-01-05T14:30:00.000000Z"
    assert summary["last_ts"] == "2026-01-05T14:30:10.500000Z"
    assert summary["fill_rate"] == 1.0
    assert summary["vetoes"] == {"count": 0, "top_reasons": []}
    assert summary["strategies"] == {
        "mean_revert": {"attempted": 4, "vetoed": 0, "executed": 4, "fill_rate": 1.0},
        "momentum": {"attempted": 5, "vetoed": 0, "executed": 5, "fill_rate": 1.0}}
    to_order = summary["latency_ms"]["intent_to_order"]
    assert (to_order["n"], to_order["unmatched"], to_order["min"], to_order["max"]) \
        == (9, 0, 40.0, 48.0)


def test_known_latencies_give_exact_figures():
    summary = summarize_path(LATENCY)
    assert summary["latency_ms"] == {
        "intent_to_order": {"n": 5, "unmatched": 1, "min": 50.0, "p50": 100.0, "p90": 3000.0,
                            "p95": 3000.0, "p99": 3000.0, "max": 3000.0},
        "order_to_fill": {"n": 4, "unmatched": 1, "min": 5.0, "p50": 15.0, "p90": 1200.0,
                          "p95": 1200.0, "p99": 1200.0, "max": 1200.0},
    }
    assert summary["fill_rate"] == 0.8
    assert summary["vetoes"] == {"count": 1, "top_reasons": [{"code": "MIN_NOTIONAL",
                                                              "count": 1}]}
    assert summary["strategies"] == {"latency": {"attempted": 7, "vetoed": 1, "executed": 5,
                                                 "fill_rate": 0.8}}


def test_bad_lines_are_counted_never_fatal():
    reader = read_events(BAD)
    records = list(reader)
    assert len(records) == 20
    # 8 invalid lines of several kinds, and the partial last line
    assert reader.stats.as_dict() == {"total": 30, "blank": 1, "valid": 20, "invalid": 9,
                                      "seq_breaks": 0}
    assert reader.stats.error_rate == 9 / 29
    summary = summarize_path(BAD)
    assert summary["lines"] == reader.stats.as_dict()
    assert summary["fill_rate"] == 1.0


def test_bad_lines_read_newest_first_give_the_same_records_reversed():
    forward = list(read_events(BAD))
    reader = read_events(BAD, newest_first=True)
    assert list(reader) == forward[::-1]
    assert reader.stats.as_dict() == {"total": 30, "blank": 1, "valid": 20, "invalid": 9,
                                      "seq_breaks": 0}


def test_filters_on_the_fixtures():
    assert {r["kind"] for r in read_events(OK, kind="fill")} == {"fill"}
    assert len(list(read_events(OK, kind="fill,order"))) == 18
    assert {r["symbol"] for r in read_events(OK, symbol="ETH-USD")} == {"ETH-USD"}
    assert len(list(read_events(OK, strategy="momentum", kind="intent"))) == 5
    window = list(read_events(OK, since="2026-01-05T14:30:02+00:00",
                              until="2026-01-05T14:30:03.000000Z"))
    assert window and all("14:30:02" <= r["ts"][11:19] <= "14:30:03" for r in window)
    newest = list(read_events(OK, limit=3, newest_first=True, kind="fill"))
    assert [r["seq"] for r in newest] == sorted((r["seq"] for r in newest), reverse=True)
    assert newest[0]["intent_id"] == "ok-9"
    assert list(read_events(OK, session_id="someone_else")) == []


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    summary = summarize_path(empty)
    assert summary["event_count"] == 0
    assert summary["lines"] == {"total": 0, "blank": 0, "valid": 0, "invalid": 0, "seq_breaks": 0}
    assert summary["error_rate"] == 0.0
    assert list(read_events(tmp_path / "missing.jsonl")) == []
    assert summarize_path(tmp_path / "nowhere")["event_count"] == 0


def test_cli_summary_json_matches_the_library():
    result = CliRunner().invoke(main, ["telemetry", "summary", "--path", str(LATENCY),
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == summarize_path(LATENCY)


def test_cli_summary_table_for_a_folder_and_session():
    result = CliRunner().invoke(main, ["telemetry", "summary", "--path", str(FIXTURES),
                                       "--session", "golden_session_latency"])
    assert result.exit_code == 0, result.output
    assert "intent_to_order       5         1      50.0     100.0" in result.output
    assert "MIN_NOTIONAL" in result.output
    assert "golden_session_ok" not in result.output


@pytest.mark.parametrize("args", [["--path", "{tmp}/missing"],
                                  ["--path", "{tmp}", "--session", "nobody"],
                                  ["--path", "{tmp}"]])
def test_cli_summary_exits_2_when_no_logs_are_found(tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = CliRunner().invoke(main, ["telemetry", "summary", *args])
    assert result.exit_code == 2
    assert "no journal" in result.output

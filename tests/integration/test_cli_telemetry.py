"""`peaktrade telemetry view|tail|replay` on real journals and the golden fixtures."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.config import load_config
from peaktrade.execution import Desk
from peaktrade.journal import Journal

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def golden(tmp_path):
    root = tmp_path / "golden"
    shutil.copytree(FIXTURES, root)
    return root


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_view_prints_the_timeline_newest_last_then_the_summary(golden):
    result = run("telemetry", "view", "--path", str(golden), "--session",
                 "golden_session_latency", "--limit", "3")
    assert result.exit_code == 0
    rows = result.output.split("\n\n")[0].splitlines()
    assert [row.split()[1].split("#")[1] for row in rows] == ["26", "27", "28"]
    assert "BUY 1 BTC-USD MARKET (strategy latency)" in rows[1]
    assert "order_to_fill" in result.output


def test_view_filters_by_kind_and_symbol_and_time(golden):
    result = run("telemetry", "view", "--path", str(golden), "--kind", "fill", "--symbol",
                 "ETH-USD", "--from", "2026-01-05T14:30:01Z", "--to", "2026-01-05T14:31:00+00:00",
                 "--no-summary", "--json", "--max-error-rate", "1")
    body = json.loads(result.output)
    assert body["count"] == len(body["timeline"]) > 0
    assert {(r["kind"], r["symbol"]) for r in body["timeline"]} == {("fill", "ETH-USD")}
    assert all(r["ts"] >= "2026-01-05T14:30:01" for r in body["timeline"])
    assert all(r["description"] for r in body["timeline"])


def test_view_exits_3_when_the_error_rate_is_above_the_threshold(golden):
    path = golden / "golden_session_bad_lines.jsonl"
    assert run("telemetry", "view", "--path", str(path)).exit_code == 3
    assert run("telemetry", "view", "--path", str(path), "--max-error-rate", "0.5").exit_code == 0
    assert run("telemetry", "view", "--path", str(golden / "golden_session_ok.jsonl")
               ).exit_code == 0


def test_view_exits_2_when_no_logs_are_found(tmp_path):
    result = run("telemetry", "view", "--path", str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert run("telemetry", "view", "--path", str(tmp_path), "--session", "nope").exit_code == 2


def test_view_help_documents_the_exit_codes():
    assert "3  error rate" in run("telemetry", "view", "--help").output


def test_a_bad_time_says_which_formats_are_accepted(golden):
    result = CliRunner().invoke(main, ["telemetry", "view", "--path", str(golden),
                                       "--from", "yesterday"])
    assert result.exit_code == 2
    assert "'yesterday' is not a time; use ISO-8601 such as 2026-01-05T14:30:00Z" in \
        result.output


def test_an_unknown_kind_lists_the_kinds(golden):
    result = CliRunner().invoke(main, ["telemetry", "view", "--path", str(golden),
                                       "--kind", "fills"])
    assert "unknown kind fills; kinds: intent, gate, order, fill" in result.output


def test_tail_prints_the_newest_lines_of_a_session(golden):
    result = run("telemetry", "tail", "--path", str(golden), "--session",
                 "golden_session_ok", "-n", "2", "--kind", "fill", "--json")
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["kind"] for r in records] == ["fill", "fill"]
    assert records[0]["seq"] < records[1]["seq"]


def test_tail_follow_prints_events_appended_while_following(log_dir):
    journal = Journal(log_dir, fsync="never")
    journal.append("live", [{"kind": "heartbeat", "payload": {"component": "old"}}])

    def write_later():
        time.sleep(0.4)
        journal.append("live", [{"kind": "quote", "symbol": "AAPL", "payload": {"bid": 1}},
                                {"kind": "heartbeat", "payload": {"component": "new"}}])

    writer = threading.Thread(target=write_later)
    writer.start()
    result = run("telemetry", "tail", "--path", str(log_dir), "--session", "live", "-f",
                 "--interval", "0.1", "--stop-after", "1.5", "--kind", "heartbeat")
    writer.join()
    journal.close()
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "old" in lines[0] and "new" in lines[1]


def test_replay_writes_json_and_chains(golden, tmp_path):
    out = tmp_path / "replay.json"
    chains = tmp_path / "chains.jsonl"
    result = run("telemetry", "replay", "--path", str(golden), "--session",
                 "golden_session_latency", "--json", str(out), "--chains", str(chains))
    assert result.exit_code == 0
    report = json.loads(out.read_text())
    assert report["coverage"]["intents"] == 7
    assert report["coverage"]["orders_filled"] == 4
    assert report["latency"]["order_to_fill"]["max"] == 1.2
    assert set(report["per_symbol"]) == {"BTC-USD", "ETH-USD", "SOL-USD"}
    lines = [json.loads(line) for line in chains.read_text().splitlines()]
    assert len(lines) == 7
    assert "intent_to_order" in result.output


def test_replay_exits_2_without_logs(tmp_path):
    assert run("telemetry", "replay", "--path", str(tmp_path / "none")).exit_code == 2


def test_check_lists_every_bad_line_with_its_line_number(golden):
    result = run("telemetry", "check", "--path", str(golden / "golden_session_bad_lines.jsonl"))
    assert result.exit_code == 3
    assert ":5: invalid line: this is not json at all" in result.output
    assert ":21: invalid line: \\x00\\x00\\x00\\x00" in result.output
    assert "9 invalid line(s), 0 time out of order(s), 0 seq problem(s)" in result.output
    assert run("telemetry", "check", "--path", str(golden), "--session",
               "golden_session_ok").exit_code == 0


def test_check_finds_timestamps_out_of_order_and_seq_gaps(log_dir):
    journal = Journal(log_dir, fsync="never")
    journal.append("s", [{"kind": "heartbeat", "ts": "2026-01-05T14:30:02Z", "payload": {}},
                         {"kind": "heartbeat", "ts": "2026-01-05T14:30:01Z", "payload": {}}])
    journal.close()
    with open(log_dir / "s.jsonl", "ab") as fh:
        fh.write(b'{"v":1,"seq":9,"ts":"2026-01-05T14:30:03.000000Z","session_id":"s",'
                 b'"kind":"heartbeat","mode":"paper","symbol":null,"strategy":null,'
                 b'"intent_id":null,"order_id":null,"source":null,"payload":{}}\n')
    result = run("telemetry", "check", "--path", str(log_dir))
    assert result.exit_code == 3
    assert "s.jsonl:2: time out of order: 2026-01-05T14:30:01.000000Z is before " \
           "2026-01-05T14:30:02.000000Z" in result.output
    assert "s.jsonl:3: seq problem: seq 9 after 2" in result.output


def test_tail_follows_the_active_session_when_none_is_named(log_dir):
    desk = Desk.from_config(load_config({"log_dir": str(log_dir)}, environ={}), environ={})
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    active = desk.session_id
    desk.close()
    result = run("telemetry", "tail", "--path", str(log_dir), "--kind", "quote")
    assert result.exit_code == 0
    assert f"{active}#" in result.output and "AAPL" in result.output


def test_tail_without_an_active_session_asks_for_one(tmp_path):
    result = CliRunner().invoke(main, ["telemetry", "tail", "--path", str(tmp_path)])
    assert result.exit_code == 2
    assert "name one with --session" in result.output


def test_export_csv_to_stdout_has_the_web_columns(golden):
    result = run("telemetry", "export", "--path", str(golden), "--session",
                 "golden_session_latency", "--kind", "fill")
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["ts", "kind", "symbol", "session_id", "description", "details"]
    assert len(rows) == 5
    assert {row[1] for row in rows[1:]} == {"fill"}
    assert rows[1][0] < rows[-1][0]


def test_export_json_lines_into_a_folder_with_the_web_file_name(golden, tmp_path):
    result = run("telemetry", "export", "--path", str(golden), "--session",
                 "golden_session_ok", "--kind", "order", "--json", "--limit", "2",
                 "--out", str(tmp_path))
    assert result.exit_code == 0
    lines = (tmp_path / "telemetry_golden_session_ok_order.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    assert [i["kind"] for i in items] == ["order", "order"]
    assert items[0]["seq"] < items[1]["seq"]
    assert all(i["description"].startswith("NEW") for i in items)

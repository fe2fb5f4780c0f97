"""/api/live/execution/<session> and /api/telemetry: JSON, CSV, filters, errors."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import orjson
import pytest

from peaktrade.telemetry.export import CSV_COLUMNS, csv_chunks, export_file_name
from peaktrade.telemetry.summary import SUMMARY_KEYS, summarize_path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def golden(log_dir):
    """The golden sessions copied into the app's journal folder."""
    for name in ("golden_session_ok", "golden_session_latency", "golden_session_bad_lines"):
        shutil.copyfile(FIXTURES / f"{name}.jsonl", log_dir / f"{name}.jsonl")
    return log_dir


def fills(journal, session, n, symbol="BTC-USD", strategy="mom"):
    return journal.append(session, [{"kind": "fill", "symbol": symbol, "strategy": strategy,
                                     "order_id": f"o{i}", "payload": {"qty": i + 1,
                                                                      "price": 10.0}}
                                    for i in range(n)])


def test_live_timeline_is_newest_first_with_descriptions_and_summary(client, golden):
    response = client.get("/api/live/execution/golden_session_ok?limit=5")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"timeline", "summary", "filters", "count"}
    assert body["count"] == 5
    seqs = [item["seq"] for item in body["timeline"]]
    assert seqs == [49, 48, 47, 46, 45]
    assert body["timeline"][0]["description"] == "HEARTBEAT demo OK (lag 12 ms)"
    assert set(body["summary"]) == set(SUMMARY_KEYS)
    assert body["summary"]["event_count"] == 5
    assert body["filters"]["limit"] == 5 and body["filters"]["session_id"] == "golden_session_ok"


def test_live_timeline_summary_joins_orders_and_fills_like_the_cli(client, golden):
    body = client.get("/api/live/execution/golden_session_ok?limit=1000").get_json()
    whole = summarize_path(golden / "golden_session_ok.jsonl")
    assert body["summary"]["fill_rate"] == whole["fill_rate"]
    assert body["summary"]["latency_ms"] == whole["latency_ms"]


def test_live_timeline_takes_a_time_range_and_repeated_kinds(client, golden):
    items = client.get("/api/live/execution/golden_session_ok?limit=1000").get_json()["timeline"]
    middle = items[len(items) // 2]["ts"]
    body = client.get(f"/api/live/execution/golden_session_ok?to={middle}").get_json()
    assert body["count"] and all(item["ts"] <= middle for item in body["timeline"])
    assert body["filters"]["to"] == middle
    assert client.get("/api/live/execution/golden_session_ok?from=soon").status_code == 422
    both = client.get("/api/live/execution/golden_session_ok?kind=fill&kind=order").get_json()
    assert both["filters"]["kind"] == ["fill", "order"]
    assert {item["kind"] for item in both["timeline"]} == {"fill", "order"}


def test_live_timeline_filters_before_the_limit(client, golden):
    body = client.get("/api/live/execution/golden_session_ok?kind=fill&symbol=ETH-USD"
                      "&limit=2").get_json()
    assert body["count"] == 2
    assert {(i["kind"], i["symbol"]) for i in body["timeline"]} == {("fill", "ETH-USD")}
    assert body["timeline"][0]["description"] == "BUY 2 ETH-USD @ 2,501.25 (slip 5.0 bps)"
    assert body["filters"]["kind"] == ["fill"] and body["filters"]["symbol"] == ["ETH-USD"]
    body = client.get("/api/live/execution/golden_session_ok?strategy=momentum&kind=intent"
                      ).get_json()
    assert body["count"] == 5
    vetoes = client.get("/api/live/execution/golden_session_latency?kind=gate&decision=block"
                        ).get_json()
    assert [i["description"] for i in vetoes["timeline"]] == ["BLOCKED MIN_NOTIONAL: 7.50 < 10.00"]


def test_live_timeline_default_limit_is_200(client, journal):
    fills(journal, "big", 250)
    body = client.get("/api/live/execution/big").get_json()
    assert body["count"] == 200
    assert body["timeline"][0]["seq"] == 250 and body["timeline"][-1]["seq"] == 51


@pytest.mark.parametrize("limit", ["0", "1001", "-3", "many", "2.5"])
def test_live_timeline_limit_outside_1_to_1000_is_422(client, golden, limit):
    response = client.get(f"/api/live/execution/golden_session_ok?limit={limit}")
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == f"limit must be a whole number from 1 to 1000, got {limit!r}"
    assert "limit" in body["errors"]


def test_live_timeline_unknown_kind_is_422_naming_the_allowed_ones(client, golden):
    response = client.get("/api/live/execution/golden_session_ok?kind=fill,trade")
    assert response.status_code == 422
    assert response.get_json()["error"].startswith("kind must be one of intent, gate,")
    assert "got 'trade'" in response.get_json()["error"]


def test_unknown_session_is_404_and_says_so(client, golden):
    response = client.get("/api/live/execution/nobody")
    assert response.status_code == 404
    assert response.get_json()["error"] == "session 'nobody' not found in the journal"


@pytest.mark.parametrize("session", ["..%2F..%2Fetc%2Fpasswd", "..", "a..b", "x" * 65,
                                     "bad%20id", ".hidden", "a/b"])
def test_a_session_id_with_path_characters_is_400(client, golden, session):
    response = client.get(f"/api/live/execution/{session}")
    assert response.status_code == 400
    assert "invalid session id" in response.get_json()["error"]


def test_a_session_id_that_reaches_the_view_with_bad_characters_is_400(client, golden):
    response = client.get("/api/live/execution/a..b")
    assert response.status_code == 400
    response = client.get("/api/telemetry?session_id=../../etc/passwd")
    assert response.status_code == 400
    assert "invalid session id" in response.get_json()["error"]


def test_telemetry_json_has_summary_timeline_query_and_stats(client, golden):
    response = client.get("/api/telemetry?session_id=golden_session_latency&limit=3")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"summary", "timeline", "query", "stats"}
    assert body["summary"] == summarize_path(golden / "golden_session_latency.jsonl")
    assert [i["seq"] for i in body["timeline"]] == [28, 27, 26]
    assert body["query"]["session_id"] == "golden_session_latency"
    assert body["query"]["limit"] == 3
    assert client.get("/api/telemetry").get_json()["query"]["limit"] == 200
    assert body["stats"] == {"total": 28, "blank": 0, "valid": 28, "invalid": 0, "seq_breaks": 0,
                             "error_rate": 0.0}


def test_telemetry_counts_bad_lines_in_stats(client, golden):
    body = client.get("/api/telemetry?session_id=golden_session_bad_lines").get_json()
    assert body["stats"]["invalid"] == 9
    assert body["stats"]["error_rate"] == pytest.approx(9 / 29)
    assert len(body["timeline"]) == 20


def test_telemetry_over_all_sessions_and_a_time_range(client, golden):
    body = client.get("/api/telemetry?kind=intent").get_json()
    assert body["summary"]["sessions"] == ["golden_session_bad_lines", "golden_session_latency",
                                           "golden_session_ok"]
    assert body["summary"]["event_count"] == 4 + 7 + 9
    # 15:30:02+01:00 is 14:30:02Z: compared as times, not strings
    body = client.get("/api/telemetry?session_id=golden_session_ok&kind=intent"
                      "&from=2026-01-05T15:30:02%2B01:00&to=2026-01-05T14:30:04Z").get_json()
    assert [i["intent_id"] for i in body["timeline"]] == ["ok-4", "ok-3", "ok-2"]
    assert body["query"]["from"] == "2026-01-05T14:30:02.000000Z"
    epoch = client.get("/api/telemetry?session_id=golden_session_ok&kind=intent"
                       "&from=1767623402").get_json()
    assert len(epoch["timeline"]) == 8


@pytest.mark.parametrize("arg", ["from=yesterday", "to=2026-13-01", "from=12:00"])
def test_bad_time_bounds_are_422_naming_value_and_format(client, golden, arg):
    response = client.get(f"/api/telemetry?{arg}")
    assert response.status_code == 422
    name, value = arg.split("=")
    assert response.get_json()["error"] == (
        f"{name} must be an ISO-8601 time such as 2026-01-05T14:30:00Z, or epoch seconds, "
        f"got {value!r}")


def test_bad_format_is_422(client, golden):
    response = client.get("/api/telemetry?format=xml")
    assert response.status_code == 422
    assert response.get_json()["error"] == "format must be one of json, csv, jsonl, got 'xml'"


def test_csv_streams_every_column_filled_with_the_file_name(client, golden):
    response = client.get("/api/telemetry?session_id=golden_session_ok&format=csv&kind=fill")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="telemetry_golden_session_ok_fill.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 10
    assert all(all(cell for cell in row) for row in rows)
    assert rows[1][:4] == ["2026-01-05T14:30:01.060000Z", "fill", "BTC-USD",
                           "golden_session_ok"]
    assert rows[1][4] == "BUY 0.5 BTC-USD @ 100,050.00 (slip 5.0 bps)"
    assert orjson.loads(rows[1][5])["status"] == "FILLED"
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])   # oldest first


def test_csv_of_everything_and_of_records_without_symbol(client, journal):
    journal.append("s1", [{"kind": "heartbeat", "payload": {"component": "demo"}}])
    response = client.get("/api/telemetry?format=csv")
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="telemetry_all_all.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[1][1:4] == ["heartbeat", "-", "s1"]
    assert rows[1][5] == '{"component":"demo"}'


def test_csv_with_a_limit_keeps_the_newest_rows_oldest_first(client, journal):
    fills(journal, "s1", 30)
    response = client.get("/api/telemetry?session_id=s1&format=csv&limit=3")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))[1:]
    assert [orjson.loads(r[5])["qty"] for r in rows] == [28, 29, 30]


def test_csv_of_the_vetoes_quick_filter(client, golden):
    response = client.get("/api/telemetry?session_id=golden_session_latency&format=csv"
                          "&kind=gate&decision=block")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))[1:]
    assert [r[4] for r in rows] == ["BLOCKED MIN_NOTIONAL: 7.50 < 10.00"]


def test_jsonl_export_streams_timeline_items(client, golden):
    response = client.get("/api/telemetry?session_id=golden_session_ok&format=jsonl&kind=order")
    lines = response.get_data().splitlines()
    assert len(lines) == 9
    assert orjson.loads(lines[0])["description"].startswith("NEW BUY 0.5 BTC-USD MARKET")
    assert response.headers["Content-Disposition"].endswith(
        'telemetry_golden_session_ok_order.jsonl"')


def test_csv_chunks_are_bounded_and_join_to_the_whole_file():
    records = [{"ts": "2026-01-05T14:30:00.000000Z", "kind": "fill", "symbol": "X",
                "session_id": "s", "payload": {"qty": n}} for n in range(1234)]
    chunks = list(csv_chunks(iter(records)))
    assert len(chunks) == 3
    assert max(len(c) for c in chunks) < 100_000
    assert len("".join(chunks).splitlines()) == 1235


def test_export_file_names():
    assert export_file_name(None, None) == "telemetry_all_all.csv"
    assert export_file_name("s1", ("order", "fill")) == "telemetry_s1_fill-order.csv"

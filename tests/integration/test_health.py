"""GET /api/health: ok / degraded / failing per check, 503 only when failing."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade import __version__, create_app
from peaktrade.events import format_ts
from peaktrade.execution.desk import active_session_id
from peaktrade.web import close_app

ORDER = {"symbol": "AAPL", "side": "BUY", "quantity": 1, "price": 100.0}
CHECKS = {"journal", "integrity", "controls", "sidecars"}


@pytest.fixture
def make_client(log_dir, monkeypatch):
    """A test client of an app on log_dir with config overrides of the test's own."""
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("PEAKTRADE_CONFIG", raising=False)
    apps = []

    def build(**overrides):
        config = {"log_dir": str(log_dir), "demo": {"enabled": False},
                  "journal": {"fsync": "never"}, **overrides}
        app = create_app(config)
        apps.append(app)
        return app.test_client()

    yield build
    for app in apps:
        close_app(app)


def statuses(body):
    return {name: check["status"] for name, check in body["checks"].items()}


def free_bytes(path):
    fs = os.statvfs(path)
    return fs.f_bavail * fs.f_frsize


def append_copy_of_line(path, line_no):
    """Append an earlier line again: its seq is stale at the end of the file."""
    lines = path.read_bytes().splitlines(keepends=True)
    with path.open("ab") as fh:
        fh.write(lines[line_no - 1])
    return len(lines) + 1


def test_a_fresh_desk_is_ok_with_every_check(client, log_dir):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("status", "version", "journal_dir", "journal_writable",
                                 "pid")} == {
        "status": "ok", "version": __version__, "journal_dir": str(log_dir.resolve()),
        "journal_writable": True, "pid": os.getpid()}
    assert statuses(body) == dict.fromkeys(CHECKS, "ok")
    assert "reason" not in body
    journal = body["checks"]["journal"]
    assert journal["free_bytes"] > 0 and journal["min_free_bytes"] == 100 << 20
    assert body["checks"]["sidecars"]["detail"] == \
        "no sidecar is expected for this configuration"
    assert not [p for p in log_dir.iterdir() if p.name.startswith(".probe-")]


def test_health_writes_nothing_per_request(client, log_dir):
    client.get("/api/health")
    before = {p.name: p.stat().st_size for p in log_dir.iterdir()}
    for _ in range(3):
        assert client.get("/api/health").status_code == 200
    assert {p.name: p.stat().st_size for p in log_dir.iterdir()} == before


def test_health_is_503_failing_with_the_reason_when_the_journal_dir_is_not_writable(
        app, client, log_dir):
    # Replace the journal folder by a plain file while the app runs (root ignores chmod).
    shutil.rmtree(log_dir)
    log_dir.write_text("not a directory")
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing"
    assert body["journal_writable"] is False
    assert body["checks"]["journal"]["status"] == "failing"
    assert body["checks"]["journal"]["detail"] == \
        f"journal directory {log_dir} is not writable: Not a directory"
    assert body["reason"].startswith(f"journal directory {log_dir} is not writable")


def test_an_app_started_on_an_unwritable_journal_answers_503(tmp_path, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_SECRET_KEY", raising=False)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the journal folder should be")
    app = create_app({"log_dir": str(blocked), "demo": {"enabled": False}})
    try:
        response = app.test_client().get("/api/health")
        assert response.status_code == 503
        body = response.get_json()
        assert body["reason"].startswith(f"journal directory {blocked}")
        assert body["checks"]["controls"]["status"] == "failing"
        assert "fail closed" in body["checks"]["controls"]["detail"]
    finally:
        close_app(app)


def test_an_engaged_kill_switch_is_degraded_and_still_200(client):
    client.post("/api/v1/controls/kill-switch",
                json={"action": "engage", "mode": "HALT", "reason": "bad feed",
                      "actor": "alice"})
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    controls = body["checks"]["controls"]
    assert controls["status"] == "degraded"
    assert controls["detail"] == "kill switch engaged (HALT) by alice via journal: bad feed"
    assert controls["kill_switch"]["engaged"] is True
    assert body["reason"] == controls["detail"]


def test_a_qa_block_is_degraded(client):
    client.post("/api/v1/controls/qa", json={"can_trade_today": False, "reason": "stale data",
                                             "actor": "qa-bot"})
    body = client.get("/api/health").get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["controls"]["qa_blocked"] is True
    assert "QA block by qa-bot: stale data" in body["checks"]["controls"]["detail"]


def test_a_tripped_breaker_is_degraded_naming_it(make_client):
    client = make_client(breakers={"max_trades_per_day": 1})
    client.post("/api/v1/paper/orders", json=ORDER)
    client.post("/api/v1/paper/orders", json=ORDER)
    response = client.get("/api/health")
    assert response.status_code == 200
    controls = response.get_json()["checks"]["controls"]
    assert controls["status"] == "degraded"
    assert controls["breakers_tripped"] == ["TRADES_PER_DAY"]
    assert controls["detail"].startswith("breaker TRADES_PER_DAY tripped: ")


def test_a_stale_line_in_the_desk_journal_is_failing_503_naming_the_line(client, log_dir):
    assert client.get("/api/health").status_code == 200
    append_copy_of_line(log_dir / "desk.jsonl", 1)
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing"
    integrity = body["checks"]["integrity"]
    assert integrity["status"] == "failing"
    assert "seq 1 after 1 at line " in integrity["broken"]["desk"]
    assert f"{log_dir / 'desk.jsonl'}" in integrity["broken"]["desk"]
    assert integrity["detail"].startswith("journal desk: ")
    # The desk fails closed: the kill switch counts as engaged by the broken journal.
    controls = body["checks"]["controls"]
    assert controls["status"] == "failing"
    assert controls["kill_switch"]["source"] == "journal-integrity"


def test_a_refused_append_fails_the_journal_check_and_names_the_line(client, log_dir):
    client.get("/api/health")
    line = append_copy_of_line(log_dir / "desk.jsonl", 1)
    refused = client.post("/api/v1/controls/kill-switch",
                          json={"action": "engage", "reason": "x", "actor": "bob"})
    assert refused.status_code == 503
    body = client.get("/api/health").get_json()
    assert f"seq 1 after 1 at line {line}" in body["checks"]["integrity"]["broken"]["desk"]
    journal = body["checks"]["journal"]
    assert journal["status"] == "failing"
    assert journal["last_append_ok"] is False
    assert journal["detail"].startswith("the last append of this worker failed")
    assert "breaks the journal's integrity rules" in journal["detail"]


def test_the_desk_journal_break_names_the_files_line_number_before_any_append(client,
                                                                             log_dir):
    client.get("/api/health")
    line = append_copy_of_line(log_dir / "desk.jsonl", 1)
    body = client.get("/api/health").get_json()
    assert f"seq 1 after 1 at line {line}" in body["checks"]["integrity"]["broken"]["desk"]


def test_a_stale_line_in_the_session_journal_is_failing_naming_it(client, log_dir):
    client.post("/api/v1/paper/orders", json=ORDER)
    session = active_session_id(log_dir)
    line = append_copy_of_line(log_dir / f"{session}.jsonl", 2)
    response = client.get("/api/health")
    assert response.status_code == 503
    integrity = response.get_json()["checks"]["integrity"]
    assert "seq 2 after 5 at line " in integrity["broken"][session]
    assert client.post("/api/v1/paper/orders", json=ORDER).status_code == 503
    body = client.get("/api/health").get_json()
    assert f"seq 2 after 5 at line {line}" in body["checks"]["integrity"]["broken"][session]
    assert body["status"] == "failing"


def test_free_space_below_the_configured_minimum_is_degraded(make_client, log_dir):
    client = make_client(journal={"fsync": "never", "min_free_bytes": free_bytes(log_dir) * 2})
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    journal = body["checks"]["journal"]
    assert journal["status"] == "degraded"
    assert "below the minimum of" in journal["detail"]
    assert "(journal.min_free_bytes)" in journal["detail"]


def test_free_space_below_a_tenth_of_the_minimum_is_failing(make_client, log_dir):
    client = make_client(journal={"fsync": "never",
                                  "min_free_bytes": free_bytes(log_dir) * 100})
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.get_json()["checks"]["journal"]["status"] == "failing"


def test_the_demo_feed_is_ok_while_its_heartbeats_are_recent(make_client, log_dir):
    client = make_client(demo={"enabled": True})
    client.get("/api/health")
    client.application.extensions["peaktrade.desk"].heartbeat("demo")
    sidecars = client.get("/api/health").get_json()["checks"]["sidecars"]
    assert sidecars["status"] == "ok"
    assert sidecars["expected"]["demo feed"]["status"] == "ok"


def test_a_demo_feed_whose_heartbeat_is_old_is_degraded(make_client, log_dir):
    client = make_client(demo={"enabled": True})
    client.get("/api/health")
    old = format_ts(datetime.now(UTC) - timedelta(minutes=5))
    client.application.extensions["peaktrade.journal"].append(
        active_session_id(log_dir),
        [{"kind": "heartbeat", "ts": old, "payload": {"component": "demo", "status": "ok"}}])
    response = client.get("/api/health")
    assert response.status_code == 200
    sidecars = response.get_json()["checks"]["sidecars"]
    assert sidecars["status"] == "degraded"
    assert sidecars["detail"].startswith("the demo feed has not sent a heartbeat for ")
    assert sidecars["expected"]["demo feed"]["last_heartbeat"] == old


def test_health_is_json_even_for_unknown_api_paths(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.is_json

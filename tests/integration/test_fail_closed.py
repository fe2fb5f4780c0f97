"""When the journal cannot be trusted or used, the desk refuses to trade and says why."""

from __future__ import annotations

import pytest

from peaktrade import create_app
from peaktrade.web import close_app

ORDER = {"symbol": "AAPL", "side": "BUY", "quantity": 1, "price": 100.0}


@pytest.fixture
def open_app(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    opened = []

    def open_():
        app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                          "journal": {"fsync": "never"}})
        opened.append(app)
        return app.test_client()

    yield open_
    for app in opened:
        close_app(app)


def _corrupt_the_engage_line(log_dir):
    desk = log_dir / "desk.jsonl"
    desk.write_text(desk.read_text().replace('"action":"kill_switch.engage"', '"action":"kill_sw'))


def test_an_unreadable_control_line_engages_the_kill_switch_until_released(open_app, log_dir):
    client = open_app()
    assert client.post("/api/v1/controls/kill-switch",
                       json={"action": "engage", "reason": "drill"}).status_code == 200
    _corrupt_the_engage_line(log_dir)

    client = open_app()
    [result] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
    assert result["status"] == "REJECTED"
    assert result["reason"] == "KILL_SWITCH: Kill switch is engaged"
    state = client.get("/api/v1/controls").get_json()["kill_switch"]
    assert state["engaged"] and "unreadable line" in state["reason"]

    assert client.post("/api/v1/controls/kill-switch",
                       json={"action": "release", "reason": "line checked"}).status_code == 200
    [result] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
    assert result["status"] == "FILLED"
    # A restart replays the bad line and then the release: still released.
    [result] = open_app().post("/api/v1/paper/orders", json=ORDER).get_json()
    assert result["status"] == "FILLED"


def test_a_journal_that_cannot_be_used_answers_503_and_records_nothing(open_app, log_dir):
    (log_dir / "desk.jsonl").mkdir()
    response = open_app().post("/api/v1/paper/orders", json=ORDER)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "nothing was recorded" in response.get_json()["error"]
    assert not list(log_dir.glob("paper-*.jsonl"))

"""The controls JSON API: kill switch, breakers, QA block."""

from __future__ import annotations

from peaktrade.web import close_app

ORDER = {"symbol": "AAPL", "side": "BUY", "quantity": 1, "price": 100.0}


def test_controls_report_kill_switch_qa_and_breakers(client):
    body = client.get("/api/v1/controls").get_json()
    assert body["kill_switch"]["engaged"] is False
    assert body["qa_block"]["blocked"] is False
    assert isinstance(body["breakers"], list)


def test_engage_then_release_the_kill_switch_with_who_and_why(client):
    response = client.post("/api/v1/controls/kill-switch",
                           json={"action": "engage", "mode": "HALT", "reason": "bad feed",
                                 "actor": "alice"})
    assert response.status_code == 200
    state = response.get_json()["kill_switch"]
    assert state["engaged"] and state["mode"] == "HALT"
    assert state["actor"] == "alice" and state["reason"] == "bad feed"
    [order] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
    assert order["reason"] == "KILL_SWITCH: Kill switch is engaged"
    released = client.post("/api/v1/controls/kill-switch",
                           json={"action": "release", "reason": "feed back"}).get_json()
    assert released["kill_switch"]["engaged"] is False
    [order] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
    assert order["status"] == "FILLED"


def test_environment_kill_switch_cannot_be_released_from_the_api(client, monkeypatch):
    monkeypatch.setenv("PEAKTRADE_KILL_SWITCH", "yes")
    response = client.post("/api/v1/controls/kill-switch",
                           json={"action": "release", "reason": "try"})
    assert response.status_code == 409
    assert "PEAKTRADE_KILL_SWITCH" in response.get_json()["error"]


def test_kill_switch_needs_an_action_and_a_reason(client):
    response = client.post("/api/v1/controls/kill-switch", json={"action": "pause"})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert "engage, release, got 'pause'" in errors["action"][0]
    assert "reason is required" in errors["reason"][0]


def test_qa_block_blocks_every_order_until_lifted(client):
    response = client.post("/api/v1/controls/qa",
                           json={"can_trade_today": False, "reason": "data check failed"})
    assert response.status_code == 200
    assert response.get_json()["qa_block"]["blocked"] is True
    [order] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
    assert order["status"] == "REJECTED" and order["reason"].startswith("QA_BLOCK")
    client.post("/api/v1/controls/qa", json={"can_trade_today": True, "reason": "fixed"})
    [order] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
    assert order["status"] == "FILLED"


def test_qa_needs_a_boolean(client):
    response = client.post("/api/v1/controls/qa", json={"can_trade_today": "maybe",
                                                        "reason": "x"})
    assert response.status_code == 422
    assert "can_trade_today" in response.get_json()["errors"]


def test_tripped_breaker_blocks_then_manual_reset_releases(log_dir, monkeypatch):
    from peaktrade import create_app

    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                      "journal": {"fsync": "never"}, "breakers": {"max_trades_per_day": 1}})
    client = app.test_client()
    try:
        client.post("/api/v1/paper/orders", json=ORDER)
        [blocked] = client.post("/api/v1/paper/orders", json=ORDER).get_json()
        assert blocked["status"] == "REJECTED" and "TRADES_PER_DAY" in blocked["reason"]
        tripped = [b for b in client.get("/api/v1/controls").get_json()["breakers"]
                   if b["tripped"]]
        assert [b["name"] for b in tripped] == ["TRADES_PER_DAY"]
        response = client.post("/api/v1/controls/breakers/TRADES_PER_DAY/reset",
                               json={"reason": "reviewed", "actor": "bob"})
        assert response.status_code == 200
        assert not any(b["tripped"] for b in response.get_json()["breakers"])
    finally:
        close_app(app)


def test_resetting_an_unknown_breaker_is_404_naming_the_breakers(client):
    response = client.post("/api/v1/controls/breakers/NOPE/reset", json={})
    assert response.status_code == 404
    assert response.get_json()["error"].startswith("unknown breaker 'NOPE'; breakers are DAILY_")


def test_a_breaker_can_be_named_by_its_configuration_key(client):
    response = client.post("/api/v1/controls/breakers/max_daily_loss/reset", json={})
    assert response.status_code == 409
    assert "DAILY_LOSS" in response.get_json()["error"]

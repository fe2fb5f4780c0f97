"""The broker route in the pages and the API: shown only when configured, dry by default."""

from __future__ import annotations

import re

import pytest

from peaktrade import create_app
from peaktrade.web import close_app

HX = {"HX-Request": "true"}


@pytest.fixture
def broker_client(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("PEAKTRADE_CONFIG", raising=False)
    app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                      "journal": {"fsync": "never"}, "alpaca": {"enabled": True}})
    app.config["TESTING"] = True
    yield app.test_client()
    close_app(app)


def test_the_order_form_offers_a_route_only_when_there_is_a_choice(client, broker_client):
    assert 'name="route"' not in client.get("/paper").get_data(as_text=True)
    html = broker_client.get("/paper").get_data(as_text=True)
    options = re.findall(r'<option value="(\w+)" title="[^"]*" ?(selected)?', html)
    assert options == [("PAPER", "selected"), ("ALPACA", "")]
    routes = broker_client.get("/api/v1/oms/routes").get_json()
    assert [(r["route_id"], r["is_default"]) for r in routes] == [("PAPER", True),
                                                                  ("ALPACA", False)]
    assert [r["route_id"] for r in client.get("/api/v1/oms/routes").get_json()] == ["PAPER"]


def test_a_form_order_on_the_dry_broker_route_rests_unsent(broker_client):
    html = broker_client.get("/paper").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = broker_client.post("/paper/orders", headers=HX, data={
        "csrf_token": token, "symbol": "AAPL", "side": "BUY", "quantity": "3",
        "order_type": "MARKET", "limit_price": "", "price": "100", "tif": "DAY",
        "route": "ALPACA"})
    assert response.status_code == 200
    [order] = broker_client.get("/api/v1/oms/blotter?route=ALPACA").get_json()
    assert (order["status"], order["route"], order["source"]) == ("NEW", "ALPACA", "FORM")

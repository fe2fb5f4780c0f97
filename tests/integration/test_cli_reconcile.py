"""`peaktrade reconcile`: the working orders of a sending route, in line with the broker."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.config import load_config
from peaktrade.execution import Desk
from peaktrade.journal import read_events

BASE = "https://broker.test"
LIVE = {"PEAKTRADE_MODE": "live", "PEAKTRADE_ALPACA__ENABLED": "true",
        "PEAKTRADE_ALPACA__DRY_RUN": "false", "PEAKTRADE_ALPACA__BASE_URL": BASE,
        "PEAKTRADE_ALPACA__RETRIES": "0", "PEAKTRADE_DEMO": "0",
        "APCA_API_KEY_ID": "key", "APCA_API_SECRET_KEY": "secret"}


@pytest.fixture
def env(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_CONFIG", raising=False)
    values = {**LIVE, "PEAKTRADE_LOG_DIR": str(log_dir)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def order_in_doubt(env, rsps) -> str:
    """An order whose POST timed out and whose lookup failed: PENDING in the journal."""
    rsps.post(f"{BASE}/v2/orders", body=requests.exceptions.ReadTimeout("timed out"))
    rsps.get(f"{BASE}/v2/orders:by_client_order_id", body=requests.exceptions.ConnectionError())
    desk = Desk.from_config(load_config())
    try:
        result = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 5, "price": 100})[0]
    finally:
        desk.close()
    assert result.status == "PENDING"
    return result.order_id


def test_reconcile_journals_what_the_broker_did_while_the_desk_was_away(env, rsps, log_dir):
    order_id = order_in_doubt(env, rsps)
    rsps.replace(responses.GET, f"{BASE}/v2/orders:by_client_order_id", json={
        "id": "b-7", "client_order_id": order_id, "status": "filled", "filled_qty": "5",
        "filled_avg_price": "100.2", "symbol": "AAPL", "side": "buy", "qty": "5"})
    rsps.get(f"{BASE}/v2/orders", json=[])
    result = run("reconcile")
    assert result.exit_code == 0, result.output
    assert f"changed   {order_id} BUY 5 AAPL -> FILLED (filled 5, broker b-7)" in result.output
    fills = [r for r in read_events(log_dir) if r["kind"] == "fill"]
    assert [f["payload"]["qty"] for f in fills] == [5.0]
    assert len([c for c in rsps.calls if c.request.method == "POST"]) == 1


def test_reconcile_exits_1_while_an_order_is_in_doubt(env, rsps):
    order_id = order_in_doubt(env, rsps)
    rsps.get(f"{BASE}/v2/orders", status=503)
    result = run("reconcile", "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["unknown"][0]["order_id"] == order_id
    assert report["unreachable"][0].startswith("ALPACA: GET /v2/orders: HTTP 503")


def test_reconcile_has_nothing_to_do_when_the_route_is_dry(env, monkeypatch, rsps):
    monkeypatch.setenv("PEAKTRADE_ALPACA__DRY_RUN", "true")
    result = run("reconcile")
    assert result.exit_code == 0
    assert "nothing to reconcile: no route sends orders" in result.output
    assert len(rsps.calls) == 0


def test_the_demo_refuses_live_mode(env):
    result = CliRunner().invoke(main, ["demo", "--duration", "1"])
    assert result.exit_code == 2
    assert "does not run in live mode" in result.output

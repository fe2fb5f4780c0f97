"""The live bridge against a mocked Alpaca (responses): no network, every call counted."""

from __future__ import annotations

import logging

import pytest
import requests
import responses
from responses import matchers

from peaktrade.config import ConfigError
from peaktrade.execution.state import DeskState
from peaktrade.journal import read_events
from tests.unit.execution.conftest import buy, sell

BASE = "https://broker.test"
ORDERS = f"{BASE}/v2/orders"
BY_CLIENT_ID = f"{BASE}/v2/orders:by_client_order_id"
KEY, SECRET = "PKTESTKEY123", "s3cr3t-never-shown"
CREDENTIALS = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}
FIRST = "O-abc123-1"  # the first order id of the test session


@pytest.fixture
def environ():
    return dict(CREDENTIALS)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def live(make_desk):
    """A desk whose default route sends to the mocked Alpaca."""
    return make_desk(mode="live", alpaca={"enabled": True, "dry_run": False, "base_url": BASE,
                                          "retries": 2, "retry_backoff_s": 0})


def alpaca(status="accepted", filled="0", avg=None, *, coid=FIRST, broker_id="b-1", qty="10"):
    return {"id": broker_id, "client_order_id": coid, "status": status, "filled_qty": filled,
            "filled_avg_price": avg, "symbol": "AAPL", "side": "buy", "qty": qty,
            "type": "market", "time_in_force": "day"}


def events(tmp_path, desk, kind=None):
    return [r for r in read_events(tmp_path / "journal", session_id=desk.session_id)
            if kind is None or r["kind"] == kind]


def calls(rsps, method, url=ORDERS):
    return [c for c in rsps.calls if c.request.method == method and c.request.url.split("?")[0]
            == url]


def assert_replay_equals_live(tmp_path, desk):
    replayed = DeskState(desk.session_id, 100_000)
    replayed.apply_all(events(tmp_path, desk))
    assert replayed.snapshot() == desk.state().snapshot()


def test_routes_list_the_broker_only_when_configured(make_desk):
    assert [r["route_id"] for r in make_desk().routes()] == ["PAPER"]
    routes = make_desk(alpaca={"enabled": True}).routes()
    assert [(r["route_id"], r["is_default"]) for r in routes] == [("PAPER", True),
                                                                  ("ALPACA", False)]
    assert "dry run" in routes[1]["description"]


def test_sending_without_credentials_is_refused_at_start(make_desk, environ):
    environ.clear()
    with pytest.raises(ConfigError, match="set APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
        make_desk(mode="live", alpaca={"enabled": True, "dry_run": False})


def test_accepted_then_partial_then_filled_journals_each_fill_once(live, rsps, tmp_path):
    rsps.post(ORDERS, json=alpaca(), match=[matchers.json_params_matcher({
        "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market",
        "time_in_force": "day", "client_order_id": FIRST})])
    result = live.submit(buy("AAPL", 10, 100))[0]
    assert (result.status, result.route, result.broker_order_id) == ("NEW", "ALPACA", "b-1")
    order_events = events(tmp_path, live, "order")
    assert [(e["payload"]["status"], e["mode"]) for e in order_events] == [
        ("PENDING", "live"), ("NEW", "live")]
    assert order_events[0]["payload"]["request"]["client_order_id"] == FIRST

    rsps.get(f"{ORDERS}/b-1", json=alpaca("partially_filled", "4", "100"))
    assert [o["status"] for o in live.reconcile()["changed"]] == ["PARTIAL"]
    assert live.reconcile()["changed"] == []  # the same report again: nothing new
    rsps.replace(responses.GET, f"{ORDERS}/b-1", json=alpaca("filled", "10", "101"))
    assert [o["status"] for o in live.reconcile()["changed"]] == ["FILLED"]
    live.reconcile()

    fills = events(tmp_path, live, "fill")
    assert [(f["payload"]["qty"], f["payload"]["broker_filled_qty"]) for f in fills] == [
        (4.0, 4.0), (6.0, 10.0)]
    assert fills[1]["payload"]["price"] == pytest.approx((1010 - 400) / 6)
    assert live.order(FIRST).avg_fill_price == pytest.approx(101)
    assert live.positions()[0]["quantity"] == 10
    assert len(calls(rsps, "POST")) == 1
    assert_replay_equals_live(tmp_path, live)


@pytest.mark.parametrize(("status", "message"), [(403, "insufficient buying power"),
                                                  (422, "qty must be > 0")])
def test_broker_refusals_become_rejected_with_the_brokers_message(live, rsps, tmp_path,
                                                                  status, message):
    rsps.post(ORDERS, status=status, json={"code": 40310000, "message": message})
    result = live.submit(buy("AAPL", 10, 100))[0]
    assert result.status == "REJECTED"
    assert result.reason == f"BROKER_REJECTED: HTTP {status}: {message}"
    assert live.state().working == {} and live.positions() == []
    assert events(tmp_path, live, "reject")[0]["payload"]["code"] == "BROKER_REJECTED"
    assert_replay_equals_live(tmp_path, live)


def test_a_timeout_is_resolved_by_client_order_id_without_a_second_post(live, rsps):
    rsps.post(ORDERS, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(BY_CLIENT_ID, json=alpaca("accepted"),
             match=[matchers.query_param_matcher({"client_order_id": FIRST})])
    result = live.submit(buy("AAPL", 10, 100))[0]
    assert (result.status, result.broker_order_id) == ("NEW", "b-1")
    assert len(calls(rsps, "POST")) == 1
    assert len(calls(rsps, "GET", BY_CLIENT_ID)) == 1


def test_only_a_confirmed_not_found_after_the_retries_rejects(live, rsps):
    rsps.post(ORDERS, body=requests.exceptions.ConnectTimeout("connect timed out"))
    rsps.get(BY_CLIENT_ID, status=404, json={"code": 40410000, "message": "order not found"})
    result = live.submit(buy("AAPL", 10, 100))[0]
    assert result.status == "REJECTED" and result.reason.startswith(
        f"BROKER_NOT_FOUND: ALPACA has no order with client_order_id {FIRST}")
    assert len(calls(rsps, "GET", BY_CLIENT_ID)) == 3  # retries = 2
    assert len(calls(rsps, "POST")) == 1


def test_an_unknown_outcome_stays_pending_and_says_why(live, rsps, tmp_path, clock):
    rsps.post(ORDERS, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(BY_CLIENT_ID, body=requests.exceptions.ConnectionError("refused"))
    result = live.submit(buy("AAPL", 10, 100))[0]
    assert result.status == "PENDING"
    [error] = events(tmp_path, live, "error")
    assert error["order_id"] == FIRST and "stays PENDING" in error["payload"]["detail"]
    assert live.orders(status="PENDING")[0].created_at < "2026-03-02T14:31"
    # a PENDING order counts as exposure: a second order sees it working
    assert live.state().working_buy["AAPL"] == 10
    clock.advance(30)
    report = live.reconcile()
    assert report["checked"] == 1 and report["unknown"][0]["order_id"] == FIRST
    assert len(calls(rsps, "POST")) == 1


def test_a_5xx_on_the_get_path_is_retried(live, rsps, tmp_path):
    rsps.post(ORDERS, json=alpaca())
    live.submit(buy("AAPL", 10, 100))
    rsps.get(f"{ORDERS}/b-1", status=503, json={"message": "service unavailable"})
    rsps.get(f"{ORDERS}/b-1", json=alpaca("filled", "10", "100.5"))
    assert [o["status"] for o in live.reconcile()["changed"]] == ["FILLED"]
    assert [f["payload"]["price"] for f in events(tmp_path, live, "fill")] == [100.5]
    assert len(calls(rsps, "GET", f"{ORDERS}/b-1")) == 2


def test_a_restart_reconciles_the_open_order(make_desk, live, rsps, tmp_path):
    rsps.post(ORDERS, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(BY_CLIENT_ID, body=requests.exceptions.ConnectionError("refused"))
    assert live.submit(buy("AAPL", 10, 100))[0].status == "PENDING"
    live.close()

    rsps.replace(responses.GET, BY_CLIENT_ID, json=alpaca("filled", "10", "99.5"))
    restarted = make_desk(mode="live", alpaca={"enabled": True, "dry_run": False,
                                               "base_url": BASE, "retry_backoff_s": 0})
    report = restarted.reconcile()
    assert [(o["order_id"], o["status"]) for o in report["changed"]] == [(FIRST, "FILLED")]
    assert [e["payload"]["status"] for e in events(tmp_path, restarted, "order")] == [
        "PENDING", "NEW"]
    assert len(events(tmp_path, restarted, "fill")) == 1
    assert len(calls(rsps, "POST")) == 1
    assert_replay_equals_live(tmp_path, restarted)


def test_two_desks_learning_the_same_fill_journal_it_once(make_desk, live, rsps, tmp_path):
    rsps.post(ORDERS, json=alpaca())
    live.submit(buy("AAPL", 10, 100))
    other = make_desk(mode="live", alpaca={"enabled": True, "dry_run": False,
                                           "base_url": BASE, "retry_backoff_s": 0})
    rsps.get(f"{ORDERS}/b-1", json=alpaca("filled", "10", "100"))
    rsps.get(ORDERS, json=[alpaca(), alpaca(coid="placed-by-hand", broker_id="b-9")])
    assert other.reconcile()["not_at_desk"] == [{
        "route": "ALPACA", "broker_order_id": "b-9", "client_order_id": "placed-by-hand",
        "symbol": "AAPL", "side": "BUY", "qty": 10.0, "status": "accepted"}]
    live.reconcile()
    other.reconcile()
    assert len(events(tmp_path, live, "fill")) == 1
    assert live.state().snapshot() == other.state().snapshot()


def test_cancel_goes_to_the_broker_and_is_journaled_when_it_confirms(live, rsps, tmp_path):
    rsps.post(ORDERS, json=alpaca())
    live.submit(buy("AAPL", 10, 100))
    rsps.delete(f"{ORDERS}/b-1", status=204)
    rsps.get(f"{ORDERS}/b-1", json=alpaca("pending_cancel"))
    assert live.cancel(FIRST, actor="alice").status == "NEW"  # not yet confirmed
    assert events(tmp_path, live, "cancel") == []
    rsps.replace(responses.GET, f"{ORDERS}/b-1", json=alpaca("canceled"))
    live.reconcile()
    order = live.order(FIRST)
    assert order.status == "CANCELLED" and order.reason == "BROKER_CANCELLED: canceled at Alpaca"
    assert live.state().working_buy["AAPL"] == 0


def test_a_confirmed_cancel_names_who_cancelled(live, rsps):
    rsps.post(ORDERS, json=alpaca())
    live.submit(buy("AAPL", 10, 100))
    rsps.delete(f"{ORDERS}/b-1", status=204)
    rsps.get(f"{ORDERS}/b-1", json=alpaca("canceled", "3", "100"))
    result = live.cancel(FIRST, actor="alice")
    assert (result.status, result.filled_quantity) == ("CANCELLED", 3)
    assert result.reason == "USER_CANCEL: cancelled by alice"


def test_a_cancel_the_broker_refuses_says_why_and_catches_up(live, rsps):
    from peaktrade.execution import OrderNotCancellable

    rsps.post(ORDERS, json=alpaca())
    live.submit(buy("AAPL", 10, 100))
    rsps.delete(f"{ORDERS}/b-1", status=422, json={"message": "order is not cancelable"})
    rsps.get(f"{ORDERS}/b-1", json=alpaca("filled", "10", "100"))
    with pytest.raises(OrderNotCancellable, match="HTTP 422: order is not cancelable"):
        live.cancel(FIRST, actor="alice")
    assert live.order(FIRST).status == "FILLED"


def test_checks_run_before_anything_reaches_the_broker(make_desk, environ, rsps):
    environ["PEAKTRADE_KILL_SWITCH"] = "1"
    desk = make_desk(mode="live", alpaca={"enabled": True, "dry_run": False, "base_url": BASE})
    assert desk.submit(buy("AAPL", 10, 100))[0].reason == \
        "KILL_SWITCH: Kill switch is engaged"
    environ.pop("PEAKTRADE_KILL_SWITCH")
    assert desk.submit(buy("AAPL", 1, 5))[0].reason.startswith("MIN_NOTIONAL")
    assert desk.submit(buy("AAPL", 1, 100, tags=["research_only"]))[0].reason.startswith(
        "RESEARCH_ONLY")
    assert len(rsps.calls) == 0


def test_a_dry_run_journals_the_request_and_sends_nothing(make_desk, rsps, tmp_path):
    desk = make_desk(mode="live", alpaca={"enabled": True, "base_url": BASE})  # dry by default
    result = desk.submit(buy("BTC-USD", 0.5, 100_000, order_type="LIMIT",
                             limit_price=99_000, client_order_id="strat-7"))[0]
    assert (result.status, result.route) == ("NEW", "ALPACA")
    [order] = events(tmp_path, desk, "order")
    assert order["mode"] == "dry_run"
    assert order["payload"]["request"] == {
        "symbol": "BTC/USD", "qty": "0.5", "side": "buy", "type": "limit",
        "time_in_force": "day", "limit_price": "99000", "client_order_id": "strat-7"}
    assert desk.reconcile()["checked"] == 0
    assert desk.cancel(result.order_id, actor="bob").status == "CANCELLED"
    assert events(tmp_path, desk, "cancel")[0]["mode"] == "dry_run"
    assert len(rsps.calls) == 0


def test_credentials_never_reach_the_journal_or_the_logs(live, rsps, tmp_path, caplog):
    rsps.post(ORDERS, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.get(BY_CLIENT_ID, status=500, json={"message": "internal"})
    rsps.get(BY_CLIENT_ID, json=alpaca("filled", "10", "100"))
    with caplog.at_level(logging.DEBUG):
        live.submit(buy("AAPL", 10, 100))
        live.reconcile()
    assert rsps.calls[0].request.headers["APCA-API-SECRET-KEY"] == SECRET  # sent, as auth
    text = b"".join(p.read_bytes() for p in (tmp_path / "journal").rglob("*.jsonl"))
    for secret in (KEY, SECRET):
        assert secret not in caplog.text and secret.encode() not in text
    assert "POST /v2/orders" in caplog.text


def test_paper_orders_never_touch_the_broker(make_desk, rsps):
    desk = make_desk(alpaca={"enabled": True, "dry_run": False, "base_url": BASE})
    assert desk.submit(sell("AAPL", 1, 100))[0].status == "FILLED"
    assert desk.quote({"symbol": "AAPL", "bid": 99, "ask": 100}) == []
    assert len(rsps.calls) == 0


def test_a_cancel_the_broker_does_not_answer_leaves_the_order_working(live, rsps):
    from peaktrade.execution import BrokerUnreachable

    rsps.post(ORDERS, json=alpaca())
    live.submit(buy("AAPL", 10, 100))
    rsps.delete(f"{ORDERS}/b-1", body=requests.exceptions.ConnectTimeout("timed out"))
    with pytest.raises(BrokerUnreachable, match="it is still working"):
        live.cancel(FIRST, actor="alice")
    assert live.order(FIRST).status == "NEW"
    assert len(calls(rsps, "DELETE", f"{ORDERS}/b-1")) == 3  # DELETE is idempotent: retried

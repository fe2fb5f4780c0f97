"""The Alpaca adapter against a faked REST API (`responses`): bodies, errors, retries, dry run."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses
from responses import matchers

from peaktrade.config import ConfigError, load_config
from peaktrade.execution.brokers import BrokerError, BrokerRejected, BrokerUnavailable
from peaktrade.execution.brokers.alpaca import (
    AlpacaBroker,
    AlpacaSettings,
    decimal_text,
    our_status,
    parse_order,
)
from peaktrade.execution.codes import Status
from peaktrade.execution.state import Order

BASE = "https://broker.test"
SECRET = "s3cr3t"
CREDENTIALS = {"APCA_API_KEY_ID": "key", "APCA_API_SECRET_KEY": SECRET}
BROKER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
ORDERS = f"{BASE}/v2/orders"
BY_CLIENT_ID = f"{BASE}/v2/orders:by_client_order_id"
NOT_FOUND = {"code": 40410000, "message": "order not found"}


def live_config(**alpaca):
    return load_config({"mode": "live", "alpaca": {"enabled": True, "dry_run": False,
                                                   "base_url": BASE + "/", **alpaca}},
                       environ=CREDENTIALS)


def make_order(**fields) -> Order:
    values = {"order_id": "ord-1", "intent_id": None, "client_order_id": "cid-1",
              "symbol": "AAPL", "side": "BUY", "quantity": 10.0, "order_type": "MARKET",
              "limit_price": None, "tif": "DAY", "price": None, "route": "ALPACA",
              "source": "API", "strategy": None, "created_at": "2026-03-02T14:30:00Z",
              "status": "NEW"}
    return Order(**{**values, **fields})


def alpaca_order(**fields) -> dict:
    return {"id": BROKER_ID, "client_order_id": "cid-1", "symbol": "AAPL", "side": "buy",
            "qty": "10", "filled_qty": "0", "filled_avg_price": None, "type": "market",
            "order_type": "market", "time_in_force": "day", "limit_price": None,
            "status": "accepted", "created_at": "2026-03-02T14:30:00.123456Z", **fields}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def broker(sleeps) -> AlpacaBroker:
    settings = AlpacaSettings.from_config(live_config(timeout_s=5, retries=2),
                                          environ=CREDENTIALS)
    return AlpacaBroker(settings, session=requests.Session(), sleep=sleeps.append)


def sent(call) -> dict:
    return json.loads(call.request.body)


def test_market_order_body(broker):
    assert broker.request_body(make_order()) == {
        "symbol": "AAPL", "qty": "10", "side": "buy", "type": "market",
        "time_in_force": "day", "client_order_id": "cid-1"}


def test_limit_order_body_with_a_crypto_symbol_and_our_id_when_no_client_id(broker):
    order = make_order(symbol="BTC-USD", side="SELL", quantity=0.1 + 0.2, order_type="LIMIT",
                       limit_price=65000.50, tif="IOC", client_order_id=None)
    assert broker.request_body(order) == {
        "symbol": "BTC/USD", "qty": "0.3", "side": "sell", "type": "limit",
        "time_in_force": "ioc", "client_order_id": "ord-1", "limit_price": "65000.5"}


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1"), (0.5, "0.5"), (0.1 + 0.2, "0.3"), (100, "100"), (123.456, "123.456"),
    (1e-10, "0.0000000001"), (2.675 * 3, "8.025"), (0.0, "0")])
def test_quantities_are_decimal_strings_without_float_noise(value, text):
    assert decimal_text(value) == text


@responses.activate
def test_submit_posts_the_body_once_with_credentials_and_returns_the_report(broker):
    responses.post(ORDERS, json=alpaca_order(status="filled", filled_qty="10",
                                             filled_avg_price="101.25"))
    order = make_order()
    report = broker.submit(order)
    (call,) = responses.calls
    assert sent(call) == broker.request_body(order)
    assert call.request.headers["APCA-API-KEY-ID"] == "key"
    assert call.request.headers["APCA-API-SECRET-KEY"] == SECRET
    assert call.request.req_kwargs["timeout"] == 5
    assert report.client_order_id == "cid-1" and report.broker_order_id == BROKER_ID
    assert (report.status, report.broker_status) == (Status.FILLED, "filled")
    assert (report.filled_qty, report.filled_avg_price) == (10.0, 101.25)
    assert (report.symbol, report.side, report.qty, report.reason) == ("AAPL", "BUY", 10.0, None)


@pytest.mark.parametrize(("status", "body", "message"), [
    (403, {"code": 40310000, "message": "insufficient buying power"},
     "HTTP 403: insufficient buying power"),
    (422, {"code": 42210000, "message": "qty must be > 0"}, "HTTP 422: qty must be > 0"),
])
@responses.activate
def test_a_refusal_is_broker_rejected_with_the_broker_message(broker, status, body, message):
    responses.post(ORDERS, status=status, json=body)
    with pytest.raises(BrokerRejected) as exc:
        broker.submit(make_order())
    assert str(exc.value) == message
    assert exc.value.status_code == status
    assert len(responses.calls) == 1


@responses.activate
def test_a_refusal_without_json_carries_the_shortened_text(broker):
    responses.post(ORDERS, status=400, body="x" * 1000)
    with pytest.raises(BrokerRejected, match=r"^HTTP 400: x{300}$"):
        broker.submit(make_order())


@pytest.mark.parametrize("answer", [
    {"body": requests.exceptions.ReadTimeout("read timed out")},
    {"body": requests.exceptions.ConnectionError("connection refused")},
    {"status": 503, "json": {"message": "service unavailable"}},
    {"status": 200, "json": {"message": "ok"}},
    {"status": 200, "body": "<html>"},
])
@responses.activate
def test_a_post_without_a_usable_answer_is_unavailable_and_never_retried(broker, sleeps,
                                                                        answer):
    responses.post(ORDERS, **answer)
    with pytest.raises(BrokerUnavailable, match="outcome of order cid-1 is unknown"):
        broker.submit(make_order())
    assert len(responses.calls) == 1
    assert sleeps == []


@responses.activate
def test_resolve_retries_not_found_until_the_broker_lists_the_order(broker, sleeps):
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND,
                  match=[matchers.query_param_matcher({"client_order_id": "cid-1"})])
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND)
    responses.get(BY_CLIENT_ID, json=alpaca_order(status="new"))
    report = broker.resolve(make_order(broker_order_id=BROKER_ID))
    assert report.broker_order_id == BROKER_ID and report.status == Status.NEW
    assert len(responses.calls) == 3
    assert sleeps == [0.5, 1.0]


@responses.activate
def test_resolve_is_none_after_every_lookup_answered_not_found(broker, sleeps):
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND)
    assert broker.resolve(make_order()) is None
    assert len(responses.calls) == 3
    assert sleeps == [0.5, 1.0]


@responses.activate
def test_resolve_is_unavailable_when_the_last_lookup_had_no_answer(broker):
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND)
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND)
    responses.get(BY_CLIENT_ID, status=503, body="upstream down")
    with pytest.raises(BrokerUnavailable, match="HTTP 503: upstream down"):
        broker.resolve(make_order())
    assert len(responses.calls) == 3


@responses.activate
def test_fetch_order_retries_a_5xx_then_reports(broker, sleeps):
    responses.get(f"{ORDERS}/{BROKER_ID}", status=503)
    responses.get(f"{ORDERS}/{BROKER_ID}",
                  json=alpaca_order(status="partially_filled", filled_qty="4",
                                    filled_avg_price="100.5"))
    report = broker.fetch_order(make_order(broker_order_id=BROKER_ID))
    assert (report.status, report.filled_qty, report.filled_avg_price) == (
        Status.PARTIAL, 4.0, 100.5)
    assert sleeps == [0.5]


@responses.activate
def test_fetch_order_by_client_id_and_not_found_is_none_at_once(broker, sleeps):
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND,
                  match=[matchers.query_param_matcher({"client_order_id": "ord-1"})])
    assert broker.fetch_order(make_order(client_order_id=None)) is None
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_fetch_order_gives_up_after_the_retries(broker, sleeps):
    responses.get(f"{ORDERS}/{BROKER_ID}", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(BrokerUnavailable, match="no answer within 5"):
        broker.fetch_order(make_order(broker_order_id=BROKER_ID))
    assert len(responses.calls) == 3
    assert sleeps == [0.5, 1.0]


@responses.activate
def test_fetch_order_other_client_errors_are_broker_errors_not_retried(broker):
    responses.get(f"{ORDERS}/{BROKER_ID}", status=403, json={"message": "forbidden"})
    with pytest.raises(BrokerError, match="HTTP 403: forbidden") as exc:
        broker.fetch_order(make_order(broker_order_id=BROKER_ID))
    assert not isinstance(exc.value, (BrokerRejected, BrokerUnavailable))
    assert len(responses.calls) == 1


@responses.activate
def test_cancel_deletes_then_reports_the_order(broker):
    responses.delete(f"{ORDERS}/{BROKER_ID}", status=204)
    responses.get(f"{ORDERS}/{BROKER_ID}", json=alpaca_order(status="canceled"))
    report = broker.cancel(make_order(broker_order_id=BROKER_ID))
    assert (report.status, report.broker_status) == (Status.CANCELLED, "canceled")
    assert report.reason == "canceled at Alpaca"
    assert [c.request.method for c in responses.calls] == ["DELETE", "GET"]


@responses.activate
def test_cancel_without_a_broker_id_resolves_it_first(broker):
    responses.get(BY_CLIENT_ID, json=alpaca_order())
    responses.delete(f"{ORDERS}/{BROKER_ID}", status=204)
    responses.get(f"{ORDERS}/{BROKER_ID}", json=alpaca_order(status="pending_cancel"))
    report = broker.cancel(make_order())
    assert (report.status, report.broker_status) == (Status.NEW, "pending_cancel")
    assert [c.request.method for c in responses.calls] == ["GET", "DELETE", "GET"]


@responses.activate
def test_cancel_of_an_order_the_broker_never_got_is_none(broker):
    responses.get(BY_CLIENT_ID, status=404, json=NOT_FOUND)
    assert broker.cancel(make_order()) is None
    assert all(c.request.method == "GET" for c in responses.calls)


@responses.activate
def test_cancel_not_cancelable_is_rejected_with_the_broker_message(broker):
    responses.delete(f"{ORDERS}/{BROKER_ID}", status=422,
                     json={"code": 42210000, "message": "order is not cancelable"})
    with pytest.raises(BrokerRejected, match="HTTP 422: order is not cancelable") as exc:
        broker.cancel(make_order(broker_order_id=BROKER_ID))
    assert exc.value.status_code == 422
    assert len(responses.calls) == 1


@responses.activate
def test_cancel_is_retried_like_a_read_and_404_is_none(broker, sleeps):
    responses.delete(f"{ORDERS}/{BROKER_ID}", status=500)
    responses.delete(f"{ORDERS}/{BROKER_ID}", status=404, json=NOT_FOUND)
    assert broker.cancel(make_order(broker_order_id=BROKER_ID)) is None
    assert sleeps == [0.5]


@responses.activate
def test_open_orders_are_parsed_oldest_first(broker):
    responses.get(ORDERS, match=[matchers.query_param_matcher(
        {"status": "open", "limit": "500", "direction": "asc"})],
        json=[alpaca_order(), alpaca_order(id="b2", client_order_id="cid-2", symbol="ETH/USD",
                                           side="sell", qty="1.5", filled_qty="0.5",
                                           filled_avg_price="3000", status="partially_filled")])
    first, second = broker.open_orders()
    assert first.status == Status.NEW
    assert (second.symbol, second.side, second.qty, second.status, second.filled_qty) == (
        "ETH-USD", "SELL", 1.5, Status.PARTIAL, 0.5)


@responses.activate
def test_open_orders_that_are_not_orders_are_unavailable(broker):
    responses.get(ORDERS, json={"message": "what"})
    with pytest.raises(BrokerUnavailable):
        broker.open_orders()


@responses.activate
def test_positions_and_account_are_alpaca_json(broker):
    positions = [{"symbol": "AAPL", "qty": "10", "avg_entry_price": "100"}]
    responses.get(f"{BASE}/v2/positions", json=positions)
    responses.get(f"{BASE}/v2/account", json={"status": "ACTIVE", "cash": "1000"})
    assert broker.positions() == positions
    assert broker.account()["cash"] == "1000"


@pytest.mark.parametrize(("alpaca", "filled", "ours"), [
    ("filled", 10, Status.FILLED), ("partially_filled", 4, Status.PARTIAL),
    ("canceled", 0, Status.CANCELLED), ("canceled", 4, Status.CANCELLED),
    ("expired", 0, Status.CANCELLED), ("replaced", 0, Status.CANCELLED),
    ("rejected", 0, Status.REJECTED), ("new", 0, Status.NEW), ("accepted", 0, Status.NEW),
    ("pending_new", 0, Status.NEW), ("accepted_for_bidding", 0, Status.NEW),
    ("held", 0, Status.NEW), ("stopped", 0, Status.NEW), ("calculated", 3, Status.PARTIAL),
    ("suspended", 0, Status.NEW), ("pending_cancel", 0, Status.NEW),
    ("pending_cancel", 2, Status.PARTIAL), ("pending_replace", 0, Status.NEW),
    ("done_for_day", 2, Status.PARTIAL), ("brand_new_status", 0, Status.NEW),
    ("brand_new_status", 1, Status.PARTIAL)])
def test_alpaca_statuses_map_to_ours(alpaca, filled, ours):
    assert our_status(alpaca, filled) == ours


def test_an_unknown_status_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="peaktrade.broker.alpaca"):
        our_status("brand_new_status", 0)
    assert "brand_new_status" in caplog.text


@pytest.mark.parametrize(("status", "reason"), [
    ("rejected", "rejected by Alpaca"), ("expired", "expired at Alpaca"),
    ("canceled", "canceled at Alpaca"), ("new", None)])
def test_final_statuses_say_why(status, reason):
    assert parse_order(alpaca_order(status=status)).reason == reason


@pytest.mark.parametrize("data", [None, [], {"status": "new"}, {"id": "x"},
                                  {"id": "x", "status": "new", "filled_qty": "lots"}])
def test_what_is_not_an_order_object_does_not_parse(data):
    assert parse_order(data) is None


def test_settings_come_from_the_config_and_the_environment():
    settings = AlpacaSettings.from_config(live_config(), environ=CREDENTIALS)
    assert settings.base_url == BASE
    assert (settings.key_id, settings.secret_key, settings.dry_run) == ("key", SECRET, False)
    assert (settings.timeout_s, settings.retries, settings.retry_backoff_s) == (10, 3, 0.5)


@pytest.mark.parametrize(("environ", "missing"), [
    ({}, "APCA_API_KEY_ID and APCA_API_SECRET_KEY"),
    ({"APCA_API_KEY_ID": "key", "APCA_API_SECRET_KEY": ""}, "APCA_API_SECRET_KEY"),
    ({"APCA_API_SECRET_KEY": SECRET}, "APCA_API_KEY_ID")])
def test_sending_without_credentials_is_a_config_error(environ, missing):
    with pytest.raises(ConfigError, match=missing) as exc:
        AlpacaSettings.from_config(live_config(), environ=environ)
    assert "dry_run = true" in str(exc.value)
    assert SECRET not in str(exc.value)


@pytest.mark.parametrize("config", [
    {"mode": "paper", "alpaca": {"enabled": True, "dry_run": False}},
    {"mode": "dry_run", "alpaca": {"enabled": True, "dry_run": False}},
    {"mode": "live", "alpaca": {"enabled": True}}])
def test_a_dry_run_needs_no_credentials(config):
    settings = AlpacaSettings.from_config(load_config(config, environ={}), environ={})
    assert settings.dry_run
    assert settings.base_url == "https://paper-api.alpaca.markets"
    assert AlpacaBroker(settings).description == (
        "Alpaca paper account (https://paper-api.alpaca.markets) -- dry run: journals what "
        "it would send, sends nothing")


def test_the_live_environment_is_the_live_url():
    config = load_config({"mode": "live", "alpaca": {"enabled": True, "dry_run": False,
                                                     "environment": "live"}}, environ={})
    settings = AlpacaSettings.from_config(config, environ=CREDENTIALS)
    assert AlpacaBroker(settings).description == "Alpaca live account (https://api.alpaca.markets)"


@responses.activate
def test_the_secret_is_never_in_a_repr_a_message_or_a_log(broker, caplog):
    caplog.set_level(logging.DEBUG, logger="peaktrade.broker.alpaca")
    assert SECRET not in repr(broker.settings)
    responses.post(ORDERS, status=403, json={"message": "insufficient buying power"})
    responses.get(BY_CLIENT_ID, body=requests.exceptions.ConnectionError("refused"))
    responses.delete(f"{ORDERS}/{BROKER_ID}", status=422, json={"message": "not cancelable"})
    responses.get(f"{ORDERS}/{BROKER_ID}", status=401, body="unauthorized")
    calls = [lambda: broker.submit(make_order()), lambda: broker.resolve(make_order()),
             lambda: broker.cancel(make_order(broker_order_id=BROKER_ID)),
             lambda: broker.fetch_order(make_order(broker_order_id=BROKER_ID))]
    for call in calls:
        with pytest.raises(BrokerError) as exc:
            call()
        assert SECRET not in str(exc.value)
        assert SECRET not in str(exc.value.__cause__ or "")
    assert caplog.records and SECRET not in caplog.text


@responses.activate(assert_all_requests_are_fired=False)
def test_a_dry_run_adapter_never_touches_the_network():
    settings = AlpacaSettings.from_config(load_config({"alpaca": {"enabled": True}},
                                                      environ={}), environ=CREDENTIALS)
    broker = AlpacaBroker(settings, session=requests.Session(), sleep=pytest.fail)
    assert broker.dry_run and "APCA-API-SECRET-KEY" not in broker.session.headers
    order = make_order(broker_order_id=BROKER_ID)
    assert broker.request_body(order)["client_order_id"] == "cid-1"
    calls = [lambda: broker.submit(order), lambda: broker.fetch_order(order),
             lambda: broker.resolve(order), lambda: broker.cancel(order),
             lambda: broker.cancel(make_order()), broker.open_orders, broker.positions,
             broker.account]
    for call in calls:
        with pytest.raises(BrokerError) as exc:
            call()
        assert type(exc.value) is BrokerError
        assert str(exc.value) == "dry run: nothing is sent to Alpaca"
    assert len(responses.calls) == 0

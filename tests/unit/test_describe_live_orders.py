"""describe() of orders on a live route: in flight, acknowledged, or journaled but never sent."""

from __future__ import annotations

from peaktrade.telemetry.describe import describe

BROKER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
REQUEST = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
           "time_in_force": "day", "client_order_id": "O-1"}


def order(mode, **payload):
    fields = {"status": "NEW", "side": "BUY", "qty": 1.0, "order_type": "MARKET",
              "limit_price": None, "tif": "DAY", "price": 100.0, "route": "ALPACA",
              "client_order_id": None, "request": REQUEST, **payload}
    return {"kind": "order", "mode": mode, "symbol": "AAPL", "order_id": "O-1",
            "payload": fields}


def test_a_pending_order_says_it_was_sent_and_awaits_the_broker():
    assert describe(order("live", status="PENDING")) == \
        "PENDING BUY 1 AAPL MARKET via ALPACA (sent, awaiting the broker)"


def test_a_pending_limit_order_keeps_price_and_time_in_force():
    record = order("live", status="PENDING", order_type="LIMIT", limit_price=187.5, tif="IOC")
    assert describe(record) == \
        "PENDING BUY 1 AAPL LIMIT @ 187.50 IOC via ALPACA (sent, awaiting the broker)"


def test_the_broker_acknowledgement_names_the_route_its_id_and_its_status():
    record = {"kind": "order", "mode": "live", "symbol": "AAPL", "order_id": "O-1",
              "payload": {"status": "NEW", "broker_order_id": BROKER_ID,
                          "broker_status": "accepted", "route": "ALPACA",
                          "client_order_id": None}}
    assert describe(record) == "ACK ALPACA order 61e69015… accepted"


def test_a_short_broker_id_is_shown_whole_and_a_missing_status_reads_accepted():
    record = {"kind": "order", "mode": "live", "payload": {"broker_order_id": "b-42",
                                                           "route": "ALPACA"}}
    assert describe(record) == "ACK ALPACA order b-42 accepted"


def test_a_dry_run_order_says_it_was_not_sent():
    assert describe(order("dry_run")) == \
        "NEW BUY 1 AAPL MARKET via ALPACA (dry run, not sent)"


def test_a_paper_order_reads_as_before():
    record = order("paper", route="PAPER")
    del record["payload"]["request"]
    assert describe(record) == "NEW BUY 1 AAPL MARKET via PAPER"

"""Orders in flight to a live broker on the blotter, the paper panels and the dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.events import format_ts
from peaktrade.execution.results import OrderResult
from peaktrade.web.context import get_desk, get_journal
from peaktrade.web.paper import format_age, format_order_status

HX = {"HX-Request": "true"}
BROKER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"
NOW = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


def journal_live_order(app, order_id="O-live-1", *, waited_s=12.0, acknowledged=False):
    """Journal an order on the ALPACA route as the desk does before (and after) the POST."""
    created = datetime.now(UTC) - timedelta(seconds=waited_s)
    ids = {"mode": "live", "symbol": "AAPL", "strategy": None, "intent_id": f"I-{order_id}",
           "order_id": order_id, "source": "API"}
    events = [
        {"kind": "intent", "ts": created, **ids,
         "payload": {"side": "BUY", "qty": 1.0, "order_type": "MARKET", "limit_price": None,
                     "tif": "DAY", "price": 100.0, "tags": [], "reason": None,
                     "confidence": None, "client_order_id": None, "route": "ALPACA"}},
        {"kind": "gate", "ts": created, **ids,
         "payload": {"decision": "pass", "code": None, "reason": "passed 0 checks",
                     "qty": 1.0, "checks": []}},
        {"kind": "order", "ts": created, **ids,
         "payload": {"status": "PENDING", "side": "BUY", "qty": 1.0, "order_type": "MARKET",
                     "limit_price": None, "tif": "DAY", "price": 100.0, "route": "ALPACA",
                     "client_order_id": None,
                     "request": {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                                 "time_in_force": "day", "client_order_id": order_id}}},
    ]
    if acknowledged:
        events.append({"kind": "order", **ids,
                       "payload": {"status": "NEW", "broker_order_id": BROKER_ID,
                                   "broker_status": "accepted", "route": "ALPACA",
                                   "client_order_id": None}})
    with app.app_context():
        get_journal().append(get_desk().session_id, events)


def paper_order(client):
    client.post("/api/v1/paper/orders", json={"symbol": "MSFT", "side": "BUY", "quantity": 1,
                                              "price": 100.0})


def pending_age(html):
    match = re.search(r"PENDING · (\d+) s<", html)
    assert match, "no PENDING status with its age in seconds"
    return int(match.group(1))


def test_the_blotter_shows_a_pending_order_with_its_age(app, client):
    journal_live_order(app, waited_s=12.0)
    html = client.get("/oms/blotter").get_data(as_text=True)
    row = html.split('data-order-id="O-live-1"')[1].split("</tr>")[0]
    assert 'class="status-pending"' in html
    assert 12 <= pending_age(row) < 60
    assert "style=" not in html and "<script>" not in html


def test_pending_is_a_status_quick_button_that_filters(app, client):
    journal_live_order(app)
    paper_order(client)
    html = client.get("/oms/blotter").get_data(as_text=True)
    assert 'href="/oms/blotter?status=PENDING"' in html and ">Pending</a>" in html
    only = client.get("/oms/blotter?status=PENDING", headers=HX).get_data(as_text=True)
    assert 'data-order-id="O-live-1"' in only and "<td>MSFT</td>" not in only
    assert 'class="chip active" hx-get="/oms/blotter?status=PENDING"' in only
    working = client.get("/oms/blotter?status=WORKING", headers=HX).get_data(as_text=True)
    assert 'data-order-id="O-live-1"' in working


def test_an_acknowledged_order_is_new_with_the_broker_id_in_its_row(app, client):
    journal_live_order(app, acknowledged=True)
    html = client.get("/oms/blotter").get_data(as_text=True)
    row = html.split('data-order-id="O-live-1"')[1].split("</tr>")[0]
    assert 'class="order-status nowrap">NEW<' in row and "PENDING" not in row
    assert f'<span class="broker-id muted" title="ALPACA order id">{BROKER_ID}</span>' in row


def test_a_paper_order_row_has_no_broker_id(client):
    paper_order(client)
    html = client.get("/oms/blotter").get_data(as_text=True)
    assert "<td>MSFT</td>" in html and "broker-id" not in html


def test_the_blotter_json_keeps_its_shape_without_an_age(app, client):
    journal_live_order(app)
    [pending] = client.get("/api/v1/oms/blotter").get_json()
    assert pending["status"] == "PENDING" and pending["broker_order_id"] is None
    assert "age_s" not in pending and pending["created_at"].endswith("Z")
    journal_live_order(app, "O-live-2", acknowledged=True)
    acked = client.get("/api/v1/oms/blotter?status=NEW").get_json()
    assert [(o["order_id"], o["broker_order_id"], o["broker_status"]) for o in acked] == [
        ("O-live-2", BROKER_ID, "accepted")]


def test_the_paper_working_orders_panel_shows_a_pending_order_with_its_age(app, client):
    journal_live_order(app, waited_s=20.0)
    html = client.get("/paper/panels").get_data(as_text=True)
    working = html.split('id="working-orders"')[1].split("</section>")[0]
    assert 'class="nowrap status-pending"' in working
    assert 20 <= pending_age(working) < 60


def test_the_dashboard_counts_an_acknowledged_order_once(app, client):
    paper_order(client)
    journal_live_order(app, acknowledged=True)
    html = client.get("/").get_data(as_text=True)
    executed = html.split('data-tile="executed"')[1].split('class="value">')[1].split("<")[0]
    assert executed == "2"


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (12.9, "12 s"), (59, "59 s"), (61, "1 min 1 s"), (3599, "59 min 59 s"),
    (3725, "1 h 2 min"), (-3, "0 s")])
def test_an_age_reads_in_seconds_minutes_or_hours(seconds, text):
    assert format_age(format_ts(NOW - timedelta(seconds=seconds)), NOW) == text


def test_an_unreadable_time_has_no_age():
    assert format_age(None, NOW) == "" and format_age("yesterday", NOW) == ""


def test_only_a_pending_order_shows_an_age():
    fields = dict.fromkeys(OrderResult._fields)
    created = format_ts(NOW - timedelta(seconds=5))
    pending = OrderResult(**{**fields, "status": "PENDING", "created_at": created})
    filled = pending._replace(status="FILLED")
    assert format_order_status(pending, NOW) == "PENDING · 5 s"
    assert format_order_status(filled, NOW) == "FILLED"
    assert format_order_status(pending._replace(created_at=None), NOW) == "PENDING"


def test_the_dashboard_window_recounts_acknowledgements_when_it_drops_old_events(
        journal, log_dir, monkeypatch):
    from peaktrade.web import dashboard
    monkeypatch.setattr(dashboard, "WINDOW_RECORDS", 3)
    ids = {"mode": "live", "symbol": "AAPL", "order_id": "O-1"}
    pending = {"kind": "order", **ids, "payload": {"status": "PENDING", "route": "ALPACA"}}
    ack = {"kind": "order", **ids, "payload": {"status": "NEW", "broker_order_id": BROKER_ID}}
    journal.append("w1", [pending, ack])
    pulse = dashboard.SessionPulse(log_dir, "w1")
    try:
        assert pulse.acknowledgements == 1
        journal.append("w1", [{"kind": "intent", "payload": {}} for _ in range(4)])
        pulse.refresh()
        assert pulse.truncated and pulse.acknowledgements == 0
        journal.append("w1", [ack])
        pulse.refresh()
        assert pulse.acknowledgements == 1
    finally:
        pulse.close()

"""A live order is journaled twice (PENDING, then the broker's acknowledgement): one order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.journal import Journal, read_events
from peaktrade.telemetry.replay import replay, replay_journal
from peaktrade.telemetry.summary import summarize
from tests.unit.test_replay import replay_split

T0 = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)
BROKER_ID = "61e69015-8549-4bfd-b9c3-01e75843f47d"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def live_order(intent_id: str, order_id: str, *, start: float = 0.0, ack_after: float | None = 0.2,
               fill_after: float | None = 1.0, end: str | None = None,
               strategy: str = "mom") -> list[dict]:
    """The events of one order on a live route, as the desk journals them."""
    ids = {"symbol": "AAPL", "strategy": strategy, "intent_id": intent_id,
           "order_id": order_id, "source": "API", "mode": "live"}
    events = [
        {"kind": "intent", "ts": at(start), **ids,
         "payload": {"side": "BUY", "qty": 1.0, "order_type": "MARKET", "tif": "DAY",
                     "price": 100.0, "client_order_id": None, "route": "ALPACA"}},
        {"kind": "gate", "ts": at(start), **ids,
         "payload": {"decision": "pass", "code": None, "qty": 1.0, "checks": []}},
        {"kind": "order", "ts": at(start + 0.05), **ids,
         "payload": {"status": "PENDING", "side": "BUY", "qty": 1.0, "order_type": "MARKET",
                     "limit_price": None, "tif": "DAY", "price": 100.0, "route": "ALPACA",
                     "client_order_id": None,
                     "request": {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market",
                                 "time_in_force": "day", "client_order_id": order_id}}},
    ]
    if ack_after is not None:
        events.append({"kind": "order", "ts": at(start + 0.05 + ack_after), **ids,
                       "payload": {"status": "NEW", "broker_order_id": BROKER_ID,
                                   "broker_status": "accepted", "route": "ALPACA",
                                   "client_order_id": None}})
    if fill_after is not None:
        events.append({"kind": "fill", "ts": at(start + 0.05 + fill_after), **ids,
                       "payload": {"qty": 1.0, "price": 100.5, "fee": 0.0, "leaves_qty": 0.0,
                                   "status": "FILLED", "side": "BUY", "route": "ALPACA",
                                   "broker_order_id": BROKER_ID, "broker_filled_qty": 1.0}})
    if end == "cancel":
        events.append({"kind": "cancel", "ts": at(start + 2.0), **ids,
                       "payload": {"code": "BROKER_CANCELLED", "reason": "expired at ALPACA",
                                   "leaves_qty": 1.0}})
    elif end == "reject":
        events.append({"kind": "reject", "ts": at(start + 2.0), **ids,
                       "payload": {"code": "BROKER_NOT_FOUND", "reason": "never reached",
                                   "leaves_qty": 0.0}})
    return events


def test_an_acknowledged_and_filled_live_order_is_one_order_with_one_chain(journal, log_dir):
    journal.append("live", live_order("i1", "o1"))
    chains = []
    report = replay(read_events(log_dir), on_chain=chains.append)
    cov = report.coverage
    assert (cov.intents, cov.reached_order, cov.orders) == (1, 1, 1)
    assert (cov.orders_filled, cov.orders_fully_filled, cov.orders_without_fill) == (1, 1, 0)
    assert report.latency["intent_to_order"].unmatched == 0
    assert report.per_symbol["AAPL"].orders == 1
    assert report.per_strategy["mom"].orders == 1
    [only] = chains
    assert (only.intent_id, only.order_id, only.status) == ("i1", "o1", "FILLED")


def test_order_to_fill_runs_from_the_desk_decision_not_from_the_acknowledgement(journal,
                                                                                log_dir):
    journal.append("live", live_order("i1", "o1", ack_after=0.4, fill_after=1.0))
    report = replay(read_events(log_dir))
    to_fill = report.latency["order_to_fill"]
    assert (to_fill.n, to_fill.unmatched) == (1, 0)
    assert to_fill.max == pytest.approx(1.0)
    assert report.latency["intent_to_order"].max == pytest.approx(0.05)


def test_an_acknowledged_order_left_working_is_one_open_order(journal, log_dir):
    journal.append("live", live_order("i1", "o1", fill_after=None)
                   + live_order("i2", "o2", start=5.0, fill_after=None))
    chains = []
    report = replay(read_events(log_dir), on_chain=chains.append)
    assert (report.coverage.orders, report.coverage.orders_without_fill) == (2, 2)
    assert report.latency["order_to_fill"].unmatched == 2
    assert sorted((c.order_id, c.status) for c in chains) == [("o1", "NEW"), ("o2", "NEW")]


def test_an_acknowledged_order_the_broker_cancels_counts_once(journal, log_dir):
    journal.append("live", live_order("i1", "o1", fill_after=None, end="cancel"))
    report = replay(read_events(log_dir))
    assert (report.coverage.orders, report.coverage.orders_cancelled) == (1, 1)


def test_a_pending_order_the_broker_never_received_is_one_rejected_order(journal, log_dir):
    journal.append("live", live_order("i1", "o1", ack_after=None, fill_after=None,
                                      end="reject"))
    chains = []
    report = replay(read_events(log_dir), on_chain=chains.append)
    assert (report.coverage.orders, report.coverage.orders_rejected) == (1, 1)
    assert [(c.order_id, c.status) for c in chains] == [("o1", "REJECTED")]


def test_a_dry_run_order_is_one_order(journal, log_dir):
    events = live_order("i1", "o1", ack_after=None, fill_after=None)
    for event in events:
        event["mode"] = "dry_run"
    events[-1]["payload"]["status"] = "NEW"
    journal.append("live", events)
    report = replay(read_events(log_dir))
    assert (report.coverage.orders, report.coverage.reached_order) == (1, 1)


def test_the_summary_counts_an_acknowledged_order_once_and_every_event(journal, log_dir):
    journal.append("live", live_order("i1", "o1")
                   + live_order("i2", "o2", start=5.0, fill_after=None))
    summary = summarize(read_events(log_dir))
    assert summary["kind_counts"]["order"] == 4
    assert summary["fill_rate"] == 0.5
    assert summary["latency_ms"]["intent_to_order"]["n"] == 2
    assert summary["latency_ms"]["order_to_fill"]["unmatched"] == 1
    assert summary["strategies"]["mom"]["executed"] == 2


def test_a_split_replay_counts_acknowledgements_in_a_later_run_once(log_dir):
    journal = Journal(log_dir, max_bytes=30_000, fsync="never")
    events = []
    for n in range(300):
        events += live_order(f"i{n}", f"o{n}", start=n * 0.25, ack_after=2.0 + n % 3,
                             fill_after=None if n % 4 == 0 else 8.0 + n % 5)
    events.sort(key=lambda e: e["ts"])
    for start in range(0, len(events), 25):
        journal.append("big", events[start:start + 25])
    journal.close()
    single = replay_journal(log_dir, processes=1).to_dict()
    assert (single["coverage"]["orders"], single["coverage"]["reached_order"]) == (300, 300)
    assert single["latency"]["intent_to_order"]["unmatched"] == 0
    assert replay_split(log_dir, 3) == json.loads(json.dumps(single))

"""The Desk contract: results, batches, idempotency, what-if, cancels, sessions, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.config import load_config
from peaktrade.events import format_ts
from peaktrade.execution import (
    OrderNotCancellable,
    UnknownOrder,
    active_session_id,
)
from peaktrade.execution.decisions import moment_of
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import DeskState
from peaktrade.journal import read_events
from tests.unit.execution.conftest import buy, sell

RESULT_KEYS = {"order_id", "client_order_id", "symbol", "side", "quantity", "filled_quantity",
               "avg_fill_price", "price", "order_type", "limit_price", "tif", "status",
               "reason", "route", "source", "strategy", "created_at", "broker_order_id",
               "broker_status"}


def journal_of(tmp_path, desk):
    return list(read_events(tmp_path / "journal", session_id=desk.session_id))


def test_one_result_per_input_in_order(desk):
    results = desk.submit([buy("AAPL", 1), buy("AAPL", 0.5), sell("MSFT", 2)])
    assert [r.status for r in results] == ["FILLED", "REJECTED", "FILLED"]
    assert set(results[0].to_dict()) == RESULT_KEYS
    assert all(r.order_id.startswith("O-abc123-") for r in results)
    assert len({r.order_id for r in results}) == 3


def test_filled_order_journals_intent_gate_order_fill_position(desk, tmp_path):
    result = desk.submit(buy("AAPL", 1, source="FORM"), source="API")[0]
    records = journal_of(tmp_path, desk)
    assert [r["kind"] for r in records] == ["intent", "gate", "order", "fill", "position"]
    assert {r["order_id"] for r in records} == {result.order_id}
    assert {r["source"] for r in records} == {"FORM"}
    gate = records[1]["payload"]
    assert gate["decision"] == "pass" and gate["qty"] == 1 and len(gate["checks"]) == 6


def test_gate_event_lists_every_check_and_the_reason_of_the_deciding_one(desk, tmp_path):
    desk.submit([buy("AAPL", 1), buy("AAPL", 0.2)])
    passed, blocked = (r["payload"] for r in journal_of(tmp_path, desk) if r["kind"] == "gate")
    figures = {"gate", "decision", "code", "limit", "value", "headroom"}
    assert passed["reason"] and all(set(c) == figures for c in passed["checks"])
    assert blocked["code"] == "LOT_SIZE" and blocked["reason"]
    *passing, deciding = blocked["checks"]
    assert all(set(c) == figures for c in passing)
    assert set(deciding) == figures | {"reason"} and deciding["reason"] == blocked["reason"]


def test_what_if_verdicts_keep_every_checks_reason(desk):
    verdict = desk.what_if([buy("AAPL", 1), buy("AAPL", 0.2)])[0]
    assert all(check.reason for check in verdict.checks)


def test_blocked_intent_creates_no_order_event(desk, tmp_path):
    result = desk.submit(buy("AAPL", 0.2))[0]
    assert result.status == "REJECTED" and result.order_id
    records = journal_of(tmp_path, desk)
    assert [r["kind"] for r in records] == ["intent", "gate", "reject"]
    assert records[2]["payload"]["code"] == "LOT_SIZE"


def test_client_order_id_is_idempotent(desk, tmp_path):
    first = desk.submit(buy("AAPL", 1, client_order_id="c-1"))[0]
    count = len(journal_of(tmp_path, desk))
    again = desk.submit(buy("AAPL", 5, client_order_id="c-1"))[0]
    assert again == first
    assert len(journal_of(tmp_path, desk)) == count
    twice = desk.submit([buy("AAPL", 1, client_order_id="c-2"),
                         buy("AAPL", 1, client_order_id="c-2")])
    assert twice[0].order_id == twice[1].order_id


def test_client_order_id_survives_a_restart(make_desk):
    first = make_desk().submit(buy("AAPL", 1, client_order_id="c-9"))[0]
    assert make_desk().submit(buy("AAPL", 1, client_order_id="c-9"))[0] == first


def test_what_if_appends_nothing(desk, tmp_path):
    desk.submit(buy())
    before = journal_of(tmp_path, desk)
    verdicts = desk.what_if([buy("AAPL", 1), buy("AAPL", 0.1)])
    assert [v.decision for v in verdicts] == ["pass", "block"]
    assert verdicts[1].to_dict()["checks"][-1]["code"] == "LOT_SIZE"
    assert journal_of(tmp_path, desk) == before


def test_what_if_batch_counts_earlier_intents(make_desk):
    desk = make_desk(risk={"max_gross_exposure": 1500}, paper={"slippage_bps": 0})
    verdicts = desk.what_if([buy("AAPL", 10), buy("AAPL", 10)])
    assert [v.decision for v in verdicts] == ["pass", "block"]
    assert desk.positions() == []


def test_cancel_errors_say_why(desk):
    with pytest.raises(UnknownOrder, match="O-nope"):
        desk.cancel("O-nope")
    filled = desk.submit(buy())[0]
    with pytest.raises(OrderNotCancellable, match="is FILLED; only PENDING, NEW or PARTIAL"):
        desk.cancel(filled.order_id)


def test_cancel_journals_who_and_the_leaves(desk, tmp_path):
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101})
    order = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 3, "limit_price": 95})[0]
    result = desk.cancel(order.order_id, source="FORM", actor="alice")
    assert result.status == "CANCELLED" and result.reason == "USER_CANCEL: cancelled by alice"
    cancel = journal_of(tmp_path, desk)[-1]
    assert cancel["kind"] == "cancel" and cancel["payload"]["leaves_qty"] == 3


def test_orders_are_newest_first_and_filterable(desk):
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101})
    desk.submit([buy("AAPL", 1, None), {"symbol": "AAPL", "side": "BUY", "quantity": 1,
                                        "limit_price": 95}, buy("MSFT", 1)])
    desk.submit(buy("MSFT", 1), source="DEMO")
    assert [o.symbol for o in desk.orders()] == ["MSFT", "MSFT", "AAPL", "AAPL"]
    assert [o.status for o in desk.orders(status="new")] == ["NEW"]
    assert len(desk.orders(symbol="MSFT", source="demo")) == 1
    assert len(desk.orders(limit=2)) == 2
    assert desk.orders(route="LIVE") == []


def test_reset_session_starts_fresh_and_keeps_the_old_journal(make_desk, tmp_path):
    ids = iter(["paper-one-aaaaaa", "paper-two-bbbbbb"])
    desk = make_desk(session_ids=lambda now: next(ids))
    desk.submit(buy())
    assert desk.session_id == "paper-one-aaaaaa"
    assert desk.reset_session(actor="me") == "paper-two-bbbbbb"
    assert desk.orders() == [] and desk.positions() == []
    assert desk.account()["cash"] == 100_000
    assert (tmp_path / "journal" / "paper-one-aaaaaa.jsonl").exists()
    assert active_session_id(tmp_path / "journal") == "paper-two-bbbbbb"


def test_no_active_session_before_first_use(tmp_path, make_desk):
    assert active_session_id(tmp_path / "journal") is None
    desk = make_desk()
    desk.control("qa.block", actor="qa", reason="not yet")
    assert active_session_id(desk.journal) is None
    session = desk.session_id
    assert active_session_id(desk.journal) == session


def test_other_desks_follow_a_session_reset(make_desk):
    ids = iter(["paper-one-aaaaaa", "paper-two-bbbbbb"])
    one, two = make_desk(session_ids=lambda now: next(ids)), make_desk(
        session_ids=lambda now: next(ids))
    one.submit(buy())
    assert len(two.orders()) == 1
    two.reset_session()
    assert one.orders() == []


def test_replaying_the_journal_reproduces_the_live_state(make_desk, tmp_path, clock):
    desk = make_desk(breakers={"max_trades_per_day": 6}, paper={"fee_bps": 2})
    desk.quote([{"symbol": "AAPL", "bid": 99, "ask": 101, "size": 4},
                {"symbol": "MSFT", "last": 50}])
    desk.submit([buy("AAPL", 3, None), buy("AAPL", 3, None), sell("MSFT", 2, None)])
    resting = desk.submit({"symbol": "AAPL", "side": "SELL", "quantity": 2,
                           "limit_price": 105})[0]
    clock.advance(1)
    desk.quote({"symbol": "AAPL", "bid": 106, "ask": 107})
    desk.cancel(desk.submit({"symbol": "MSFT", "side": "BUY", "quantity": 1,
                             "limit_price": 46})[0].order_id)
    desk.submit([buy("AAPL", 1, None)] * 3)
    assert desk.order(resting.order_id).status == "FILLED"
    replayed = DeskState(desk.session_id, 100_000)
    replayed.apply_all(journal_of(tmp_path, desk))
    assert replayed.snapshot() == desk.state().snapshot()


def test_paper_mode_has_one_route(make_desk):
    assert make_desk().routes() == [{
        "route_id": "PAPER", "is_default": True,
        "description": "Paper simulator: fills at the quote with slippage and optional fees"}]


def test_live_mode_needs_a_broker_route(make_desk):
    from peaktrade.config import ConfigError

    with pytest.raises(ConfigError, match=r"live mode needs a broker route; set \[alpaca\]"):
        make_desk(mode="live")


def test_live_mode_routes_to_the_broker_dry_by_default(make_desk, tmp_path):
    live = make_desk(mode="live", alpaca={"enabled": True})
    assert [(r["route_id"], r["is_default"]) for r in live.routes()] == [
        ("ALPACA", True), ("PAPER", False)]
    result = live.submit(buy("AAPL", 1, 100))[0]
    assert (result.status, result.route) == ("NEW", "ALPACA")
    order = journal_of(tmp_path, live)[-1]
    assert (order["kind"], order["mode"]) == ("order", "dry_run")
    assert live.quote({"symbol": "AAPL", "bid": 99, "ask": 100}) == []  # sends nothing
    assert live.submit(buy("AAPL", 1, 100, route="paper"))[0].status == "FILLED"


def test_instruments_and_quotes_read_models(desk):
    assert any(i["symbol"] == "BTC-USD" and i["sector"] == "crypto" for i in desk.instruments())
    desk.quote({"symbol": "ETH-USD", "bid": 1, "ask": 2})
    assert desk.quotes()[0]["symbol"] == "ETH-USD"


def test_errors_are_journaled(desk, tmp_path):
    desk.journal_error("demo", "DeskError", "the active session changed; try again")
    (record,) = journal_of(tmp_path, desk)
    assert (record["kind"], record["source"]) == ("error", "DEMO")
    assert record["payload"]["where"] == "demo"


def test_heartbeats_are_journaled(desk, tmp_path):
    desk.heartbeat("demo", lag_ms=3.25)
    (record,) = journal_of(tmp_path, desk)
    assert record["kind"] == "heartbeat"
    assert record["payload"] == {"component": "demo", "status": "ok", "lag_ms": 3.25}


def test_the_decision_time_is_the_canonical_timestamp_within_and_across_seconds():
    rules = Rules.from_config(load_config({}, environ={}))
    start = datetime(2026, 3, 2, 23, 59, 58, 999_999, tzinfo=UTC)
    for step in (0, 1, 2, 999_999, 1_000_001, 86_400_000_000, 3):
        moment = start + timedelta(microseconds=step)
        assert moment_of(moment, rules).ts == format_ts(moment)
    naive = datetime(2026, 3, 2, 14, 30, 0, 5)
    assert moment_of(naive, rules).ts == "2026-03-02T14:30:00.000005Z"

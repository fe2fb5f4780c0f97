"""Kill switch, QA block and circuit breakers (SPEC 1.3-1.5)."""

from __future__ import annotations

import pytest

from peaktrade.events import DESK_SESSION
from peaktrade.execution import ControlRefused, InvalidIntent
from peaktrade.execution.controls import env_kill_switch
from peaktrade.journal import read_events
from tests.unit.execution.conftest import buy, sell

NO_SLIP = {"slippage_bps": 0}


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "Yes", "on", " On "])
def test_kill_switch_environment_values_engage(desk, environ, value):
    environ["PEAKTRADE_KILL_SWITCH"] = value
    result = desk.submit(buy())[0]
    assert (result.status, result.reason) == ("REJECTED", "KILL_SWITCH: Kill switch is engaged")


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_kill_switch_environment_values_release(desk, environ, value):
    environ["PEAKTRADE_KILL_SWITCH"] = value
    assert desk.submit(buy())[0].status == "FILLED"


def test_an_unknown_environment_value_fails_closed():
    view = env_kill_switch({"PEAKTRADE_KILL_SWITCH": "maybe"})
    assert view.engaged and view.mode == "HALT" and "counted as engaged" in view.reason


def test_environment_is_read_at_decision_time(desk, environ):
    assert desk.submit(buy())[0].status == "FILLED"
    environ["PEAKTRADE_KILL_SWITCH"] = "1"
    assert desk.submit(buy())[0].status == "REJECTED"
    del environ["PEAKTRADE_KILL_SWITCH"]
    assert desk.submit(buy())[0].status == "FILLED"


def test_kill_switch_rejects_every_new_order_and_journals_the_chain(desk, tmp_path):
    desk.control("kill_switch.engage", actor="ops", reason="bad fills")
    results = desk.submit([buy(), sell(), buy("BTC-USD", 1, 100)])
    assert {r.reason for r in results} == {"KILL_SWITCH: Kill switch is engaged"}
    kinds = [r["kind"] for r in read_events(tmp_path / "journal", session_id=desk.session_id)]
    assert kinds == ["intent", "gate", "reject"] * 3
    controls = desk.controls()["kill_switch"]
    assert controls["engaged"] and controls["actor"] == "ops" and controls["source"] == "journal"


def test_cancels_pass_with_the_kill_switch_engaged(desk):
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101})
    order = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 1, "limit_price": 95})[0]
    desk.control("kill_switch.engage", actor="ops", reason="test")
    assert desk.cancel(order.order_id).status == "CANCELLED"


def test_release_is_journaled_with_who_and_why(desk, tmp_path):
    desk.control("kill_switch.engage", actor="ops", reason="why not", mode="REDUCE_ONLY")
    desk.control("kill_switch.release", actor="lead", reason="all clear")
    controls = [r["payload"] for r in read_events(tmp_path / "journal",
                                                  session_id=DESK_SESSION, kind="control")]
    assert [(c["action"], c["actor"], c["reason"]) for c in controls
            if c["action"].startswith("kill_switch")] == [
        ("kill_switch.engage", "ops", "why not"), ("kill_switch.release", "lead", "all clear")]
    assert desk.submit(buy())[0].status == "FILLED"


def test_releasing_an_environment_kill_switch_is_refused(desk, environ):
    environ["PEAKTRADE_KILL_SWITCH"] = "1"
    with pytest.raises(ControlRefused, match="engaged by the environment"):
        desk.control("kill_switch.release", actor="ops", reason="try")


def test_control_arguments_are_validated(desk):
    with pytest.raises(InvalidIntent) as err:
        desk.control("kill_switch.explode", actor="", reason="")
    assert set(err.value.errors) == {"action", "actor", "reason"}
    with pytest.raises(InvalidIntent):
        desk.control("kill_switch.engage", actor="ops", reason="x", mode="PANIC")
    with pytest.raises(ControlRefused):
        desk.control("kill_switch.release", actor="ops", reason="not engaged")


def test_reduce_only_admits_only_orders_that_reduce(desk):
    desk.submit(buy("AAPL", 10, 100))
    desk.control("kill_switch.engage", actor="ops", reason="reduce", mode="REDUCE_ONLY")
    assert desk.submit(buy("AAPL", 1, 100))[0].reason.startswith("KILL_SWITCH: Kill switch")
    assert desk.submit(sell("AAPL", 11, 100))[0].status == "REJECTED"  # would flip short
    assert desk.submit(sell("AAPL", 4, 100))[0].status == "FILLED"
    assert desk.submit(sell("MSFT", 1, 100))[0].status == "REJECTED"  # opens a new position


def test_halt_stops_resting_orders_from_filling(desk):
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101})
    desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 1, "limit_price": 100})
    desk.control("kill_switch.engage", actor="ops", reason="stop")
    assert desk.quote({"symbol": "AAPL", "bid": 97, "ask": 99}) == []
    desk.control("kill_switch.release", actor="ops", reason="go")
    assert len(desk.quote({"symbol": "AAPL", "bid": 97, "ask": 99})) == 1


def test_unreadable_desk_journal_counts_as_engaged(desk, tmp_path):
    desk.submit(buy())
    desk_journal = tmp_path / "journal" / "desk.jsonl"
    desk_journal.rename(tmp_path / "journal" / "moved.jsonl")
    desk_journal.mkdir()  # reading a directory raises OSError, like a lost disk
    result = desk.submit(buy())[0]
    assert result.reason == "KILL_SWITCH: Kill switch is engaged"
    assert desk.controls()["kill_switch"]["source"] == "unreadable"


def test_qa_block_blocks_every_order_until_unblocked(desk):
    desk.control("qa.block", actor="qa", reason="data vendor outage")
    result = desk.submit(buy())[0]
    assert result.reason.startswith("QA_BLOCK: QA block: data vendor outage")
    assert desk.controls()["qa_block"]["blocked"]
    desk.control("qa.unblock", actor="qa", reason="fixed")
    assert desk.submit(buy())[0].status == "FILLED"


@pytest.mark.parametrize("trades, status", [(2, "FILLED"), (3, "REJECTED")])
def test_trades_per_day_breaker_at_and_below_the_limit(make_desk, trades, status):
    desk = make_desk(breakers={"max_trades_per_day": 3})
    for _ in range(trades):
        assert desk.submit(buy())[0].status == "FILLED"
    result = desk.submit(buy())[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason.startswith("BREAKER_TRADES_PER_DAY: Circuit breaker")


def test_a_trip_is_journaled_once_and_latches_until_the_next_utc_day(make_desk, clock,
                                                                       tmp_path):
    desk = make_desk(breakers={"max_trades_per_day": 1})
    desk.submit(buy())
    for _ in range(3):
        assert desk.submit(buy())[0].reason.startswith("BREAKER_TRADES_PER_DAY")
    trips = [r for r in read_events(tmp_path / "journal", session_id=desk.session_id,
                                    kind="control")]
    assert len(trips) == 1
    assert trips[0]["payload"]["resets_at"] == "2026-03-03T00:00:00.000000Z"
    breaker = desk.controls()["breakers"][0]
    assert breaker["name"] == "TRADES_PER_DAY" and breaker["tripped"]
    assert breaker["resets_at"] == "2026-03-03T00:00:00.000000Z"
    clock.advance(10 * 3600)  # past midnight UTC
    assert desk.submit(buy())[0].status == "FILLED"


def test_a_latched_breaker_admits_reducing_orders(make_desk):
    desk = make_desk(breakers={"max_trades_per_day": 1})
    desk.submit(buy("AAPL", 5))
    assert desk.submit(buy("AAPL", 1))[0].status == "REJECTED"
    assert desk.submit(sell("AAPL", 5))[0].status == "FILLED"


def test_manual_reset_is_journaled_and_reopens_trading(make_desk, tmp_path):
    desk = make_desk(breakers={"max_trades_per_day": 1})
    desk.submit(buy())
    assert desk.submit(buy())[0].status == "REJECTED"
    with pytest.raises(ControlRefused, match="not tripped"):
        desk.control("breaker.reset", actor="ops", reason="x", breaker="LOSS_STREAK")
    desk.control("breaker.reset", actor="ops", reason="reviewed", breaker="TRADES_PER_DAY")
    assert desk.submit(buy())[0].status == "FILLED"
    actions = [r["payload"]["action"] for r in read_events(
        tmp_path / "journal", session_id=desk.session_id, kind="control")]
    assert actions == ["breaker.trip", "breaker.reset"]


def test_trades_per_strategy_breaker_only_blocks_that_strategy(make_desk):
    desk = make_desk(breakers={"max_trades_per_strategy_per_day": 2})
    for _ in range(2):
        desk.submit(buy(strategy="momo"))
    assert desk.submit(buy(strategy="momo"))[0].reason.startswith(
        "BREAKER_TRADES_PER_STRATEGY")
    assert desk.submit(buy(strategy="carry"))[0].status == "FILLED"


@pytest.mark.parametrize("loss, status", [(999, "FILLED"), (1000, "REJECTED"),
                                          (1001, "REJECTED")])
def test_daily_loss_breaker(make_desk, loss, status):
    desk = make_desk(breakers={"max_daily_loss": 1000}, paper=NO_SLIP)
    desk.submit(buy("AAPL", 100, 100))
    desk.quote({"symbol": "AAPL", "last": 100 - loss / 100})
    assert desk.submit(buy("MSFT", 1, 100))[0].status == status


def test_daily_drawdown_breaker(make_desk):
    desk = make_desk(breakers={"max_daily_drawdown_pct": 2}, paper=NO_SLIP)
    desk.submit(buy("AAPL", 100, 100))
    desk.quote({"symbol": "AAPL", "last": 120})  # peak equity 102,000
    desk.quote({"symbol": "AAPL", "last": 100.1})  # 1.99% of start below the peak
    assert desk.submit(buy("MSFT", 1, 100))[0].status == "FILLED"
    desk.quote({"symbol": "AAPL", "last": 100})  # 2.0%
    assert desk.submit(buy("MSFT", 1, 100))[0].reason.startswith("BREAKER_DAILY_DRAWDOWN")
    desk.quote({"symbol": "AAPL", "last": 99})  # 2.1%: still latched, journaled once
    assert desk.submit(buy("MSFT", 1, 100))[0].reason.startswith("BREAKER_DAILY_DRAWDOWN")
    assert [b["name"] for b in desk.controls()["breakers"] if b["tripped"]] == ["DAILY_DRAWDOWN"]


@pytest.mark.parametrize("losses, status", [(1, "FILLED"), (2, "REJECTED"), (3, "REJECTED")])
def test_loss_streak_breaker(make_desk, losses, status):
    desk = make_desk(breakers={"max_loss_streak": 2}, paper=NO_SLIP)
    for _ in range(losses):
        desk.submit(buy("AAPL", 1, 100))
        desk.submit(sell("AAPL", 1, 99))
    result = desk.submit(buy("AAPL", 1, 100))[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason.startswith("BREAKER_LOSS_STREAK")
        assert desk.controls()["breakers"][0]["tripped"]


def test_a_winning_trade_ends_the_loss_streak(make_desk):
    desk = make_desk(breakers={"max_loss_streak": 2}, paper=NO_SLIP)
    for exit_price in (99, 101, 99):
        desk.submit(buy("AAPL", 1, 100))
        desk.submit(sell("AAPL", 1, exit_price))
    assert desk.submit(buy("AAPL", 1, 100))[0].status == "FILLED"

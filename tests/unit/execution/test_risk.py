"""Pre-trade risk at, just below and just above each limit (SPEC 1.3)."""

from __future__ import annotations

import pytest

from peaktrade.execution.codes import GATE_ORDER
from tests.unit.execution.conftest import buy, sell

NO_SLIP = {"slippage_bps": 0}


@pytest.mark.parametrize("quantity, status", [(9, "FILLED"), (10, "FILLED"), (11, "REJECTED")])
def test_max_notional_per_order(make_desk, quantity, status):
    desk = make_desk(risk={"max_notional_per_symbol": 1000}, paper=NO_SLIP)
    result = desk.submit(buy("AAPL", quantity, 100))[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason == ("MAX_NOTIONAL: AAPL notional 1,100.00 would exceed the limit "
                                 "1,000.00")


def test_max_notional_on_the_resulting_position(make_desk):
    desk = make_desk(risk={"max_notional_per_symbol": 1000}, paper=NO_SLIP)
    assert desk.submit(buy("AAPL", 6, 100))[0].status == "FILLED"
    assert desk.submit(buy("AAPL", 4, 100))[0].status == "FILLED"
    assert desk.submit(buy("AAPL", 1, 100))[0].reason.startswith("MAX_NOTIONAL")
    assert desk.submit(sell("AAPL", 3, 100))[0].status == "FILLED"


def test_working_orders_count_towards_the_symbol_limit(make_desk):
    desk = make_desk(risk={"max_notional_per_symbol": 1000}, paper=NO_SLIP)
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101, "last": 100})
    assert desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 9,
                        "limit_price": 95})[0].status == "NEW"
    assert desk.submit(buy("AAPL", 2, None))[0].reason.startswith("MAX_NOTIONAL")


@pytest.mark.parametrize("quantity, status", [(199, "FILLED"), (200, "FILLED"),
                                              (201, "REJECTED")])
def test_max_weight_per_symbol(make_desk, quantity, status):
    desk = make_desk(risk={"max_weight_per_symbol": 0.2}, paper=NO_SLIP)
    # 20% of 100,000 equity is 20,000 = 200 x 100
    assert desk.submit(buy("AAPL", quantity, 100))[0].status == status


@pytest.mark.parametrize("quantity, status", [(49, "FILLED"), (50, "FILLED"),
                                              (51, "REJECTED")])
def test_max_gross_counts_positions_and_this_order(make_desk, quantity, status):
    desk = make_desk(risk={"max_gross_exposure": 10_000}, paper=NO_SLIP)
    desk.submit(sell("MSFT", 50, 100))  # short 5,000 counts as gross too
    result = desk.submit(buy("AAPL", quantity, 100))[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason.startswith("MAX_GROSS: gross exposure 10,100.00 would exceed")


def test_max_gross_counts_working_orders(make_desk):
    desk = make_desk(risk={"max_gross_exposure": 1_000}, paper=NO_SLIP)
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101, "last": 100})
    assert desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 9,
                        "limit_price": 95})[0].status == "NEW"
    desk.quote({"symbol": "MSFT", "bid": 99, "ask": 100, "last": 100})
    assert desk.submit(buy("MSFT", 2, None))[0].reason.startswith("MAX_GROSS")
    assert desk.submit(buy("MSFT", 1, None))[0].status == "FILLED"


def test_orders_that_reduce_pass_even_over_the_limit(make_desk):
    desk = make_desk(risk={"max_gross_exposure": 1_000}, paper=NO_SLIP)
    desk.submit(buy("AAPL", 10, 100))
    desk.quote({"symbol": "AAPL", "bid": 199, "ask": 201, "last": 200})  # now 2,000 gross
    assert desk.submit(buy("AAPL", 1, None))[0].reason.startswith("MAX_GROSS")
    assert desk.submit(sell("AAPL", 5, None))[0].status == "FILLED"


@pytest.mark.parametrize("quantity, status", [(19, "FILLED"), (20, "FILLED"), (21, "REJECTED")])
def test_sector_exposure(make_desk, quantity, status):
    desk = make_desk(risk={"max_sector_exposure": {"technology": 5_000}}, paper=NO_SLIP)
    desk.submit(buy("MSFT", 30, 100))  # technology
    desk.submit(buy("GOOGL", 30, 100))  # communication: not counted
    result = desk.submit(buy("AAPL", quantity, 100))[0]  # technology
    assert result.status == status
    if status == "REJECTED":
        assert result.reason.startswith("MAX_SECTOR: sector technology exposure 5,100.00")


@pytest.mark.parametrize("quantity, status", [(0.09, "FILLED"), (0.1, "FILLED"),
                                              (0.11, "REJECTED")])
def test_region_exposure(make_desk, quantity, status):
    desk = make_desk(risk={"max_region_exposure": {"global": 10_000}}, paper=NO_SLIP)
    desk.submit(buy("AAPL", 50, 100))  # US: not counted
    desk.submit(buy("ETH-USD", 1, 5_000))
    result = desk.submit(buy("BTC-USD", quantity, 50_000))[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason.startswith("MAX_REGION: region global")


def test_rate_limit_counts_orders_in_the_last_second(make_desk, clock):
    desk = make_desk(risk={"max_orders_per_second": 3})
    results = desk.submit([buy("AAPL", 1, 100) for _ in range(4)])
    assert [r.status for r in results] == ["FILLED", "FILLED", "FILLED", "REJECTED"]
    assert results[3].reason == ("RATE_LIMIT: 4 orders in the last second would exceed the "
                                 "limit 3.00 orders/s")
    clock.advance(1.0)
    assert desk.submit(buy("AAPL", 1, 100))[0].status == "FILLED"


def test_rejected_orders_do_not_count_towards_the_rate(make_desk, clock):
    desk = make_desk(risk={"max_orders_per_second": 1})
    desk.submit(buy("AAPL", 0.1, 100))  # LOT_SIZE reject
    assert desk.submit(buy("AAPL", 1, 100))[0].status == "FILLED"


def test_every_check_run_is_reported_with_limit_value_and_headroom(make_desk):
    desk = make_desk(risk={"max_gross_exposure": 10_000, "max_notional_per_symbol": 5_000},
                     paper=NO_SLIP)
    verdict = desk.what_if(buy("AAPL", 10, 100))[0]
    gates = [c.gate for c in verdict.checks]
    assert gates == ["KillSwitch", "QABlock", "PriceSanity", "ResearchOnly", "LotSize",
                     "MinNotional", "MaxNotional", "MaxGross"]
    assert gates == [g for g in GATE_ORDER if g in gates]  # the one declared order
    gross = verdict.checks[-1]
    assert (gross.limit, gross.value, gross.headroom) == (10_000, 1_000, 9_000)

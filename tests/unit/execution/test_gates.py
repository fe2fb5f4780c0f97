"""Gates at, just below and just above each limit (SPEC 1.2)."""

from __future__ import annotations

import math

import pytest

from peaktrade.config import load_config
from peaktrade.execution.gates import check_lot_size, round_to_lot
from peaktrade.execution.instruments import Catalog, Instrument
from tests.unit.execution.conftest import buy


def reasons(result):
    return result.reason or ""


@pytest.mark.parametrize("quantity, lot, expected", [
    (0.6, 0.1, 0.6), (0.7, 0.1, 0.7), (0.65, 0.1, 0.6), (0.3, 0.1, 0.3),
    (1.0, 0.0001, 1.0), (0.00029, 0.0001, 0.0002), (7, 1, 7), (2.9999999999, 1, 3),
])
def test_lot_rounding_is_down_with_a_tolerance_relative_to_the_lot(quantity, lot, expected):
    assert round_to_lot(quantity, lot) == pytest.approx(expected, abs=1e-12)


def test_six_tenths_is_six_lots_and_passes_unadjusted():
    check, qty = check_lot_size(0.6, Instrument("X", 0.1, 0.1, "s", "r"))
    assert (check.decision, qty) == ("pass", 0.6)


def test_lot_size_adjusts_down_and_blocks_at_zero(desk):
    adjusted = desk.submit(buy("AAPL", 10.7, 100))[0]
    assert adjusted.status == "FILLED" and adjusted.quantity == 10
    verdict = desk.what_if(buy("AAPL", 10.7, 100))[0]
    assert verdict.decision == "adjust" and verdict.code == "LOT_SIZE"
    blocked = desk.submit(buy("AAPL", 0.9, 100))[0]
    assert blocked.status == "REJECTED" and blocked.reason.startswith("LOT_SIZE: ")


def test_min_qty_of_the_instrument_blocks(make_desk):
    desk = make_desk(instruments=[{"symbol": "ZZZ", "lot_size": 1, "min_qty": 5}])
    assert desk.submit(buy("ZZZ", 4, 100))[0].reason.startswith("LOT_SIZE")
    assert desk.submit(buy("ZZZ", 5, 100))[0].status == "FILLED"


@pytest.mark.parametrize("quantity, status", [(9, "REJECTED"), (10, "FILLED"), (11, "FILLED")])
def test_min_notional_at_below_and_above(make_desk, quantity, status):
    desk = make_desk(gates={"min_notional": 10.0}, paper={"slippage_bps": 0})
    result = desk.submit(buy("AAPL", quantity, 1.0))[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason == "MIN_NOTIONAL: notional 9.00 is below the minimum 10.00"


def test_min_notional_uses_the_slipped_expected_price(make_desk):
    desk = make_desk(gates={"min_notional": 10.0}, paper={"slippage_bps": 100})
    # 10 x 0.995 (a sell moved 1% against the trader) is below 10.00
    assert desk.submit({"symbol": "AAPL", "side": "SELL", "quantity": 10,
                        "price": 1.0})[0].status == "REJECTED"


@pytest.mark.parametrize("limit_price, status", [
    (110.0, "NEW"), (109.99, "NEW"), (110.01, "REJECTED"), (89.99, "REJECTED"), (90.0, "FILLED"),
])
def test_price_band_around_the_last_quote(desk, limit_price, status):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "last": 100.0})
    result = desk.submit({"symbol": "AAPL", "side": "SELL", "quantity": 1,
                          "limit_price": limit_price})[0]
    assert result.status == status
    if status == "REJECTED":
        assert result.reason.startswith("PRICE_SANITY: limit price")


@pytest.mark.parametrize("price", [0, -5, math.inf, math.nan])
def test_price_must_be_finite_and_positive(desk, price):
    result = desk.submit(buy("AAPL", 1, price))[0]
    assert result.status == "REJECTED"
    assert "must be finite and > 0" in result.reason


@pytest.mark.parametrize("age, status", [(59.0, "FILLED"), (60.0, "FILLED"),
                                         (60.5, "REJECTED")])
def test_stale_quote_blocks_market_orders(desk, clock, age, status):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    clock.advance(age)
    result = desk.submit(buy("AAPL", 1, None))[0]
    assert result.status == status
    if status == "REJECTED":
        assert "s old (limit 60 s)" in result.reason


def test_stale_quote_does_not_block_limit_orders(desk, clock):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    clock.advance(3600)
    assert desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 1,
                        "limit_price": 95})[0].status == "NEW"


def test_market_order_without_any_price_is_blocked(desk):
    result = desk.submit(buy("AAPL", 1, None))[0]
    assert result.reason.startswith("PRICE_SANITY: no quote and no reference price")


def test_research_only_blocked_in_live_mode_only(make_desk):
    intent = buy("AAPL", 1, 100, tags=["research_only"])
    paper = make_desk()
    assert paper.submit(intent)[0].status == "FILLED"
    live = make_desk(mode="live", alpaca={"enabled": True})
    result = live.submit(intent)[0]
    assert result.status == "REJECTED" and result.reason.startswith("RESEARCH_ONLY: ")


def test_research_only_never_reaches_a_broker_route_in_paper_mode(make_desk):
    desk = make_desk(alpaca={"enabled": True})
    assert desk.submit(buy("AAPL", 1, 100, tags=["research_only"]))[0].status == "FILLED"
    result = desk.submit(buy("AAPL", 1, 100, tags=["research_only"], route="ALPACA"))[0]
    assert result.status == "REJECTED"
    assert result.reason == ("RESEARCH_ONLY: intent is tagged research_only and route ALPACA "
                             "goes to a real broker")


def test_research_only_gate_can_be_turned_off(make_desk):
    live = make_desk(mode="live", alpaca={"enabled": True},
                     gates={"block_research_in_live": False})
    assert live.submit(buy("AAPL", 1, 100, tags=["research_only"]))[0].status == "NEW"


def test_unknown_symbols_get_defaults_or_are_refused_when_strict(make_desk):
    from peaktrade.execution import InvalidIntent

    assert make_desk().submit(buy("NEWCO", 1, 100))[0].status == "FILLED"
    strict = make_desk(strict_instruments=True)
    with pytest.raises(InvalidIntent) as err:
        strict.submit(buy("NEWCO", 1, 100))
    assert "unknown symbol 'NEWCO'" in err.value.errors["symbol"][0]


def test_default_catalog_covers_the_desk_symbols():
    catalog = Catalog.from_config(load_config({}, environ={}))
    for symbol in ("BTC-USD", "ETH-USD", "SOL-USD", "AAPL", "GOOGL", "MSFT"):
        assert symbol in catalog
    assert catalog.get("BTC-USD").lot_size == 0.0001

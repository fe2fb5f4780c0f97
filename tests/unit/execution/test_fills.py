"""The paper broker: market and limit fills, IOC, partials, fees, positions and PnL."""

from __future__ import annotations

import pytest

from tests.unit.execution.conftest import buy, sell


def test_market_buy_fills_at_the_ask_plus_slippage(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "last": 100.0})
    result = desk.submit(buy("AAPL", 10, None))[0]
    assert result.status == "FILLED"
    assert result.avg_fill_price == pytest.approx(101.0 * 1.0005)


def test_market_sell_fills_at_the_bid_minus_slippage(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    assert desk.submit(sell("AAPL", 10, None))[0].avg_fill_price == pytest.approx(99 * 0.9995)


def test_without_a_quote_the_reference_price_is_used(desk):
    assert desk.submit(buy("AAPL", 1, 200.0))[0].avg_fill_price == pytest.approx(200.1)


def test_limit_rests_until_a_quote_crosses_it_and_never_fills_worse(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    order = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 5,
                         "limit_price": 100.0})[0]
    assert order.status == "NEW"
    assert desk.quote({"symbol": "AAPL", "bid": 99.5, "ask": 100.5}) == []
    fills = desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 99.98})
    assert len(fills) == 1 and fills[0]["payload"]["price"] == 100.0  # 99.98 slipped > limit
    assert desk.order(order.order_id).status == "FILLED"


def test_marketable_limit_fills_at_once_at_a_better_price(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 100.0})
    result = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 1,
                          "limit_price": 105.0})[0]
    assert result.status == "FILLED" and result.avg_fill_price == pytest.approx(100.05)


def test_ioc_that_is_not_marketable_is_cancelled(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    result = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 5, "limit_price": 100.0,
                          "tif": "IOC"})[0]
    assert result.status == "CANCELLED" and result.reason.startswith("IOC_UNFILLED")


def test_fills_are_capped_by_quoted_size_and_the_rest_keeps_working(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "size": 3})
    result = desk.submit(buy("AAPL", 5, None))[0]
    assert (result.status, result.filled_quantity) == ("PARTIAL", 3)
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "size": 10})
    assert desk.order(result.order_id).status == "FILLED"


def test_quote_size_is_shared_by_the_orders_that_take_it(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "size": 4})
    first, second = desk.submit([buy("AAPL", 3, None), buy("AAPL", 3, None)])
    assert (first.filled_quantity, second.filled_quantity) == (3, 1)


def test_ioc_partial_cancels_the_rest(desk):
    desk.quote({"symbol": "AAPL", "bid": 99.0, "ask": 101.0, "size": 2})
    result = desk.submit(buy("AAPL", 5, None, tif="IOC"))[0]
    assert (result.status, result.filled_quantity) == ("CANCELLED", 2)


def test_fees_reduce_cash_and_realized_pnl(make_desk):
    desk = make_desk(paper={"fee_bps": 10, "slippage_bps": 0})
    desk.submit(buy("AAPL", 10, 100))
    account = desk.account()
    assert account["cash"] == pytest.approx(100_000 - 1000 - 1)
    assert desk.positions()[0]["realized_pnl"] == pytest.approx(-1)


def test_average_cost_positions_and_realized_pnl(make_desk):
    desk = make_desk(paper={"slippage_bps": 0})
    desk.submit([buy("AAPL", 10, 100), buy("AAPL", 10, 110)])
    (pos,) = desk.positions()
    assert (pos["quantity"], pos["avg_price"]) == (20, 105)
    desk.submit(sell("AAPL", 5, 115))
    (pos,) = desk.positions()
    assert pos["realized_pnl"] == pytest.approx(50) and pos["avg_price"] == 105
    desk.submit(sell("AAPL", 20, 100))  # closes 15 at a loss, opens 5 short at 100
    (pos,) = desk.positions()
    assert (pos["quantity"], pos["avg_price"]) == (-5, 100)
    assert pos["realized_pnl"] == pytest.approx(50 - 75)


def test_equity_is_cash_plus_marked_positions(make_desk):
    desk = make_desk(paper={"slippage_bps": 0})
    desk.submit(buy("AAPL", 10, 100))
    desk.quote({"symbol": "AAPL", "last": 120})
    account = desk.account()
    assert account["equity"] == pytest.approx(100_200)
    assert account["unrealized_pnl"] == pytest.approx(200)
    assert desk.positions()[0]["mark"] == 120


def test_flat_positions_are_not_listed(desk):
    desk.submit([buy("AAPL", 1, 100), sell("AAPL", 1, 100)])
    assert desk.positions() == []


def test_executions_list_every_fill_newest_first(desk):
    desk.submit([buy("AAPL", 1, 100), buy("MSFT", 2, 50)])
    executions = desk.executions()
    assert [e["symbol"] for e in executions] == ["MSFT", "AAPL"]
    assert set(executions[0]) == {"exec_id", "order_id", "symbol", "side", "quantity", "price",
                                  "timestamp", "route"}
    assert desk.executions(symbol="aapl", limit=5)[0]["symbol"] == "AAPL"


def test_the_paper_broker_answers_the_broker_interface_from_the_desk_book(desk):
    from peaktrade.execution.brokers.paper import PaperBroker

    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101})
    [resting] = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 2,
                             "limit_price": 95})
    book = desk.state()
    order = book.orders[resting.order_id]
    paper = PaperBroker(slippage_bps=0.0, fee_bps=0.0)
    assert [(r.broker_order_id, r.status, r.broker_status) for r in paper.open_orders(book)] == [
        (resting.order_id, "NEW", "new")]
    assert paper.fetch_order(order, book).fill is None  # not marketable: it rests
    cancelled = paper.cancel(order, book)
    assert (cancelled.status, cancelled.broker_status, cancelled.filled_qty) == (
        "CANCELLED", "canceled", 0.0)
    desk.quote({"symbol": "AAPL", "bid": 94, "ask": 94.5})
    assert desk.order(resting.order_id).status == "FILLED"  # the desk asked the same broker

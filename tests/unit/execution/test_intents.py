"""Intent validation: field-level messages that say the value and what is allowed."""

from __future__ import annotations

import math

import pytest

from peaktrade.execution import Intent, InvalidIntent, intents
from peaktrade.execution.intents import parse_intents, parse_quotes

ROUTES = frozenset({"PAPER"})


def parse(data):
    return parse_intents(data, source="API", routes=ROUTES)


def test_quantity_must_be_positive_and_the_message_says_the_value():
    with pytest.raises(InvalidIntent) as err:
        parse({"symbol": "AAPL", "side": "BUY", "quantity": -5})
    assert err.value.errors == {"quantity": ["quantity must be > 0, got -5"]}


@pytest.mark.parametrize("field, value, fragment", [
    ("side", "HOLD", "side must be one of BUY, SELL, got 'HOLD'"),
    ("quantity", "abc", "quantity must be > 0"),
    ("quantity", math.inf, "quantity must be > 0"),
    ("quantity", True, "quantity must be > 0"),
    ("order_type", "STOP", "order_type must be one of MARKET, LIMIT"),
    ("tif", "GTC", "tif must be one of DAY, IOC"),
    ("route", "NYSE", "route must be one of PAPER, got 'NYSE'"),
    ("confidence", 2, "confidence must be between 0 and 1"),
    ("tags", 5, "tags must be a list of strings"),
])
def test_bad_fields_are_named(field, value, fragment):
    with pytest.raises(InvalidIntent) as err:
        parse({"symbol": "AAPL", "side": "BUY", "quantity": 1, field: value})
    assert any(fragment in message for message in err.value.errors[field])


def test_limit_needs_limit_price_and_market_refuses_one():
    with pytest.raises(InvalidIntent) as err:
        parse({"symbol": "AAPL", "side": "BUY", "quantity": 1, "order_type": "LIMIT"})
    assert err.value.errors["limit_price"] == ["limit_price is required for a LIMIT order"]
    with pytest.raises(InvalidIntent) as err:
        parse({"symbol": "AAPL", "side": "BUY", "quantity": 1, "order_type": "MARKET",
               "limit_price": 5})
    assert "only for LIMIT" in err.value.errors["limit_price"][0]


def test_unknown_fields_are_refused():
    with pytest.raises(InvalidIntent) as err:
        parse({"symbol": "AAPL", "side": "BUY", "quantity": 1, "qty": 2})
    assert "unknown field(s) qty" in err.value.errors["_schema"][0]


def test_batch_errors_are_prefixed_with_the_index():
    with pytest.raises(InvalidIntent) as err:
        parse([{"symbol": "AAPL", "side": "BUY", "quantity": 1},
               {"symbol": "AAPL", "side": "BUY", "quantity": 0}])
    assert list(err.value.errors) == ["1.quantity"]


def test_empty_batch_is_refused():
    with pytest.raises(InvalidIntent):
        parse([])


def test_fast_and_full_paths_build_the_same_intent():
    fast = parse({"symbol": " aapl ", "side": "BUY", "quantity": 3, "price": 10,
                  "strategy": "s", "client_order_id": "c-1"})[0]
    full = parse({"symbol": " aapl ", "side": "buy", "quantity": 3, "price": 10,
                  "strategy": "s", "client_order_id": "c-1", "tif": "DAY"})[0]
    assert fast == full == Intent("AAPL", "BUY", 3.0, price=10.0, strategy="s",
                                  client_order_id="c-1", source="API")


def test_orders_share_one_string_per_symbol_and_source():
    # A session keeps every order: the same symbol is not stored once per order.
    first, second = parse([{"symbol": "".join(["eth", "-usd "]), "side": "BUY", "quantity": 1,
                            "source": "".join(["c", "li"])} for _ in range(2)])
    assert (first.symbol, first.source) == ("ETH-USD", "CLI")
    assert first.symbol is second.symbol and first.source is second.source


def test_a_huge_symbol_is_refused_and_not_kept():
    huge = "X" * 100_000
    with pytest.raises(InvalidIntent) as err:
        parse({"symbol": huge, "side": "BUY", "quantity": 1})
    assert err.value.errors == {"symbol": ["symbol must be at most 32 characters, got 100000"]}
    assert huge not in intents._SYMBOLS


def test_limit_price_implies_a_limit_order():
    intent = parse({"symbol": "AAPL", "side": "SELL", "quantity": 1, "limit_price": "101.5",
                    "tags": "research_only, x"})[0]
    assert intent.order_type == "LIMIT" and intent.limit_price == 101.5
    assert intent.tags == ("research_only", "x")


def test_quotes_need_a_price_and_a_sane_spread():
    assert parse_quotes({"symbol": "aapl", "bid": 1, "ask": 2})[0].symbol == "AAPL"
    with pytest.raises(InvalidIntent) as err:
        parse_quotes({"symbol": "AAPL", "size": 5})
    assert "needs bid, ask or last" in err.value.errors["_schema"][0]
    with pytest.raises(InvalidIntent) as err:
        parse_quotes([{"symbol": "AAPL", "bid": 3, "ask": 2}])
    assert "above ask" in err.value.errors["0.bid"][0]


@pytest.mark.parametrize("field, value", [("symbol", 7), ("strategy", 1.5), ("source", None)])
def test_an_intent_built_in_code_must_carry_text_where_the_journal_keeps_text(field, value):
    intent = Intent("AAPL", "BUY", 1.0, price=100.0)._replace(**{field: value})
    with pytest.raises(InvalidIntent) as err:
        parse(intent)
    assert err.value.errors == {field: [f"{field} must be a string, got {value!r}"]}

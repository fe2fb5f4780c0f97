"""describe(): one line per record for the timeline, CSV and CLI; details(): payload JSON."""

from __future__ import annotations

import pytest

from peaktrade.events import KINDS
from peaktrade.telemetry.describe import describe, details, format_price, format_qty


def rec(kind, payload=None, **fields):
    return {"kind": kind, "symbol": fields.pop("symbol", "BTC-USD"), "payload": payload or {},
            **fields}


def test_fill_says_side_quantity_price_and_slippage():
    record = rec("fill", {"side": "BUY", "qty": 0.5, "price": 100050.0, "slippage_bps": 5.0,
                          "status": "FILLED"})
    assert describe(record) == "BUY 0.5 BTC-USD @ 100,050.00 (slip 5.0 bps)"


def test_partial_fill_says_what_is_left():
    record = rec("fill", {"side": "SELL", "qty": 1, "price": 10, "status": "PARTIAL",
                          "leaves_qty": 2})
    assert describe(record) == "SELL 1 BTC-USD @ 10.00 PARTIAL, 2 left"


def test_blocking_verdict_names_the_code_value_and_limit():
    record = rec("gate", {"decision": "block", "code": "MIN_NOTIONAL", "checks": [
        {"gate": "PriceSanity", "decision": "pass", "code": "OK", "value": 1, "limit": 2},
        {"gate": "MinNotional", "decision": "block", "code": "MIN_NOTIONAL",
         "value": 9.5, "limit": 10.0}]})
    assert describe(record) == "BLOCKED MIN_NOTIONAL: 9.50 < 10.00"


def test_blocking_verdict_above_a_maximum_uses_greater_than():
    record = rec("gate", {"decision": "block", "code": "MAX_NOTIONAL", "checks": [
        {"decision": "block", "code": "MAX_NOTIONAL", "value": 60000, "limit": 50000}]})
    assert describe(record) == "BLOCKED MAX_NOTIONAL: 60,000.00 > 50,000.00"


def test_blocking_verdict_without_numbers_gives_the_reason():
    record = rec("gate", {"decision": "block", "code": "QA_BLOCK", "reason": "QA says no"})
    assert describe(record) == "BLOCKED QA_BLOCK: QA says no"


def test_passing_verdict_counts_checks():
    record = rec("gate", {"decision": "pass", "checks": [{}, {}, {}, {}]})
    assert describe(record) == "PASS 4 checks"


def test_adjusting_verdict_shows_quantity_before_and_after():
    record = rec("gate", {"decision": "adjust", "code": "LOT_SIZE", "qty": 0.6, "checks": [
        {"decision": "pass", "code": "OK"},
        {"decision": "adjust", "code": "LOT_SIZE", "value": 0.63, "limit": 0.1}]})
    assert describe(record) == "ADJUST LOT_SIZE qty 0.63 -> 0.6"


def test_intent_with_strategy():
    record = rec("intent", {"side": "BUY", "qty": 0.5, "order_type": "MARKET"}, strategy="x")
    assert describe(record) == "BUY 0.5 BTC-USD MARKET (strategy x)"


def test_limit_intent_shows_limit_and_ioc():
    record = rec("intent", {"side": "sell", "qty": 2, "order_type": "limit",
                            "limit_price": 2500, "tif": "IOC"}, symbol="ETH-USD")
    assert describe(record) == "SELL 2 ETH-USD LIMIT @ 2,500.00 IOC"


def test_order():
    record = rec("order", {"status": "NEW", "side": "BUY", "qty": 1, "order_type": "LIMIT",
                           "limit_price": 99, "route": "PAPER"})
    assert describe(record) == "NEW BUY 1 BTC-USD LIMIT @ 99.00 via PAPER"


def test_reject_does_not_repeat_the_code():
    record = rec("reject", {"code": "KILL_SWITCH", "reason": "KILL_SWITCH: Kill switch is engaged"})
    assert describe(record) == "REJECTED BTC-USD KILL_SWITCH: Kill switch is engaged"


def test_cancel_names_the_order_and_what_was_left():
    record = rec("cancel", {"code": "USER", "reason": "cancelled by alice", "leaves_qty": 0.3},
                 order_id="o-7")
    assert describe(record) == "CANCELLED o-7 BTC-USD USER: cancelled by alice (0.3 left)"


def test_quote_bid_ask_last():
    record = rec("quote", {"bid": 100000, "ask": 100010, "last": None, "size": 3})
    assert describe(record) == "QUOTE BTC-USD bid/ask/last 100,000.00/100,010.00/- size 3"


def test_control_says_who_and_why():
    record = rec("control", {"action": "kill_switch.engage", "mode": "HALT", "actor": "alice",
                             "reason": "runaway strategy"}, symbol=None)
    assert describe(record) == "kill_switch.engage HALT by alice: runaway strategy"


def test_position_heartbeat_error_alert():
    assert describe(rec("position", {"qty": -1.5, "avg_price": 2000, "realized_pnl": 12.5})) \
        == "POSITION BTC-USD -1.5 @ 2,000.00 (realized 12.50)"
    assert describe(rec("heartbeat", {"component": "demo", "status": "ok", "lag_ms": 1234})) \
        == "HEARTBEAT demo OK (lag 1,234 ms)"
    assert describe(rec("error", {"where": "tailer", "error": "disk full"})) \
        == "ERROR in tailer: disk full"
    assert describe(rec("alert", {"rule": "error_rate", "severity": "p1",
                                  "message": "12% bad lines"})) \
        == "ALERT P1 error_rate: 12% bad lines"


def test_unknown_kind_falls_back_to_kind_and_scalars():
    assert describe(rec("legacy_thing", {"a": 1, "b": [1, 2]})) == "LEGACY_THING BTC-USD a=1"


@pytest.mark.parametrize("kind", [*KINDS, "mystery", None, 5])
@pytest.mark.parametrize("payload", [{}, None, [], "text", {"qty": "abc", "price": {"x": 1},
                                                             "checks": "nope", "side": 3}])
def test_never_raises_on_missing_or_odd_payloads(kind, payload):
    text = describe({"kind": kind, "payload": payload})
    assert isinstance(text, str) and text


def test_details_is_compact_sorted_json():
    assert details({"payload": {"b": 1, "a": [1, 2]}}) == '{"a":[1,2],"b":1}'
    assert details({"payload": None}) == "{}"


def test_number_formats():
    assert format_price(0.000123) == "0.000123"
    assert format_qty(1000) == "1,000"
    assert format_qty(-0.0) == "0"

"""The paper trading JSON API: orders, what-if, cancel, positions, account, reset, quotes."""

from __future__ import annotations

import pytest

ORDERS = "/api/v1/paper/orders"


def buy(symbol="AAPL", quantity=10, price=100.0, **extra):
    return {"symbol": symbol, "side": "BUY", "quantity": quantity, "price": price, **extra}


def submit(client, body, **kwargs):
    response = client.post(ORDERS, json=body, **kwargs)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_single_order_fills_and_reports_every_field(client):
    [result] = submit(client, buy(client_order_id="c-1"))
    assert result["status"] == "FILLED"
    assert result["symbol"] == "AAPL" and result["side"] == "BUY" and result["quantity"] == 10
    assert result["client_order_id"] == "c-1"
    assert result["order_id"] and result["reason"] is None
    assert set(result) == {"order_id", "client_order_id", "symbol", "side", "quantity",
                           "filled_quantity", "avg_fill_price", "price", "order_type",
                           "limit_price", "tif", "status", "reason", "route", "source",
                           "strategy", "created_at", "broker_order_id", "broker_status"}
    assert result["route"] == "PAPER" and result["source"] == "API"


def test_list_of_two_orders_gets_two_results_in_order(client):
    results = submit(client, [buy("AAPL"), {"symbol": "MSFT", "side": "sell", "quantity": 5,
                                            "price": 50.0}])
    assert [(r["symbol"], r["side"]) for r in results] == [("AAPL", "BUY"), ("MSFT", "SELL")]
    assert all(r["status"] == "FILLED" for r in results)


def test_kill_switch_rejects_every_new_order(client, monkeypatch):
    monkeypatch.setenv("PEAKTRADE_KILL_SWITCH", "1")
    [result] = submit(client, buy())
    assert result["status"] == "REJECTED"
    assert result["reason"] == "KILL_SWITCH: Kill switch is engaged"


def test_positions_after_buy_10_sell_4_give_6(client):
    submit(client, buy(quantity=10))
    submit(client, {"symbol": "AAPL", "side": "SELL", "quantity": 4, "price": 100.0})
    positions = client.get("/api/v1/paper/positions").get_json()
    assert [(p["symbol"], p["quantity"]) for p in positions] == [("AAPL", 6)]
    assert set(positions[0]) == {"symbol", "quantity", "avg_price", "mark", "unrealized_pnl",
                                 "realized_pnl"}


def test_orders_list_newest_first_with_limit_and_status(client):
    submit(client, [buy("AAPL"), buy("MSFT"), buy("NVDA", quantity=1, price=5.0)])
    orders = client.get(f"{ORDERS}?limit=2").get_json()
    assert [o["symbol"] for o in orders] == ["NVDA", "MSFT"]
    rejected = client.get(f"{ORDERS}?status=rejected").get_json()
    assert [o["symbol"] for o in rejected] == ["NVDA"]
    assert rejected[0]["reason"].startswith("MIN_NOTIONAL: ")


def test_order_by_id_and_unknown_id_is_404(client):
    [result] = submit(client, buy())
    assert client.get(f"{ORDERS}/{result['order_id']}").get_json()["status"] == "FILLED"
    response = client.get(f"{ORDERS}/nope-123")
    assert response.status_code == 404
    assert "nope-123" in response.get_json()["error"]


def resting_limit(client):
    client.post("/api/v1/market/quotes", json={"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    [result] = submit(client, {"symbol": "AAPL", "side": "BUY", "quantity": 5,
                               "order_type": "LIMIT", "limit_price": 95.0})
    assert result["status"] == "NEW"
    return result


def test_a_limit_price_without_an_order_type_makes_a_limit_order(client):
    client.post("/api/v1/market/quotes", json={"symbol": "AAPL", "bid": 99.0, "ask": 101.0})
    [result] = submit(client, {"symbol": "AAPL", "side": "BUY", "quantity": 5,
                               "limit_price": 95.0})
    assert (result["order_type"], result["status"], result["tif"]) == ("LIMIT", "NEW", "DAY")


def test_cancel_a_resting_limit_order_then_409_on_second_cancel(client):
    order = resting_limit(client)
    response = client.delete(f"{ORDERS}/{order['order_id']}")
    assert response.status_code == 200
    assert response.get_json()["status"] == "CANCELLED"
    again = client.delete(f"{ORDERS}/{order['order_id']}")
    assert again.status_code == 409
    assert "CANCELLED" in again.get_json()["error"]


def test_cancel_unknown_order_is_404(client):
    assert client.delete(f"{ORDERS}/nope-1").status_code == 404


def test_cancel_a_filled_order_is_409(client):
    [result] = submit(client, buy())
    response = client.delete(f"{ORDERS}/{result['order_id']}")
    assert response.status_code == 409
    assert "FILLED" in response.get_json()["error"]


def test_quote_that_crosses_a_resting_limit_fills_it(client):
    order = resting_limit(client)
    response = client.post("/api/v1/market/quotes",
                           json=[{"symbol": "AAPL", "bid": 93.0, "ask": 94.0}])
    body = response.get_json()
    assert response.status_code == 200 and body["accepted"] == 1
    [fill] = body["fills"]
    assert fill["order_id"] == order["order_id"] and fill["status"] == "FILLED"
    assert fill["quantity"] == 5 and fill["price"] <= 95.0 and fill["exec_id"]
    assert client.get(f"{ORDERS}/{order['order_id']}").get_json()["status"] == "FILLED"
    quotes = client.get("/api/v1/market/quotes").get_json()
    assert [(q["symbol"], q["bid"], q["ask"]) for q in quotes] == [("AAPL", 93.0, 94.0)]


def test_dry_run_returns_verdicts_with_checks_and_writes_nothing(client):
    response = client.post(f"{ORDERS}?dry_run=1",
                           json=[buy(), buy("MSFT", quantity=1, price=5.0)])
    assert response.status_code == 200
    passed, blocked = response.get_json()
    assert passed["decision"] in ("pass", "adjust")
    assert blocked["decision"] == "block" and blocked["code"] == "MIN_NOTIONAL"
    check = next(c for c in blocked["checks"] if c["code"] == "MIN_NOTIONAL")
    assert set(check) == {"gate", "decision", "code", "reason", "limit", "value", "headroom"}
    assert client.get(ORDERS).get_json() == []


def test_account_reports_equity_and_session(client):
    account = client.get("/api/v1/paper/account").get_json()
    assert set(account) == {"session_id", "cash", "equity", "start_equity", "realized_pnl",
                            "unrealized_pnl", "day_pnl", "drawdown_pct"}
    assert account["equity"] == account["start_equity"] > 0


def test_reset_starts_a_fresh_session(client):
    submit(client, buy())
    before = client.get("/api/v1/paper/account").get_json()["session_id"]
    response = client.post("/api/v1/paper/reset")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["session_id"] != before
    assert client.get("/api/v1/paper/positions").get_json() == []
    assert client.get(ORDERS).get_json() == []


def test_malformed_json_is_400_and_changes_nothing(client):
    response = client.post(ORDERS, data=b'{"symbol": "AAPL",', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("malformed JSON")
    assert client.get(ORDERS).get_json() == []


def test_wrong_content_type_is_400(client):
    response = client.post(ORDERS, data="symbol=AAPL", content_type="text/plain")
    assert response.status_code == 400
    assert "application/json" in response.get_json()["error"]


@pytest.mark.parametrize("order, field, words", [
    ({"symbol": "AAPL", "side": "BUY", "quantity": -5}, "quantity", "got -5"),
    ({"symbol": "AAPL", "side": "HOLD", "quantity": 1}, "side", "BUY, SELL"),
    ({"symbol": "AAPL", "side": "BUY", "quantity": 1, "order_type": "LIMIT"}, "limit_price",
     "required"),
    ({"symbol": "AAPL", "side": "BUY", "quantity": 1, "order_type": "MARKET",
      "limit_price": 5}, "limit_price", "only to LIMIT"),
    ({"symbol": "AAPL", "side": "BUY", "quantity": 1, "tif": "GTC"}, "tif", "DAY, IOC"),
    ({"side": "BUY", "quantity": 1}, "symbol", "required"),
    ({"symbol": "AAPL", "side": "BUY", "quantity": 1, "qty": 1}, "qty", "allowed fields"),
])
def test_invalid_fields_are_422_with_a_message_per_field(client, order, field, words):
    response = client.post(ORDERS, json=order)
    assert response.status_code == 422
    body = response.get_json()
    assert words in " ".join(body["errors"][field])
    assert body["error"]


def test_one_bad_order_in_a_list_rejects_the_whole_request_by_index(client):
    response = client.post(ORDERS, json=[buy(), buy(quantity=0)])
    assert response.status_code == 422
    assert "quantity must be > 0, got 0" in response.get_json()["errors"]["1"]["quantity"]
    assert client.get(ORDERS).get_json() == []


def test_more_orders_than_allowed_is_422(app, client):
    limit = app.config["PEAKTRADE"]["web"]["max_orders_per_request"]
    response = client.post(ORDERS, json=[buy()] * (limit + 1))
    assert response.status_code == 422
    assert f"at most {limit} orders" in response.get_json()["error"]


def test_body_over_the_limit_is_413(app, client):
    size = app.config["PEAKTRADE"]["web"]["max_body_bytes"] + 1
    response = client.post(ORDERS, data=b" " * size, content_type="application/json")
    assert response.status_code == 413
    assert "larger than the limit" in response.get_json()["error"]


def test_invalid_quote_is_422(client):
    response = client.post("/api/v1/market/quotes", json={"symbol": "AAPL", "bid": 10, "ask": 9})
    assert response.status_code == 422
    assert "bid must be <= ask" in response.get_json()["errors"]["bid"][0]


def test_invalid_list_filter_is_422(client):
    response = client.get(f"{ORDERS}?status=DONE")
    assert response.status_code == 422
    assert "NEW" in response.get_json()["errors"]["status"][0]


def test_submit_answers_exactly_the_order_result_schema(client):
    from peaktrade.web.schemas import ORDER_RESULT

    [result] = submit(client, buy())
    assert ORDER_RESULT.dump(result) == result
    assert set(result) == set(ORDER_RESULT.fields)


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"quantity": None}, "quantity", "quantity may not be null"),
    ({"symbol": 5}, "symbol", "symbol must be a string, got 5"),
    ({"strategy": [1]}, "strategy", "strategy must be a string, got [1]"),
    ({"tags": "research_only"}, "tags", 'tags must be a list, got "research_only"'),
    ({"confidence": "high"}, "confidence", 'confidence must be a number, got "high"'),
    ({"colour": "red"}, "colour", "unknown field 'colour'; allowed fields are client_order_id"),
])
def test_wrong_types_are_422_naming_the_field_and_the_value(client, body, field, message):
    order = {"symbol": "AAPL", "side": "BUY", "quantity": 1, "price": 100.0, **body}
    response = client.post("/api/v1/paper/orders", json=order)
    assert response.status_code == 422
    assert response.get_json()["errors"][field][0].startswith(message)
    assert client.get("/api/v1/paper/orders").get_json() == []


def test_bad_query_arguments_are_422_naming_the_value(client):
    response = client.get("/api/v1/paper/orders?limit=abc")
    assert response.status_code == 422
    assert response.get_json()["errors"]["limit"] == ['limit must be a whole number, got "abc"']

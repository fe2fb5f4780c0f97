"""The OMS JSON API: blotter filters, executions, routes."""

from __future__ import annotations

from peaktrade.web import close_app


def seed(client):
    client.post("/api/v1/paper/orders", json=[
        {"symbol": "AAPL", "side": "BUY", "quantity": 10, "price": 100.0},
        {"symbol": "MSFT", "side": "BUY", "quantity": 1, "price": 5.0},
        {"symbol": "AAPL", "side": "SELL", "quantity": 4, "price": 100.0},
    ])


def test_blotter_lists_orders_newest_first_with_route_and_source(client):
    seed(client)
    rows = client.get("/api/v1/oms/blotter").get_json()
    assert [(r["symbol"], r["side"]) for r in rows] == [("AAPL", "SELL"), ("MSFT", "BUY"),
                                                        ("AAPL", "BUY")]
    assert {"order_id", "symbol", "side", "quantity", "price", "status", "route", "source",
            "client_order_id", "created_at"} <= set(rows[0])
    assert {(r["route"], r["source"]) for r in rows} == {("PAPER", "API")}


def test_blotter_filters_by_symbol_status_route_source_and_limit(client):
    seed(client)
    get = lambda query: client.get(f"/api/v1/oms/blotter?{query}").get_json()  # noqa: E731
    assert {r["symbol"] for r in get("symbol=aapl")} == {"AAPL"}
    assert [r["symbol"] for r in get("status=REJECTED")] == ["MSFT"]
    assert len(get("status=FILLED&symbol=AAPL")) == 2
    assert len(get("route=PAPER")) == 3 and get("route=LIVE") == []
    assert get("source=FORM") == [] and len(get("source=api")) == 3
    assert len(get("limit=1")) == 1


def test_blotter_rejects_a_bad_limit_with_422(client):
    response = client.get("/api/v1/oms/blotter?limit=0")
    assert response.status_code == 422
    assert "limit must be between 1 and 1000, got 0" in response.get_json()["errors"]["limit"]


def test_executions_carry_exec_and_order_ids(client):
    seed(client)
    fills = client.get("/api/v1/oms/executions").get_json()
    assert [(f["symbol"], f["side"], f["quantity"]) for f in fills] == [("AAPL", "SELL", 4),
                                                                        ("AAPL", "BUY", 10)]
    assert set(fills[0]) == {"exec_id", "order_id", "symbol", "side", "quantity", "price",
                             "timestamp", "route"}
    assert client.get("/api/v1/oms/executions?symbol=MSFT").get_json() == []
    assert len(client.get("/api/v1/oms/executions?limit=1").get_json()) == 1


def test_routes_list_paper_as_default(client):
    routes = client.get("/api/v1/oms/routes").get_json()
    paper = next(r for r in routes if r["route_id"] == "PAPER")
    assert paper["is_default"] is True and paper["description"]


def test_two_workers_on_one_journal_show_the_same_blotter(app, client, log_dir):
    from peaktrade import create_app

    other = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                        "journal": {"fsync": "never"}})
    try:
        [placed] = other.test_client().post("/api/v1/paper/orders", json={
            "symbol": "AAPL", "side": "BUY", "quantity": 2, "price": 100.0}).get_json()
        assert [r["order_id"] for r in client.get("/api/v1/oms/blotter").get_json()] == \
            [placed["order_id"]]
        assert client.delete(f"/api/v1/paper/orders/{placed['order_id']}").status_code == 409
    finally:
        close_app(other)

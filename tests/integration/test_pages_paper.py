"""The /paper page: order entry, what-if, field errors, panels, cancel, reset, controls header."""

from __future__ import annotations

import re

from peaktrade.web import close_app

HX = {"HX-Request": "true"}


def csrf(client, path="/paper"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def post(client, path, data):
    return client.post(path, data={**data, "csrf_token": csrf(client)}, headers=HX)


def order(**fields):
    return {"symbol": "AAPL", "side": "BUY", "quantity": "10", "order_type": "MARKET",
            "limit_price": "", "price": "100", "tif": "DAY", "strategy": "", "tags": "", **fields}


def test_paper_page_has_form_suggestions_panels_and_header(client):
    html = client.get("/paper").get_data(as_text=True)
    for marker in ('id="order-form"', 'list="instrument-symbols"', 'id="what-if"',
                   'id="account"', 'id="positions"', 'id="working-orders"', 'id="recent-fills"',
                   'id="kill-switch-form"', 'hx-confirm="Start a fresh paper session'):
        assert marker in html
    assert "style=" not in html and "<script>" not in html


def test_submitting_the_form_shows_the_result_and_updates_panels(client):
    response = post(client, "/paper/orders", order())
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="order-entry"' in html and "FILLED" in html
    assert 'id="paper-panels" class="paper-panels" hx-swap-oob="true"' in html
    assert re.search(r'<td>AAPL</td><td class="num">10</td>', html)


def test_invalid_quantity_shows_the_field_error_and_keeps_values(client):
    html = post(client, "/paper/orders", order(quantity="-5")).get_data(as_text=True)
    assert 'id="quantity-error"' in html and "quantity must be &gt; 0, got -5" in html
    assert 'value="AAPL"' in html
    assert client.get("/api/v1/paper/orders").get_json() == []


def test_form_without_htmx_gets_422_for_invalid_fields(client):
    response = client.post("/paper/orders", data={**order(quantity="x"),
                                                  "csrf_token": csrf(client)})
    assert response.status_code == 422


def test_tags_are_comma_separated_and_the_source_is_form(client):
    post(client, "/paper/orders", order(tags="alpha, beta", strategy="momo"))
    [placed] = client.get("/api/v1/paper/orders").get_json()
    assert placed["source"] == "FORM" and placed["strategy"] == "momo"


def test_what_if_panel_shows_each_check_and_headroom(client):
    html = post(client, "/paper/what-if", order(quantity="1", price="5")).get_data(as_text=True)
    assert "BLOCK" in html and "MIN_NOTIONAL" in html and "Headroom" in html
    assert client.get("/api/v1/paper/orders").get_json() == []


def test_what_if_panel_lists_field_problems(client):
    html = post(client, "/paper/what-if", order(quantity="")).get_data(as_text=True)
    assert "quantity" in html and "<table" not in html


def test_kill_switch_rejection_reason_shows_in_place(client, monkeypatch):
    monkeypatch.setenv("PEAKTRADE_KILL_SWITCH", "on")
    html = post(client, "/paper/orders", order()).get_data(as_text=True)
    assert "REJECTED" in html and "KILL_SWITCH: Kill switch is engaged" in html


def test_cancel_button_cancels_a_working_order(client):
    client.post("/api/v1/market/quotes", json={"symbol": "AAPL", "bid": 99, "ask": 101})
    post(client, "/paper/orders", order(order_type="LIMIT", limit_price="95", quantity="3"))
    [working] = client.get("/api/v1/paper/orders?status=WORKING").get_json()
    page = client.get("/paper").get_data(as_text=True)
    assert f'/paper/orders/{working["order_id"]}/cancel' in page
    html = post(client, f'/paper/orders/{working["order_id"]}/cancel', {}).get_data(as_text=True)
    assert "Cancelled AAPL BUY 3" in html and "No working orders." in html
    again = post(client, f'/paper/orders/{working["order_id"]}/cancel', {})
    assert "CANCELLED" in again.get_data(as_text=True)


def test_reset_button_starts_a_new_session(client):
    post(client, "/paper/orders", order())
    html = post(client, "/paper/reset", {}).get_data(as_text=True)
    assert "Started paper session" in html and "No open positions." in html


def test_panels_alone_for_polling(client):
    html = client.get("/paper/panels", headers=HX).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="paper-panels"') and "<html" not in html


def test_header_engages_and_releases_the_kill_switch(client):
    html = post(client, "/controls/kill-switch", {"action": "engage", "mode": "REDUCE_ONLY",
                                                  "reason": "manual test"}).get_data(as_text=True)
    assert "KILL SWITCH REDUCE_ONLY" in html and "manual test" in html
    assert client.get("/api/v1/controls").get_json()["kill_switch"]["engaged"] is True
    html = post(client, "/controls/kill-switch", {"action": "release", "reason": "done"}
                ).get_data(as_text=True)
    assert "Kill switch off" in html


def test_header_says_why_a_kill_switch_action_failed(client):
    html = post(client, "/controls/kill-switch", {"action": "engage", "reason": ""}
                ).get_data(as_text=True)
    assert "reason is required" in html
    assert client.get("/api/v1/controls").get_json()["kill_switch"]["engaged"] is False


def test_header_state_part_for_polling(client):
    html = client.get("/controls/header?part=state", headers=HX).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="controls-state"') and "Kill switch off" in html


def test_header_shows_a_tripped_breaker_and_resets_it(log_dir, monkeypatch):
    from peaktrade import create_app

    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                      "journal": {"fsync": "never"}, "breakers": {"max_trades_per_day": 1}})
    client = app.test_client()
    try:
        for _ in range(2):
            client.post("/api/v1/paper/orders", json={"symbol": "AAPL", "side": "BUY",
                                                      "quantity": 1, "price": 100.0})
        html = client.get("/paper").get_data(as_text=True)
        assert 'data-breaker="TRADES_PER_DAY"' in html and "TRADES_PER_DAY tripped" in html
        assert 'hx-confirm="Reset breaker TRADES_PER_DAY?' in html
        html = post(client, "/controls/breakers/TRADES_PER_DAY/reset", {"reason": "reviewed"}
                    ).get_data(as_text=True)
        assert "Breaker TRADES_PER_DAY reset." in html and "Breakers ok" in html
        html = post(client, "/controls/breakers/TRADES_PER_DAY/reset", {}).get_data(as_text=True)
        assert "not tripped" in html
    finally:
        close_app(app)

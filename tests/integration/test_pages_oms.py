"""The /oms/blotter page: quick filters in the URL, executions tab, routes list."""

from __future__ import annotations

HX = {"HX-Request": "true"}


def seed(client):
    client.post("/api/v1/paper/orders", json=[
        {"symbol": "AAPL", "side": "BUY", "quantity": 10, "price": 100.0},
        {"symbol": "MSFT", "side": "BUY", "quantity": 1, "price": 5.0},
    ])


def test_blotter_page_shows_orders_filters_and_routes(client):
    seed(client)
    html = client.get("/oms/blotter").get_data(as_text=True)
    assert "<html" in html and 'id="blotter"' in html and 'id="routes"' in html
    for label in ("Working", "Filled", "Rejected", "Cancelled"):
        assert f">{label}</a>" in html
    assert 'hx-push-url="true"' in html
    assert 'href="/oms/blotter?symbol=MSFT"' in html
    assert "style=" not in html


def test_quick_filter_returns_only_the_component_for_htmx(client):
    seed(client)
    html = client.get("/oms/blotter?status=REJECTED", headers=HX).get_data(as_text=True)
    assert html.lstrip().startswith("<section id=\"blotter\"") and "<html" not in html
    assert "MSFT" in html and "<td>AAPL</td>" not in html
    assert 'class="chip active" hx-get="/oms/blotter?status=REJECTED"' in html


def test_filters_combine_in_the_url(client):
    seed(client)
    html = client.get("/oms/blotter?status=FILLED&symbol=AAPL", headers=HX).get_data(as_text=True)
    assert 'href="/oms/blotter?status=FILLED&amp;symbol=MSFT"' in html


def test_history_restore_gets_the_full_page(client):
    html = client.get("/oms/blotter?status=FILLED",
                      headers={**HX, "HX-History-Restore-Request": "true"}).get_data(as_text=True)
    assert "<html" in html


def test_executions_tab_lists_fills(client):
    seed(client)
    html = client.get("/oms/blotter?view=executions", headers=HX).get_data(as_text=True)
    assert 'id="blotter-executions"' in html and "<td>AAPL</td>" in html


def test_bad_filter_renders_an_error_page(client):
    response = client.get("/oms/blotter?limit=-1")
    assert response.status_code == 422

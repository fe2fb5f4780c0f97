"""Browser: order form, field errors, kill switch from the header, cancel from working orders."""

from __future__ import annotations

import requests
from playwright.sync_api import expect


def accept_confirmations(page):
    page.on("dialog", lambda dialog: dialog.accept())


def fill_order(page, symbol="AAPL", quantity="10", price="100"):
    page.fill("#order-symbol", symbol)
    page.fill("#order-quantity", quantity)
    page.fill("#order-price", price)


def assert_no_console_errors(page):
    """No CSP violation (nor any other error) reached the browser console."""
    assert page.console_errors == []


def test_order_from_the_form_shows_in_positions_and_blotter(page):
    page.goto("/paper")
    fill_order(page)
    expect(page.locator("#what-if")).to_contain_text("PASS")
    page.click("#order-form button[type=submit]")
    expect(page.locator("#order-result")).to_contain_text("FILLED")
    expect(page.locator("#positions tr[data-symbol=AAPL]")).to_contain_text("10")
    page.click("nav >> text=Blotter")
    expect(page.locator("#blotter-orders")).to_contain_text("AAPL")
    expect(page.locator("#blotter-orders")).to_contain_text("FORM")
    page.click("#status-filters >> text=Filled")
    expect(page).to_have_url("/oms/blotter?status=FILLED")
    expect(page.locator("#blotter-orders")).to_contain_text("FILLED")
    assert_no_console_errors(page)


def test_invalid_quantity_shows_the_field_error(page):
    page.goto("/paper")
    fill_order(page, quantity="-5")
    page.click("#order-form button[type=submit]")
    expect(page.locator("#quantity-error")).to_have_text("quantity must be > 0, got -5")
    assert_no_console_errors(page)


def test_limit_price_field_only_for_limit_orders(page):
    page.goto("/paper")
    expect(page.locator("#order-limit-price")).to_be_hidden()
    page.select_option("#order-type", "LIMIT")
    expect(page.locator("#order-limit-price")).to_be_visible()
    assert_no_console_errors(page)


def test_blotter_filters_and_executions_tab_without_reload(page, server):
    orders = [{"symbol": "AAPL", "side": "BUY", "quantity": 10, "price": 100.0},
              {"symbol": "MSFT", "side": "BUY", "quantity": 1, "price": 5.0}]
    assert requests.post(f"{server.url}/api/v1/paper/orders", json=orders,
                         timeout=10).status_code == 200
    page.goto("/oms/blotter")
    page.evaluate("window.notReloaded = true")
    page.click("#status-filters >> text=Rejected")
    expect(page).to_have_url("/oms/blotter?status=REJECTED")
    expect(page.locator("#blotter-orders tbody tr")).to_have_count(1)
    expect(page.locator("#blotter-orders")).to_contain_text("MIN_NOTIONAL")
    page.click("#symbol-filters >> text=AAPL")
    expect(page).to_have_url("/oms/blotter?status=REJECTED&symbol=AAPL")
    expect(page.locator("#blotter-orders")).to_contain_text("No orders match")
    page.click(".tabs >> text=Executions")
    expect(page.locator("#blotter-executions")).to_contain_text("AAPL")
    assert page.evaluate("window.notReloaded") is True
    page.go_back()
    expect(page).to_have_url("/oms/blotter?status=REJECTED&symbol=AAPL")
    assert_no_console_errors(page)


def test_kill_switch_from_the_header_rejects_a_submitted_order(page):
    accept_confirmations(page)
    page.goto("/paper")
    page.fill("#kill-switch-reason", "browser test")
    page.click("#kill-switch-button")
    expect(page.locator("#kill-switch-state")).to_contain_text("KILL SWITCH HALT")
    fill_order(page)
    page.click("#order-form button[type=submit]")
    expect(page.locator("#order-result")).to_contain_text("KILL_SWITCH: Kill switch is engaged")
    assert_no_console_errors(page)


def test_cancel_a_resting_limit_order_from_working_orders(page, server):
    accept_confirmations(page)
    response = requests.post(f"{server.url}/api/v1/market/quotes",
                             json={"symbol": "AAPL", "bid": 99.0, "ask": 101.0}, timeout=10)
    assert response.status_code == 200
    page.goto("/paper")
    page.fill("#order-symbol", "AAPL")
    page.fill("#order-quantity", "3")
    page.select_option("#order-type", "LIMIT")
    page.fill("#order-limit-price", "95")
    page.click("#order-form button[type=submit]")
    expect(page.locator("#order-result")).to_contain_text("NEW")
    row = page.locator("#working-orders tbody tr[data-order-id]")
    expect(row).to_have_count(1)
    row.locator("button.cancel").click()
    expect(page.locator("#paper-panels")).to_contain_text("Cancelled AAPL BUY 3")
    expect(page.locator("#working-orders")).to_contain_text("No working orders.")
    assert_no_console_errors(page)

"""The dashboard in Chromium: tiles move when orders are submitted through the API."""

from __future__ import annotations

import requests
from playwright.sync_api import expect


def _submit(server, **order):
    response = requests.post(f"{server.url}/api/v1/paper/orders", json=order, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_dashboard_tiles_move_when_orders_are_submitted(page, server):
    _submit(server, symbol="BTC-USD", side="BUY", quantity=0.01, price=100.0, strategy="e2e")
    page.goto("/")
    expect(page.locator("#dashboard[data-stream='open']")).to_be_attached(timeout=5000)
    attempted = page.locator("[data-tile='attempted'] .value")
    expect(attempted).to_have_text("1")
    _submit(server, symbol="BTC-USD", side="BUY", quantity=0.5, price=100.0, strategy="e2e")
    _submit(server, symbol="ETH-USD", side="BUY", quantity=0.001, price=10.0, strategy="e2e")
    expect(attempted).to_have_text("3", timeout=5000)
    expect(page.locator("[data-tile='vetoed'] .value")).not_to_have_text("0")
    expect(page.locator("#dash-banner")).to_have_attribute("data-level", "green")
    assert page.console_errors == []


def test_dashboard_banner_turns_red_when_the_kill_switch_is_engaged(page, server):
    _submit(server, symbol="BTC-USD", side="BUY", quantity=0.01, price=100.0)
    page.goto("/")
    expect(page.locator("#dashboard[data-stream='open']")).to_be_attached(timeout=5000)
    response = requests.post(f"{server.url}/api/v1/controls/kill-switch",
                             json={"action": "engage", "reason": "e2e drill"}, timeout=10)
    assert response.status_code == 200, response.text
    expect(page.locator("#dash-banner")).to_have_attribute("data-level", "red", timeout=5000)
    expect(page.locator("#dash-banner")).to_contain_text("e2e drill")

"""The live timeline in Chromium: events appear as they are journaled, filters, CSV."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from peaktrade.journal import Journal


@pytest.fixture
def journal(server):
    j = Journal(server.log_dir, fsync="never")
    j.append("e2e", [
        {"kind": "intent", "symbol": "BTC-USD", "strategy": "momo", "intent_id": "i1",
         "payload": {"side": "BUY", "qty": 0.5, "order_type": "MARKET"}},
        {"kind": "fill", "symbol": "BTC-USD", "strategy": "momo", "order_id": "o1",
         "payload": {"qty": 0.5, "price": 100050.0, "slippage_bps": 5.0}},
        {"kind": "gate", "symbol": "ETH-USD", "strategy": "carry", "intent_id": "i2",
         "payload": {"decision": "block", "code": "MIN_NOTIONAL", "reason": "9.50 < 10.00"}},
    ])
    yield j
    j.close()


def _open_live(page, url):
    page.goto(url)
    expect(page.locator("#timeline-page[data-stream='open']")).to_be_attached(timeout=5000)


def test_an_appended_event_appears_in_the_open_timeline_within_a_second(page, journal):
    _open_live(page, "/live/execution/e2e")
    expect(page.locator("#timeline tr")).to_have_count(3)
    journal.append("e2e", [{"kind": "fill", "symbol": "SOL-USD", "strategy": "momo",
                            "order_id": "o9", "payload": {"qty": 3, "price": 150.0}}])
    newest = page.locator("#timeline tr").first
    expect(newest).to_have_attribute("data-seq", "4", timeout=1000)
    expect(newest).to_contain_text("SOL-USD")
    newest.locator("summary").click()
    expect(newest.locator("pre")).to_be_visible()
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_quick_filter_button_changes_rows_url_and_stream(page, journal):
    _open_live(page, "/live/execution/e2e")
    page.get_by_role("link", name="Fills", exact=True).click()
    expect(page).to_have_url(re.compile(r"/live/execution/e2e\?kind=fill"))
    expect(page.locator("#timeline tr")).to_have_count(1)
    expect(page.locator("a.quick.active")).to_have_text("Fills")
    expect(page.locator("#timeline-page[data-stream='open']")).to_be_attached(timeout=5000)
    journal.append("e2e", [{"kind": "order", "symbol": "BTC-USD", "payload": {}},
                           {"kind": "fill", "symbol": "BTC-USD", "payload": {"qty": 1}}])
    expect(page.locator("#timeline tr").first).to_have_attribute("data-seq", "5", timeout=1000)
    expect(page.locator("#timeline tr")).to_have_count(2)
    page.get_by_role("link", name="Vetoes").click()
    expect(page).to_have_url(re.compile(r"kind=gate&decision=block"))
    expect(page.locator("#timeline tr")).to_have_count(1)
    expect(page.locator("#timeline tr").first).to_contain_text("MIN_NOTIONAL")
    page.go_back()
    expect(page).to_have_url(re.compile(r"kind=fill"))
    expect(page.locator("#timeline tr")).to_have_count(2)
    assert page.console_errors == []


def test_pause_holds_new_rows_and_counts_them_until_resume(page, journal):
    _open_live(page, "/live/execution/e2e")
    page.locator("#timeline-pause").click()
    journal.append("e2e", [{"kind": "fill", "symbol": "BTC-USD", "payload": {"qty": 1}},
                           {"kind": "fill", "symbol": "BTC-USD", "payload": {"qty": 2}}])
    expect(page.locator("#timeline-missed")).to_have_text("2 new events while paused")
    expect(page.locator("#timeline tr")).to_have_count(3)
    page.locator("#timeline-pause").click()
    expect(page.locator("#timeline tr")).to_have_count(5)
    expect(page.locator("#timeline tr").first).to_have_attribute("data-seq", "5")


def test_download_csv_holds_the_filtered_rows(page, journal):
    _open_live(page, "/live/execution/e2e?kind=fill")
    with page.expect_download() as info:
        page.locator("#timeline-csv").click()
    lines = info.value.path().read_text(encoding="utf-8").strip().splitlines()
    assert lines[0].split(",")[:4] == ["ts", "kind", "symbol", "session_id"]
    assert len(lines) == 2 and ",fill,BTC-USD,e2e," in lines[1]


def test_the_page_keeps_at_most_the_configured_number_of_rows(browser, tmp_path):
    from tests.live_server import LiveServer
    log_dir = tmp_path / "capped"
    log_dir.mkdir()
    j = Journal(log_dir, fsync="never")
    j.append("cap", [{"kind": "fill", "payload": {"qty": i}} for i in range(12)])
    try:
        with LiveServer(log_dir, env={"PEAKTRADE_WEB__TIMELINE_MAX_ROWS": "10"}) as live:
            context = browser.new_context(base_url=live.url)
            page = context.new_page()
            page.goto("/live/execution/cap")
            expect(page.locator("#timeline-page[data-stream='open']")).to_be_attached(
                timeout=5000)
            expect(page.locator("#timeline tr")).to_have_count(10)
            j.append("cap", [{"kind": "fill", "payload": {"qty": i}} for i in range(5)])
            expect(page.locator("#timeline tr").first).to_have_attribute("data-seq", "17")
            expect(page.locator("#timeline tr")).to_have_count(10)
            context.close()
    finally:
        j.close()


def test_download_csv_of_the_vetoes_filter_holds_only_blocked_verdicts(page, journal):
    journal.append("e2e", [{"kind": "gate", "symbol": "BTC-USD", "intent_id": "i3",
                            "payload": {"decision": "pass"}}])
    _open_live(page, "/live/execution/e2e")
    page.get_by_role("link", name="Vetoes").click()
    expect(page).to_have_url(re.compile(r"decision=block"))
    with page.expect_download() as info:
        page.locator("#timeline-csv").click()
    assert info.value.suggested_filename == "telemetry_e2e_gate.csv"
    lines = info.value.path().read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) == 2 and ",gate,ETH-USD,e2e," in lines[1] and "MIN_NOTIONAL" in lines[1]

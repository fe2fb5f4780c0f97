"""Timeline and sessions pages: rows from the journal, filters in the URL, 400/404."""

from __future__ import annotations

import gzip
import threading


def _events(journal, sid="s1"):
    return journal.append(sid, [
        {"kind": "intent", "symbol": "BTC-USD", "strategy": "momo", "intent_id": "i1",
         "payload": {"side": "BUY", "qty": 0.5, "order_type": "MARKET"}},
        {"kind": "gate", "symbol": "BTC-USD", "strategy": "momo", "intent_id": "i1",
         "payload": {"decision": "block", "code": "MIN_NOTIONAL", "reason": "9.50 < 10.00"}},
        {"kind": "gate", "symbol": "ETH-USD", "strategy": "carry", "intent_id": "i2",
         "payload": {"decision": "pass"}},
        {"kind": "fill", "symbol": "ETH-USD", "strategy": "carry", "order_id": "o2",
         "payload": {"qty": 1, "price": 2000.0, "slippage_bps": 5.0}},
    ])


def _row_seqs(html):
    return [int(part.split('"')[0]) for part in html.split('data-seq="')[1:]]


def test_timeline_lists_events_newest_first_with_filters(client, journal):
    _events(journal)
    page = client.get("/live/execution/s1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _row_seqs(html) == [4, 3, 2, 1]
    assert 'sse-connect="/stream/execution/s1?limit=200&amp;since_seq=4"' in html
    for label in ("All", "Intents", "Verdicts", "Vetoes", "Orders", "Fills", "Cancels/Rejects",
                  "Errors", "Controls"):
        assert f">{label}</a>" in html


def test_vetoes_filter_keeps_blocked_verdicts_and_carries_into_stream_and_csv(client, journal):
    _events(journal)
    html = client.get("/live/execution/s1?kind=gate&decision=block").get_data(as_text=True)
    assert _row_seqs(html) == [2]
    assert "kind=gate&amp;decision=block" in html.split("sse-connect=")[1].split(">")[0]
    csv_link = html.split('id="timeline-csv"')[1].split(">")[0]
    assert "session_id=s1" in csv_link and "format=csv" in csv_link
    assert "kind=gate" in csv_link and "decision=block" in csv_link


def test_symbol_and_strategy_filters(client, journal):
    _events(journal)
    assert _row_seqs(client.get("/live/execution/s1?symbol=ETH-USD").get_data(as_text=True)) \
        == [4, 3]
    assert _row_seqs(client.get("/live/execution/s1?strategy=momo").get_data(as_text=True)) \
        == [2, 1]


def test_htmx_request_gets_the_page_fragment_only(client, journal):
    _events(journal)
    html = client.get("/live/execution/s1?kind=fill",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith("<section id=\"timeline-page\"")
    assert _row_seqs(html) == [4]


def test_active_timeline_redirects_to_the_newest_session(client, journal):
    _events(journal, "s1")
    response = client.get("/live/execution?kind=fill")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/live/execution/s1?kind=fill")


def test_unknown_session_is_404_saying_so(client, journal):
    response = client.get("/live/execution/nope")
    assert response.status_code == 404
    assert "nope" in response.get_data(as_text=True)
    assert client.get("/stream/execution/nope").status_code == 404


def test_session_id_with_path_characters_is_400(client, journal, log_dir):
    (log_dir.parent / "secret.jsonl").write_text("{}\n")
    for bad in ("..%2Fsecret", "a..b", ".hidden", "a/b"):
        assert client.get(f"/live/execution/{bad}").status_code == 400
    assert client.get("/live/execution/a..b").status_code == 400
    assert client.get("/stream/execution/a..b").status_code == 400


def test_bad_filter_values_are_400_naming_the_value(client, journal):
    _events(journal)
    response = client.get("/live/execution/s1?kind=nonsense")
    assert response.status_code == 400
    assert "nonsense" in response.get_data(as_text=True)
    assert client.get("/live/execution/s1?limit=0").status_code == 400


def test_sessions_page_lists_size_count_time_range_and_error_rate(client, journal, log_dir):
    _events(journal, "s1")
    _events(journal, "s2")
    with open(log_dir / "s2.jsonl", "ab") as fh:
        fh.write(b"not json\n")
    archive = log_dir / "archive"
    archive.mkdir()
    with gzip.open(archive / "old.1.jsonl.gz", "wb") as fh:
        fh.write(b'{"ts": "2025-01-01T00:00:00Z", "kind": "fill", "payload": {}}\n')
    html = client.get("/sessions").get_data(as_text=True)
    for _ in range(100):  # archives are counted in the background
        if "counting archives" not in html:
            break
        threading.Event().wait(0.05)
        html = client.get("/sessions").get_data(as_text=True)
    for sid in ("s1", "s2", "old"):
        assert f'data-session="{sid}"' in html
        assert f"/live/execution/{sid}" in html
        assert f"/api/telemetry?session_id={sid}&amp;format=csv" in html
    s2 = html.split('data-session="s2"')[1].split("</tr>")[0]
    assert ">4<" in s2 and "20.00 %" in s2
    old = html.split('data-session="old"')[1].split("</tr>")[0]
    assert "2025-01-01 00:00:00" in old and ">1<" in old


def _chain(journal, sid, n, strategy="momo"):
    for i in range(n):
        journal.append(sid, [
            {"kind": "intent", "symbol": "BTC-USD", "strategy": strategy, "intent_id": f"i{i}",
             "payload": {"side": "BUY", "qty": 1}},
            {"kind": "gate", "symbol": "BTC-USD", "strategy": strategy, "intent_id": f"i{i}",
             "payload": {"decision": "block" if i % 2 else "pass", "code": "MIN_NOTIONAL"}},
        ])
        if i % 2 == 0:
            journal.append(sid, [
                {"kind": "order", "symbol": "BTC-USD", "strategy": strategy,
                 "intent_id": f"i{i}", "order_id": f"o{i}", "payload": {"status": "NEW"}},
                {"kind": "fill", "symbol": "BTC-USD", "strategy": strategy, "order_id": f"o{i}",
                 "payload": {"qty": 1, "price": 100.0}},
            ])


def _tile(html, name):
    return html.split(f'data-tile="{name}"')[1].split('class="value')[1].split(">")[1] \
        .split("<")[0].strip()


def test_dashboard_shows_tiles_vetoes_strategies_and_a_green_banner(client, journal):
    _chain(journal, "d1", 4)
    html = client.get("/").get_data(as_text=True)
    assert (_tile(html, "attempted"), _tile(html, "executed"), _tile(html, "vetoed")) \
        == ("4", "2", "2")
    assert _tile(html, "fill_rate") == "100.0 %"
    assert 'data-level="green"' in html
    assert "<code>MIN_NOTIONAL</code>" in html
    assert 'data-strategy="momo"' in html
    assert "<svg" in html and 'class="bar"' in html


def test_dashboard_banner_is_red_with_the_reason_when_the_kill_switch_is_engaged(app, client,
                                                                                  journal):
    from peaktrade.web.context import get_desk
    _chain(journal, "d1", 1)
    with app.app_context():
        get_desk().control("kill_switch.engage", actor="ops", reason="exchange outage")
    html = client.get("/").get_data(as_text=True)
    assert 'data-level="red"' in html and "exchange outage" in html
    assert 'data-kill-switch="engaged"' in html


def test_dashboard_tiles_move_over_its_stream(app, journal):
    from tests.integration.test_stream_sse import SSEReader
    _chain(journal, "d1", 2)
    client = app.test_client()
    stream = SSEReader(client.get("/stream/dashboard", buffered=False))
    try:
        assert stream.message().startswith("retry:")
        (_, first), = stream.events(1)
        assert 'id="dash-tiles" class="tiles" hx-swap-oob="true"' in first
        assert _tile(first, "attempted") == "2"
        _chain(journal, "d1", 3)
        (_, moved), = stream.events(1)
        for _update in range(40):
            if _tile(moved, "attempted") == "5":
                break
            (_, moved), = stream.events(1)
        assert _tile(moved, "executed") == "3"
    finally:
        stream.close()


def _controls(**changes):
    controls = {"kill_switch": {"engaged": False, "mode": None, "source": None, "actor": None,
                                "reason": None, "since": None},
                "qa_block": {"blocked": False, "actor": None, "reason": None, "since": None},
                "breakers": [{"name": "MAX_DAILY_LOSS", "tripped": False, "value": 0,
                              "limit": None, "resets_at": None, "reason": None,
                              "since": None}]}
    controls.update(changes)
    return controls


def test_banner_levels_follow_kill_switch_breakers_and_heartbeats():
    from datetime import UTC, datetime

    from peaktrade.web.dashboard import _Heartbeat, banner

    class Pulse:
        heartbeats = {}

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert banner(None, None, now).level == "red"
    assert banner(_controls(), None, now).level == "green"
    engaged = _controls(kill_switch={"engaged": True, "mode": "HALT", "source": "ui",
                                     "actor": "ops", "reason": "venue down", "since": None})
    red = banner(engaged, None, now)
    assert red.level == "red" and "venue down" in red.reason and "ops" in red.reason
    tripped = _controls(breakers=[{"name": "MAX_LOSS_STREAK", "tripped": True,
                                   "reason": "5 losses", "resets_at": "2026-01-02"}])
    assert banner(tripped, None, now).level == "amber"
    pulse = Pulse()
    pulse.heartbeats = {"feed": _Heartbeat("feed", "ok", 5.0, "2026-01-01T11:59:50.000000Z")}
    assert banner(_controls(), pulse, now).level == "green"
    pulse.heartbeats = {"feed": _Heartbeat("feed", "ok", 5.0, "2026-01-01T11:50:00.000000Z")}
    stale = banner(_controls(), pulse, now)
    assert stale.level == "amber" and "feed" in stale.reason
    pulse.heartbeats = {"feed": _Heartbeat("feed", "error", 5.0, "2026-01-01T11:59:59.000000Z")}
    assert banner(_controls(), pulse, now).level == "red"


def test_dashboard_window_stays_bounded_to_the_newest_events(journal, log_dir, monkeypatch):
    from peaktrade.web import dashboard
    monkeypatch.setattr(dashboard, "WINDOW_RECORDS", 10)
    journal.append("w1", [{"kind": "intent", "payload": {}} for _ in range(15)])
    pulse = dashboard.SessionPulse(log_dir, "w1")
    try:
        assert pulse.truncated and pulse.window.event_count == 10
        for _ in range(4):
            journal.append("w1", [{"kind": "intent", "payload": {}} for _ in range(5)])
            pulse.refresh()
            assert 10 <= pulse.window.event_count < 20
        assert pulse.last_seq == 35
    finally:
        pulse.close()


def test_a_rare_filter_searches_a_bounded_number_of_newest_events(client, journal, monkeypatch):
    from peaktrade.web import telemetry
    monkeypatch.setattr(telemetry, "TIMELINE_SCAN_RECORDS", 20)
    journal.append("big", [{"kind": "error", "payload": {"where": "feed"}}])
    journal.append("big", [{"kind": "quote", "symbol": "BTC-USD", "payload": {}}
                           for _ in range(30)])
    html = client.get("/live/execution/big?kind=error").get_data(as_text=True)
    assert _row_seqs(html) == []
    assert "Only the newest 20 events were searched" in html
    assert "since_seq=31" in html
    html = client.get("/live/execution/big?kind=quote&limit=5").get_data(as_text=True)
    assert _row_seqs(html) == [31, 30, 29, 28, 27]
    assert "were searched" not in html


def test_dashboard_stream_moves_on_after_a_session_reset(app, journal):
    from peaktrade.web.context import get_desk
    from tests.integration.test_stream_sse import SSEReader
    _chain(journal, "d1", 2)
    stream = SSEReader(app.test_client().get("/stream/dashboard", buffered=False))
    try:
        (_, first), = stream.events(1)
        assert 'href="/live/execution/d1"' in first
        with app.app_context():
            new_session = get_desk().reset_session(actor="ops")
        (_, moved), = stream.events(1)
        while f'href="/live/execution/{new_session}"' not in moved:
            (_, moved), = stream.events(1)
        assert _tile(moved, "attempted") == "0"
    finally:
        stream.close()

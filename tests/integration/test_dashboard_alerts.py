"""Open alerts on the dashboard: the Alerts panel, its live updates and the banner colour."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from peaktrade.events import DESK_SESSION
from peaktrade.telemetry.alerts import (
    FIRING,
    KILL_SWITCH,
    LATENCY_P95,
    P1,
    P2,
    RESOLVED,
    RULES,
    AlertDesk,
    Incident,
    Thresholds,
)
from tests.integration.test_stream_sse import SSEReader


@pytest.fixture
def alert_desk(app, journal):
    """The alert desk an operator acknowledges and snoozes with (`peaktrade alerts ...`)."""
    return AlertDesk(journal, Thresholds.from_config(app.config["PEAKTRADE"]),
                     active_session=lambda: None)


def fire(journal, rule, message, *, alert_id=None, state=FIRING):
    """Journal an alert event in the desk journal as the evaluator does."""
    alert_id = alert_id or f"al-{rule}"
    return journal.append(DESK_SESSION, [{
        "kind": "alert", "source": "ALERTS",
        "payload": {"state": state, "alert_id": alert_id, "rule": rule,
                    "severity": RULES[rule][0], "dedupe_key": f"{rule}:s1",
                    "message": message, "notify": True}}])[0]


def session(journal):
    journal.append("s1", [{"kind": "intent", "symbol": "BTC-USD", "intent_id": "i1",
                           "payload": {"side": "BUY", "qty": 1}}])


def alert_row(html, alert_id):
    return html.split(f'data-alert="{alert_id}"')[1].split("</tr>")[0]


def banner_of(html):
    return html.split('id="dash-banner"')[1].split("</div>")[0]


def test_a_firing_alert_shows_in_the_alerts_panel_and_turns_the_banner_red(client, journal):
    session(journal)
    fired = fire(journal, KILL_SWITCH, "kill switch engaged (HALT) by ops: venue down")
    html = client.get("/").get_data(as_text=True)
    assert 'data-open-alerts="1"' in html
    row = alert_row(html, "al-kill_switch")
    assert 'data-state="open"' in html.split('data-alert="al-kill_switch"')[1].split(">")[0]
    assert '<span class="badge severity-P1">P1</span>' in row
    assert "<code>kill_switch</code>" in row
    assert "kill switch engaged (HALT) by ops: venue down" in row
    assert f"{fired['ts'][:19].replace('T', ' ')} UTC" in row
    banner = banner_of(html)
    assert 'data-level="red"' in banner
    assert "P1 alert kill_switch: kill switch engaged (HALT) by ops: venue down" in banner


def test_no_open_alert_says_so_and_a_resolved_one_leaves_the_panel(client, journal):
    session(journal)
    html = client.get("/").get_data(as_text=True)
    assert 'data-open-alerts="0"' in html and "No open alerts." in html
    fire(journal, LATENCY_P95, "session s1: p95 order->fill 12.000 s")
    assert 'data-alert="al-latency_p95"' in client.get("/").get_data(as_text=True)
    fire(journal, LATENCY_P95, "resolved", state=RESOLVED)
    html = client.get("/").get_data(as_text=True)
    assert 'data-alert="al-latency_p95"' not in html and "No open alerts." in html
    assert 'data-level="green"' in banner_of(html)


def test_a_p2_alert_turns_the_banner_amber(client, journal):
    session(journal)
    fire(journal, LATENCY_P95, "session s1: p95 order->fill 12.000 s over the last 300 s")
    html = client.get("/").get_data(as_text=True)
    assert '<span class="badge severity-P2">P2</span>' in alert_row(html, "al-latency_p95")
    banner = banner_of(html)
    assert 'data-level="amber"' in banner
    assert "p95 order-&gt;fill 12.000 s" in banner


def test_an_acknowledged_alert_shows_as_acked_and_a_snoozed_rule_as_snoozed(client, journal,
                                                                             alert_desk):
    session(journal)
    fire(journal, KILL_SWITCH, "kill switch engaged")
    fire(journal, LATENCY_P95, "p95 order->fill 12 s")
    alert_desk.acknowledge("al-kill_switch", actor="ops", reason="on it")
    snooze = alert_desk.snooze(LATENCY_P95, 30, actor="ops", reason="venue maintenance")
    html = client.get("/").get_data(as_text=True)
    acked = html.split('data-alert="al-kill_switch"')[1].split(">")[0]
    assert 'data-state="acked"' in acked
    assert "acked by ops" in alert_row(html, "al-kill_switch")
    assert 'data-state="snoozed"' in html.split('data-alert="al-latency_p95"')[1].split(">")[0]
    until = snooze["payload"]["until"][:19].replace("T", " ")
    assert f"snoozed until {until} UTC" in alert_row(html, "al-latency_p95")
    banner = banner_of(html)
    assert 'data-level="red"' in banner and "(acknowledged by ops)" in banner


def test_the_alerts_panel_is_in_the_live_fragment_and_follows_the_desk_journal(app, journal,
                                                                                alert_desk):
    session(journal)
    stream = SSEReader(app.test_client().get("/stream/dashboard", buffered=False))
    try:
        (_, first), = stream.events(1)
        assert 'id="dash-alerts" class="panel" data-open-alerts="0" hx-swap-oob="true"' in first
        assert 'data-level="green"' in banner_of(first)
        fire(journal, KILL_SWITCH, "kill switch engaged by ops: drill")
        (_, fired), = stream.events(1)
        assert 'data-state="open"' in fired.split('data-alert="al-kill_switch"')[1]
        assert 'data-level="red"' in banner_of(fired) and "drill" in banner_of(fired)
        alert_desk.acknowledge("al-kill_switch", actor="ops")
        (_, acked), = stream.events(1)
        assert 'data-state="acked"' in acked.split('data-alert="al-kill_switch"')[1]
    finally:
        stream.close()


def test_open_alerts_are_read_again_only_when_the_desk_journal_changed(journal, log_dir):
    from peaktrade.web.dashboard import desk_alerts, release_pulses
    try:
        assert desk_alerts(log_dir).incidents == ()
        fire(journal, KILL_SWITCH, "kill switch engaged")
        first = desk_alerts(log_dir)
        assert [i.alert_id for i in first.incidents] == ["al-kill_switch"]
        assert desk_alerts(log_dir) is first
        journal.append("s1", [{"kind": "heartbeat", "payload": {}}])
        assert desk_alerts(log_dir) is first
        fire(journal, LATENCY_P95, "p95 order->fill 12 s")
        assert [i.severity for i in desk_alerts(log_dir).incidents] == [P1, P2]
    finally:
        release_pulses(log_dir)


def _incident(rule, message, acked_by=None):
    return Incident(alert_id=f"al-{rule}", rule=rule, severity=RULES[rule][0],
                    key=f"{rule}:s1", message=message, opened_at="2026-01-01T11:00:00.000000Z",
                    last_notified_at=None, acked_by=acked_by)


def test_banner_takes_an_alert_only_when_nothing_more_severe_sets_it():
    from peaktrade.web.dashboard import _Heartbeat, banner
    from tests.integration.test_pages_telemetry import _controls

    class Pulse:
        heartbeats = {}

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    p1 = _incident(KILL_SWITCH, "kill switch engaged")
    p2 = _incident(LATENCY_P95, "p95 order->fill 12 s")
    assert banner(_controls(), None, now, [p2]).level == "amber"
    assert banner(_controls(), None, now, [p1, p2]).level == "red"
    assert "kill switch engaged" in banner(_controls(), None, now, [p1, p2]).reason
    engaged = _controls(kill_switch={"engaged": True, "mode": "HALT", "source": "ui",
                                     "actor": "ops", "reason": "venue down", "since": None})
    assert banner(engaged, None, now, [p1]).reason.startswith("Kill switch engaged (HALT)")
    pulse = Pulse()
    pulse.heartbeats = {"feed": _Heartbeat("feed", "error", 5.0, "2026-01-01T11:59:59.000000Z")}
    failing = banner(_controls(), pulse, now, [p2])
    assert failing.level == "red" and "feed" in failing.reason
    tripped = _controls(breakers=[{"name": "MAX_LOSS_STREAK", "tripped": True,
                                   "reason": "5 losses", "resets_at": None}])
    assert banner(tripped, None, now, [p2]).reason.startswith("Breaker MAX_LOSS_STREAK")
    assert banner(tripped, None, now, [p1]).level == "red"
    acked_first = banner(_controls(), None, now,
                         [_incident(KILL_SWITCH, "acked one", acked_by="ops"),
                          _incident("breaker_tripped", "not acked")])
    assert "not acked" in acked_first.reason and "(+1 more P1 open)" in acked_first.reason

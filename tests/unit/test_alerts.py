"""Alert rules over real journals; incidents, cooldown, ack and snooze live in desk.jsonl."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.events import DESK_SESSION
from peaktrade.journal import Journal, read_events
from peaktrade.telemetry.alerts import (
    ACKED,
    BREAKER_TRIPPED,
    ERROR_RATE,
    FIRING,
    KILL_SWITCH,
    LATENCY_P95,
    RESOLVED,
    SESSION_SILENT,
    ZERO_FILL_RATE,
    AlertDesk,
    AlertError,
    Thresholds,
    evaluate_rules,
    observe,
    open_incidents,
    read_book,
)

NOW = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)
LIMITS = Thresholds(error_rate_pct=10, window_s=300, latency_p95_s=10, silence_minutes=5,
                    cooldown_s=900)
QUIET = {"kill_switch": {"engaged": False}, "breakers": []}


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def order_chain(n: int, *, at: float, to_fill: float | None, order_type: str = "MARKET"):
    ids = {"intent_id": f"i{n}", "order_id": f"o{n}", "symbol": "AAPL"}
    events = [{"kind": "intent", "ts": ago(at), **ids,
               "payload": {"side": "BUY", "qty": 1, "order_type": order_type}},
              {"kind": "order", "ts": ago(at - 0.1), **ids, "payload": {"status": "NEW"}}]
    if to_fill is not None:
        events.append({"kind": "fill", "ts": ago(at - 0.1 - to_fill), **ids,
                       "payload": {"qty": 1, "price": 10, "status": "FILLED"}})
    return events


def rules(obs):
    return {f.rule for f in evaluate_rules(obs, LIMITS)}


def test_a_healthy_session_raises_nothing(journal, log_dir):
    journal.append("s1", [e for n in range(5) for e in order_chain(n, at=400 - n * 60,
                                                                    to_fill=0.5)])
    journal.append("s1", [{"kind": "heartbeat", "ts": ago(10), "payload": {}}])
    assert rules(observe(log_dir, "s1", LIMITS, now=NOW, controls=lambda: QUIET)) == set()


def test_error_rate_fires_only_when_sustained_over_the_window(journal, log_dir):
    path = log_dir / "s1.jsonl"
    journal.append("s1", [{"kind": "heartbeat", "ts": ago(200), "payload": {}}])
    with open(path, "ab") as fh:
        fh.write(b"{not json\n" * 3)
    journal.append("s1", [{"kind": "heartbeat", "ts": ago(1), "payload": {}}])
    assert ERROR_RATE not in rules(observe(log_dir, "s1", LIMITS, now=NOW))
    journal.append("s0", [])
    older = [{"kind": "heartbeat", "ts": ago(600), "payload": {}}]
    journal.append("s2", older)
    with open(log_dir / "s2.jsonl", "ab") as fh:
        fh.write(b"{not json\n" * 3)
    journal.append("s2", [{"kind": "heartbeat", "ts": ago(1), "payload": {}}])
    obs = observe(log_dir, "s2", LIMITS, now=NOW)
    assert obs.window_covered
    assert ERROR_RATE in rules(obs)


def test_zero_fill_rate_with_market_orders_outstanding(journal, log_dir):
    journal.append("s1", order_chain(1, at=100, to_fill=None) + order_chain(2, at=60,
                                                                            to_fill=None))
    obs = observe(log_dir, "s1", LIMITS, now=NOW)
    assert obs.outstanding_unfilled == 2
    assert ZERO_FILL_RATE in rules(obs)


def test_resting_limit_orders_are_not_missing_fills(journal, log_dir):
    journal.append("s1", order_chain(1, at=100, to_fill=None, order_type="LIMIT"))
    assert ZERO_FILL_RATE not in rules(observe(log_dir, "s1", LIMITS, now=NOW))


def test_p95_order_to_fill_above_limit_is_p2(journal, log_dir):
    journal.append("s1", [e for n in range(10)
                          for e in order_chain(n, at=250 - n, to_fill=12.0 if n > 7 else 1.0)])
    findings = evaluate_rules(observe(log_dir, "s1", LIMITS, now=NOW), LIMITS)
    latency = next(f for f in findings if f.rule == LATENCY_P95)
    assert latency.severity == "P2"
    assert "p95 order->fill 12.000 s" in latency.message


def test_silent_active_session_is_p2(journal, log_dir):
    journal.append("s1", [{"kind": "heartbeat", "ts": ago(400), "payload": {}}])
    findings = evaluate_rules(observe(log_dir, "s1", LIMITS, now=NOW), LIMITS)
    assert [(f.rule, f.severity) for f in findings] == [(SESSION_SILENT, "P2")]


def test_kill_switch_and_tripped_breakers_are_p1(log_dir):
    controls = {"kill_switch": {"engaged": True, "mode": "HALT", "actor": "ops",
                                "reason": "drill", "since": "x"},
                "breakers": [{"name": "max_daily_loss", "tripped": True, "value": -6000,
                              "limit": 5000, "reason": "loss", "resets_at": "tomorrow"}]}
    obs = observe(log_dir, None, LIMITS, now=NOW, controls=lambda: controls)
    found = {(f.rule, f.severity, f.key) for f in evaluate_rules(obs, LIMITS)}
    assert found == {(KILL_SWITCH, "P1", "kill_switch:desk"),
                     (BREAKER_TRIPPED, "P1", "breaker_tripped:max_daily_loss")}


def test_unreadable_kill_switch_counts_as_engaged(log_dir):
    def broken():
        raise OSError("desk.jsonl unreadable")

    findings = evaluate_rules(observe(log_dir, None, LIMITS, now=NOW, controls=broken), LIMITS)
    assert [f.rule for f in findings] == [KILL_SWITCH]
    assert "counting it as engaged" in findings[0].message


def test_unwritable_journal_is_p1(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    findings = evaluate_rules(observe(blocker / "journal", None, LIMITS, now=NOW), LIMITS)
    assert [(f.rule, f.severity) for f in findings] == [("journal_unwritable", "P1")]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_desk(log_dir, clock, controls):
    ids = iter(f"al-{n}" for n in range(100))
    return AlertDesk(Journal(log_dir, fsync="never"), LIMITS, active_session=lambda: None,
                     controls=lambda: controls, clock=clock, new_id=lambda: next(ids))


def alert_states(log_dir):
    return [(r["payload"]["state"], r["payload"]["alert_id"])
            for r in read_events(log_dir, session_id=DESK_SESSION, kind="alert")]


ENGAGED = {"kill_switch": {"engaged": True}, "breakers": []}


def test_a_firing_is_journaled_once_per_cooldown_and_then_resolved(log_dir):
    clock = Clock(NOW)
    controls = dict(ENGAGED)
    desk = make_desk(log_dir, clock, controls)
    assert len(desk.check().deliveries) == 1
    clock.now = NOW + timedelta(seconds=60)
    assert desk.check().deliveries == ()
    clock.now = NOW + timedelta(seconds=901)
    repeat = desk.check().deliveries
    assert [(d["alert_id"], d["repeat"]) for d in repeat] == [("al-0", 2)]
    controls["kill_switch"] = {"engaged": False}
    assert [d["state"] for d in desk.check().deliveries] == [RESOLVED]
    assert alert_states(log_dir) == [(FIRING, "al-0"), (FIRING, "al-0"), (RESOLVED, "al-0")]


def test_cooldown_holds_across_processes_and_restarts(log_dir):
    clock = Clock(NOW)
    assert len(make_desk(log_dir, clock, ENGAGED).check().deliveries) == 1
    clock.now = NOW + timedelta(seconds=30)
    assert make_desk(log_dir, clock, ENGAGED).check().deliveries == ()


def test_ack_survives_a_restart_and_never_silences_a_new_p1(log_dir):
    clock = Clock(NOW)
    controls = {"kill_switch": {"engaged": True}, "breakers": []}
    make_desk(log_dir, clock, controls).check()
    make_desk(log_dir, clock, controls).acknowledge("al-0", actor="ops", reason="on it")
    clock.now = NOW + timedelta(hours=2)
    restarted = make_desk(log_dir, clock, controls)
    assert restarted.check().deliveries == ()
    assert read_book(log_dir).incidents["al-0"].acked_by == "ops"
    controls["breakers"] = [{"name": "max_loss_streak", "tripped": True}]
    new = restarted.check().deliveries
    assert [(d["rule"], d["severity"]) for d in new] == [(BREAKER_TRIPPED, "P1")]
    controls["kill_switch"] = {"engaged": False}
    restarted.check()
    controls["kill_switch"] = {"engaged": True}
    again = restarted.check().deliveries
    assert [(d["rule"], d["alert_id"]) for d in again] == [(KILL_SWITCH, "al-2")]


def test_snooze_mutes_new_incidents_of_a_rule_until_it_ends(log_dir):
    clock = Clock(NOW)
    desk = make_desk(log_dir, clock, ENGAGED)
    desk.snooze(KILL_SWITCH, 30, actor="ops")
    decision = desk.check()
    assert decision.deliveries == ()
    assert decision.journaled[0]["payload"]["muted"].startswith("rule kill_switch snoozed")
    clock.now = NOW + timedelta(minutes=31)
    assert len(make_desk(log_dir, clock, ENGAGED).check().deliveries) == 1


def test_ack_and_snooze_refuse_what_they_cannot_act_on(log_dir):
    desk = make_desk(log_dir, Clock(NOW), QUIET)
    with pytest.raises(AlertError, match="unknown alert id 'al-9'; open alerts: none open"):
        desk.acknowledge("al-9", actor="ops")
    with pytest.raises(AlertError, match="unknown rule 'disk'; rules: error_rate"):
        desk.snooze("disk", 5, actor="ops")
    with pytest.raises(AlertError, match="minutes must be > 0"):
        desk.snooze(KILL_SWITCH, 0, actor="ops")


def test_acked_incidents_are_recorded_as_alert_events(log_dir):
    desk = make_desk(log_dir, Clock(NOW), ENGAGED)
    desk.check()
    record = desk.acknowledge("al-0", actor="ops")
    assert record["kind"] == "alert"
    assert record["payload"]["state"] == ACKED


def test_open_incidents_list_p1_first_and_drop_resolved_ones(log_dir):
    clock = Clock(NOW)
    controls = {"kill_switch": {"engaged": False},
                "breakers": [{"name": "max_loss_streak", "tripped": True}]}
    desk = make_desk(log_dir, clock, controls)
    journal = Journal(log_dir, fsync="never")
    journal.append("s1", [{"kind": "heartbeat", "ts": ago(400), "payload": {}}])
    desk.active_session = lambda: "s1"
    desk.check()
    assert [(i.severity, i.rule) for i in open_incidents(log_dir)] == [
        ("P1", BREAKER_TRIPPED), ("P2", SESSION_SILENT)]
    controls["breakers"] = []
    desk.check()
    assert [i.rule for i in open_incidents(log_dir)] == [SESSION_SILENT]


def test_an_alert_event_with_a_malformed_id_is_ignored_not_fatal(tmp_path):
    from peaktrade.events import DESK_SESSION
    from peaktrade.journal import Journal
    from peaktrade.telemetry.alerts import read_book

    journal = Journal(tmp_path, fsync="never")
    journal.append(DESK_SESSION, [
        {"kind": "alert", "payload": {"state": "acked", "alert_id": ["not", "an", "id"]}},
        {"kind": "alert", "payload": {"state": "resolved", "alert_id": {"x": 1}}},
    ])
    journal.close()
    book = read_book(tmp_path)
    assert book.incidents == {} and book.open_incidents() == []

"""Alert delivery over HTTP (with `responses`): payload shapes, retries, timeouts, dedupe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import requests
import responses

from peaktrade.config import load_config
from peaktrade.events import DESK_SESSION
from peaktrade.journal import Journal, read_events
from peaktrade.telemetry.alerts import (
    AlertDesk,
    PagerDutySink,
    Sink,
    SlackSink,
    Thresholds,
    sinks_from_config,
)

HOOK = "https://hooks.example.test/peaktrade"
ALERT = {"alert_id": "al-1", "state": "firing", "rule": "kill_switch", "severity": "P1",
         "dedupe_key": "kill_switch:desk", "message": "kill switch engaged", "notify": True}
NOW = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


def configured_limits(**alerts) -> Thresholds:
    """The `[alerts]` thresholds as the configuration builds them, with some overridden."""
    return Thresholds.from_config(load_config({"alerts": alerts}, environ={}))


def sent(call):
    return json.loads(call.request.body)


def no_sleep(waits):
    return waits.append


@responses.activate
def test_generic_webhook_gets_the_alert_as_journaled():
    responses.post(HOOK, status=204)
    assert Sink(HOOK).send(ALERT) is None
    assert sent(responses.calls[0]) == {k: ALERT[k] for k in (
        "alert_id", "state", "rule", "severity", "dedupe_key", "message")}


@responses.activate
def test_slack_gets_a_text_message():
    responses.post(HOOK, status=200)
    SlackSink(HOOK).send(ALERT)
    assert sent(responses.calls[0]) == {"text": "[P1] kill_switch: kill switch engaged "
                                                "(alert al-1)"}


@responses.activate
def test_pagerduty_gets_an_events_v2_trigger_and_resolve():
    responses.post(HOOK, status=202)
    sink = PagerDutySink(HOOK, "rk-123")
    sink.send(ALERT)
    sink.send({**ALERT, "state": "resolved"})
    trigger, resolve = (sent(c) for c in responses.calls)
    assert trigger["routing_key"] == "rk-123"
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "kill_switch:desk"
    assert trigger["payload"]["severity"] == "critical"
    assert set(trigger["payload"]) >= {"summary", "source", "severity"}
    assert resolve == {"routing_key": "rk-123", "event_action": "resolve",
                       "dedup_key": "kill_switch:desk"}


@responses.activate
def test_5xx_is_retried_with_backoff_until_delivered():
    responses.post(HOOK, status=503)
    responses.post(HOOK, status=502)
    responses.post(HOOK, status=200)
    waits: list[float] = []
    assert Sink(HOOK, retries=3, backoff_s=0.5, sleep=no_sleep(waits)).send(ALERT) is None
    assert len(responses.calls) == 3
    assert waits == [0.5, 1.0]


@responses.activate
def test_timeouts_are_retried_then_reported():
    responses.post(HOOK, body=requests.Timeout("slow"))
    waits: list[float] = []
    problem = Sink(HOOK, retries=2, sleep=no_sleep(waits)).send(ALERT)
    assert problem == f"{HOOK}: Timeout"
    assert len(responses.calls) == 3


@responses.activate
def test_4xx_is_not_retried():
    responses.post(HOOK, status=400)
    assert Sink(HOOK, retries=3, sleep=no_sleep([])).send(ALERT) == f"{HOOK} answered HTTP 400"
    assert len(responses.calls) == 1


def test_sinks_come_from_the_alerts_config():
    config = load_config({"alerts": {"webhook_url": HOOK, "slack_webhook_url": HOOK,
                                     "pagerduty_routing_key": "rk", "timeout_s": 2,
                                     "retries": 1}}, environ={})
    sinks = sinks_from_config(config)
    assert [s.name for s in sinks] == ["webhook", "slack", "pagerduty"]
    assert sinks[2].url == "https://events.pagerduty.com/v2/enqueue"
    assert (sinks[0].timeout_s, sinks[0].retries) == (2, 1)


@responses.activate
def test_one_delivery_per_dedupe_key_within_the_cooldown_even_across_desks(log_dir):
    responses.post(HOOK, status=200)
    clock = {"now": NOW}
    limits = configured_limits(cooldown_s=600)

    def desk():
        return AlertDesk(Journal(log_dir, fsync="never"), limits, [Sink(HOOK)],
                         active_session=lambda: None,
                         controls=lambda: {"kill_switch": {"engaged": True}, "breakers": []},
                         clock=lambda: clock["now"])

    for minute in range(0, 10):
        clock["now"] = NOW + timedelta(minutes=minute)
        desk().check()
    assert len(responses.calls) == 1
    clock["now"] = NOW + timedelta(minutes=10, seconds=1)
    desk().check()
    assert len(responses.calls) == 2


@responses.activate
def test_a_failed_delivery_is_journaled_as_an_error(log_dir):
    responses.post(HOOK, status=500)
    AlertDesk(Journal(log_dir, fsync="never"), configured_limits(),
              [Sink(HOOK, retries=1, sleep=no_sleep([]))], active_session=lambda: None,
              controls=lambda: {"kill_switch": {"engaged": True}, "breakers": []},
              clock=lambda: NOW).check()
    errors = list(read_events(log_dir, session_id=DESK_SESSION, kind="error"))
    assert errors[0]["payload"]["where"] == "alerts.sink.webhook"
    assert errors[0]["payload"]["error"] == f"{HOOK} answered HTTP 500"

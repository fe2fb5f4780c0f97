"""The server's alert evaluator: one leader across workers, firings journaled once."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.events import DESK_SESSION
from peaktrade.journal import read_events
from peaktrade.web.alerting import AlertEvaluator
from peaktrade.web.context import get_desk
from tests.live_server import LiveServer


def firings(log_dir):
    return [r["payload"] for r in read_events(log_dir, session_id=DESK_SESSION, kind="alert")
            if r["payload"]["state"] == "firing"]


def test_only_one_evaluator_holds_the_lock(app):
    first, second = AlertEvaluator(app), AlertEvaluator(app)
    assert first.try_lead()
    assert not second.try_lead()
    assert first.is_leader and not second.is_leader


def test_a_check_journals_the_engaged_kill_switch(app, log_dir):
    with app.app_context():
        get_desk().control("kill_switch.engage", actor="ops", reason="drill")
    evaluator = AlertEvaluator(app)
    evaluator.check_once()
    evaluator.check_once()
    assert [(f["rule"], f["severity"]) for f in firings(log_dir)] == [("kill_switch", "P1")]


def test_the_evaluator_thread_never_runs_under_testing(app):
    evaluator = AlertEvaluator(app)
    evaluator.interval_s = 0.01
    evaluator.start()
    time.sleep(0.2)
    assert evaluator.checks == 0
    assert not evaluator.is_leader


@pytest.mark.slow
def test_two_gunicorn_workers_fire_an_alert_once(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    env = {"PEAKTRADE_LOG_DIR": str(log_dir)}
    assert CliRunner().invoke(main, ["kill-switch", "engage", "--reason", "drill"],
                              env=env).exit_code == 0
    with LiveServer(log_dir, env={"PEAKTRADE_ALERTS__CHECK_INTERVAL_S": "0.2"}, workers=2,
                    threads=4):
        deadline = time.monotonic() + 15
        while not firings(log_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # several more evaluation rounds in both workers
    assert [f["rule"] for f in firings(log_dir)] == ["kill_switch"]

"""`peaktrade smoke`, `retention plan|apply` and `alerts check|list|ack|snooze`."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.cli.ops import smoke_steps
from peaktrade.config import load_config
from peaktrade.events import DESK_SESSION
from peaktrade.execution import Desk
from peaktrade.journal import Journal, list_sessions, read_events

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HOOK = "https://hooks.example.test/alerts"


@pytest.fixture
def env(log_dir, monkeypatch):
    for name in ("PEAKTRADE_KILL_SWITCH", "PEAKTRADE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PEAKTRADE_LOG_DIR", str(log_dir))
    return {"PEAKTRADE_LOG_DIR": str(log_dir)}


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_smoke_passes_every_step_and_keeps_its_folder_with_dir(tmp_path):
    result = run("smoke", "--dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    steps = [line.split()[:2] for line in result.output.splitlines()
             if line.startswith(("PASS", "FAIL"))]
    assert steps == [["PASS", name] for name in ("write", "rotate", "read", "summarise",
                                                  "tail", "replay")]
    [kept] = tmp_path.iterdir()
    assert (kept / "archive").is_dir()


def test_smoke_reports_fail_when_the_pipeline_misbehaves(tmp_path):
    Journal(tmp_path, fsync="never").append("smoke", [{"kind": "heartbeat", "payload": {}}])
    results = {r.name: r for r in smoke_steps(tmp_path)}
    assert not results["write"].passed
    assert "seq [2, 3, 4, 5]" in results["write"].detail
    assert not results["read"].passed


def age(root: Path, sid: str, days: float) -> None:
    stamp = time.time() - days * 86_400
    for path in root.rglob(f"{sid}.*"):
        os.utime(path, (stamp, stamp))


def test_retention_plan_prints_exactly_what_apply_does(env, log_dir):
    for path in FIXTURES.glob("golden_session_*.jsonl"):
        shutil.copy(path, log_dir)
    age(log_dir, "golden_session_ok", 20)
    plan = run("retention", "plan", env=env)
    assert plan.exit_code == 0
    assert list_sessions(log_dir) == ["golden_session_bad_lines", "golden_session_latency",
                                      "golden_session_ok"]
    apply = run("retention", "apply", env=env)
    assert apply.output.startswith(plan.output)
    assert "purged golden_session_ok" in apply.output
    assert list_sessions(log_dir) == ["golden_session_bad_lines", "golden_session_latency"]
    assert not list(log_dir.glob("*.jsonl"))


def test_retention_never_touches_the_active_session(env, log_dir):
    desk = Desk.from_config(load_config({"log_dir": str(log_dir)}, environ={}), environ={})
    active = desk.session_id
    desk.quote({"symbol": "AAPL", "bid": 99, "ask": 101})
    desk.close()
    journal = Journal(log_dir, fsync="never")
    journal.append("closed", [{"kind": "heartbeat", "payload": {}}])
    journal.close()
    for sid in list_sessions(log_dir):
        age(log_dir, sid, 30)
    result = run("retention", "apply", "--days", "1", env=env)
    assert f"keep  {active}  (active session)" in result.output
    assert f"keep  {DESK_SESSION}  (desk journal)" in result.output
    assert "purged closed" in result.output
    assert list_sessions(log_dir) == sorted([DESK_SESSION, active])


def test_retention_refuses_a_folder_that_is_not_a_journal(env, tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["retention", "apply", "--path",
                                       str(tmp_path / "other")], env=env)
    assert result.exit_code == 2
    assert "refusing to touch it" in result.output
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


@responses.activate
def test_alerts_check_ack_and_list_through_the_cli(env, log_dir):
    responses.post(HOOK, status=200)
    env = {**env, "PEAKTRADE_ALERTS__WEBHOOK_URL": HOOK}
    assert run("kill-switch", "engage", "--reason", "drill", env=env).exit_code == 0
    check = run("alerts", "check", env=env)
    assert check.exit_code == 1
    assert "FIRING  P1  kill_switch" in check.output
    assert len(responses.calls) == 1
    assert json.loads(responses.calls[0].request.body)["rule"] == "kill_switch"
    listed = json.loads(run("alerts", "list", "--json", env=env).output)
    [alert] = listed["alerts"]
    assert run("alerts", "ack", alert["alert_id"], "--reason", "drill", env=env).exit_code == 0
    assert "acked by" in run("alerts", "list", env=env).output
    assert run("alerts", "check", env=env).exit_code == 1
    assert len(responses.calls) == 1
    acks = [r for r in read_events(log_dir, session_id=DESK_SESSION, kind="alert")
            if r["payload"]["state"] == "acked"]
    assert acks[0]["payload"]["alert_id"] == alert["alert_id"]


def test_alerts_snooze_and_unknown_ids(env):
    result = run("alerts", "snooze", "session_silent", "--minutes", "30", env=env)
    assert result.exit_code == 0
    assert "snoozed session_silent until" in run("alerts", "list", env=env).output
    bad = CliRunner().invoke(main, ["alerts", "ack", "al-nope"], env=env)
    assert bad.exit_code == 2
    assert "unknown alert id 'al-nope'" in bad.output
    bad_rule = CliRunner().invoke(main, ["alerts", "snooze", "disk", "--minutes", "5"], env=env)
    assert bad_rule.exit_code == 2
    assert "unknown rule 'disk'" in bad_rule.output

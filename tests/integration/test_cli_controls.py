"""`peaktrade kill-switch|breaker|qa`: journaled through the desk with the OS user as actor."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.config import load_config
from peaktrade.events import DESK_SESSION
from peaktrade.execution import Desk
from peaktrade.journal import read_events


@pytest.fixture
def env(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("PEAKTRADE_CONFIG", raising=False)
    monkeypatch.setenv("PEAKTRADE_LOG_DIR", str(log_dir))
    return {"PEAKTRADE_LOG_DIR": str(log_dir)}


def run(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def controls_journaled(log_dir):
    return [r["payload"] for r in read_events(log_dir, session_id=DESK_SESSION, kind="control")
            if r["payload"]["action"] != "session.start"]


def test_engage_is_journaled_with_the_os_user_and_rejects_new_orders(env, log_dir):
    result = run("kill-switch", "engage", "--reason", "fills missing", env=env)
    assert result.exit_code == 0, result.output
    assert "ENGAGED (HALT)" in result.output
    control = controls_journaled(log_dir)[-1]
    assert (control["action"], control["actor"], control["reason"], control["mode"]) == (
        "kill_switch.engage", getpass.getuser(), "fills missing", "HALT")
    desk = Desk.from_config(load_config({"log_dir": str(log_dir)}, environ={}), environ={})
    try:
        [order] = desk.submit({"symbol": "AAPL", "side": "BUY", "quantity": 1, "price": 100})
        assert order.status == "REJECTED"
        assert order.reason.startswith("KILL_SWITCH")
    finally:
        desk.close()


def test_reduce_only_mode_and_release(env, log_dir):
    assert run("kill-switch", "engage", "--mode", "reduce_only", "--reason", "drill",
               env=env).exit_code == 0
    assert "ENGAGED (REDUCE_ONLY)" in run("kill-switch", "status", env=env).output
    assert run("kill-switch", "release", "--reason", "drill over", env=env).exit_code == 0
    assert "kill switch  released" in run("kill-switch", "status", env=env).output
    assert [c["action"] for c in controls_journaled(log_dir)] == [
        "kill_switch.engage", "kill_switch.release"]


def test_release_is_refused_while_the_environment_engages_it(env):
    result = CliRunner().invoke(main, ["kill-switch", "release", "--reason", "x"],
                                env={**env, "PEAKTRADE_KILL_SWITCH": "1"})
    assert result.exit_code == 1
    assert "engaged by the environment" in result.output


def test_a_reason_is_required(env):
    result = CliRunner().invoke(main, ["kill-switch", "engage"], env=env)
    assert result.exit_code == 2
    assert "Missing option '--reason'" in result.output


def test_qa_block_and_unblock(env, log_dir):
    assert run("qa", "block", "--reason", "data vendor down", env=env).exit_code == 0
    assert "BLOCKED by" in run("kill-switch", "status", env=env).output
    assert run("qa", "unblock", "--reason", "vendor back", env=env).exit_code == 0
    assert [c["action"] for c in controls_journaled(log_dir)] == ["qa.block", "qa.unblock"]


def test_resetting_a_breaker_that_is_not_tripped_is_refused(env):
    result = run("breaker", "reset", "daily_loss", "--reason", "x", env=env)
    assert result.exit_code == 1
    assert "not tripped" in result.output


def test_an_unknown_breaker_lists_the_breakers(env):
    result = CliRunner().invoke(main, ["breaker", "reset", "nope", "--reason", "x"], env=env)
    assert result.exit_code == 2
    assert "'nope' is not one of 'daily_loss'" in result.output


def test_status_json_shows_every_control(env):
    body = json.loads(run("kill-switch", "status", "--json", env=env).output)
    assert set(body) == {"kill_switch", "qa_block", "breakers"}

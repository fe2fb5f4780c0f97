"""The demo feed, the dry run and the demo next to gunicorn (issue 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from peaktrade.cli import main
from peaktrade.execution import active_session_id
from peaktrade.journal import read_events
from tests.live_server import LiveServer


@pytest.fixture
def env(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("PEAKTRADE_CONFIG", raising=False)
    monkeypatch.setenv("PEAKTRADE_LOG_DIR", str(log_dir))
    monkeypatch.setenv("PEAKTRADE_JOURNAL__FSYNC", "never")
    return log_dir


def test_demo_trades_with_vetoes_resting_limits_and_heartbeats(env):
    result = CliRunner().invoke(main, ["demo", "--duration", "4", "--rate", "25", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "demo: " in result.output
    session = active_session_id(env)
    records = list(read_events(env, session_id=session))
    kinds = Counter(r["kind"] for r in records)
    assert kinds["intent"] >= 50 and kinds["quote"] >= 50
    assert kinds["fill"] > 0 and kinds["reject"] > 0 and kinds["heartbeat"] >= 1
    assert {r["source"] for r in records if r["kind"] == "intent"} == {"DEMO"}
    statuses = Counter(r["payload"]["status"] for r in records if r["kind"] == "order")
    assert statuses == {"NEW": kinds["order"]}
    heartbeat = next(r for r in records if r["kind"] == "heartbeat")
    assert heartbeat["payload"]["component"] == "demo"


def test_demo_runs_until_sigterm_and_prints_a_summary(env):
    script = Path(sys.executable).with_name("peaktrade")
    process = subprocess.Popen([str(script), "demo", "--rate", "10"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 15
        while active_session_id(env) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert b"intents (" in output


def test_dry_run_prints_every_step_and_the_fill(env):
    result = CliRunner().invoke(main, ["dry-run", "--symbol", "BTC-USD", "--target", "0.5",
                                       "--current", "0.1", "--price", "100000"])
    assert result.exit_code == 0, result.output
    assert "BUY 0.4 BTC-USD" in result.output
    for gate in ("KillSwitch", "QABlock", "PriceSanity", "ResearchOnly", "LotSize",
                 "MinNotional"):
        assert gate in result.output
    assert "fill      0.4 @ 100,050.00" in result.output
    assert "position  BTC-USD 0.5" in result.output
    assert list(Path(env).iterdir()) == []


def test_dry_run_in_live_mode_says_why_execution_is_blocked(env):
    result = CliRunner().invoke(main, ["dry-run", "--symbol", "BTC-USD", "--target", "0.5",
                                       "--current", "0.1", "--price", "100000", "--mode", "live",
                                       "--tags", "research_only"])
    assert result.exit_code == 1
    assert "execution blocked: RESEARCH_ONLY" in result.output
    assert list(Path(env).iterdir()) == []


def test_dry_run_honours_the_kill_switch(env, monkeypatch):
    monkeypatch.setenv("PEAKTRADE_KILL_SWITCH", "1")
    result = CliRunner().invoke(main, ["dry-run", "--symbol", "AAPL", "--target", "-5",
                                       "--price", "190", "--json"])
    assert result.exit_code == 1
    assert '"code": "KILL_SWITCH"' in result.output


def _demo_pids(master: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"demo" in cmdline and b"--parent-pid" in cmdline and \
                    str(master).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_gunicorn_runs_one_demo_feed_and_stops_it(log_dir):
    server = LiveServer(log_dir, env={"PEAKTRADE_DEMO": "1", "PEAKTRADE_JOURNAL__FSYNC": "never"},
                        workers=2, threads=4)
    with server:
        deadline = time.monotonic() + 20
        filled = False
        while not filled and time.monotonic() < deadline:
            session = active_session_id(log_dir)
            filled = session is not None and any(
                r["kind"] == "fill" for r in read_events(log_dir, session_id=session))
            time.sleep(0.3)
        assert filled, "the demo feed traded nothing"
        pids = _demo_pids(server.process.pid)
        assert len(pids) == 1
        os.kill(server.process.pid, signal.SIGTERM)  # the master alone: on_exit stops the demo
        server.process.wait(timeout=15)
        deadline = time.monotonic() + 10
        while _demo_pids(server.process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _demo_pids(server.process.pid) == []

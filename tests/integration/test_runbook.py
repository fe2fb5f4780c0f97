"""Every command of the runbook runs, as written, against a copy of the golden fixtures."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peaktrade.config import load_config
from peaktrade.execution import Desk

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "execution-incidents.md"
LNAV = ROOT / "runbooks" / "lnav" / "peaktrade.json"
FIXTURES = ROOT / "fixtures"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
EXPECTED_EXIT = re.compile(r"\s+#\s*exit (\d+)\b.*$")
REQUIRED_SECTIONS = (
    "Symptom → likely cause → action", "Last 50 fills of a session", "Filter by symbol",
    "Orders without fills", "Latency spikes", "High error rate, and where the bad lines are",
    "Find a session's logs (active and archived)", "Timestamp ordering problems",
    "Engage the kill switch", "Escalation", "Incident ticket template")


def sh_blocks(text: str) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(text)]


def as_script(block: str) -> str:
    """The block as a bash script; `# exit N` lets that one command exit N as well."""
    lines = ["set -eu -o pipefail"]
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        expected = EXPECTED_EXIT.search(line)
        if expected:
            command = line[: expected.start()]
            lines.append(f"{{ {command}; }} || [ $? -eq {expected.group(1)} ]")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_the_runbook_has_every_section_and_commands_to_run():
    text = RUNBOOK.read_text()
    for heading in REQUIRED_SECTIONS:
        assert f"## {heading}" in text, heading
    commands = [c for b in sh_blocks(text) for c in b.splitlines() if c.strip()]
    assert len(commands) >= 25
    assert "P1" in text and "P2" in text


def test_a_failing_command_fails_its_block(tmp_path):
    script = as_script("peaktrade telemetry view --path /nonexistent  # exit 3\n")
    result = subprocess.run(["bash", "-c", script], env=runbook_env(tmp_path, "x"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def runbook_env(tmp_path: Path, session: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEAKTRADE_") and k != "PYTEST_CURRENT_TEST"}
    env.update({"PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
                "PEAKTRADE_LOG_DIR": str(tmp_path / "journal"), "SESSION": session,
                "SYMBOL": "ETH-USD", "FROM": "2026-01-05T14:30:00Z",
                "TO": "2026-01-05T14:31:00Z", "TMPDIR": str(tmp_path)})
    return env


@pytest.mark.parametrize("session", ["golden_session_bad_lines", "golden_session_latency"])
def test_every_runbook_command_works_on_the_golden_fixtures(tmp_path, session):
    journal_dir = tmp_path / "journal"
    journal_dir.mkdir()
    for path in FIXTURES.glob("golden_session_*.jsonl"):
        shutil.copy(path, journal_dir)
    desk = Desk.from_config(load_config({"log_dir": str(journal_dir)}, environ={}), environ={})
    assert desk.session_id  # the desk journal names an active paper session
    desk.close()
    env = runbook_env(tmp_path, session)
    for number, block in enumerate(sh_blocks(RUNBOOK.read_text()), 1):
        result = subprocess.run(["bash", "-c", as_script(block)], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)
        context = f"block {number} failed (exit {result.returncode}):\n{block}\n" \
                  f"stdout:\n{result.stdout[-1500:]}\nstderr:\n{result.stderr[-1500:]}"
        assert result.returncode == 0, context
        assert "Traceback" not in result.stderr, context
        assert result.stdout.strip(), context


def test_the_lnav_format_has_what_lnav_needs():
    formats = json.loads(LNAV.read_text())
    [(name, fmt)] = [(k, v) for k, v in formats.items() if not k.startswith("$")]
    assert fmt["json"] is True
    assert fmt["timestamp-field"] == "ts"
    assert fmt["level-field"] == "kind"
    assert fmt["opid-field"] == "intent_id"
    assert set(fmt["level"]) <= {"fatal", "critical", "error", "warning", "stats", "info",
                                 "debug", "debug2", "debug3", "debug4", "debug5", "trace"}
    fields = {part["field"] for part in fmt["line-format"] if isinstance(part, dict)}
    assert {"__timestamp__", "kind"} <= fields
    assert re.search(fmt["file-pattern"], "logs/execution/paper-1.jsonl")
    assert re.search(fmt["file-pattern"], "archive/paper-1.1.jsonl.gz")
    levels = {kind: level for level, pattern in fmt["level"].items()
              for kind in ("error", "reject", "alert", "fill", "quote")
              if re.search(pattern, kind)}
    assert levels["error"] == "error" and levels["reject"] == "warning"

"""The health decisions: inputs to ok / degraded / failing, per check, with no Flask."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.config import load_config
from peaktrade.events import format_ts
from peaktrade.telemetry.health import (
    DEGRADED,
    FAILING,
    OK,
    AppendOutcome,
    Check,
    Folder,
    Sidecar,
    controls_check,
    expected_sidecars,
    http_status,
    integrity_check,
    journal_check,
    journal_writable,
    overall,
    probe_folder,
    sidecars_check,
    worst,
)

NOW = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
T = NOW.timestamp()
MIB = 1 << 20
ROOMY = Folder("/j", True, None, 10_000 * MIB, 1000)
APPENDED = AppendOutcome(True, None, T - 1)
RELEASED = {"engaged": False, "mode": None, "source": None, "actor": None, "reason": None,
            "since": None}
CALM = {"kill_switch": RELEASED, "qa_block": {"blocked": False}, "breakers": []}
DEMO = Sidecar("demo feed", "demo", 5.0)


@dataclass
class Beat:
    component: str
    status: str
    lag_ms: float
    ts: str


def beat(age_s: float, status: str = "ok", component: str = "demo") -> Beat:
    return Beat(component, status, 3.0, format_ts(NOW - timedelta(seconds=age_s)))


def test_worst_status_wins_and_no_check_is_ok():
    assert worst([]) == OK
    assert worst([OK, DEGRADED, OK]) == DEGRADED
    assert worst([DEGRADED, FAILING, OK]) == FAILING


def test_overall_is_the_worst_check_and_only_failing_is_503():
    checks = {"a": Check(OK, ""), "b": Check(DEGRADED, "")}
    assert overall(checks) == DEGRADED
    assert [http_status(s) for s in (OK, DEGRADED, FAILING)] == [200, 200, 503]


def test_a_check_lists_its_figures_beside_status_and_detail():
    assert Check(OK, "fine", {"free_bytes": 5}).to_dict() == \
        {"status": OK, "detail": "fine", "free_bytes": 5}


def test_journal_is_ok_when_writable_roomy_and_the_last_append_worked():
    check = journal_check(ROOMY, APPENDED, 100 * MIB, T)
    assert check.status == OK
    assert check.detail == "appendable: last append ok, 10,000.0 MiB free"
    assert check.figures["last_append_at"] == format_ts(NOW - timedelta(seconds=1))


def test_journal_is_ok_before_this_worker_appended_anything():
    check = journal_check(ROOMY, AppendOutcome(None), 100 * MIB, T)
    assert (check.status, check.detail) == (OK, "appendable: no append by this worker yet, "
                                                "10,000.0 MiB free")


def test_journal_fails_when_the_last_append_failed():
    last = AppendOutcome(False, "cannot append to s.jsonl: No space left on device", T - 30)
    check = journal_check(ROOMY, last, 100 * MIB, T)
    assert check.status == FAILING
    assert check.detail == ("the last append of this worker failed 30 s ago: cannot append "
                            "to s.jsonl: No space left on device")


def test_journal_fails_when_the_folder_is_not_writable():
    folder = Folder("/j", False, "journal directory /j is not writable: Permission denied")
    check = journal_check(folder, APPENDED, 100 * MIB, T)
    assert (check.status, check.detail) == (FAILING, folder.problem)
    assert check.figures["writable"] is False


@pytest.mark.parametrize(("free_mib", "status"), [(100, OK), (99, DEGRADED), (10, DEGRADED),
                                                  (9, FAILING), (0, FAILING)])
def test_journal_space_degrades_below_the_minimum_and_fails_below_a_tenth(free_mib, status):
    folder = Folder("/j", True, None, free_mib * MIB, 1000)
    check = journal_check(folder, APPENDED, 100 * MIB, T)
    assert check.status == status
    if status != OK:
        assert check.detail == (f"{free_mib:.1f} MiB free in /j, below the minimum of "
                                "100.0 MiB (journal.min_free_bytes)")


def test_a_minimum_of_zero_turns_the_space_check_off():
    folder = Folder("/j", True, None, 0, 1000)
    assert journal_check(folder, APPENDED, 0, T).status == OK


def test_journal_fails_without_free_inodes():
    folder = Folder("/j", True, None, 10_000 * MIB, 0)
    check = journal_check(folder, APPENDED, 100 * MIB, T)
    assert check.status == FAILING and "no inodes left" in check.detail


def test_integrity_is_ok_without_breaks_and_fails_naming_each():
    assert integrity_check({}).status == OK
    check = integrity_check({"desk": "seq 1 after 1 at line 2 of desk.jsonl",
                             "s1": "seq 3 after 9 at line 10 of s1.jsonl"})
    assert check.status == FAILING
    assert check.detail == ("journal desk: seq 1 after 1 at line 2 of desk.jsonl; journal "
                            "s1: seq 3 after 9 at line 10 of s1.jsonl; repair with "
                            "`peaktrade journal repair`")
    assert check.figures["broken"]["s1"].startswith("seq 3 after 9")


def test_controls_are_ok_when_nothing_is_engaged():
    check = controls_check(CALM)
    assert (check.status, check.detail) == (
        OK, "kill switch released, no breaker tripped, no QA block")


def test_an_operator_kill_switch_is_degraded_saying_who_why_and_how():
    kill = {**RELEASED, "engaged": True, "mode": "HALT", "source": "journal",
            "actor": "alice", "reason": "bad feed"}
    check = controls_check({**CALM, "kill_switch": kill})
    assert check.status == DEGRADED
    assert check.detail == "kill switch engaged (HALT) by alice via journal: bad feed"


@pytest.mark.parametrize("source", ["journal-integrity", "unreadable"])
def test_a_fail_closed_kill_switch_is_failing(source):
    kill = {**RELEASED, "engaged": True, "mode": "HALT", "source": source, "actor": "desk",
            "reason": "the desk journal cannot be trusted"}
    assert controls_check({**CALM, "kill_switch": kill}).status == FAILING


def test_tripped_breakers_and_a_qa_block_are_degraded_and_named():
    breakers = [{"name": "LOSS_STREAK", "tripped": True, "reason": "10 losses in a row",
                 "resets_at": "2026-01-06T00:00:00.000000Z"},
                {"name": "DAILY_LOSS", "tripped": False}]
    check = controls_check({**CALM, "breakers": breakers,
                            "qa_block": {"blocked": True, "actor": "qa", "reason": "stale"}})
    assert check.status == DEGRADED
    assert check.detail == ("breaker LOSS_STREAK tripped: 10 losses in a row (resets "
                            "2026-01-06T00:00:00.000000Z); QA block by qa: stale")
    assert check.figures["breakers_tripped"] == ["LOSS_STREAK"]
    assert check.figures["qa_blocked"] is True


def test_unreadable_controls_are_failing_fail_closed():
    check = controls_check(None, "OSError: desk.jsonl unreadable")
    assert check.status == FAILING
    assert check.detail == ("the controls cannot be read (OSError: desk.jsonl unreadable): "
                            "the desk counts as halted (fail closed)")


def test_no_sidecar_expected_is_ok():
    check = sidecars_check((), {}, T, T)
    assert (check.status, check.detail) == (OK, "no sidecar is expected for this configuration")


def test_a_sidecar_with_a_recent_healthy_heartbeat_is_ok():
    check = sidecars_check((DEMO,), {"demo": beat(4)}, T, T - 600)
    assert check.status == OK
    assert check.figures["expected"]["demo feed"]["age_s"] == 4.0


def test_a_sidecar_silent_for_more_than_a_few_intervals_is_degraded():
    check = sidecars_check((DEMO,), {"demo": beat(16)}, T, T - 600)
    assert check.status == DEGRADED
    assert check.detail.startswith("the demo feed has not sent a heartbeat for 16 s (last ")


def test_a_sidecar_reporting_trouble_is_degraded():
    check = sidecars_check((DEMO,), {"demo": beat(1, "degraded")}, T, T - 600)
    assert (check.status, check.detail) == (DEGRADED, "the demo feed reports degraded "
                                                      "(lag 3 ms)")


def test_a_sidecar_gets_its_stale_time_to_send_a_first_heartbeat():
    waiting = sidecars_check((DEMO,), {}, T, T - 10)
    assert (waiting.status, waiting.detail) == (OK, "waiting for the first heartbeat of the "
                                                    "demo feed")
    missing = sidecars_check((DEMO,), {"other": beat(1, component="other")}, T, T - 20)
    assert missing.status == DEGRADED
    assert missing.detail == ("no heartbeat from the demo feed (component demo) in 20 s; "
                              "expected every 5 s")


def test_sidecars_whose_heartbeats_cannot_be_read_are_degraded():
    check = sidecars_check((DEMO,), None, T, T, "OSError: gone")
    assert check.status == DEGRADED
    assert check.detail.startswith("the heartbeats cannot be read (OSError: gone)")


def test_the_demo_feed_is_expected_unless_disabled_or_live_and_the_reconciler_when_sending():
    paper = load_config({"demo": {"enabled": True}}, environ={})
    assert [s.component for s in expected_sidecars(paper, False)] == ["demo"]
    assert [s.component for s in expected_sidecars(paper, True)] == ["demo", "reconcile"]
    off = load_config({"demo": {"enabled": False}}, environ={})
    assert expected_sidecars(off, False) == ()
    live = load_config({"mode": "live", "demo": {"enabled": True}}, environ={})
    assert expected_sidecars(live, False) == ()
    assert DEMO.stale_after_s == 15.0


def test_probe_folder_reads_free_space_of_a_writable_folder(tmp_path):
    folder = probe_folder(tmp_path)
    assert folder.writable and folder.problem is None
    assert folder.free_bytes > 0 and folder.free_inodes > 0
    assert list(tmp_path.iterdir()) == []


def test_probe_folder_refuses_a_file_and_a_missing_folder(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("")
    assert probe_folder(plain).problem == \
        f"journal directory {plain} is not writable: Not a directory"
    assert probe_folder(tmp_path / "gone").problem == \
        f"journal directory {tmp_path / 'gone'} is not writable: No such file or directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever the mode bits say")
def test_probe_folder_refuses_a_folder_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert probe_folder(locked).problem == \
            f"journal directory {locked} is not writable: Permission denied"
    finally:
        locked.chmod(0o700)


def test_journal_writable_creates_a_missing_folder(tmp_path):
    assert journal_writable(tmp_path / "new" / "journal") == (True, None)
    blocker = tmp_path / "file"
    blocker.write_text("")
    writable, problem = journal_writable(blocker / "journal")
    assert writable is False and problem.startswith(f"journal directory {blocker / 'journal'}")

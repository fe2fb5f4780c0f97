"""Retention gzips and purges closed sessions only, and apply does exactly what plan said."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from peaktrade.events import DESK_SESSION
from peaktrade.journal import Journal, list_sessions, read_events
from peaktrade.telemetry.retention import (
    NotAJournal,
    apply_retention,
    format_bytes,
    plan_retention,
)

NOW = datetime.now(UTC)
DAY = 86_400


def make_session(journal: Journal, sid: str, *, events: int = 5, age_days: float = 0.0):
    journal.append(sid, [{"kind": "quote", "symbol": "AAPL", "payload": {"bid": i}}
                         for i in range(events)])
    journal.flush()
    stamp = time.time() - age_days * DAY
    for path in journal.root.rglob(f"{sid}.*"):
        os.utime(path, (stamp, stamp))


def actions(plan):
    return {(a.action, a.session_id) for a in plan.actions}


def test_old_closed_sessions_are_purged_and_young_ones_gzipped(journal, log_dir):
    make_session(journal, "old", age_days=20)
    make_session(journal, "young", age_days=1)
    make_session(journal, "live", age_days=30)
    make_session(journal, DESK_SESSION, age_days=30)
    plan = plan_retention(log_dir, active_session="live", days=14, now=NOW)
    assert actions(plan) == {("purge", "old"), ("gzip", "young")}
    assert ("live", "active session") in plan.kept
    assert (DESK_SESSION, "desk journal") in plan.kept
    result = apply_retention(plan, active_session="live")
    assert list_sessions(log_dir) == sorted([DESK_SESSION, "live", "young"])
    assert not (log_dir / "young.jsonl").exists()
    assert [r["payload"]["bid"] for r in read_events(log_dir, session_id="young")] == [
        0, 1, 2, 3, 4]
    assert (log_dir / "live.jsonl").exists()
    assert result.bytes_after < result.bytes_before
    assert not result.skipped


def test_plan_reports_the_bytes_apply_frees(journal, log_dir):
    make_session(journal, "old", events=50, age_days=20)
    make_session(journal, "live")
    plan = plan_retention(log_dir, active_session="live", days=14, now=NOW)
    on_disk = sum(p.stat().st_size for p in log_dir.rglob("old.*"))
    assert plan.purge_bytes == on_disk
    result = apply_retention(plan, active_session="live")
    assert result.bytes_before - result.bytes_after == on_disk
    assert f"purged old: {format_bytes(on_disk)}" in result.done


def test_keep_last_protects_the_newest_closed_sessions(journal, log_dir):
    for index, sid in enumerate(["a", "b", "c"]):
        make_session(journal, sid, age_days=30 + index)
    plan = plan_retention(log_dir, active_session=None, days=14, keep_last=2, now=NOW)
    assert {sid for kind, sid in actions(plan) if kind == "purge"} == {"c"}


def test_max_mb_purges_oldest_closed_sessions_until_under_budget(journal, log_dir):
    for index, sid in enumerate(["a", "b", "c"]):
        make_session(journal, sid, events=4000, age_days=3 - index)
    size = sum(p.stat().st_size for p in log_dir.rglob("a.*"))
    budget_mb = (size * 2.5) / 1_000_000
    plan = plan_retention(log_dir, active_session="c", days=14, max_mb=budget_mb, now=NOW)
    assert {sid for kind, sid in actions(plan) if kind == "purge"} == {"a"}


def test_apply_skips_a_session_that_became_active(journal, log_dir):
    make_session(journal, "old", age_days=20)
    plan = plan_retention(log_dir, active_session=None, days=14, now=NOW)
    result = apply_retention(plan, active_session="old")
    assert (log_dir / "old.jsonl").exists()
    assert result.skipped == ("skip  old: it is the active session now",)


def test_apply_skips_a_session_whose_writer_holds_the_lock(journal, log_dir):
    make_session(journal, "old", age_days=20)
    plan = plan_retention(log_dir, active_session=None, days=14, now=NOW)
    with journal.locked("old"):
        result = apply_retention(plan, active_session=None)
    assert (log_dir / "old.jsonl").exists()
    assert "a writer holds its lock" in result.skipped[0]


def test_refuses_a_folder_that_is_not_a_journal(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(NotAJournal, match="holds no session journals"):
        plan_retention(tmp_path, active_session=None, days=14)
    (tmp_path / "data.jsonl").write_text('{"name": "not an event"}\n')
    with pytest.raises(NotAJournal, match="does not start with a journal event"):
        plan_retention(tmp_path, active_session=None, days=14)


def test_files_outside_the_journal_are_never_touched(journal, log_dir, tmp_path):
    make_session(journal, "old", age_days=20)
    outside = tmp_path / "elsewhere.jsonl"
    outside.write_text("precious\n")
    (log_dir / "archive").mkdir(exist_ok=True)
    (log_dir / "archive" / "old.9.jsonl").symlink_to(outside)
    plan = plan_retention(log_dir, active_session=None, days=14, now=NOW)
    apply_retention(plan, active_session=None)
    assert outside.read_text() == "precious\n"


def test_bad_arguments_say_what_is_allowed(journal, log_dir):
    make_session(journal, "s")
    with pytest.raises(ValueError, match="days must be > 0, got 0"):
        plan_retention(log_dir, active_session=None, days=0)
    with pytest.raises(ValueError, match="keep-last must be >= 0, got -1"):
        plan_retention(log_dir, active_session=None, days=1, keep_last=-1)


def test_refuses_an_archive_folder_that_points_elsewhere(journal, log_dir, tmp_path):
    make_session(journal, "old", age_days=20)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (log_dir / "archive").symlink_to(elsewhere)
    with pytest.raises(NotAJournal, match="is a symlink"):
        plan_retention(log_dir, active_session=None, days=14)

"""Health of the desk: ok, degraded or failing, per check, from what a worker already knows.

The decisions are small pure functions of figures the worker holds (the journal's last
append, the desk's controls, the heartbeats it follows) plus one probe of the journal
folder that reads metadata only; the web layer gathers the inputs and translates.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from peaktrade.events import format_ts, ts_to_epoch
from peaktrade.execution.controls import JOURNAL_INTEGRITY, UNREADABLE
from peaktrade.execution.demo import HEARTBEAT_S as DEMO_HEARTBEAT_S

OK, DEGRADED, FAILING = "ok", "degraded", "failing"
SEVERITY = {OK: 0, DEGRADED: 1, FAILING: 2}
HTTP_STATUS = {OK: 200, DEGRADED: 200, FAILING: 503}
# Free space below min_free_bytes is degraded; below this share of it, failing: the next
# rotation or burst of fills may not fit.
FAILING_FREE_SHARE = 0.1
# A sidecar is missed after this many heartbeat intervals without one.
MISSED_HEARTBEATS = 3
# Heartbeat statuses that say the component is well (what the dashboard banner accepts).
HEALTHY_HEARTBEATS = frozenset({"ok", "up", "healthy"})
# Kill switch sources that mean the controls themselves cannot be trusted.
FAIL_CLOSED_SOURCES = frozenset({JOURNAL_INTEGRITY, UNREADABLE})


@dataclass(frozen=True)
class Check:
    """One check's verdict: status, a sentence saying why, and the figures behind it."""

    status: str
    detail: str
    figures: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "detail": self.detail, **self.figures}


def worst(statuses: Iterable[str]) -> str:
    """The most severe of the statuses; ok when there are none."""
    return max(statuses, key=SEVERITY.__getitem__, default=OK)


def overall(checks: Mapping[str, Check]) -> str:
    """The desk's status: the worst of its checks."""
    return worst(check.status for check in checks.values())


def http_status(status: str) -> int:
    """200 while the desk can trade (ok, degraded), 503 when it is failing."""
    return HTTP_STATUS[status]


@dataclass(frozen=True)
class Folder:
    """What the file system says about the journal folder, read without writing to it."""

    path: str
    writable: bool
    problem: str | None = None
    free_bytes: int | None = None
    free_inodes: int | None = None


def probe_folder(path: str | os.PathLike[str]) -> Folder:
    """Whether the journal folder takes new files, and its free space and inodes.

    os.stat, os.access and os.statvfs read metadata only. Creating and removing a probe
    file on every request would be a write per health check, and every such write wakes
    each worker's watchdog observer on the journal folder; access(2) answers the same
    question (permissions and read-only mounts) and statvfs adds what a probe cannot see:
    an empty file still fits on a disk too full for the next batch.
    """
    folder = str(path)

    def refused(why: str) -> Folder:
        return Folder(folder, False, f"journal directory {folder} is not writable: {why}")

    try:
        mode = os.stat(folder).st_mode
    except OSError as err:
        return refused(err.strerror or str(err))
    if not stat.S_ISDIR(mode):
        return refused("Not a directory")
    try:
        fs = os.statvfs(folder)
    except OSError as err:
        return refused(err.strerror or str(err))
    if fs.f_flag & os.ST_RDONLY:
        return refused("Read-only file system")
    if not os.access(folder, os.W_OK | os.X_OK):
        return refused("Permission denied")
    return Folder(folder, True, None, fs.f_bavail * fs.f_frsize, fs.f_favail)


def journal_writable(root: str | os.PathLike[str]) -> tuple[bool, str | None]:
    """Whether the journal folder (created when missing) takes new files, and why not."""
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return False, f"journal directory {path} is not writable: {err.strerror}"
    folder = probe_folder(path)
    return folder.writable, folder.problem


@dataclass(frozen=True)
class AppendOutcome:
    """The outcome of this worker's last journal append (None: it has not appended yet)."""

    ok: bool | None
    error: str | None = None
    at: float | None = None  # seconds since the epoch


def journal_check(folder: Folder, last: AppendOutcome, min_free_bytes: int,
                  now: float) -> Check:
    """Appendable: the folder takes files, the last append worked, free space is enough."""
    figures: dict[str, Any] = {
        "writable": folder.writable, "free_bytes": folder.free_bytes,
        "min_free_bytes": min_free_bytes, "free_inodes": folder.free_inodes,
        "last_append_ok": last.ok,
        "last_append_at": _iso(last.at), "last_append_error": last.error}
    if not folder.writable:
        return Check(FAILING, folder.problem or f"journal directory {folder.path} is not "
                     "writable", figures)
    if last.ok is False:
        ago = f" {now - last.at:.0f} s ago" if last.at is not None else ""
        return Check(FAILING, f"the last append of this worker failed{ago}: {last.error}",
                     figures)
    if folder.free_inodes == 0:
        return Check(FAILING, f"no inodes left on the file system of {folder.path}: no "
                     "new journal file or rotated segment can be created", figures)
    free = folder.free_bytes
    if free is not None and min_free_bytes > 0 and free < min_free_bytes:
        status = FAILING if free < min_free_bytes * FAILING_FREE_SHARE else DEGRADED
        return Check(status, f"{_mib(free)} free in {folder.path}, below the minimum of "
                     f"{_mib(min_free_bytes)} (journal.min_free_bytes)", figures)
    appended = "no append by this worker yet" if last.ok is None else "last append ok"
    space = f", {_mib(free)} free" if free is not None else ""
    return Check(OK, f"appendable: {appended}{space}", figures)


def integrity_check(breaks: Mapping[str, str]) -> Check:
    """Failing while any journal this worker follows breaks the seq rule (journal -> why)."""
    figures = {"broken": dict(breaks)}
    if not breaks:
        return Check(OK, "every journal this worker follows keeps the seq rule", figures)
    named = "; ".join(f"journal {name}: {why}" for name, why in sorted(breaks.items()))
    return Check(FAILING, f"{named}; repair with `peaktrade journal repair`", figures)


def controls_check(controls: Mapping[str, Any] | None, problem: str | None = None) -> Check:
    """Kill switch, tripped breakers and QA block as the desk reports them (desk.controls())."""
    if controls is None:
        return Check(FAILING, f"the controls cannot be read ({problem or 'unknown error'}): "
                     "the desk counts as halted (fail closed)",
                     {"kill_switch": None, "breakers_tripped": [], "qa_blocked": None})
    kill = controls.get("kill_switch") or {}
    tripped = [b for b in controls.get("breakers") or () if b.get("tripped")]
    qa = controls.get("qa_block") or {}
    figures = {"kill_switch": dict(kill), "breakers_tripped": [b["name"] for b in tripped],
               "qa_blocked": bool(qa.get("blocked"))}
    found: list[tuple[str, str]] = []
    if kill.get("engaged"):
        status = FAILING if kill.get("source") in FAIL_CLOSED_SOURCES else DEGRADED
        found.append((status, f"kill switch engaged ({kill.get('mode') or 'HALT'}) by "
                              f"{kill.get('actor') or 'unknown'} via {kill.get('source')}: "
                              f"{kill.get('reason') or 'no reason given'}"))
    for breaker in tripped:
        found.append((DEGRADED, f"breaker {breaker['name']} tripped: "
                                f"{breaker.get('reason') or 'no reason given'} (resets "
                                f"{breaker.get('resets_at') or 'on manual reset'})"))
    if qa.get("blocked"):
        found.append((DEGRADED, f"QA block by {qa.get('actor') or 'unknown'}: "
                                f"{qa.get('reason') or 'cannot trade today'}"))
    if not found:
        return Check(OK, "kill switch released, no breaker tripped, no QA block", figures)
    return Check(worst(s for s, _ in found), "; ".join(d for _, d in found), figures)


@dataclass(frozen=True)
class Sidecar:
    """A process that should run next to the server and journal heartbeats as `component`."""

    name: str
    component: str
    interval_s: float

    @property
    def stale_after_s(self) -> float:
        return MISSED_HEARTBEATS * self.interval_s


def expected_sidecars(config: Mapping[str, Any], sends_orders: bool) -> tuple[Sidecar, ...]:
    """The sidecars gunicorn starts for this configuration (see gunicorn.conf.py when_ready)."""
    out = []
    if config["demo"]["enabled"] and config["mode"] != "live":
        out.append(Sidecar("demo feed", "demo", DEMO_HEARTBEAT_S))
    if sends_orders:
        alpaca = config["alpaca"]
        # One poll may wait for a broker timeout before the next heartbeat.
        out.append(Sidecar("reconciler", "reconcile",
                           alpaca["poll_interval_s"] + alpaca["timeout_s"]))
    return tuple(out)


class Heartbeat(Protocol):
    """The newest heartbeat of a component (the dashboard's session pulse keeps these)."""

    component: str
    status: str
    lag_ms: float
    ts: str


def sidecars_check(expected: Sequence[Sidecar], heartbeats: Mapping[str, Heartbeat] | None,
                   now: float, watching_since: float, problem: str | None = None) -> Check:
    """Each expected sidecar's newest heartbeat is recent and says it is well.

    `heartbeats`: the newest per component, None when they cannot be read (`problem`).
    `watching_since`: when this worker began following the session's heartbeats; a
    sidecar with none yet is given its stale time from then to send its first.
    """
    if heartbeats is None and expected:
        return Check(DEGRADED, f"the heartbeats cannot be read ({problem or 'unknown error'}):"
                     f" whether the {', '.join(s.name for s in expected)} run is not known",
                     {"expected": {s.name: {"component": s.component, "status": None}
                                   for s in expected}})
    heartbeats = heartbeats or {}
    rows: dict[str, dict[str, Any]] = {}
    found: list[str] = []
    for sidecar in expected:
        beat = heartbeats.get(sidecar.component)
        limit = sidecar.stale_after_s
        if beat is None:
            waited = now - watching_since
            rows[sidecar.name] = {"component": sidecar.component, "status": None,
                                  "last_heartbeat": None, "age_s": None,
                                  "stale_after_s": limit}
            if waited > limit:
                found.append(f"no heartbeat from the {sidecar.name} (component "
                             f"{sidecar.component}) in {waited:.0f} s; expected every "
                             f"{sidecar.interval_s:g} s")
            continue
        age = max(0.0, now - ts_to_epoch(beat.ts))
        rows[sidecar.name] = {"component": sidecar.component, "status": beat.status,
                              "last_heartbeat": beat.ts, "age_s": round(age, 1),
                              "lag_ms": beat.lag_ms, "stale_after_s": limit}
        if age > limit:
            found.append(f"the {sidecar.name} has not sent a heartbeat for {age:.0f} s "
                         f"(last {beat.ts}); expected every {sidecar.interval_s:g} s")
        elif beat.status.lower() not in HEALTHY_HEARTBEATS:
            found.append(f"the {sidecar.name} reports {beat.status} (lag {beat.lag_ms:g} ms)")
    figures = {"expected": rows}
    if found:
        return Check(DEGRADED, "; ".join(found), figures)
    if not expected:
        return Check(OK, "no sidecar is expected for this configuration", figures)
    waiting = [s.name for s in expected if s.component not in heartbeats]
    if waiting:
        return Check(OK, f"waiting for the first heartbeat of the {', '.join(waiting)}",
                     figures)
    return Check(OK, f"{', '.join(s.name for s in expected)}: heartbeats recent", figures)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else format_ts(datetime.fromtimestamp(epoch, UTC))


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"

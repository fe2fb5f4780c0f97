"""JSON API routes that belong to no other blueprint: health."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify

from peaktrade import __version__
from peaktrade.events import DESK_SESSION
from peaktrade.execution.controls import JOURNAL_INTEGRITY
from peaktrade.telemetry.health import (
    OK,
    AppendOutcome,
    Check,
    controls_check,
    expected_sidecars,
    http_status,
    integrity_check,
    journal_check,
    overall,
    probe_folder,
    sidecars_check,
)
from peaktrade.web.context import get_config, get_desk, get_journal
from peaktrade.web.dashboard import session_pulse

bp = Blueprint("api", __name__, url_prefix="/api")

# Per journal root: the session whose heartbeats this worker follows, and since when.
_WATCHING: dict[Path, tuple[str, float]] = {}
_WATCHING_LOCK = threading.Lock()


@bp.get("/health")
def health():
    """Whether this worker can trade and record it: ok, degraded or failing, per check."""
    config = get_config()
    journal = get_journal()
    now = time.time()
    desk, controls, problem = _desk_controls()
    # After the controls: reading them may have started the first session (an append).
    folder = probe_folder(journal.root)
    outcome = AppendOutcome(journal.last_append_ok, journal.last_append_error,
                            journal.last_append_at)
    checks: dict[str, Check] = {
        "journal": journal_check(folder, outcome, config["journal"]["min_free_bytes"], now),
        "integrity": integrity_check({**_desk_breaks(desk, controls),
                                      **journal.broken_sessions()}),
        "controls": controls_check(controls, problem),
        "sidecars": _sidecars(config, desk, journal.root, now),
    }
    status = overall(checks)
    body: dict[str, Any] = {
        "status": status, "version": __version__, "pid": os.getpid(),
        "journal_dir": str(journal.root.resolve()), "journal_writable": folder.writable,
        "checks": {name: check.to_dict() for name, check in checks.items()}}
    if status != OK:
        body["reason"] = "; ".join(c.detail for c in checks.values() if c.status == status)
    return jsonify(body), http_status(status)


def _desk_controls() -> tuple[Any, Mapping[str, Any] | None, str | None]:
    """The desk, its controls, and why they cannot be read (then None)."""
    try:
        desk = get_desk()
    except Exception as err:  # noqa: BLE001 - a desk that cannot start is a failing check
        current_app.logger.exception("health: the desk cannot be started")
        return None, None, f"{type(err).__name__}: {err}"
    try:
        return desk, desk.controls(), None
    except Exception as err:  # noqa: BLE001 - unreadable controls fail closed, not a 500
        current_app.logger.warning("health: the desk controls cannot be read: %s", err)
        return desk, None, f"{type(err).__name__}: {err}"


def _desk_breaks(desk: Any, controls: Mapping[str, Any] | None) -> dict[str, str]:
    """Journals the desk follows that break the seq rule (journal -> why), as it found them."""
    if desk is None:
        return {}
    public = getattr(desk, "integrity_problems", None)
    if callable(public):
        return dict(public())
    breaks: dict[str, str] = {}
    # A broken desk journal engages the kill switch with this source (an environment
    # kill switch takes precedence and hides it until the desk says so itself).
    kill = (controls or {}).get("kill_switch") or {}
    if kill.get("source") == JOURNAL_INTEGRITY:
        breaks[DESK_SESSION] = kill.get("reason") or "breaks the integrity rules"
    tail = getattr(desk, "_tail", None)
    broken = getattr(tail, "broken", None)
    if broken is not None:
        breaks[tail.session_id] = broken.describe()
    return breaks


def _sidecars(config: Mapping[str, Any], desk: Any, root: Path, now: float) -> Check:
    """The expected sidecars against the heartbeats of the active session."""
    expected = expected_sidecars(config, bool(desk is not None and desk.sends_orders))
    if not expected:
        return sidecars_check(expected, {}, now, now)
    if desk is None:
        return sidecars_check(expected, None, now, now, "the desk cannot be started")
    try:
        session_id = desk.session_id
        pulse = session_pulse(root, session_id)
        with pulse.lock:
            heartbeats = dict(pulse.heartbeats)
    except Exception as err:  # noqa: BLE001 - unknown sidecars are degraded, not a 500
        current_app.logger.warning("health: heartbeats cannot be read: %s", err)
        return sidecars_check(expected, None, now, now, f"{type(err).__name__}: {err}")
    with _WATCHING_LOCK:
        watched = _WATCHING.get(root)
        if watched is None or watched[0] != session_id:
            watched = _WATCHING[root] = (session_id, now)
    return sidecars_check(expected, heartbeats, now, watched[1])

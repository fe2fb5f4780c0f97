"""The server's alert evaluator: a thread per worker, only the holder of a file lock evaluates."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from flask import Flask

from peaktrade.telemetry.alerts import AlertDesk
from peaktrade.web.context import get_config, get_desk, get_journal

LOCK_NAME = ".alerts.lock"


class AlertEvaluator:
    """Every `check_interval_s`, the worker holding `<log_dir>/.alerts.lock` checks the rules.

    The lock is taken without waiting and kept for the life of the process, so exactly
    one worker evaluates; when it dies the kernel frees the lock and another takes over.
    """

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval_s = app.config["PEAKTRADE"]["alerts"]["check_interval_s"]
        self.lock_path = Path(app.config["PEAKTRADE"]["log_dir"]) / LOCK_NAME
        self.stopped = threading.Event()
        self.checks = 0
        self._lock_fd = -1
        self._thread = threading.Thread(target=self._run, name="peaktrade-alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopped.set()

    @property
    def is_leader(self) -> bool:
        return self._lock_fd >= 0

    def try_lead(self) -> bool:
        """Take the evaluator lock if no other process holds it."""
        if self._lock_fd >= 0:
            return True
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def check_once(self) -> None:
        """Evaluate every rule once with the app's journal and desk."""
        with self.app.app_context():
            journal = get_journal()
            desk = get_desk()
            alert_desk = AlertDesk.from_config(get_config(), journal,
                                               active_session=lambda: desk.session_id,
                                               controls=desk.controls)
            alert_desk.check()
        self.checks += 1

    def _run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            if self.app.testing:
                return
            try:
                if self.try_lead():
                    self.check_once()
            except Exception:  # noqa: BLE001 - the evaluator must outlive one bad check
                self.app.logger.exception("alert evaluation failed")


def init_app(app: Flask) -> None:
    """Start this worker's alert evaluator (it never evaluates under TESTING)."""
    if app.testing:
        return
    evaluator = AlertEvaluator(app)
    app.extensions["peaktrade.alerts"] = evaluator
    evaluator.start()

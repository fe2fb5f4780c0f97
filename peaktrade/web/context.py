"""The per-app resources a view needs, each behind one getter."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import current_app

from peaktrade.journal import Journal
from peaktrade.journal.tail import Broker, broker_for

if TYPE_CHECKING:
    from peaktrade.execution import Desk

_desk_lock = threading.Lock()


def get_config() -> Mapping[str, Any]:
    """The desk configuration of the current app."""
    return current_app.config["PEAKTRADE"]


def get_journal() -> Journal:
    """The journal of the current app (one per worker process)."""
    return current_app.extensions["peaktrade.journal"]


def get_broker() -> Broker:
    """The live-tail broker of this worker process for the app's journal directory."""
    config = get_config()
    return broker_for(config["log_dir"], poll_interval_s=config["web"]["poll_interval_s"])


def get_desk() -> Desk:
    """The desk of the current app, created on first use (one per worker process)."""
    desk = current_app.extensions.get("peaktrade.desk")
    if desk is None:
        with _desk_lock:
            desk = current_app.extensions.get("peaktrade.desk")
            if desk is None:
                from peaktrade.execution import Desk

                desk = Desk.from_config(get_config(), get_journal())
                current_app.extensions["peaktrade.desk"] = desk
    return desk

"""The per-app resources a view needs, each behind one getter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from peaktrade.journal import Journal
from peaktrade.journal.tail import Broker, broker_for


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

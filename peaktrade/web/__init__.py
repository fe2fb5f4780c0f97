"""The web layer: translates HTTP into desk calls and journal reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from peaktrade.config import load_config
from peaktrade.journal import Journal
from peaktrade.journal.tail import release_broker
from peaktrade.web import (
    alerting,
    api,
    controls,
    dashboard,
    errors,
    oms,
    paper,
    security,
    stream,
    telemetry,
    telemetry_api,
    ws,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def build_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Create the Flask app with every blueprint registered."""
    config = load_config(overrides)
    app = Flask("peaktrade", template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config["PEAKTRADE"] = config
    app.config["MAX_CONTENT_LENGTH"] = config["web"]["max_body_bytes"]
    app.extensions["peaktrade.journal"] = Journal.from_config(config)
    security.init_app(app)
    errors.init_app(app)
    ws.init_app(app)
    for module in (api, telemetry_api, paper, oms, controls, telemetry, dashboard, stream, ws):
        app.register_blueprint(module.bp)
    alerting.init_app(app)
    return app


def close_app(app: Flask) -> None:
    """Release what the app holds in this process: desk, live tail, dashboard, journal."""
    journal: Journal = app.extensions["peaktrade.journal"]
    desk = app.extensions.pop("peaktrade.desk", None)
    if desk is not None:
        desk.close()
    release_broker(journal.root)
    dashboard.release_pulses(journal.root)
    journal.close()

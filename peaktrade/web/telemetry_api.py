"""Telemetry JSON and CSV: /api/telemetry, /api/live/execution/<session_id>."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("telemetry_api", __name__)

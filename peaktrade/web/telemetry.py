"""Live telemetry pages: execution timeline and sessions."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("telemetry", __name__)

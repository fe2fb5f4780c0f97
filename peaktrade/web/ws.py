"""WebSocket feed /ws/execution (flask-sock)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ws", __name__)

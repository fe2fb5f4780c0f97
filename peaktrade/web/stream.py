"""Server-sent event streams fed by the journal tailer."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stream", __name__, url_prefix="/stream")

"""JSON API routes that belong to no other blueprint: health."""

from __future__ import annotations

import os

from flask import Blueprint, jsonify

from peaktrade import __version__
from peaktrade.telemetry.health import journal_writable
from peaktrade.web.context import get_journal

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/health")
def health():
    """Liveness and journal writability of this worker."""
    journal_dir = str(get_journal().root.resolve())
    writable, reason = journal_writable(journal_dir)
    body = {"status": "ok" if writable else "error", "version": __version__,
            "journal_dir": journal_dir, "journal_writable": writable, "pid": os.getpid()}
    if not writable:
        body["reason"] = reason
        return jsonify(body), 503
    return jsonify(body)

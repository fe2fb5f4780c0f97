"""OMS-light: blotter, executions and routes (pages and JSON)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("oms", __name__, url_prefix="/oms")

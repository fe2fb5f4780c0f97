"""Paper trading: order-entry form, positions, working orders, JSON API."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("paper", __name__, url_prefix="/paper")

"""Desk controls: kill switch, breakers, QA block (API and page header)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("controls", __name__)

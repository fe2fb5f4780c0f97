"""PeakTrade execution desk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app; `config` overrides defaults, TOML file and environment."""
    from peaktrade.web import build_app  # Flask stays out of the layers below web/

    return build_app(config)

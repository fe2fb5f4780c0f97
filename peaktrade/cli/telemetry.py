"""`peaktrade telemetry ...`: read, summarise, follow and export journals."""

from __future__ import annotations

import click


@click.group("telemetry")
def group() -> None:
    """Read execution journals: summary, view, tail, export, replay."""

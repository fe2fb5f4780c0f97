"""Control commands: kill switch, circuit breakers, QA block."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []

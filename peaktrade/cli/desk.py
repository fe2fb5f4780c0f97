"""Desk commands: demo feed, dry run, kill switch, breakers, QA block."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []

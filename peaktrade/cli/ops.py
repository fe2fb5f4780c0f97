"""Operator tooling: smoke test, retention, alerts."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []

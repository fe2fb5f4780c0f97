"""The `peaktrade` command: telemetry, desk controls and operator tooling."""

from __future__ import annotations

import click

from peaktrade import __version__
from peaktrade.cli import controls, desk, ops, telemetry


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="peaktrade")
def main() -> None:
    """PeakTrade execution desk: inspect journals, run the demo, operate controls."""


main.add_command(telemetry.group)
for command in desk.COMMANDS + controls.COMMANDS + ops.COMMANDS:
    main.add_command(command)

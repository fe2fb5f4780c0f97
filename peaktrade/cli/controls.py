"""Control commands: kill switch, circuit breakers, QA block, journaled with the OS user."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from typing import Any

import click
import orjson

from peaktrade.config import ConfigError, load_config
from peaktrade.execution import ControlRefused, Desk, DeskError, InvalidIntent
from peaktrade.execution.codes import BREAKERS, KILL_SWITCH_MODES, Action

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
CONTROL_EPILOG = """\b
The actor journaled with the control is the OS user running the command.
The journal is the configured log_dir (PEAKTRADE_LOG_DIR or peaktrade.toml).
Exit codes:
  0  done
  1  refused by the desk (e.g. releasing a kill switch the environment engaged)
  2  bad arguments, or the configuration is wrong"""


def os_user() -> str:
    """The operator's login name, journaled as the actor."""
    return getpass.getuser()


@contextlib.contextmanager
def open_desk() -> Iterator[Desk]:
    """A desk on the configured journal, closed afterwards."""
    try:
        config = load_config()
    except ConfigError as err:
        click.echo(f"configuration error: {err}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    desk = Desk.from_config(config)
    try:
        yield desk
    finally:
        desk.close()


def operate(action: str, reason: str, **extra: Any) -> dict:
    """Run one control through the desk and print the outcome; exit 1/2 when refused/bad."""
    with open_desk() as desk:
        try:
            record = desk.control(action, actor=os_user(), reason=reason, **extra)
        except ControlRefused as err:
            click.echo(f"refused: {err}", err=True)
            raise SystemExit(EXIT_REFUSED) from None
        except InvalidIntent as err:
            for field, messages in err.errors.items():
                click.echo(f"{field}: {'; '.join(messages)}", err=True)
            raise SystemExit(EXIT_BAD_INPUT) from None
        except DeskError as err:
            click.echo(f"refused: {err}", err=True)
            raise SystemExit(EXIT_REFUSED) from None
        controls = desk.controls()
    payload = record.get("payload", record) if isinstance(record, dict) else {}
    click.echo(f"{action} by {payload.get('actor', os_user())}: {reason}")
    click.echo(format_controls(controls))
    return record


def format_controls(controls: dict[str, Any]) -> str:
    """Kill switch, QA block and breakers as operator-readable lines."""
    kill = controls["kill_switch"]
    qa = controls["qa_block"]
    lines = [
        "kill switch  " + (f"ENGAGED ({kill.get('mode')}) by "
                           f"{kill.get('actor') or kill.get('source')} since "
                           f"{kill.get('since') or '?'}: {kill.get('reason') or '-'}"
                           if kill.get("engaged") else "released"),
        "qa block     " + (f"BLOCKED by {qa.get('actor')} since {qa.get('since') or '?'}: "
                           f"{qa.get('reason') or '-'}" if qa.get("blocked") else "clear"),
    ]
    for breaker in controls["breakers"]:
        state = (f"TRIPPED: {breaker.get('reason') or '-'} (value {breaker.get('value')}, limit "
                 f"{breaker.get('limit')}), resets {breaker.get('resets_at') or 'manually'}"
                 if breaker.get("tripped") else
                 f"ok (value {breaker.get('value')}, limit {breaker.get('limit')})")
        lines.append(f"breaker      {breaker.get('name')}: {state}")
    return "\n".join(lines)


reason_option = click.option("--reason", required=True, help="Why (journaled with the actor).")


@click.group("kill-switch", epilog=CONTROL_EPILOG)
def kill_switch() -> None:
    """Show, engage or release the kill switch (every new order is rejected while engaged)."""


@kill_switch.command("status", epilog=CONTROL_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print every control as JSON.")
def kill_switch_status(as_json: bool) -> None:
    """Show the kill switch, the QA block and the circuit breakers."""
    with open_desk() as desk:
        controls = desk.controls()
    if as_json:
        click.echo(orjson.dumps(controls, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_controls(controls))


@kill_switch.command("engage", epilog=CONTROL_EPILOG)
@click.option("--mode", type=click.Choice(KILL_SWITCH_MODES, case_sensitive=False),
              default=KILL_SWITCH_MODES[0], show_default=True,
              help="HALT: nothing new; REDUCE_ONLY: only orders that reduce a position.")
@reason_option
def kill_switch_engage(mode: str, reason: str) -> None:
    """Engage the kill switch."""
    operate(Action.KILL_SWITCH_ENGAGE, reason, mode=mode.upper())


@kill_switch.command("release", epilog=CONTROL_EPILOG)
@reason_option
def kill_switch_release(reason: str) -> None:
    """Release the kill switch (refused while the environment engages it)."""
    operate(Action.KILL_SWITCH_RELEASE, reason)


@click.group("breaker", epilog=CONTROL_EPILOG)
def breaker() -> None:
    """Show or reset circuit breakers."""


@breaker.command("reset", epilog=CONTROL_EPILOG)
@click.argument("name", metavar="NAME", type=click.Choice(BREAKERS, case_sensitive=False))
@reason_option
def breaker_reset(name: str, reason: str) -> None:
    """Reset a tripped breaker NAME before its automatic reset."""
    operate(Action.BREAKER_RESET, reason, breaker=name)


@click.group("qa", epilog=CONTROL_EPILOG)
def qa() -> None:
    """Block or unblock all trading for QA ("cannot trade today")."""


@qa.command("block", epilog=CONTROL_EPILOG)
@reason_option
def qa_block(reason: str) -> None:
    """Block every new order with QA_BLOCK."""
    operate(Action.QA_BLOCK, reason)


@qa.command("unblock", epilog=CONTROL_EPILOG)
@reason_option
def qa_unblock(reason: str) -> None:
    """Lift the QA block."""
    operate(Action.QA_UNBLOCK, reason)


COMMANDS: list[click.Command] = [kill_switch, breaker, qa]

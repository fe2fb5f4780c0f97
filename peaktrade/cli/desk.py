"""Desk commands: the demo feed, the dry run and reconciliation with the broker."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime

import click
import orjson

from peaktrade.config import MODES, ConfigError, load_config
from peaktrade.execution import Desk, DeskError, InvalidIntent
from peaktrade.execution.codes import LIVE_MODE
from peaktrade.execution.demo import demo_config, run_demo
from peaktrade.execution.dryrun import DryRun, dry_run, read_board
from peaktrade.journal import JournalError

EXIT_BLOCKED = 1
EXIT_BAD_INPUT = 2


def _config(overrides: dict | None = None):
    try:
        return load_config(overrides)
    except ConfigError as err:
        click.echo(f"configuration error: {err}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None


@click.command("demo")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds to run (default: until SIGTERM or Ctrl-C).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Intents per second (default: demo.intents_per_s, 2).")
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable feed.")
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="Stop when this process (the gunicorn master) is gone.")
def demo(duration: float | None, rate: float | None, seed: int | None,
         parent_pid: int | None) -> None:
    """Feed the desk random-walk quotes and a demo strategy's intents, with heartbeats.

    Trades the configured demo symbols in the active paper session; expect vetoes, resting
    limits, cancels and the odd breaker trip. Stops on SIGTERM/SIGINT or after --duration.
    """
    base = _config()
    if base["mode"] == LIVE_MODE:
        click.echo("the demo feed does not run in live mode: its made-up quotes would mark "
                   "real positions; set mode = 'paper' (or PEAKTRADE_DEMO=0)", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    config = _config(demo_config(base))
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set())
                for signum in (signal.SIGTERM, signal.SIGINT)}
    if parent_pid is not None:
        threading.Thread(target=_stop_with_parent, args=(parent_pid, stop), daemon=True,
                         name="demo-parent-watch").start()
    desk = Desk.from_config(config)
    try:
        click.echo(f"demo: session {desk.session_id}, symbols "
                   f"{', '.join(config['demo']['symbols'])}, journal {config['log_dir']}")
        stats = run_demo(desk, symbols=list(config["demo"]["symbols"]),
                         rate=rate or config["demo"]["intents_per_s"], duration=duration,
                         stop=stop, seed=seed)
    finally:
        stop.set()
        desk.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo(stats.summary())


def _stop_with_parent(parent_pid: int, stop: threading.Event) -> None:
    """Set `stop` once the parent is gone (re-parented), checking every second."""
    while not stop.wait(1.0):
        if os.getppid() != parent_pid:
            stop.set()


@click.command("dry-run")
@click.option("--symbol", required=True, help="Instrument, e.g. BTC-USD.")
@click.option("--target", type=float, required=True, help="Target position (signed).")
@click.option("--current", type=float, default=0.0, show_default=True,
              help="Current position (signed).")
@click.option("--price", type=float, required=True, help="Reference price.")
@click.option("--mode", type=click.Choice(MODES), default=None,
              help="Desk mode (default: the configured mode).")
@click.option("--tags", default="", help="Comma-separated intent tags, e.g. research_only.")
@click.option("--strategy", default="dry-run", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def dry_run_command(symbol: str, target: float, current: float, price: float,
                    mode: str | None, tags: str, strategy: str, as_json: bool) -> None:
    """Send one intent (target - current) through every check, step by step; writes nothing.

    \b
    Exit codes: 0 the order would fill or work, 1 execution is blocked, 2 bad input.
    Example:
      peaktrade dry-run --symbol BTC-USD --target 0.5 --current 0.1 --price 100000 \\
        --mode live --tags research_only
    """
    config = _config({"mode": mode} if mode else None)
    try:
        report = dry_run(config, symbol=symbol, target=target, current=current, price=price,
                         tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
                         strategy=strategy, now=datetime.now(UTC),
                         board=read_board(config["log_dir"]))
    except InvalidIntent as err:
        click.echo(f"bad input: {err}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None
    if report is None:
        click.echo(f"nothing to do: {symbol} is already at {target:g}")
        return
    if as_json:
        click.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_report(report)
    if report.blocked:
        raise SystemExit(EXIT_BLOCKED)


def _print_report(report: DryRun) -> None:
    intent = report.intent
    tags = f", tags {', '.join(intent.tags)}" if intent.tags else ""
    click.echo("dry run: nothing is written to the journal")
    click.echo(f"  intent    {intent.side} {intent.quantity:g} {intent.symbol} @ "
               f"{intent.price:,.2f} ({intent.order_type}, route {intent.route}, mode "
               f"{report.mode}{tags}); target {report.target:g}, current {report.current:g}")
    for number, check in enumerate(report.checks, 1):
        figures = "".join(f" {name} {value:g}" if isinstance(value, float) else
                          f" {name} {value}" for name, value in
                          (("limit", check.limit), ("value", check.value),
                           ("headroom", check.headroom)) if value is not None)
        click.echo(f"  step {number:<2}   {check.gate:<13} {check.decision.upper():<7}"
                   f"{check.code:<15} {check.reason}{' |' + figures if figures else ''}")
    if report.blocked:
        click.echo(f"execution blocked: {report.code} {report.reason}")
        return
    for record in report.records:
        p = record["payload"]
        if record["kind"] == "order":
            click.echo(f"  order     {record['order_id']} {p['side']} {p['qty']:g} "
                       f"{record['symbol']} {p['order_type']} -> route {p['route']}")
        elif record["kind"] == "fill":
            click.echo(f"  fill      {p['qty']:g} @ {p['price']:,.2f} (slippage "
                       f"{p['slippage_bps']:g} bps, fee {p['fee']:,.2f})")
        elif record["kind"] == "position":
            click.echo(f"  position  {record['symbol']} {p['qty']:g} @ {p['avg_price']:,.2f}")
    result = report.result
    if result.status == "NEW":
        click.echo(f"result: {result.status}, the order would work on route {result.route}")
    else:
        click.echo(f"result: {result.status} {result.filled_quantity:g} @ "
                   f"{result.avg_fill_price:,.2f}")


@click.command("reconcile")
@click.option("--follow", is_flag=True,
              help="Keep reconciling every [alpaca] poll_interval_s until SIGTERM or Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print each report as JSON.")
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="Stop when this process (the gunicorn master) is gone.")
def reconcile(follow: bool, as_json: bool, parent_pid: int | None) -> None:
    """Bring the working orders of broker routes in line with the broker.

    Journals, once each, what the broker knows and the journal does not: acknowledgements
    of orders in flight (PENDING), fills, orders the broker cancelled, expired or
    rejected. Lists open orders at the broker that the active session does not know.
    The server runs this with --follow next to itself when a route sends orders.

    \b
    Exit codes: 0 in line, 1 something could not be checked (broker unreachable, orders
    still in doubt), 2 bad configuration.
    """
    config = _config()
    desk = Desk.from_config(config)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set())
                for signum in (signal.SIGTERM, signal.SIGINT)} if follow else {}
    if parent_pid is not None:
        threading.Thread(target=_stop_with_parent, args=(parent_pid, stop), daemon=True,
                         name="reconcile-parent-watch").start()
    try:
        if not desk.sends_orders:
            click.echo("nothing to reconcile: no route sends orders (mode is not live, or "
                       "the broker route is dry)")
            return
        interval = config["alpaca"]["poll_interval_s"]
        last = None
        while True:
            try:
                report = desk.reconcile()
            except (DeskError, JournalError) as err:
                report = {"checked": 0, "changed": [], "unknown": [], "not_at_desk": [],
                          "unreachable": [f"desk: {err}"]}
            if report != last:  # following: say what changed, not the same thing again
                _print_reconcile(report, as_json)
            last = report
            in_doubt = bool(report["unknown"] or report["unreachable"])
            if not follow:
                raise SystemExit(EXIT_BLOCKED if in_doubt else 0)
            if stop.wait(interval):
                return
    finally:
        desk.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _print_reconcile(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(report).decode())
        return
    changed, unknown = report["changed"], report["unknown"]
    if not (changed or unknown or report["not_at_desk"] or report["unreachable"]):
        click.echo(f"reconciled {report['checked']} working order(s): in line with the broker")
        return
    click.echo(f"reconciled {report['checked']} working order(s): {len(changed)} changed")
    for order in changed:
        click.echo(f"  changed   {order['order_id']} {order['side']} {order['quantity']:g} "
                   f"{order['symbol']} -> {order['status']} (filled "
                   f"{order['filled_quantity']:g}, broker {order['broker_order_id']})")
    for item in unknown:
        click.echo(f"  in doubt  {item['order_id']}: {item['detail']}")
    for item in report["not_at_desk"]:
        click.echo(f"  unknown   {item['route']} order {item['broker_order_id']} "
                   f"(client_order_id {item['client_order_id']}, {item['side']} {item['qty']} "
                   f"{item['symbol']}, {item['status']}) is open at the broker but not in "
                   "this session")
    for line in report["unreachable"]:
        click.echo(f"  unreachable  {line}")


COMMANDS: list[click.Command] = [demo, dry_run_command, reconcile]

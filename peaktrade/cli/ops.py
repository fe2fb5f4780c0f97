"""Operator tooling: smoke test of the logging pipeline, retention, alerts."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson

from peaktrade.cli.controls import os_user
from peaktrade.config import ConfigError, load_config
from peaktrade.events import format_ts
from peaktrade.execution import Desk, active_session_id
from peaktrade.journal import Journal, JournalCursor, archive_segments, read_events
from peaktrade.telemetry.alerts import RULES, AlertDesk, AlertError, read_book
from peaktrade.telemetry.replay import replay
from peaktrade.telemetry.retention import NotAJournal, apply_retention, plan_retention
from peaktrade.telemetry.summary import summarize_path

EXIT_FAILED = 1
EXIT_REFUSED = 2


def configured() -> Mapping[str, Any]:
    """The configuration, or exit 2 saying what is wrong with it."""
    try:
        return load_config()
    except ConfigError as err:
        click.echo(f"configuration error: {err}", err=True)
        raise SystemExit(EXIT_REFUSED) from None


SMOKE_EPILOG = """\b
Steps: write, rotate, read, summarise, tail, replay; each prints PASS or FAIL.
Exit codes:
  0  every step passed
  1  a step failed"""
SMOKE_SESSION = "smoke"
SMOKE_CHAINS = 40


class SmokeFailure(AssertionError):
    """A smoke step saw something other than what the pipeline must produce."""


def _expect(condition: bool, problem: str) -> None:
    if not condition:
        raise SmokeFailure(problem)


@dataclass(frozen=True)
class StepResult:
    name: str
    passed: bool
    detail: str


def _chain_events(n: int, start: datetime) -> list[dict]:
    """intent -> gate -> order -> fill of one smoke order, 10 ms + 20 ms apart."""
    ids = {"symbol": "SMOKE", "strategy": "smoke", "intent_id": f"si-{n}",
           "source": "CLI"}
    order = {**ids, "order_id": f"so-{n}"}
    return [{"kind": "intent", "ts": start, **ids, "payload": {"side": "BUY", "qty": 1}},
            {"kind": "gate", "ts": start, **ids, "payload": {"decision": "pass", "checks": []}},
            {"kind": "order", "ts": start + timedelta(milliseconds=10), **order,
             "payload": {"status": "NEW", "side": "BUY", "qty": 1}},
            {"kind": "fill", "ts": start + timedelta(milliseconds=30), **order,
             "payload": {"qty": 1, "price": 10.0, "status": "FILLED", "leaves_qty": 0}}]


def smoke_steps(folder: Path) -> Iterator[StepResult]:
    """Run the pipeline in `folder`, one step at a time; a step after a failure still runs."""
    journal = Journal(folder, max_bytes=4096, fsync="always")
    # In the past, so the heartbeat the tail step writes "now" comes last in time too.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=SMOKE_CHAINS + 5)
    expected = SMOKE_CHAINS * 4

    def write() -> str:
        records = journal.append(SMOKE_SESSION, _chain_events(0, start))
        _expect([r["seq"] for r in records] == [1, 2, 3, 4], f"seq {[r['seq'] for r in records]}")
        return f"4 events appended to {SMOKE_SESSION}.jsonl, seq 1..4"

    def rotate() -> str:
        for n in range(1, SMOKE_CHAINS):
            journal.append(SMOKE_SESSION, _chain_events(n, start + timedelta(seconds=n)))
        journal.flush()
        segments = archive_segments(folder, SMOKE_SESSION).get(SMOKE_SESSION, [])
        _expect(bool(segments), "no archive segment after writing past max_bytes")
        _expect(all(s.path.name.endswith(".gz") for s in segments), "a segment is not gzipped")
        return f"{len(segments)} gzipped segment(s) in archive/"

    def read() -> str:
        with open(folder / f"{SMOKE_SESSION}.jsonl", "ab") as fh:
            fh.write(b"{this line is broken\n")
        reader = read_events(folder, session_id=SMOKE_SESSION)
        seqs = [r["seq"] for r in reader]
        _expect(seqs == list(range(1, expected + 1)), f"read {len(seqs)} of {expected} in order")
        _expect(reader.stats.invalid == 1, f"{reader.stats.invalid} invalid lines, expected 1")
        return f"{expected} events across segments in seq order, 1 bad line counted"

    def summarise() -> str:
        summary = summarize_path(folder, session_id=SMOKE_SESSION)
        latency = summary["latency_ms"]["order_to_fill"]
        _expect(summary["event_count"] == expected, f"event_count {summary['event_count']}")
        _expect(summary["fill_rate"] == 1.0, f"fill rate {summary['fill_rate']}")
        _expect(latency["p50"] == 20.0, f"order->fill p50 {latency['p50']} ms, expected 20")
        return f"{expected} events, fill rate 100%, order->fill p50 20 ms"

    def tail() -> str:
        cursor = JournalCursor(folder, SMOKE_SESSION, after_seq=None)
        try:
            _expect(cursor.poll() == [], "a cursor at the end saw old events")
            journal.append(SMOKE_SESSION, [{"kind": "heartbeat",
                                            "payload": {"component": "smoke"}}])
            new = cursor.poll()
            _expect([r["seq"] for r in new] == [expected + 1], f"tail saw {new}")
        finally:
            cursor.close()
        return "a cursor at the end saw exactly the one new event"

    def replay_step() -> str:
        report = replay(read_events(folder, session_id=SMOKE_SESSION))
        cov = report.coverage
        _expect((cov.intents, cov.reached_order, cov.orders_filled) == (
            SMOKE_CHAINS, SMOKE_CHAINS, SMOKE_CHAINS), f"coverage {cov}")
        return f"{SMOKE_CHAINS} intent->order->fill chains complete"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("write", write), ("rotate", rotate), ("read", read), ("summarise", summarise),
        ("tail", tail), ("replay", replay_step)]
    try:
        for name, step in steps:
            try:
                yield StepResult(name, True, step())
            except Exception as err:  # noqa: BLE001 - a smoke test reports every failure
                yield StepResult(name, False, f"{type(err).__name__}: {err}")
    finally:
        journal.close()


@click.command("smoke", epilog=SMOKE_EPILOG)
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Run in a new folder under this one and keep it "
                                 "(default: a temporary folder, removed after).")
def smoke(folder: Path | None) -> None:
    """Exercise the logging pipeline in an isolated folder and print PASS/FAIL per step."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pt-smoke-")))
        else:
            folder.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="pt-smoke-", dir=folder))
        click.echo(f"smoke test in {work}")
        failed = 0
        for result in smoke_steps(work):
            failed += not result.passed
            click.echo(f"{'PASS' if result.passed else 'FAIL'}  {result.name:<10} "
                       f"{result.detail}")
        if folder is None:
            shutil.rmtree(work, ignore_errors=True)
    click.echo("smoke: all steps passed" if not failed else f"smoke: {failed} step(s) failed")
    if failed:
        raise SystemExit(EXIT_FAILED)


RETENTION_EPILOG = """\b
Only closed sessions are touched: never the active paper session, never the desk
journal, never a file outside the journal root; a folder that does not look like a
journal is refused. `plan` prints exactly what `apply` does.
Exit codes:
  0  done
  2  the journal root was refused, or a bad option"""


def retention_options(command: Any) -> Any:
    for option in reversed((
            click.option("--path", type=click.Path(file_okay=False, path_type=Path),
                         default=None, help="Journal root (default: the configured log_dir)."),
            click.option("--days", type=click.IntRange(min=1), default=None,
                         help="Purge closed sessions last written more than this many days "
                              "ago (default: [retention] days, 14)."),
            click.option("--max-mb", type=click.FloatRange(min=0, min_open=True), default=None,
                         help="Also purge the oldest closed sessions while the journal is "
                              "larger than this."),
            click.option("--keep-last", type=click.IntRange(min=0), default=0,
                         show_default=True,
                         help="Never purge the N most recently written closed sessions."))):
        command = option(command)
    return command


@click.group("retention", epilog=RETENTION_EPILOG)
def retention() -> None:
    """Gzip and purge closed sessions (plan first, then apply)."""


def _plan(path: Path | None, days: int | None, max_mb: float | None, keep_last: int):
    config = configured()
    root = path or Path(config["log_dir"])
    try:
        active = active_session_id(root) if root.is_dir() else None
        plan = plan_retention(root, active_session=active,
                              days=days or config["retention"]["days"], max_mb=max_mb,
                              keep_last=keep_last)
    except (NotAJournal, ValueError) as err:
        click.echo(f"refused: {err}", err=True)
        raise SystemExit(EXIT_REFUSED) from None
    return plan, active


@retention.command("plan", epilog=RETENTION_EPILOG)
@retention_options
def retention_plan(path: Path | None, days: int | None, max_mb: float | None,
                   keep_last: int) -> None:
    """Print what `retention apply` would do, changing nothing."""
    plan, _ = _plan(path, days, max_mb, keep_last)
    for line in plan.lines():
        click.echo(line)


@retention.command("apply", epilog=RETENTION_EPILOG)
@retention_options
def retention_apply(path: Path | None, days: int | None, max_mb: float | None,
                    keep_last: int) -> None:
    """Gzip and purge closed sessions as `retention plan` prints."""
    plan, active = _plan(path, days, max_mb, keep_last)
    for line in plan.lines():
        click.echo(line)
    result = apply_retention(plan, active_session=active_session_id(plan.root) or active)
    for line in result.done + result.skipped:
        click.echo(line)
    click.echo(f"journal {plan.root}: {result.bytes_before:,} B before, "
               f"{result.bytes_after:,} B after")


RULE_LINES = "\n".join(f"  {rule:<19} {severity}  {what}"
                       for rule, (severity, what) in RULES.items())
ALERTS_EPILOG = """\b
Rules:
""" + RULE_LINES + """
Thresholds and sinks: [alerts] in the configuration. Firings, acknowledgements
and snoozes are `alert` events in the desk journal.
Exit codes:
  0  nothing firing (check), or done
  1  at least one alert firing (check)
  2  unknown alert id or rule, or a bad option"""


@contextlib.contextmanager
def open_alerts() -> Iterator[AlertDesk]:
    """An alert desk on the configured journal, with the desk's controls and active session."""
    config = configured()
    journal = Journal.from_config(config)
    desk = Desk.from_config(config, journal)
    try:
        yield AlertDesk.from_config(config, journal,
                                    active_session=lambda: active_session_id(journal),
                                    controls=desk.controls)
    finally:
        desk.close()
        journal.close()


@click.group("alerts", epilog=ALERTS_EPILOG)
def alerts() -> None:
    """Evaluate, list, acknowledge and snooze alerts."""


@alerts.command("check", epilog=ALERTS_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print findings and deliveries as JSON.")
def alerts_check(as_json: bool) -> None:
    """Evaluate every rule once; journal and deliver what changed."""
    with open_alerts() as alert_desk:
        decision = alert_desk.check()
    if as_json:
        click.echo(orjson.dumps({"findings": [f.__dict__ for f in decision.findings],
                                 "journaled": list(decision.journaled),
                                 "delivered": list(decision.deliveries)},
                                option=orjson.OPT_INDENT_2).decode())
    else:
        for f in decision.findings:
            click.echo(f"FIRING  {f.severity}  {f.rule:<18} {f.message}")
        for payload in decision.deliveries:
            click.echo(f"sent    {payload['state']} {payload['alert_id']} ({payload['rule']})")
        if not decision.findings:
            click.echo("ok: no alert firing")
    if decision.findings:
        raise SystemExit(EXIT_FAILED)


@alerts.command("list", epilog=ALERTS_EPILOG)
@click.option("--all", "show_all", is_flag=True, help="Include resolved alerts.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def alerts_list(show_all: bool, as_json: bool) -> None:
    """Open alerts (and resolved ones with --all), and the rules snoozed now."""
    config = configured()
    book = read_book(Path(config["log_dir"]))
    incidents = [i for i in book.incidents.values() if show_all or i.resolved_at is None]
    now = format_ts(datetime.now(UTC))
    snoozes = {rule: until for rule, until in book.snoozed_until.items() if until > now}
    if as_json:
        click.echo(orjson.dumps({"alerts": [i.to_dict() for i in incidents],
                                 "snoozed": snoozes}, option=orjson.OPT_INDENT_2).decode())
        return
    for i in incidents:
        state = f"resolved {i.resolved_at}" if i.resolved_at else \
            f"acked by {i.acked_by}" if i.acked_by else "OPEN"
        click.echo(f"{i.alert_id}  {i.severity}  {i.rule:<18} {state:<20} since {i.opened_at}"
                   f"  {i.message}")
    for rule, until in snoozes.items():
        click.echo(f"snoozed {rule} until {until}")
    if not incidents and not snoozes:
        click.echo("no open alerts")


@alerts.command("ack", epilog=ALERTS_EPILOG)
@click.argument("alert_id")
@click.option("--reason", default=None, help="Why (journaled with the actor).")
def alerts_ack(alert_id: str, reason: str | None) -> None:
    """Acknowledge open alert ALERT_ID: it stops re-notifying until it resolves."""
    with open_alerts() as alert_desk:
        try:
            alert_desk.acknowledge(alert_id, actor=os_user(), reason=reason)
        except AlertError as err:
            click.echo(str(err), err=True)
            raise SystemExit(EXIT_REFUSED) from None
    click.echo(f"acknowledged {alert_id} as {os_user()}")


@alerts.command("snooze", epilog=ALERTS_EPILOG)
@click.argument("rule", metavar="RULE")
@click.option("--minutes", type=float, required=True, help="How long to mute the rule.")
@click.option("--reason", default=None, help="Why (journaled with the actor).")
def alerts_snooze(rule: str, minutes: float, reason: str | None) -> None:
    """Mute delivery of RULE's new alerts for some minutes (still journaled)."""
    with open_alerts() as alert_desk:
        try:
            record = alert_desk.snooze(rule, minutes, actor=os_user(), reason=reason)
        except AlertError as err:
            click.echo(str(err), err=True)
            raise SystemExit(EXIT_REFUSED) from None
    click.echo(f"snoozed {rule} until {record['payload']['until']}")


COMMANDS: list[click.Command] = [smoke, retention, alerts]

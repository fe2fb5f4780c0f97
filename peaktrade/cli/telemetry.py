"""`peaktrade telemetry ...`: read, summarise, follow and export journals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from peaktrade.events import InvalidSessionId, validate_session_id
from peaktrade.journal import read_events
from peaktrade.telemetry.summary import SummaryBuilder

EXIT_NO_LOGS = 2


@click.group("telemetry")
def group() -> None:
    """Read execution journals: summary, view, tail, export, replay."""


def path_option(command: Any) -> Any:
    """--path: a journal folder or one .jsonl / .jsonl.gz file (default: the configured one)."""
    return click.option("--path", "path", type=click.Path(path_type=Path), default=None,
                        help="Journal folder or file (default: the configured log_dir).")(command)


def session_option(command: Any) -> Any:
    """--session: limit the read to one session id."""
    return click.option("--session", "session_id", default=None,
                        help="Only this session.")(command)


def resolve_path(path: Path | None) -> Path:
    """The journal path to read: the given one, else the configured log_dir."""
    if path is not None:
        return path
    from peaktrade.config import ConfigError, load_config

    try:
        return Path(load_config()["log_dir"])
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def require_logs(path: Path, session_id: str | None) -> None:
    """Exit 2 with a message when there is nothing to read at the path."""
    if session_id is not None:
        try:
            validate_session_id(session_id)
        except InvalidSessionId as err:
            raise click.BadParameter(str(err), param_hint="--session") from None
    if not path.exists():
        click.echo(f"no journal found at {path}", err=True)
        raise SystemExit(EXIT_NO_LOGS)
    if not read_events(path, session_id=session_id).files():
        where = f"session {session_id!r} in {path}" if session_id else str(path)
        click.echo(f"no journal files found for {where}", err=True)
        raise SystemExit(EXIT_NO_LOGS)


@group.command("summary")
@path_option
@session_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(path: Path | None, session_id: str | None, as_json: bool) -> None:
    """Summarise a journal: counts, latency, fill rate, vetoes, strategies."""
    path = resolve_path(path)
    require_logs(path, session_id)
    reader = read_events(path, session_id=session_id)
    result = SummaryBuilder().add_all(reader).result(reader.stats)
    if as_json:
        click.echo(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_summary(result))


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a plain-text report with aligned tables."""
    lines = summary["lines"]
    out = [
        f"events      {summary['event_count']:,}",
        f"sessions    {', '.join(summary['sessions']) or '-'}",
        f"symbols     {', '.join(summary['symbols']) or '-'}",
        f"time range  {summary['first_ts'] or '-'} .. {summary['last_ts'] or '-'}",
        f"lines       {lines['total']:,} total, {lines['valid']:,} valid, "
        f"{lines['invalid']:,} invalid, {lines['blank']:,} blank "
        f"(error rate {_pct(summary['error_rate'])})",
        f"fill rate   {_pct(summary['fill_rate'])}",
        "",
        "kind        count",
    ]
    out += [f"{kind:<11} {count:>5,}" for kind, count in summary["kind_counts"].items()]
    out += ["", f"{'latency ms':<16} {'n':>6} {'unmatched':>9} {'min':>9} {'p50':>9} "
                f"{'p90':>9} {'p95':>9} {'p99':>9} {'max':>9}"]
    for name, stats in summary["latency_ms"].items():
        out.append(f"{name:<16} {stats['n']:>6,} {stats['unmatched']:>9,} "
                   + " ".join(f"{_num(stats[key]):>9}"
                              for key in ("min", "p50", "p90", "p95", "p99", "max")))
    vetoes = summary["vetoes"]
    out += ["", f"vetoes      {vetoes['count']:,}"]
    out += [f"  {reason['code']:<20} {reason['count']:>6,}" for reason in vetoes["top_reasons"]]
    if summary["strategies"]:
        out += ["", f"{'strategy':<20} {'attempted':>9} {'vetoed':>7} {'executed':>8} "
                    f"{'fill rate':>9}"]
        out += [f"{name:<20} {s['attempted']:>9,} {s['vetoed']:>7,} {s['executed']:>8,} "
                f"{_pct(s['fill_rate']):>9}" for name, s in summary["strategies"].items()]
    return "\n".join(out)

"""`peaktrade telemetry ...`: read, summarise, follow and export journals."""

from __future__ import annotations

import contextlib
import gzip
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

from peaktrade.events import (
    KINDS,
    InvalidSessionId,
    canonical_ts,
    parse_line,
    validate_session_id,
)
from peaktrade.journal import JournalCursor, LineStats, read_events
from peaktrade.journal.reader import Filter, iter_lines
from peaktrade.telemetry.describe import describe
from peaktrade.telemetry.export import csv_chunks, export_file_name, jsonl_chunks, timeline_item
from peaktrade.telemetry.replay import Replay, ReplayReport, replay_journal
from peaktrade.telemetry.summary import summarize_path

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
    result = summarize_path(path, session_id=session_id)
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


EXIT_ERROR_RATE = 3
VIEW_EPILOG = """\b
Exit codes:
  0  logs read, error rate at or below --max-error-rate
  2  no journal found at --path (or no files for --session), or a bad option
  3  error rate (invalid / non-blank lines) above --max-error-rate
With --no-summary the error rate covers only the lines read for the timeline."""
TIME_FORMATS = ("ISO-8601 such as 2026-01-05T14:30:00Z, 2026-01-05T14:30:00.250+00:00 or "
                "2026-01-05 (naive times are UTC), or epoch seconds such as 1767623400")


class TimeParam(click.ParamType):
    """A point in time for --from / --to, in the journal's canonical form."""

    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        try:
            return canonical_ts(float(value) if _is_number(value) else value)
        except (ValueError, TypeError, OverflowError):
            self.fail(f"{value!r} is not a time; use {TIME_FORMATS}", param, ctx)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class KindParam(click.ParamType):
    """One event kind or a comma-separated list of them."""

    name = "KIND[,KIND]"

    def convert(self, value: Any, param: Any, ctx: Any) -> str:
        unknown = [k for k in str(value).split(",") if k and k not in KINDS]
        if unknown:
            self.fail(f"unknown kind {', '.join(unknown)}; kinds: {', '.join(KINDS)}",
                      param, ctx)
        return str(value)


def filter_options(command: Any) -> Any:
    """--kind, --symbol, --strategy, --from, --to: the filters every read command takes."""
    for option in reversed((
            click.option("--kind", type=KindParam(), default=None,
                         help=f"Only these kinds ({', '.join(KINDS)}); comma-separated."),
            click.option("--symbol", default=None, help="Only this symbol (comma-separated)."),
            click.option("--strategy", default=None, help="Only this strategy."),
            click.option("--from", "since", type=TimeParam(), default=None,
                         help="Only events at or after this time (UTC)."),
            click.option("--to", "until", type=TimeParam(), default=None,
                         help="Only events at or before this time (UTC)."))):
        command = option(command)
    return command


def timeline_line(rec: dict) -> str:
    """One timeline row: time, session, seq, kind, symbol and the web's description."""
    return (f"{rec['ts']}  {rec['session_id'] or '-'}#{rec['seq']:<6} {rec['kind']:<9} "
            f"{rec['symbol'] or '-':<10} {describe(rec)}")


@group.command("view", epilog=VIEW_EPILOG)
@path_option
@session_option
@filter_options
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Timeline rows: the newest N matching events, printed oldest first.")
@click.option("--summary/--no-summary", default=True, show_default=True,
              help="Print the summary of every matching event after the timeline.")
@click.option("--json", "as_json", is_flag=True, help="Print {timeline, summary, count} as JSON.")
@click.option("--max-error-rate", type=click.FloatRange(min=0, max=1), default=0.05,
              show_default=True, help="Exit 3 when invalid / non-blank lines exceed this.")
def view(path: Path | None, session_id: str | None, kind: str | None, symbol: str | None,
         strategy: str | None, since: str | None, until: str | None, limit: int,
         summary: bool, as_json: bool, max_error_rate: float) -> None:
    """Timeline (newest last) and summary of a journal folder or file."""
    path = resolve_path(path)
    require_logs(path, session_id)
    filters = {"session_id": session_id, "kind": kind, "symbol": symbol, "strategy": strategy,
               "since": since, "until": until}
    latest = read_events(path, limit=limit, newest_first=True, **filters)
    timeline = list(latest)
    timeline.reverse()
    stats = latest.stats
    result = None
    if summary:
        result = summarize_path(path, **filters)
        stats = LineStats(**result["lines"])
    if as_json:
        body = {"timeline": [timeline_item(r) for r in timeline], "summary": result,
                "count": len(timeline)}
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        for rec in timeline:
            click.echo(timeline_line(rec))
        if not timeline:
            click.echo("no events match the filters", err=True)
        if result is not None:
            click.echo("")
            click.echo(format_summary(result))
    if stats.error_rate > max_error_rate:
        click.echo(f"error rate {stats.error_rate:.1%} ({stats.invalid} invalid of "
                   f"{stats.total - stats.blank} non-blank lines) is above "
                   f"--max-error-rate {max_error_rate:.1%}", err=True)
        raise SystemExit(EXIT_ERROR_RATE)


TAIL_EPILOG = """\b
Exit codes:
  0  done (or interrupted with Ctrl-C while following)
  2  no journal found, or no session to follow"""


@group.command("tail", epilog=TAIL_EPILOG)
@path_option
@session_option
@filter_options
@click.option("-n", "--lines", "count", type=click.IntRange(min=0), default=20,
              show_default=True, help="Print the newest N matching events first.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=0.5, show_default=True,
              help="Seconds between polls while following.")
@click.option("--stop-after", type=click.FloatRange(min=0), default=None,
              help="Stop following after this many seconds (default: until Ctrl-C).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
def tail(path: Path | None, session_id: str | None, kind: str | None, symbol: str | None,
         strategy: str | None, since: str | None, until: str | None, count: int,
         follow: bool, interval: float, stop_after: float | None, as_json: bool) -> None:
    """Print a session's newest events, and follow it live with -f."""
    path = resolve_path(path)
    root, session_id = follow_target(path, session_id)
    require_logs(root, session_id)
    keep = Filter(kind=kind, symbol=symbol, strategy=strategy, since=since, until=until)
    cursor = JournalCursor(root, session_id, after_seq=None)
    try:
        backlog = read_events(root, session_id=session_id, limit=count, newest_first=True,
                              where=lambda r: r["seq"] <= cursor.last_seq and keep(r))
        for rec in reversed(list(backlog)):
            _print_record(rec, as_json)
        if follow:
            _follow(cursor, keep, interval, stop_after, as_json)
    finally:
        cursor.close()


def _follow(cursor: JournalCursor, keep: Filter, interval: float, stop_after: float | None,
            as_json: bool) -> None:
    """Print what the cursor brings until Ctrl-C or the deadline."""
    deadline = None if stop_after is None else time.monotonic() + stop_after
    with contextlib.suppress(KeyboardInterrupt):
        while deadline is None or time.monotonic() < deadline:
            for rec in cursor.poll():
                if keep(rec):
                    _print_record(rec, as_json)
            sys.stdout.flush()
            time.sleep(interval)


def follow_target(path: Path, session_id: str | None) -> tuple[Path, str]:
    """(journal root, session) to follow: a file names both; a folder needs a session."""
    if path.is_file():
        sid = session_id or path.name.split(".jsonl")[0]
        return path.parent, sid
    if session_id is not None:
        return path, session_id
    from peaktrade.execution import active_session_id

    active = active_session_id(path) if path.is_dir() else None
    if active is None:
        click.echo(f"no active session in {path}; name one with --session", err=True)
        raise SystemExit(EXIT_NO_LOGS)
    return path, active


def _print_record(rec: dict, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(timeline_item(rec)).decode())
    else:
        click.echo(timeline_line(rec))


PROGRESS_MIN_BYTES = 20_000_000  # below this a replay ends before a bar would help
PROGRESS_STEP = 10_000
REPLAY_EPILOG = """\b
Exit codes:
  0  replayed
  2  no journal found at --path (or no files for --session)"""


@group.command("replay", epilog=REPLAY_EPILOG)
@path_option
@session_option
@filter_options
@click.option("--no-fill-after", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Seconds after which an order without a fill is late.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the report as JSON to this file ('-': stdout).")
@click.option("--chains", "chains_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write every intent->order->fill chain as JSON lines here.")
def replay_command(path: Path | None, session_id: str | None, kind: str | None,
                   symbol: str | None, strategy: str | None, since: str | None,
                   until: str | None, no_fill_after: float, json_out: Path | None,
                   chains_out: Path | None) -> None:
    """Rebuild intent -> verdict -> order -> fill chains: coverage and latency per hop."""
    path = resolve_path(path)
    require_logs(path, session_id)
    filters = {"session_id": session_id, "kind": kind, "symbol": symbol, "strategy": strategy,
               "since": since, "until": until}
    if chains_out is None:
        with contextlib.ExitStack() as stack:
            report = replay_journal(path, no_fill_after_s=no_fill_after,
                                    wrap=_progress_bar(stack), **filters)
    else:
        report = _replay_with_chains(path, filters, no_fill_after, chains_out)
    data = report.to_dict()
    if json_out is not None:
        encoded = orjson.dumps(data, option=orjson.OPT_INDENT_2)
        if str(json_out) == "-":
            click.echo(encoded.decode())
            return
        json_out.write_bytes(encoded + b"\n")
    click.echo(format_replay(data))


def _replay_with_chains(path: Path, filters: dict[str, Any], no_fill_after: float,
                        chains_out: Path) -> ReplayReport:
    """Replay in this process, writing every chain as a JSON line as it ends."""
    reader = read_events(path, **filters)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(open(chains_out, "wb"))
        engine = Replay(no_fill_after_s=no_fill_after, on_chain=lambda chain: out.write(
            orjson.dumps(chain.to_dict(), option=orjson.OPT_APPEND_NEWLINE)))
        size = sum(f.stat().st_size for _, files in reader.files() for f in files)
        wrap = _progress_bar(stack)
        engine.feed_all(reader if wrap is None else wrap(reader, size))
        return engine.report(reader.stats)


def _progress_bar(stack: contextlib.ExitStack) -> Any:
    """On a terminal, a wrap that shows a progress bar over large inputs; else None."""
    if not sys.stdout.isatty():
        return None

    def wrap(records: Any, size: int) -> Any:
        if size < PROGRESS_MIN_BYTES:
            return records
        return stack.enter_context(click.progressbar(
            records, label=f"replaying {size / 1e6:,.0f} MB", show_pos=True,
            update_min_steps=PROGRESS_STEP, file=sys.stderr))

    return wrap


def format_replay(report: dict[str, Any]) -> str:
    """The replay report as plain text: coverage, latency per hop, per symbol/strategy."""
    cov = report["coverage"]
    lines = report["lines"]
    out = [
        f"events      {report['events']:,} in {', '.join(report['sessions']) or '-'}",
        f"time range  {report['first_ts'] or '-'} .. {report['last_ts'] or '-'}",
        f"lines       {lines['invalid']:,} invalid of {lines['total'] - lines['blank']:,} "
        f"(error rate {_pct(lines['error_rate'])})",
        "",
        f"intents     {cov['intents']:,}  vetoed {cov['vetoed']:,}  reached an order "
        f"{cov['reached_order']:,} ({_pct(cov['order_rate'])} of those not vetoed)",
        f"orders      {cov['orders']:,}  filled {cov['orders_filled']:,} "
        f"({_pct(cov['fill_rate'])})  fully {cov['orders_fully_filled']:,}  cancelled "
        f"{cov['orders_cancelled']:,}  rejected {cov['orders_rejected']:,}  without fill "
        f"{cov['orders_without_fill']:,}",
        f"no fill after {cov['no_fill_after_s']:g} s: {cov['orders_no_fill_after_n']:,} order(s)",
        "",
        f"{'latency s':<16} {'n':>7} {'unmatched':>9} {'min':>9} {'p50':>9} {'p90':>9} "
        f"{'p95':>9} {'p99':>9} {'max':>9}",
    ]
    for hop, stats in report["latency"].items():
        out.append(_latency_row(hop, stats))
    for title, groups in (("symbol", report["per_symbol"]),
                          ("strategy", report["per_strategy"])):
        if not groups:
            continue
        out += ["", f"{title:<16} {'intents':>7} {'vetoed':>7} {'orders':>7} {'filled':>7} "
                    f"{'fill rate':>9} {'p95 i->o':>9} {'p95 o->f':>9}"]
        for name, g in groups.items():
            out.append(f"{name:<16} {g['intents']:>7,} {g['vetoed']:>7,} {g['orders']:>7,} "
                       f"{g['filled']:>7,} {_pct(g['fill_rate']):>9} "
                       f"{_num(g['intent_to_order']['p95'], 3):>9} "
                       f"{_num(g['order_to_fill']['p95'], 3):>9}")
    if report["unfilled_orders"]:
        out += ["", f"orders without a fill within {cov['no_fill_after_s']:g} s "
                    f"(first {len(report['unfilled_orders'])}):"]
        out += [f"  {u['placed_at']}  {u['session_id']}  {u['order_id']}  {u['symbol']}  "
                f"{u['status']}  waited {u['waited_s']:.3f} s" for u in report["unfilled_orders"]]
    return "\n".join(out)


def _latency_row(name: str, stats: dict[str, Any]) -> str:
    return (f"{name:<16} {stats['n']:>7,} {stats['unmatched']:>9,} "
            + " ".join(f"{_num(stats[k], 3):>9}" for k in ("min", "p50", "p90", "p95", "p99",
                                                          "max")))


CHECK_EPILOG = """\b
Prints every invalid line (file:line and the start of the line), every event whose
time is earlier than the event before it, and seq numbers that repeat or skip.
Exit codes:
  0  no problem found
  2  no journal found at --path (or no files for --session)
  3  invalid lines, timestamps out of order, or seq problems found"""
EXCERPT_CHARS = 80


@group.command("check", epilog=CHECK_EPILOG)
@path_option
@session_option
@click.option("--max-shown", type=click.IntRange(min=1), default=50, show_default=True,
              help="Print at most this many problems per kind.")
def check(path: Path | None, session_id: str | None, max_shown: int) -> None:
    """Find bad lines, timestamps out of order and seq gaps, file by file."""
    path = resolve_path(path)
    require_logs(path, session_id)
    found = {"invalid line": 0, "time out of order": 0, "seq problem": 0}
    for sid, files in read_events(path, session_id=session_id).files():
        last_ts, last_seq = None, None
        for file in files:
            for line_no, line, rec in file_lines(file, sid):
                where = f"{file}:{line_no}"
                if rec is None:
                    problem, text = "invalid line", _excerpt(line)
                elif last_ts is not None and rec["ts"] < last_ts:
                    problem, text = "time out of order", f"{rec['ts']} is before {last_ts}"
                elif last_seq is not None and rec["v"] and rec["seq"] != last_seq + 1:
                    problem, text = "seq problem", f"seq {rec['seq']} after {last_seq}"
                else:
                    problem = None
                if rec is not None:
                    last_ts, last_seq = rec["ts"], rec["seq"] if rec["v"] else None
                if problem is None:
                    continue
                found[problem] += 1
                if found[problem] <= max_shown:
                    click.echo(f"{where}: {problem}: {text}")
    click.echo(", ".join(f"{count} {name}(s)" for name, count in found.items()))
    if any(found.values()):
        raise SystemExit(EXIT_ERROR_RATE)


def file_lines(path: Path, session_id: str | None) -> Iterator[tuple[int, bytes, dict | None]]:
    """(line number, line, record or None) of every non-blank line of a journal file."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for line_no, line in enumerate(iter_lines(fh), 1):
            if line is None:
                yield line_no, b"<line longer than the reader's limit>", None
            elif line.strip():
                yield line_no, line, parse_line(line, line_no, session_id)


def _excerpt(line: bytes) -> str:
    text = line[:EXCERPT_CHARS].decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("..." if len(line) > EXCERPT_CHARS else "")


EXPORT_EPILOG = """\b
CSV columns: ts, kind, symbol, session_id, description, details (the payload as JSON).
JSON: one timeline item per line (every field plus its description).
Exit codes:
  0  exported
  2  no journal found at --path (or no files for --session), or a bad option"""


@group.command("export", epilog=EXPORT_EPILOG)
@path_option
@session_option
@filter_options
@click.option("--csv", "fmt", flag_value="csv", default=True, help="CSV (the default).")
@click.option("--json", "fmt", flag_value="json", help="JSON lines.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Only the newest N matching events (still written oldest first).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write to this file, or into this folder as "
                   "telemetry_<session>_<kind>.<csv|jsonl> (default: stdout).")
def export(path: Path | None, session_id: str | None, kind: str | None, symbol: str | None,
           strategy: str | None, since: str | None, until: str | None, fmt: str,
           limit: int | None, out: Path | None) -> None:
    """Export matching events as CSV or JSON lines, streamed in constant memory."""
    path = resolve_path(path)
    require_logs(path, session_id)
    filters = {"session_id": session_id, "kind": kind, "symbol": symbol,
               "strategy": strategy, "since": since, "until": until}
    records: Any = read_events(path, **filters)
    if limit is not None:
        records = list(read_events(path, limit=limit, newest_first=True, **filters))
        records.reverse()
    chunks: Any = (c.encode() for c in csv_chunks(records)) if fmt == "csv" \
        else jsonl_chunks(records)
    if out is None:
        stream = click.get_binary_stream("stdout")
        for chunk in chunks:
            stream.write(chunk)
        stream.flush()
        return
    if out.is_dir():
        kinds = kind.split(",") if kind else None
        out = out / export_file_name(session_id, kinds, "csv" if fmt == "csv" else "jsonl")
    with open(out, "wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    click.echo(f"wrote {out}", err=True)

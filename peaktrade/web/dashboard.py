"""The dashboard: heartbeat banner, open alerts, KPI tiles, veto reasons, controls state.

Figures come from a per-process window of the active session: its newest records when
the dashboard is first opened, then every record the journal gains. The window holds
between WINDOW_RECORDS and twice that many of the newest events (it is rebuilt from the
newest WINDOW_RECORDS when it reaches twice), so a render never sorts an unbounded
history and nothing rescans a large session per request. Open alerts are read from the
desk journal again only when that file changed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template

from peaktrade.events import DESK_SESSION, format_ts
from peaktrade.journal import JournalCursor, LineStats, active_path, read_events
from peaktrade.journal.tail import Subscription
from peaktrade.telemetry.alerts import P1, P2, Incident, read_book
from peaktrade.telemetry.summary import SummaryBuilder
from peaktrade.web.context import get_broker, get_config, get_desk, get_journal
from peaktrade.web.stream import (
    STREAM_HEADERS,
    resume_seq,
    sse_data,
    stream_slots,
    too_many_streams,
)
from peaktrade.web.telemetry import active_session

bp = Blueprint("dashboard", __name__)

WINDOW_RECORDS = 10_000
CHART_MINUTES = 60
VETO_HOURS = 24
STALE_HEARTBEAT_S = 60.0
SLOW_HEARTBEAT_MS = 1000.0
UPDATE_INTERVAL_S = 0.5  # live tiles change at most twice a second
CONTROLS_CHECK_S = 1.0
ACTIVE_SESSION_CHECK_S = 2.0


@dataclass(frozen=True)
class Banner:
    """The heartbeat banner: green, amber or red, and why."""

    level: str
    reason: str


@dataclass
class _Heartbeat:
    component: str
    status: str
    lag_ms: float
    ts: str


def _acknowledges(rec: dict) -> bool:
    """An order event that is a live broker's acknowledgement of an order already placed."""
    return rec["kind"] == "order" and "broker_order_id" in (rec["payload"] or ())


@dataclass
class SessionPulse:
    """Incremental figures of one session: the whole window, per minute and per hour."""

    root: Path
    session_id: str
    window: SummaryBuilder = field(default_factory=SummaryBuilder)
    recent: deque[dict] = field(default_factory=lambda: deque(maxlen=WINDOW_RECORDS))
    in_window: int = 0
    minutes: dict[str, SummaryBuilder] = field(default_factory=dict)
    hour_vetoes: dict[str, Counter[str]] = field(default_factory=dict)
    heartbeats: dict[str, _Heartbeat] = field(default_factory=dict)
    seed_stats: LineStats = field(default_factory=LineStats)
    acknowledgements: int = 0  # order events in the window that are no new order
    truncated: bool = False
    last_seq: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._rendered: tuple[Any, bytes] | None = None
        self._minute_p50: dict[str, tuple[int, float | None]] = {}
        self._cursor = JournalCursor(self.root, self.session_id, after_seq=None)
        self.last_seq = self._cursor.last_seq
        reader = read_events(self.root, session_id=self.session_id, newest_first=True,
                             limit=WINDOW_RECORDS,
                             where=lambda rec: rec["seq"] <= self.last_seq)
        seed = list(reader)
        self.seed_stats = reader.stats
        self.truncated = len(seed) >= WINDOW_RECORDS
        for rec in reversed(seed):
            self._add(rec)

    def refresh(self) -> None:
        """Take in what the journal gained since the last refresh."""
        with self.lock:
            for rec in self._cursor.poll():
                self._add(rec)
                self.last_seq = rec["seq"]

    def _add(self, rec: dict) -> None:
        self.recent.append(rec)
        self.window.add(rec)
        self.in_window += 1
        if _acknowledges(rec):
            self.acknowledgements += 1
        if self.in_window >= 2 * WINDOW_RECORDS:
            self.window = SummaryBuilder().add_all(self.recent)
            self.acknowledgements = sum(map(_acknowledges, self.recent))
            self.in_window = len(self.recent)
            self.truncated = True
        minute = rec["ts"][:16]
        builder = self.minutes.get(minute)
        if builder is None:
            builder = self.minutes[minute] = SummaryBuilder()
            for old in sorted(self.minutes)[:-CHART_MINUTES * 2]:
                del self.minutes[old]
                self._minute_p50.pop(old, None)
        builder.add(rec)
        if rec["kind"] == "gate" and rec["payload"].get("decision") == "block":
            hour = self.hour_vetoes.setdefault(rec["ts"][:13], Counter())
            code = rec["payload"].get("code")
            hour[code if isinstance(code, str) and code else "UNKNOWN"] += 1
            for old in sorted(self.hour_vetoes)[:-VETO_HOURS - 1]:
                del self.hour_vetoes[old]
        elif rec["kind"] == "heartbeat":
            payload = rec["payload"]
            component = str(payload.get("component") or rec["source"] or "desk")
            lag = payload.get("lag_ms")
            self.heartbeats[component] = _Heartbeat(
                component, str(payload.get("status") or "ok"),
                float(lag) if isinstance(lag, int | float) else 0.0, rec["ts"])

    def minute_latency(self, minute: str) -> float | None:
        """intent->order p50 of one minute, computed again only when the minute changed."""
        builder = self.minutes[minute]
        memo = self._minute_p50.get(minute)
        if memo is None or memo[0] != builder.event_count:
            p50 = builder.result()["latency_ms"]["intent_to_order"]["p50"]
            memo = self._minute_p50[minute] = (builder.event_count, p50)
        return memo[1]

    def close(self) -> None:
        """Let go of the journal file."""
        self._cursor.close()

    def line_stats(self) -> LineStats:
        stats = LineStats()
        stats.add(self.seed_stats)
        stats.add(self._cursor.stats)
        return stats

    def cached_render(self, key: Any, render: Any) -> bytes:
        """Render once per (last seq, controls) and share it with every open dashboard."""
        with self.lock:
            if self._rendered is not None and self._rendered[0] == key:
                return self._rendered[1]
        html = render()
        with self.lock:
            self._rendered = (key, html)
        return html


_PULSES: dict[tuple[Path, str], SessionPulse] = {}
_PULSES_LOCK = threading.Lock()


@dataclass(frozen=True)
class DeskAlerts:
    """The open alerts (P1 first, then the oldest) and the snoozes, as of one desk journal."""

    version: tuple[int, int, int] | None
    incidents: tuple[Incident, ...] = ()
    snoozed_until: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None


_ALERTS: dict[Path, DeskAlerts] = {}
_ALERTS_LOCK = threading.Lock()


def desk_alerts(root: Path) -> DeskAlerts:
    """Open alerts, read again only when the desk journal's inode, size or mtime changed."""
    try:
        st = active_path(root, DESK_SESSION).stat()
        version = (st.st_ino, st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        version = None
    except OSError as err:
        return DeskAlerts(None, problem=f"{type(err).__name__}: {err}")
    # One reader per change: the other dashboards of this process wait and share its result.
    with _ALERTS_LOCK:
        cached = _ALERTS.get(root)
        if cached is not None and cached.version == version:
            return cached
        try:
            book = read_book(root)
        except Exception as err:  # noqa: BLE001 - an unreadable alert shows on the panel, not a 500
            current_app.logger.exception("dashboard could not read the open alerts")
            return DeskAlerts(version, problem=f"{type(err).__name__}: {err}")
        alerts = _ALERTS[root] = DeskAlerts(version, tuple(book.open_incidents()),
                                            dict(book.snoozed_until))
        return alerts


def session_pulse(root: Path, session_id: str) -> SessionPulse:
    """This process's incremental figures of a session (seeded on first use)."""
    key = (root, session_id)
    with _PULSES_LOCK:
        pulse = _PULSES.get(key)
        if pulse is None:
            for old in [k for k in _PULSES if k[0] == root]:
                _PULSES.pop(old).close()  # the desk moved on to a new session
            pulse = _PULSES[key] = SessionPulse(root, session_id)
    pulse.refresh()
    return pulse


def release_pulses(root: Path) -> None:
    """Let go of this process's figures (and open files) and open alerts of a journal root."""
    with _PULSES_LOCK:
        for key in [k for k in _PULSES if k[0] == root]:
            _PULSES.pop(key).close()
    with _ALERTS_LOCK:
        _ALERTS.pop(root, None)


def desk_controls() -> dict[str, Any] | None:
    """Kill switch, QA block and breakers from the desk; None when they cannot be read."""
    try:
        return get_desk().controls()
    except Exception:  # noqa: BLE001 - an unreadable control state shows as red, not a 500
        current_app.logger.exception("dashboard could not read the desk controls")
        return None


def banner(controls: dict[str, Any] | None, pulse: SessionPulse | None,
           now: datetime, alerts: Sequence[Incident] = ()) -> Banner:
    """Red for a halted desk, a failing component or a P1 alert, amber for degraded."""
    if controls is None:
        return Banner("red", "Controls cannot be read: the desk counts as halted (fail closed)")
    kill = controls["kill_switch"]
    if kill["engaged"]:
        who = kill.get("actor") or kill.get("source") or "unknown"
        return Banner("red", f"Kill switch engaged ({kill.get('mode') or 'HALT'}) by {who}: "
                             f"{kill.get('reason') or 'no reason given'}")
    beats = list(pulse.heartbeats.values()) if pulse else []
    failing = [b for b in beats if b.status.lower() not in ("ok", "up", "healthy")]
    if failing:
        beat = failing[0]
        return Banner("red", f"Component {beat.component} reports {beat.status} "
                             f"(last heartbeat {beat.ts[11:19]} UTC)")
    p1 = [a for a in alerts if a.severity == P1]
    if p1:
        return _alert_banner("red", p1)
    tripped = [b for b in controls["breakers"] if b.get("tripped")]
    if tripped:
        first = tripped[0]
        return Banner("amber", f"Breaker {first['name']} tripped: {first.get('reason') or ''}"
                               f" (resets {first.get('resets_at') or 'on manual reset'})")
    if controls["qa_block"]["blocked"]:
        return Banner("amber", f"QA block: {controls['qa_block'].get('reason') or 'no reason'}")
    p2 = [a for a in alerts if a.severity == P2]
    if p2:
        return _alert_banner("amber", p2)
    stale_before = format_ts(now - timedelta(seconds=STALE_HEARTBEAT_S))
    stale = [b for b in beats if b.ts < stale_before]
    if stale:
        return Banner("amber", f"No heartbeat from {stale[0].component} since "
                               f"{stale[0].ts[11:19]} UTC")
    slow = [b for b in beats if b.lag_ms > SLOW_HEARTBEAT_MS]
    if slow:
        return Banner("amber", f"{slow[0].component} lags {slow[0].lag_ms:,.0f} ms")
    if beats:
        return Banner("green", f"All {len(beats)} components healthy; kill switch released")
    return Banner("green", "Desk up, kill switch released; no component heartbeats yet")


def _alert_banner(level: str, alerts: Sequence[Incident]) -> Banner:
    """The first alert nobody acknowledged yet (else the first), and how many more are open."""
    first = next((a for a in alerts if a.acked_by is None), alerts[0])
    acked = f" (acknowledged by {first.acked_by})" if first.acked_by else ""
    more = f" (+{len(alerts) - 1} more {first.severity} open)" if len(alerts) > 1 else ""
    return Banner(level, f"{first.severity} alert {first.rule}: {first.message}{acked}{more}")


def _alert_rows(alerts: DeskAlerts, now: datetime) -> list[dict[str, Any]]:
    """Each open alert with its state on the dashboard: open, acked or snoozed (until)."""
    now_ts = format_ts(now)
    rows = []
    for incident in alerts.incidents:
        until = alerts.snoozed_until.get(incident.rule)
        snoozed = until if until is not None and until > now_ts else None
        state = "acked" if incident.acked_by else "snoozed" if snoozed else "open"
        rows.append({"incident": incident, "state": state, "snoozed_until": snoozed})
    return rows


def _chart(pulse: SessionPulse | None, now: datetime) -> dict[str, Any]:
    """Events per minute and intent->order p50 per minute over the last hour, as SVG points."""
    minutes = [(now - timedelta(minutes=CHART_MINUTES - 1 - i)).strftime("%Y-%m-%dT%H:%M")
               for i in range(CHART_MINUTES)]
    counts, latencies = [], []
    for minute in minutes:
        builder = pulse.minutes.get(minute) if pulse else None
        counts.append(builder.event_count if builder else 0)
        latencies.append(pulse.minute_latency(minute) if pulse and builder else None)
    top_count = max(counts) or 1
    known = [v for v in latencies if v is not None]
    top_latency = max(known) if known else 0.0
    width, height, bar = 600, 120, 10
    bars = [{"x": i * bar, "y": height - round(c / top_count * height, 1),
             "h": round(c / top_count * height, 1), "count": c, "minute": minutes[i][11:]}
            for i, c in enumerate(counts)]
    points = " ".join(
        f"{i * bar + bar / 2},{height - (v / top_latency * height if top_latency else 0):.1f}"
        for i, v in enumerate(latencies) if v is not None)
    return {"width": width, "height": height, "bar": bar - 1, "bars": bars, "points": points,
            "top_count": top_count, "top_latency": top_latency,
            "first": minutes[0][11:], "last": minutes[-1][11:]}


def _vetoes_24h(pulse: SessionPulse | None, now: datetime) -> list[tuple[str, int]]:
    if pulse is None:
        return []
    since = (now - timedelta(hours=VETO_HOURS)).strftime("%Y-%m-%dT%H")
    total: Counter[str] = Counter()
    for hour, codes in pulse.hour_vetoes.items():
        if hour >= since:
            total.update(codes)
    return total.most_common(10)


def dashboard_context(session_id: str | None, controls: dict[str, Any] | None,
                      alerts: DeskAlerts) -> dict[str, Any]:
    """Everything the dashboard shows, from the session window, controls and open alerts."""
    now = datetime.now(UTC)
    pulse = session_pulse(get_journal().root, session_id) if session_id else None
    with pulse.lock if pulse else contextlib.nullcontext():
        summary = pulse.window.result(pulse.line_stats()) if pulse else None
        acknowledgements = pulse.acknowledgements if pulse else 0
        context = {
            "banner": banner(controls, pulse, now, alerts.incidents),
            "chart": _chart(pulse, now),
            "vetoes_24h": _vetoes_24h(pulse, now),
            "truncated": pulse.truncated if pulse else False,
            "last_seq": pulse.last_seq if pulse else 0,
        }
    kinds = summary["kind_counts"] if summary else {}
    return {
        **context, "session_id": session_id, "summary": summary, "controls": controls,
        "alerts": _alert_rows(alerts, now), "alerts_problem": alerts.problem,
        # executed counts orders: a live broker's acknowledgement is a second order event
        "tiles": {"attempted": kinds.get("intent", 0),
                  "executed": kinds.get("order", 0) - acknowledgements,
                  "vetoed": summary["vetoes"]["count"] if summary else 0,
                  "fills": kinds.get("fill", 0), "errors": kinds.get("error", 0)},
        "window_records": WINDOW_RECORDS, "updated": format_ts(now)[11:19],
    }


@bp.app_template_filter("ms")
def format_ms(value: float | None) -> str:
    """Milliseconds for a tile; a dash when there is no figure yet."""
    return "–" if value is None else f"{value:,.1f}"


@bp.app_template_filter("pct")
def format_pct(value: float | None) -> str:
    """A ratio as a percentage; a dash when there is no figure yet."""
    return "–" if value is None else f"{value * 100:.1f} %"


@bp.get("/")
def index():
    """Heartbeat banner, open alerts, KPI tiles, veto reasons, strategies, controls."""
    session_id = active_session()
    context = dashboard_context(session_id, desk_controls(), desk_alerts(get_journal().root))
    return render_template("dashboard.html", **context)


def _render_live(app: Flask, session_id: str | None) -> tuple[Any, bytes]:
    with app.app_context():
        controls = desk_controls()
        root = get_journal().root
        alerts = desk_alerts(root)
        pulse = session_pulse(root, session_id) if session_id else None
        key = (pulse.last_seq if pulse else 0, session_id, repr(controls),
               alerts.version, alerts.problem, time.strftime("%H:%M"))

        def render() -> bytes:
            context = dashboard_context(session_id, controls, alerts)
            html = render_template("_dashboard_live.html", oob=True, **context)
            return sse_data(html)

        data = pulse.cached_render(key, render) if pulse else render()
        return key, data


class _Follow:
    """The dashboard stream's view of the active session; it moves on after a session reset."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.session_id: str | None = None
        self.subscription: Subscription | None = None
        self.checked = 0.0

    def wait(self, timeout: float) -> None:
        """Until the session gains records, or `timeout`; re-reads which session is active."""
        if time.monotonic() - self.checked >= ACTIVE_SESSION_CHECK_S:
            self.checked = time.monotonic()
            with self.app.app_context():
                current = active_session()
                if current != self.session_id or self.subscription is None:
                    self.close()
                    self.session_id = current
                    if current is not None:
                        self.subscription = get_broker().subscribe(current)
        if self.subscription is None:
            time.sleep(timeout)
        else:
            self.subscription.next_batches(timeout=timeout)

    def close(self) -> None:
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None


@bp.get("/stream/dashboard")
def stream():
    """Live dashboard fragments over SSE, at most twice a second; follows session resets."""
    config = get_config()["web"]
    resume_seq(None)  # validates Last-Event-ID / since_seq; the dashboard sends its state
    slots = stream_slots()
    if not slots.take():
        return too_many_streams(slots)
    follow = _Follow(current_app._get_current_object())

    def generate() -> Iterator[bytes]:
        try:
            yield f"retry: {config['sse_retry_ms']}\n: connected\n\n".encode()
            sent_key = None
            last_keepalive = time.monotonic()
            while True:
                follow.wait(CONTROLS_CHECK_S)
                key, data = _render_live(follow.app, follow.session_id)
                if key != sent_key:
                    sent_key = key
                    last_keepalive = time.monotonic()
                    yield b"id: %d\n%s\n" % (key[0], data)
                    time.sleep(UPDATE_INTERVAL_S)
                elif time.monotonic() - last_keepalive >= config["sse_keepalive_s"]:
                    last_keepalive = time.monotonic()
                    yield b": keepalive\n\n"
        finally:
            follow.close()
            slots.give_back()

    return Response(generate(), mimetype="text/event-stream", headers=STREAM_HEADERS)

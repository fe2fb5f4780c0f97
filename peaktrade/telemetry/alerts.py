"""Alerting: rules over the journal, incidents kept in the desk journal, delivery to sinks.

Every alert fact is an `alert` event in the desk journal (`desk.jsonl`), told apart by
`payload.state`:

- `firing`   an incident opened (new `alert_id`) or was re-notified after the cooldown;
- `resolved` its condition cleared;
- `acked`    an operator acknowledged it (`alert_id`, actor, reason): no more re-notifications
             of that incident; a new incident, P1 or not, still notifies;
- `snoozed`  an operator muted a rule until `until` (new incidents of that rule are
             journaled but not delivered).

Evaluation decides under the desk journal's lock, so several processes (gunicorn workers,
`peaktrade alerts check`) never deliver one dedupe key twice within the cooldown, and
cooldown, acknowledgement and snooze survive restarts.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from peaktrade.events import DESK_SESSION, format_ts, parse_ts
from peaktrade.journal import Journal, JournalError, LineStats, read_events
from peaktrade.telemetry.health import journal_writable
from peaktrade.telemetry.replay import Chain, Replay

P1 = "P1"
P2 = "P2"
FIRING = "firing"
RESOLVED = "resolved"
ACKED = "acked"
SNOOZED = "snoozed"

ERROR_RATE = "error_rate"
ZERO_FILL_RATE = "zero_fill_rate"
LATENCY_P95 = "latency_p95"
SESSION_SILENT = "session_silent"
KILL_SWITCH = "kill_switch"
BREAKER_TRIPPED = "breaker_tripped"
JOURNAL_UNWRITABLE = "journal_unwritable"
RULES = {
    ERROR_RATE: (P1, "invalid journal lines above the threshold, sustained over the window"),
    ZERO_FILL_RATE: (P1, "orders outstanding and not one fill in the window"),
    LATENCY_P95: (P2, "p95 order->fill latency above the threshold in the window"),
    SESSION_SILENT: (P2, "the active session wrote nothing for too long"),
    KILL_SWITCH: (P1, "the kill switch is engaged (or its state cannot be read)"),
    BREAKER_TRIPPED: (P1, "a circuit breaker is tripped"),
    JOURNAL_UNWRITABLE: (P1, "the journal folder cannot be written"),
}

Controls = Mapping[str, Any]
ControlsReader = Callable[[], Controls]


class AlertError(ValueError):
    """An alert command got an argument it cannot act on."""


@dataclass(frozen=True)
class Thresholds:
    """The `[alerts]` limits the rules compare against (defaults live in the config only)."""

    error_rate_pct: float
    window_s: float
    latency_p95_s: float
    silence_minutes: float
    cooldown_s: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Thresholds:
        section = config["alerts"]
        return cls(error_rate_pct=section["error_rate_pct"],
                   window_s=section["error_rate_window_s"],
                   latency_p95_s=section["latency_p95_s"],
                   silence_minutes=section["silence_minutes"],
                   cooldown_s=section["cooldown_s"])


@dataclass(frozen=True)
class Observation:
    """What the rules look at, gathered from the journal at one moment."""

    now: datetime
    session_id: str | None
    journal_writable: bool = True
    journal_problem: str | None = None
    last_event_ts: str | None = None
    window_lines: LineStats = field(default_factory=LineStats)
    window_covered: bool = False
    window_orders: int = 0
    window_fills: int = 0
    outstanding_unfilled: int = 0
    order_to_fill_p95_s: float | None = None
    controls: Controls | None = None
    controls_problem: str | None = None


@dataclass(frozen=True)
class Finding:
    """A rule whose condition holds now; `key` dedupes it (rule + what it is about)."""

    rule: str
    severity: str
    key: str
    message: str


@dataclass
class Incident:
    """An alert as the desk journal tells it: open until resolved."""

    alert_id: str
    rule: str
    severity: str
    key: str
    message: str
    opened_at: str
    last_notified_at: str | None
    notifications: int = 0
    acked_by: str | None = None
    resolved_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AlertBook:
    """Incidents (open and resolved) and the snoozes in force, rebuilt from the journal."""

    incidents: dict[str, Incident]
    open_by_key: dict[str, Incident]
    snoozed_until: dict[str, str]

    def open_incidents(self) -> list[Incident]:
        """Open alerts for a page or a command: P1 first, then the oldest first."""
        return sorted(self.open_by_key.values(), key=lambda i: (i.severity, i.opened_at))


def evaluate_rules(obs: Observation, limits: Thresholds) -> list[Finding]:
    """Every rule whose condition holds in the observation."""
    found: list[Finding] = []
    sid = obs.session_id or "-"
    if not obs.journal_writable:
        found.append(_finding(JOURNAL_UNWRITABLE, "journal", obs.journal_problem
                              or "the journal folder cannot be written"))
    rate = obs.window_lines.error_rate * 100
    if obs.window_covered and rate > limits.error_rate_pct:
        found.append(_finding(ERROR_RATE, sid,
                              f"session {sid}: {rate:.1f}% invalid lines "
                              f"({obs.window_lines.invalid} of "
                              f"{obs.window_lines.total - obs.window_lines.blank}) over the last "
                              f"{limits.window_s:g} s, above {limits.error_rate_pct:g}%"))
    if obs.outstanding_unfilled and obs.window_fills == 0:
        found.append(_finding(ZERO_FILL_RATE, sid,
                              f"session {sid}: {obs.outstanding_unfilled} order(s) outstanding "
                              f"longer than {limits.latency_p95_s:g} s and no fill of "
                              f"{obs.window_orders} order(s) in the last {limits.window_s:g} s"))
    p95 = obs.order_to_fill_p95_s
    if p95 is not None and p95 > limits.latency_p95_s:
        found.append(_finding(LATENCY_P95, sid,
                              f"session {sid}: p95 order->fill {p95:.3f} s over the last "
                              f"{limits.window_s:g} s, above {limits.latency_p95_s:g} s"))
    if obs.session_id is not None:
        silent = _silent_for(obs)
        if silent is not None and silent > limits.silence_minutes * 60:
            found.append(_finding(SESSION_SILENT, sid,
                                  f"session {sid}: no event for {silent / 60:.1f} min "
                                  f"(last {obs.last_event_ts or 'never'}), above "
                                  f"{limits.silence_minutes:g} min"))
    found.extend(_control_findings(obs))
    return found


def _finding(rule: str, about: str, message: str) -> Finding:
    return Finding(rule, RULES[rule][0], f"{rule}:{about}", message)


def _silent_for(obs: Observation) -> float | None:
    if obs.last_event_ts is None:
        return None
    return (obs.now - parse_ts(obs.last_event_ts)).total_seconds()


def _control_findings(obs: Observation) -> list[Finding]:
    if obs.controls_problem is not None:
        return [_finding(KILL_SWITCH, "desk", "kill switch state cannot be read, counting it "
                                              f"as engaged: {obs.controls_problem}")]
    if obs.controls is None:
        return []
    out = []
    kill = obs.controls.get("kill_switch") or {}
    if kill.get("engaged"):
        out.append(_finding(KILL_SWITCH, "desk",
                            f"kill switch engaged ({kill.get('mode') or 'HALT'}) by "
                            f"{kill.get('actor') or kill.get('source') or 'unknown'} since "
                            f"{kill.get('since') or '?'}: {kill.get('reason') or 'no reason'}"))
    for breaker in obs.controls.get("breakers") or ():
        if breaker.get("tripped"):
            out.append(_finding(BREAKER_TRIPPED, str(breaker.get("name")),
                                f"breaker {breaker.get('name')} tripped: "
                                f"{breaker.get('reason') or ''} (value {breaker.get('value')}, "
                                f"limit {breaker.get('limit')}), resets at "
                                f"{breaker.get('resets_at') or 'manual reset'}"))
    return out


def observe(root: Path, session_id: str | None, limits: Thresholds, *, now: datetime,
            controls: ControlsReader | None = None) -> Observation:
    """Read the active session's recent window and the desk controls."""
    writable, problem = journal_writable(root)
    controls_data, controls_problem = None, None
    if controls is not None:
        try:
            controls_data = controls()
        except Exception as err:  # noqa: BLE001 - fail closed: unreadable means engaged
            controls_problem = f"{type(err).__name__}: {err}"
    base = Observation(now=now, session_id=session_id, journal_writable=writable,
                       journal_problem=problem, controls=controls_data,
                       controls_problem=controls_problem)
    if session_id is None:
        return base
    since = format_ts(now - timedelta(seconds=limits.window_s))
    reader = read_events(root, session_id=session_id, newest_first=True)
    window: list[dict] = []
    covered = False
    last_ts = None
    for rec in reader:
        if last_ts is None:
            last_ts = rec["ts"]
        if rec["ts"] < since:
            covered = True
            break
        window.append(rec)
    window.reverse()
    open_chains: list[Chain] = []
    engine = Replay(no_fill_after_s=limits.latency_p95_s,
                    on_chain=lambda c: open_chains.append(c) if c.status == "NEW" else None)
    report = engine.feed_all(window).report()
    grace = format_ts(now - timedelta(seconds=limits.latency_p95_s))
    outstanding = sum(1 for c in open_chains
                      if c.order_ts is not None and c.order_ts < grace
                      and str(c.order_type or "MARKET").upper() != "LIMIT")
    fills = sum(1 for rec in window if rec["kind"] == "fill")
    return Observation(
        now=now, session_id=session_id, journal_writable=writable, journal_problem=problem,
        last_event_ts=last_ts, window_lines=reader.stats, window_covered=covered,
        window_orders=report.coverage.orders, window_fills=fills,
        outstanding_unfilled=outstanding,
        order_to_fill_p95_s=report.latency["order_to_fill"].p95,
        controls=controls_data, controls_problem=controls_problem)


def read_book(root: Path) -> AlertBook:
    """Rebuild incidents and snoozes from the `alert` events of the desk journal."""
    incidents: dict[str, Incident] = {}
    open_by_key: dict[str, Incident] = {}
    snoozed: dict[str, str] = {}
    for rec in read_events(root, session_id=DESK_SESSION, kind="alert"):
        _apply(rec, incidents, open_by_key, snoozed)
    return AlertBook(incidents, open_by_key, snoozed)


def open_incidents(root: Path) -> list[Incident]:
    """Open alerts of a journal root: P1 first, then the oldest first."""
    return read_book(root).open_incidents()


def _apply(rec: dict, incidents: dict[str, Incident], open_by_key: dict[str, Incident],
           snoozed: dict[str, str]) -> None:
    payload = rec["payload"]
    state = payload.get("state")
    alert_id = payload.get("alert_id")
    if not isinstance(alert_id, str):
        alert_id = None  # a malformed id matches no incident
    if state == FIRING and alert_id is not None:
        incident = incidents.get(alert_id)
        if incident is None:
            incident = incidents[alert_id] = Incident(
                alert_id=alert_id, rule=payload.get("rule", "?"),
                severity=payload.get("severity", P2), key=payload.get("dedupe_key", alert_id),
                message=payload.get("message", ""), opened_at=rec["ts"], last_notified_at=None)
            open_by_key[incident.key] = incident
        incident.message = payload.get("message", incident.message)
        if payload.get("notify", True):
            incident.last_notified_at = rec["ts"]
            incident.notifications += 1
    elif state == RESOLVED and alert_id in incidents:
        incident = incidents[alert_id]
        incident.resolved_at = rec["ts"]
        if open_by_key.get(incident.key) is incident:
            del open_by_key[incident.key]
    elif state == ACKED and alert_id in incidents:
        incidents[alert_id].acked_by = payload.get("actor") or "unknown"
    elif state == SNOOZED and isinstance(payload.get("rule"), str):
        snoozed[payload["rule"]] = payload.get("until", rec["ts"])


@dataclass(frozen=True)
class Decision:
    """What one evaluation journaled, and which alerts must be delivered."""

    findings: tuple[Finding, ...]
    journaled: tuple[dict, ...]
    deliveries: tuple[dict, ...]


def decide(book: AlertBook, findings: Iterable[Finding], *, now: datetime,
           cooldown_s: float, new_id: Callable[[], str]) -> tuple[list[dict], list[dict]]:
    """Events to journal and payloads to deliver, given the book and what holds now."""
    now_ts = format_ts(now)
    events: list[dict] = []
    deliver: list[dict] = []
    seen: set[str] = set()
    for finding in findings:
        if finding.key in seen:
            continue
        seen.add(finding.key)
        incident = book.open_by_key.get(finding.key)
        snoozed = book.snoozed_until.get(finding.rule, "") > now_ts
        if incident is None:
            payload = _payload(finding, new_id(), FIRING, notify=not snoozed)
            if snoozed:
                payload["muted"] = f"rule {finding.rule} snoozed until " \
                                   f"{book.snoozed_until[finding.rule]}"
        elif incident.acked_by is not None or snoozed or _cooling(incident, now, cooldown_s):
            continue
        else:
            payload = _payload(finding, incident.alert_id, FIRING, notify=True)
            payload["repeat"] = incident.notifications + 1
        events.append(_event(payload, now))
        if payload["notify"]:
            deliver.append(payload)
    for key, incident in book.open_by_key.items():
        if key not in seen:
            payload = {"state": RESOLVED, "alert_id": incident.alert_id, "rule": incident.rule,
                       "severity": incident.severity, "dedupe_key": key,
                       "message": f"resolved: {incident.message}", "notify": True}
            events.append(_event(payload, now))
            if incident.acked_by is None and book.snoozed_until.get(incident.rule, "") <= now_ts:
                deliver.append(payload)
    return events, deliver


def _cooling(incident: Incident, now: datetime, cooldown_s: float) -> bool:
    """Whether the incident was notified less than the cooldown ago."""
    last = incident.last_notified_at
    return last is not None and (now - parse_ts(last)).total_seconds() < cooldown_s


def _payload(finding: Finding, alert_id: str, state: str, *, notify: bool) -> dict[str, Any]:
    return {"state": state, "alert_id": alert_id, "rule": finding.rule,
            "severity": finding.severity, "dedupe_key": finding.key,
            "message": finding.message, "notify": notify}


def _event(payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {"kind": "alert", "source": "ALERTS", "ts": now, "payload": payload}


def new_alert_id() -> str:
    return f"al-{uuid.uuid4().hex[:12]}"


class AlertDesk:
    """Evaluates the rules, journals incidents in the desk journal and delivers them."""

    def __init__(self, journal: Journal, limits: Thresholds, sinks: Iterable[Sink] = (), *,
                 active_session: Callable[[], str | None],
                 controls: ControlsReader | None = None,
                 clock: Callable[[], datetime] | None = None,
                 new_id: Callable[[], str] = new_alert_id) -> None:
        self.journal = journal
        self.limits = limits
        self.sinks = tuple(sinks)
        self.active_session = active_session
        self.controls = controls
        self.clock = clock or (lambda: datetime.now(UTC))
        self.new_id = new_id
        self._unjournaled: dict[str, datetime] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], journal: Journal, *,
                    active_session: Callable[[], str | None],
                    controls: ControlsReader | None = None) -> AlertDesk:
        """An alert desk with the `[alerts]` thresholds and sinks."""
        return cls(journal, Thresholds.from_config(config), sinks_from_config(config),
                   active_session=active_session, controls=controls)

    def check(self) -> Decision:
        """Evaluate every rule once, journal what changed and deliver new notifications."""
        now = self.clock()
        obs = observe(self.journal.root, self.active_session(), self.limits, now=now,
                      controls=self.controls)
        findings = evaluate_rules(obs, self.limits)
        if not obs.journal_writable:
            return Decision(tuple(findings), (), tuple(self._deliver(
                self._without_journal(findings, now))))
        with self.journal.locked(DESK_SESSION) as writer:
            events, deliver = decide(read_book(self.journal.root), findings, now=now,
                                     cooldown_s=self.limits.cooldown_s, new_id=self.new_id)
            records = writer.append(events) if events else []
        return Decision(tuple(findings), tuple(records), tuple(self._deliver(deliver)))

    def _without_journal(self, findings: list[Finding], now: datetime) -> list[dict]:
        """With no journal to remember deliveries, this process keeps the cooldown itself."""
        due = []
        for finding in findings:
            last = self._unjournaled.get(finding.key)
            if last is None or (now - last).total_seconds() >= self.limits.cooldown_s:
                self._unjournaled[finding.key] = now
                due.append(_payload(finding, f"unjournaled-{finding.key}", FIRING, notify=True))
        return due

    def _deliver(self, payloads: list[dict]) -> list[dict]:
        failures = []
        for payload in payloads:
            for sink in self.sinks:
                problem = sink.send(payload)
                if problem is not None:
                    failures.append({"sink": sink.name, "alert_id": payload["alert_id"],
                                     "error": problem})
        if failures and self.journal.root.exists():
            # When this fails too, the journal_unwritable rule reports it.
            with contextlib.suppress(OSError, ValueError, JournalError):
                self.journal.append(DESK_SESSION, [
                    {"kind": "error", "source": "ALERTS",
                     "payload": {"where": f"alerts.sink.{f['sink']}", "error": f["error"],
                                 "detail": {"alert_id": f["alert_id"]}}} for f in failures])
        return payloads

    def acknowledge(self, alert_id: str, *, actor: str, reason: str | None = None) -> dict:
        """Acknowledge an open incident: it stops re-notifying until it resolves."""
        with self.journal.locked(DESK_SESSION) as writer:
            book = read_book(self.journal.root)
            incident = book.incidents.get(alert_id)
            if incident is None:
                known = ", ".join(i.alert_id for i in book.open_by_key.values()) or "none open"
                raise AlertError(f"unknown alert id {alert_id!r}; open alerts: {known}")
            if incident.resolved_at is not None:
                raise AlertError(f"alert {alert_id} resolved at {incident.resolved_at}; "
                                 "only open alerts can be acknowledged")
            return writer.append([_event({"state": ACKED, "alert_id": alert_id,
                                          "rule": incident.rule, "severity": incident.severity,
                                          "dedupe_key": incident.key, "actor": actor,
                                          "reason": reason,
                                          "message": f"acknowledged by {actor}"},
                                         self.clock())])[0]

    def snooze(self, rule: str, minutes: float, *, actor: str, reason: str | None = None) -> dict:
        """Mute delivery of a rule's new incidents for some minutes."""
        if rule not in RULES:
            raise AlertError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
        if not 0 < minutes <= 7 * 24 * 60:
            raise AlertError(f"minutes must be > 0 and <= {7 * 24 * 60} (a week), got {minutes}")
        until = format_ts(self.clock() + timedelta(minutes=minutes))
        return self.journal.append(DESK_SESSION, [_event({
            "state": SNOOZED, "rule": rule, "severity": RULES[rule][0], "until": until,
            "actor": actor, "reason": reason,
            "message": f"{rule} snoozed by {actor} until {until}"}, self.clock())])[0]


class Sink:
    """Delivers an alert payload over HTTP with timeouts and retries on 5xx and timeouts."""

    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 3,
                 backoff_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep

    def body(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        """The generic JSON webhook body: the alert as journaled."""
        return {key: alert.get(key) for key in ("alert_id", "state", "rule", "severity",
                                                "dedupe_key", "message")}

    def send(self, alert: Mapping[str, Any]) -> str | None:
        """POST the alert; None when delivered, else what went wrong on the last attempt."""
        import requests  # on first delivery only: every `peaktrade` command starts faster

        body = self.body(alert)
        problem = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                resp = requests.post(self.url, json=body, timeout=self.timeout_s)
            except (requests.Timeout, requests.ConnectionError) as err:
                problem = f"{self.url}: {type(err).__name__}"
                continue
            if resp.status_code < 300:
                return None
            problem = f"{self.url} answered HTTP {resp.status_code}"
            if resp.status_code < 500:
                return problem
        return problem


class SlackSink(Sink):
    """A Slack-compatible incoming webhook: `{"text": ...}`."""

    name = "slack"

    def body(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        state = "RESOLVED" if alert.get("state") == RESOLVED else alert.get("severity")
        return {"text": f"[{state}] {alert.get('rule')}: {alert.get('message')} "
                        f"(alert {alert.get('alert_id')})"}


PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class PagerDutySink(Sink):
    """A PagerDuty Events v2-compatible endpoint: trigger and resolve by dedup_key."""

    name = "pagerduty"

    def __init__(self, url: str | None, routing_key: str, **kwargs: Any) -> None:
        super().__init__(url or PAGERDUTY_EVENTS_URL, **kwargs)
        self.routing_key = routing_key

    def body(self, alert: Mapping[str, Any]) -> dict[str, Any]:
        resolved = alert.get("state") == RESOLVED
        body: dict[str, Any] = {"routing_key": self.routing_key,
                                "event_action": "resolve" if resolved else "trigger",
                                "dedup_key": alert.get("dedupe_key")}
        if not resolved:
            body["payload"] = {
                "summary": str(alert.get("message"))[:1024], "source": "peaktrade",
                "severity": "critical" if alert.get("severity") == P1 else "warning",
                "component": "execution-desk", "group": alert.get("rule"),
                "custom_details": {"alert_id": alert.get("alert_id")}}
        return body


def sinks_from_config(config: Mapping[str, Any],
                      sleep: Callable[[float], None] = time.sleep) -> list[Sink]:
    """The sinks configured in `[alerts]`."""
    section = config["alerts"]
    options = {"timeout_s": section["timeout_s"], "retries": section["retries"], "sleep": sleep}
    sinks: list[Sink] = []
    if section["webhook_url"]:
        sinks.append(Sink(section["webhook_url"], **options))
    if section["slack_webhook_url"]:
        sinks.append(SlackSink(section["slack_webhook_url"], **options))
    if section["pagerduty_routing_key"]:
        sinks.append(PagerDutySink(section["pagerduty_url"], section["pagerduty_routing_key"],
                                   **options))
    return sinks

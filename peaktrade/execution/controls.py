"""Kill switch, QA block and circuit breakers: the checks that run before any gate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from peaktrade.events import format_ts
from peaktrade.execution.codes import (
    ENV_OFF,
    ENV_ON,
    KILL_SWITCH_ENV,
    KILL_SWITCH_REASON,
    Action,
    Breaker,
    Code,
    Decision,
    Gate,
    KillSwitchMode,
    breaker_code,
)
from peaktrade.execution.results import Check
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import ControlBoard, DeskState, Latch

ENVIRONMENT = "environment"
JOURNAL = "journal"
UNREADABLE = "unreadable"
JOURNAL_INTEGRITY = "journal-integrity"


class KillSwitchView(NamedTuple):
    """The kill switch as a decision sees it: engaged by whom, how, since when."""

    engaged: bool
    mode: str = KillSwitchMode.HALT
    source: str | None = None
    actor: str | None = None
    reason: str | None = None
    since: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"engaged": self.engaged, "mode": self.mode if self.engaged else None,
                "source": self.source, "actor": self.actor, "reason": self.reason,
                "since": self.since}


def env_kill_switch(environ: Mapping[str, str]) -> KillSwitchView | None:
    """The kill switch set by PEAKTRADE_KILL_SWITCH; a value not understood engages it."""
    raw = environ.get(KILL_SWITCH_ENV)
    return None if raw is None else _env_view(raw)


@lru_cache(maxsize=64)
def _env_view(raw: str) -> KillSwitchView | None:
    value = raw.strip().lower()
    if value in ENV_OFF:
        return None
    if value in ENV_ON:
        return KillSwitchView(True, KillSwitchMode.HALT, ENVIRONMENT, KILL_SWITCH_ENV,
                              f"{KILL_SWITCH_ENV}={raw}")
    if value.replace("-", "_") == "reduce_only":
        return KillSwitchView(True, KillSwitchMode.REDUCE_ONLY, ENVIRONMENT, KILL_SWITCH_ENV,
                              f"{KILL_SWITCH_ENV}={raw}")
    return KillSwitchView(True, KillSwitchMode.HALT, ENVIRONMENT, KILL_SWITCH_ENV,
                          f"{KILL_SWITCH_ENV}={raw!r} is not one of 1/true/yes/on, "
                          "0/false/no/off or reduce_only; counted as engaged")


def kill_switch_view(board: ControlBoard | None, environ: Mapping[str, str]) -> KillSwitchView:
    """Environment first, then the journal; an unreadable desk journal counts as engaged."""
    from_env = env_kill_switch(environ)
    if from_env is not None:
        return from_env
    if board is None:
        return KillSwitchView(True, KillSwitchMode.HALT, UNREADABLE, None,
                              "the desk journal cannot be read; failing closed")
    if board.integrity is not None:
        return KillSwitchView(True, KillSwitchMode.HALT, JOURNAL_INTEGRITY, "desk",
                              f"the desk journal breaks the integrity rules "
                              f"({board.integrity}); controls cannot be trusted, failing "
                              "closed until `peaktrade journal repair --session desk`")
    ks = board.kill_switch
    if ks.engaged:
        return KillSwitchView(True, ks.mode, JOURNAL, ks.actor, ks.reason, ks.since)
    return KillSwitchView(False, actor=ks.actor, reason=ks.reason, since=ks.since)


KILL_SWITCH_RELEASED = Check(Gate.KILL_SWITCH, Decision.PASS, Code.KILL_SWITCH,
                             "Kill switch is released")
QA_ALLOWS = Check(Gate.QA_BLOCK, Decision.PASS, Code.QA_BLOCK, "QA allows trading")


def check_kill_switch(view: KillSwitchView, reducing: bool) -> Check:
    """HALT blocks every new order; REDUCE_ONLY blocks all but position-reducing ones."""
    if not view.engaged:
        return KILL_SWITCH_RELEASED
    if view.mode == KillSwitchMode.REDUCE_ONLY:
        if reducing:
            return Check(Gate.KILL_SWITCH, Decision.PASS, Code.KILL_SWITCH,
                         "Kill switch is in REDUCE_ONLY and this order reduces the position",
                         limit=view.mode)
        return Check(Gate.KILL_SWITCH, Decision.BLOCK, Code.KILL_SWITCH,
                     f"{KILL_SWITCH_REASON} (REDUCE_ONLY: only orders that reduce a position)",
                     limit=view.mode)
    return Check(Gate.KILL_SWITCH, Decision.BLOCK, Code.KILL_SWITCH, KILL_SWITCH_REASON,
                 limit=view.mode)


def check_qa(board: ControlBoard | None) -> Check:
    """QA says the desk cannot trade today: every order is blocked."""
    if board is None:
        return Check(Gate.QA_BLOCK, Decision.BLOCK, Code.QA_BLOCK,
                     "QA status cannot be read from the desk journal")
    if board.qa.blocked:
        return Check(Gate.QA_BLOCK, Decision.BLOCK, Code.QA_BLOCK,
                     f"QA block: {board.qa.reason or 'cannot trade today'} "
                     f"(by {board.qa.actor or 'unknown'})")
    return QA_ALLOWS


def next_reset(now: datetime) -> str:
    """When a breaker tripped now resets: the next UTC midnight."""
    tomorrow = (now + timedelta(days=1)).date()
    return format_ts(datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=now.tzinfo))


def breaker_measures(state: DeskState, rules: Rules, day: str,
                     strategy: str | None) -> dict[str, float]:
    """The current value of every configured breaker's measure (per strategy where it applies)."""
    limits = rules.breaker_limits
    out: dict[str, float] = {}
    if Breaker.DAILY_LOSS in limits or Breaker.DAILY_DRAWDOWN in limits:
        start, peak = state.day_start_equity_on(day)
        equity = state.equity
        out[Breaker.DAILY_LOSS] = start - equity
        out[Breaker.DAILY_DRAWDOWN] = (peak - equity) / start * 100 if start > 0 else 100.0
    out[Breaker.TRADES_PER_DAY] = state.trades_on(day)
    if strategy is not None:
        out[Breaker.TRADES_PER_STRATEGY] = state.strategy_trades_on(day, strategy)
    out[Breaker.LOSS_STREAK] = state.loss_streak
    return {name: value for name, value in out.items() if name in limits}


def due_trips(state: DeskState, rules: Rules, now: datetime, now_ts: str,
              strategy: str | None) -> list[dict]:
    """control payloads for breakers whose measure reached its limit and that are not latched."""
    if not rules.breaker_limits:
        return []
    trips = []
    for name, value in breaker_measures(state, rules, now_ts[:10], strategy).items():
        limit = rules.breaker_limits[name]
        key_strategy = strategy if name == Breaker.TRADES_PER_STRATEGY else None
        latch = state.latches.get((name, key_strategy))
        if value < limit or (latch is not None and latch.resets_at > now_ts):
            continue
        who = f" for strategy {strategy}" if key_strategy else ""
        trips.append({"action": Action.BREAKER_TRIP, "breaker": name,
                      "strategy": key_strategy, "value": round(value, 6), "limit": limit,
                      "resets_at": next_reset(now), "actor": "desk",
                      "reason": f"{name}{who} reached {round(value, 6):g} (limit {limit:g})"})
    return trips


def check_breakers(state: DeskState, now_ts: str, strategy: str | None,
                   reducing: bool) -> Check | None:
    """A latched breaker blocks risk-increasing orders; None when no breaker is latched."""
    latched = [latch for latch in state.latches.values() if latch.resets_at > now_ts
               and (latch.strategy is None or latch.strategy == strategy)]
    if not latched:
        return None
    latch: Latch = latched[0]
    if reducing:
        return Check(Gate.BREAKER, Decision.PASS, breaker_code(latch.breaker),
                     f"breaker {latch.breaker} is tripped but this order reduces the position",
                     limit=latch.limit, value=latch.value)
    return Check(Gate.BREAKER, Decision.BLOCK, breaker_code(latch.breaker),
                 f"Circuit breaker {latch.breaker} tripped: {latch.reason}; resets at "
                 f"{latch.resets_at} or on a manual reset",
                 limit=latch.limit, value=latch.value)

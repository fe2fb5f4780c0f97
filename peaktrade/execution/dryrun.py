"""One intent through every check on a scratch state: what the desk would do, nothing written."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from peaktrade.events import DESK_SESSION, Kind, format_ts
from peaktrade.execution.brokers import brokers_for, default_route
from peaktrade.execution.codes import (
    PAPER_ROUTE,
    Decision,
    OrderType,
    Side,
    Status,
)
from peaktrade.execution.controls import kill_switch_view
from peaktrade.execution.decisions import FILL, INTENT, ORDER, Decider, EventBatch, moment_of
from peaktrade.execution.instruments import Catalog
from peaktrade.execution.intents import Intent, parse_intents
from peaktrade.execution.results import Check, OrderResult
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import QTY_EPSILON, ControlBoard, DeskState
from peaktrade.journal import read_events

DRY_RUN_SESSION = "dry-run-000000"


@dataclass(frozen=True)
class DryRun:
    """What one intent would do: its checks, the order result and the events, none written."""

    intent: Intent
    target: float
    current: float
    mode: str
    checks: tuple[Check, ...]
    decision: str
    code: str | None
    reason: str
    result: OrderResult
    records: tuple[dict, ...]
    position_after: float

    @property
    def blocked(self) -> bool:
        return self.decision == Decision.BLOCK

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent._asdict(), "target": self.target, "current": self.current,
                "mode": self.mode, "decision": self.decision, "code": self.code,
                "reason": self.reason, "checks": [c.to_dict() for c in self.checks],
                "result": self.result.to_dict(), "events": list(self.records),
                "position_after": self.position_after, "written": False}


def read_board(log_dir: str | os.PathLike[str]) -> ControlBoard | None:
    """The desk journal's controls, read only; None when it cannot be read (fail closed)."""
    board = ControlBoard()
    path = Path(log_dir) / f"{DESK_SESSION}.jsonl"
    if not path.exists():
        return board
    try:
        for record in read_events(path, session_id=DESK_SESSION):
            board.apply(record)
    except OSError:
        return None
    return board


def dry_run(config: Mapping[str, Any], *, symbol: str, target: float, current: float,
            price: float, tags: tuple[str, ...] = (), strategy: str = "dry-run",
            environ: Mapping[str, str] | None = None, now: datetime,
            board: ControlBoard | None) -> DryRun | None:
    """Move a position from `current` to `target` at `price`; None when there is nothing to do."""
    delta = target - current
    if abs(delta) <= QTY_EPSILON:
        return None
    rules = Rules.from_config(config)
    brokers = brokers_for(config, environ, require_live=False)
    (intent,) = parse_intents({
        "symbol": symbol, "side": Side.BUY if delta > 0 else Side.SELL, "quantity": abs(delta),
        "price": price, "tags": list(tags), "strategy": strategy,
        "reason": f"dry run: target {target:g}, current {current:g}"},
        source="CLI", routes=frozenset(brokers), default_route=default_route(brokers))
    state = DeskState(DRY_RUN_SESSION, rules.starting_cash)
    _seed(state, rules, intent.symbol, current, price, now)
    moment = moment_of(now, rules)
    batch = EventBatch(state, DRY_RUN_SESSION, state.last_seq, moment.ts, rules.mode)
    decider = Decider(rules, Catalog.from_config(config), brokers)
    kill_switch = kill_switch_view(board, os.environ if environ is None else environ)
    result = decider.decide(batch, intent, board, kill_switch, now, moment)
    decider.journal_positions(batch)
    verdict = batch.verdict
    return DryRun(intent, target, current, rules.mode, verdict.checks, verdict.decision,
                  verdict.code, verdict.reason, result, tuple(batch.records),
                  state.position_qty(intent.symbol))


def _seed(state: DeskState, rules: Rules, symbol: str, current: float, price: float,
          now: datetime) -> None:
    """The starting point: a fresh quote at `price` and, yesterday, the current position."""
    yesterday = format_ts(now - timedelta(days=1))
    seed = EventBatch(state, DRY_RUN_SESSION, 0, yesterday, rules.mode)
    if abs(current) > QTY_EPSILON:
        side = Side.BUY if current > 0 else Side.SELL
        ids = {"symbol": symbol, "intent_id": "I-seed", "order_id": "O-seed", "source": "CLI"}
        seed.add(INTENT, {"side": side, "qty": abs(current), "order_type": OrderType.MARKET,
                          "route": PAPER_ROUTE}, **ids)
        seed.add(ORDER, {"status": Status.NEW, "side": side, "qty": abs(current),
                         "order_type": OrderType.MARKET, "route": PAPER_ROUTE}, **ids)
        seed.add(FILL, {"qty": abs(current), "price": price, "fee": 0.0, "side": side}, **ids)
    seed.ts = format_ts(now)
    seed.add(Kind.QUOTE.value, {"bid": None, "ask": None, "last": price, "size": None},
             symbol=symbol)

"""One intent through every check, in order; the first block stops the chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from peaktrade.execution.codes import Decision
from peaktrade.execution.controls import (
    KILL_SWITCH_RELEASED,
    QA_ALLOWS,
    KillSwitchView,
    check_breakers,
    check_kill_switch,
    check_qa,
)
from peaktrade.execution.fills import expected_price
from peaktrade.execution.gates import (
    check_lot_size,
    check_min_notional,
    check_price_sanity,
    check_research_only,
)
from peaktrade.execution.instruments import Catalog
from peaktrade.execution.intents import Intent
from peaktrade.execution.results import Check, Verdict
from peaktrade.execution.risk import (
    check_gross,
    check_group,
    check_max_notional,
    check_max_weight,
    check_rate,
)
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import ControlBoard, DeskState

BLOCK = Decision.BLOCK
ADJUST = Decision.ADJUST


class Moment(NamedTuple):
    """The decision time in the forms the checks compare against (built once per decision)."""

    ts: str
    epoch: float
    rate_window_start: str


def evaluate(intent: Intent, state: DeskState, board: ControlBoard | None,
             kill_switch: KillSwitchView, rules: Rules, catalog: Catalog,
             now: Moment) -> Verdict:
    """Run kill switch -> QA -> breakers -> gates -> risk on one intent against the state;
    the verdict's quantity is the one to trade (after any lot adjustment)."""
    symbol, side = intent.symbol, intent.side
    checks: list[Check]
    if kill_switch.engaged or board is None or board.qa.blocked or state.latches:
        reducing = state.is_reducing(symbol, intent.signed_quantity)
        checks = []
        if _chain(checks, (
                check_kill_switch(kill_switch, reducing), check_qa(board),
                check_breakers(state, now.ts, intent.strategy, reducing) if state.latches
                else None)):
            return _verdict(intent, intent.quantity, checks)
    else:  # what check_kill_switch and check_qa answer when nothing is engaged
        checks = [KILL_SWITCH_RELEASED, QA_ALLOWS]
    quote = state.quotes.get(symbol)
    price = expected_price(side, intent.order_type, intent.limit_price, intent.price, quote,
                           rules.slippage_bps)
    lot_check, qty = check_lot_size(intent.quantity, catalog.get(symbol))
    for check in (check_price_sanity(intent, quote, price, rules, now.epoch),
                  check_research_only(intent, rules), lot_check):
        checks.append(check)
        if check.decision == BLOCK:
            return _verdict(intent, intent.quantity, checks)
    if price is None:
        return _verdict(intent, intent.quantity, checks)
    check = check_min_notional(qty, price, rules)
    checks.append(check)
    if check.decision == BLOCK or not rules.has_risk_limits:
        return _verdict(intent, qty, checks)
    # Exposure is valued at the worse of the expected price and the mark, so it cannot
    # look smaller once the position is marked after the fill.
    valued = max(price, state.marks.get(symbol, price))
    _chain(checks, (make(state, rules, catalog, now, symbol, side, qty, valued)
                    for make in _RISK_CHECKS))
    return _verdict(intent, qty, checks)


def _chain(checks: list[Check], candidates: Iterable[Check | None]) -> bool:
    """Run checks in order into `checks` (None = limit off); True at the first block."""
    for check in candidates:
        if check is not None:
            checks.append(check)
            if check.decision == BLOCK:
                return True
    return False


_RISK_CHECKS: tuple[Callable[..., Check | None], ...] = (
    lambda state, rules, catalog, now, symbol, side, qty, price:
        check_rate(state, rules, now.rate_window_start),
    lambda state, rules, catalog, now, symbol, side, qty, price:
        check_max_notional(state, rules, symbol, side, qty, price),
    lambda state, rules, catalog, now, symbol, side, qty, price:
        check_max_weight(state, rules, symbol, side, qty, price, lambda: state.equity),
    lambda state, rules, catalog, now, symbol, side, qty, price:
        check_gross(state, rules, symbol, side, qty, price),
    lambda state, rules, catalog, now, symbol, side, qty, price:
        check_group(state, rules, catalog, symbol, side, qty, price, region=False),
    lambda state, rules, catalog, now, symbol, side, qty, price:
        check_group(state, rules, catalog, symbol, side, qty, price, region=True),
)


def _verdict(intent: Intent, qty: float, checks: list[Check]) -> Verdict:
    last = checks[-1]
    if last.decision == BLOCK:
        return Verdict(intent.symbol, intent.side, qty, BLOCK, last.code, last.reason,
                       tuple(checks))
    for check in checks:
        if check.decision == ADJUST:
            return Verdict(intent.symbol, intent.side, qty, Decision.ADJUST, check.code,
                           check.reason, tuple(checks))
    return Verdict(intent.symbol, intent.side, qty, Decision.PASS, None,
                   _PASSED[len(checks)], tuple(checks))


# At most: kill switch, QA, breakers, the four gates, then the risk checks.
_PASSED = tuple(f"passed {n} checks" for n in range(7 + len(_RISK_CHECKS) + 1))

"""One intent through every check, in order; the first block stops the chain."""

from __future__ import annotations

from dataclasses import dataclass

from peaktrade.execution.codes import Decision
from peaktrade.execution.controls import (
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


@dataclass(frozen=True, slots=True)
class Moment:
    """The decision time in the forms the checks compare against."""

    ts: str
    epoch: float
    rate_window_start: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A verdict plus what execution needs: the quantity after adjustment, the expected price."""

    verdict: Verdict
    quantity: float
    price: float | None

    @property
    def blocked(self) -> bool:
        return self.verdict.decision == Decision.BLOCK


def evaluate(intent: Intent, state: DeskState, board: ControlBoard | None,
             kill_switch: KillSwitchView, rules: Rules, catalog: Catalog,
             now: Moment) -> Evaluation:
    """Run kill switch -> QA -> breakers -> gates -> risk on one intent against the state."""
    checks: list[Check] = []
    qty = intent.quantity
    symbol, side = intent.symbol, intent.side
    reducing = state.is_reducing(symbol, intent.signed_quantity)

    def done(price: float | None = None) -> Evaluation:
        return Evaluation(_verdict(intent, qty, checks), qty, price)

    def run(check: Check | None) -> bool:
        if check is None:
            return False
        checks.append(check)
        return check.decision == Decision.BLOCK

    if run(check_kill_switch(kill_switch, reducing)) or run(check_qa(board)) \
            or run(check_breakers(state, now.ts, intent.strategy, reducing)):
        return done()
    quote = state.quotes.get(symbol)
    price = expected_price(side, intent.order_type, intent.limit_price, intent.price, quote,
                           rules.slippage_bps)
    if run(check_price_sanity(intent, quote, price, rules, now.epoch)) \
            or run(check_research_only(intent, rules)):
        return done()
    lot_check, qty = check_lot_size(qty, catalog.get(symbol))
    if run(lot_check):
        qty = intent.quantity
        return done()
    if price is None:  # a LIMIT order has its limit; a MARKET one was stopped by PriceSanity
        return done()
    risk = (
        lambda: check_min_notional(qty, price, rules),
        lambda: check_rate(state, rules, now.rate_window_start),
        lambda: check_max_notional(state, rules, symbol, side, qty, price),
        lambda: check_max_weight(state, rules, symbol, side, qty, price, lambda: state.equity),
        lambda: check_gross(state, rules, symbol, side, qty, price),
        lambda: check_group(state, rules, catalog, symbol, side, qty, price, region=False),
        lambda: check_group(state, rules, catalog, symbol, side, qty, price, region=True),
    )
    for make in risk:
        if run(make()):
            break
    return done(price)


def _verdict(intent: Intent, qty: float, checks: list[Check]) -> Verdict:
    last = checks[-1]
    if last.decision == Decision.BLOCK:
        return Verdict(intent.symbol, intent.side, qty, Decision.BLOCK, last.code, last.reason,
                       tuple(checks))
    for check in checks:
        if check.decision == Decision.ADJUST:
            return Verdict(intent.symbol, intent.side, qty, Decision.ADJUST, check.code,
                           check.reason, tuple(checks))
    return Verdict(intent.symbol, intent.side, qty, Decision.PASS, None,
                   f"passed {len(checks)} checks", tuple(checks))

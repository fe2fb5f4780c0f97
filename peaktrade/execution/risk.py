"""Pre-trade risk checks: order rate, notional, weight, gross, sector and region exposure.

Exposure is the worst case: a symbol's position plus all its working orders on one side
filling, so working orders count before they fill. A limit is inclusive (value == limit
passes) and an order that does not raise the measure is never blocked by it.
"""

from __future__ import annotations

from collections.abc import Callable

from peaktrade.execution.codes import Code, Decision, Gate, Side
from peaktrade.execution.instruments import Catalog
from peaktrade.execution.results import Check
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import DeskState

EPSILON = 1e-9


def symbol_exposure(state: DeskState, symbol: str, price: float, side: str | None = None,
                    qty: float = 0.0) -> float:
    """|worst-case position| x price for one symbol, optionally with one more order working."""
    pos = state.position_qty(symbol)
    buys = state.working_buy.get(symbol, 0.0)
    sells = state.working_sell.get(symbol, 0.0)
    if side == Side.BUY:
        buys += qty
    elif side == Side.SELL:
        sells += qty
    return max(abs(pos + buys), abs(pos - sells)) * price


def exposures(state: DeskState, symbol: str, price: float, side: str | None,
              qty: float) -> dict[str, float]:
    """Worst-case exposure of every symbol with a position or working order (this one priced)."""
    out = {}
    names = set(state.positions) | set(state.working_buy) | set(state.working_sell)
    names.add(symbol)
    for name in names:
        if name == symbol:
            out[name] = symbol_exposure(state, name, price, side, qty)
        else:
            out[name] = symbol_exposure(state, name, state.marks.get(name, 0.0))
    return out


def check_rate(state: DeskState, rules: Rules, window_start_ts: str) -> Check | None:
    """Orders accepted in the last second, this one included, against max_orders_per_second."""
    limit = rules.max_orders_per_second
    if limit is None:
        return None
    count = 0
    for ts in reversed(state.order_times):
        if ts <= window_start_ts:
            break
        count += 1
    value = count + 1
    return _against(Gate.RATE_LIMIT, Code.RATE_LIMIT, value, limit,
                    f"{value} orders in the last second", "orders/s", increases=True)


def check_max_notional(state: DeskState, rules: Rules, symbol: str, side: str, qty: float,
                       price: float) -> Check | None:
    """Order notional and the resulting position notional against max_notional_per_symbol."""
    limit = rules.max_notional_per_symbol
    if limit is None:
        return None
    before = symbol_exposure(state, symbol, price)
    after = symbol_exposure(state, symbol, price, side, qty)
    order_notional = qty * price
    value = max(after, order_notional)
    return _against(Gate.MAX_NOTIONAL, Code.MAX_NOTIONAL, value, limit,
                    f"{symbol} notional {value:,.2f}", "", increases=after > before + EPSILON)


def check_max_weight(state: DeskState, rules: Rules, symbol: str, side: str, qty: float,
                     price: float, equity: Callable[[], float]) -> Check | None:
    """Resulting position notional / account equity against max_weight_per_symbol."""
    limit = rules.max_weight_per_symbol
    if limit is None:
        return None
    equity = equity()
    before = symbol_exposure(state, symbol, price)
    after = symbol_exposure(state, symbol, price, side, qty)
    if equity <= 0:
        return Check(Gate.MAX_WEIGHT, Decision.BLOCK, Code.MAX_WEIGHT,
                     f"account equity is {equity:,.2f}; weights cannot be measured",
                     limit=limit, value=None)
    return _against(Gate.MAX_WEIGHT, Code.MAX_WEIGHT, after / equity, limit,
                    f"{symbol} weight {after / equity:.4f} of equity {equity:,.2f}", "",
                    increases=after > before + EPSILON)


def check_gross(state: DeskState, rules: Rules, symbol: str, side: str, qty: float,
                price: float) -> Check | None:
    """Gross exposure of positions and working orders, this order included."""
    limit = rules.max_gross_exposure
    if limit is None:
        return None
    after = exposures(state, symbol, price, side, qty)
    before = symbol_exposure(state, symbol, price)
    total = sum(after.values())
    return _against(Gate.MAX_GROSS, Code.MAX_GROSS, total, limit,
                    f"gross exposure {total:,.2f}", "",
                    increases=after[symbol] > before + EPSILON)


def check_group(state: DeskState, rules: Rules, catalog: Catalog, symbol: str, side: str,
                qty: float, price: float, *, region: bool) -> Check | None:
    """Exposure of the symbol's sector (or region) against its configured limit."""
    limits = rules.max_region_exposure if region else rules.max_sector_exposure
    if not limits:
        return None
    key: Callable[[str], str] = (lambda s: catalog.get(s).region) if region else \
        (lambda s: catalog.get(s).sector)
    group = key(symbol)
    limit = limits.get(group)
    if limit is None:
        return None
    after = exposures(state, symbol, price, side, qty)
    before = symbol_exposure(state, symbol, price)
    total = sum(v for name, v in after.items() if key(name) == group)
    gate, code = (Gate.MAX_REGION, Code.MAX_REGION) if region else \
        (Gate.MAX_SECTOR, Code.MAX_SECTOR)
    what = "region" if region else "sector"
    return _against(gate, code, total, limit, f"{what} {group} exposure {total:,.2f}", "",
                    increases=after[symbol] > before + EPSILON)


def _against(gate: str, code: str, value: float, limit: float, what: str, unit: str, *,
             increases: bool) -> Check:
    headroom = round(limit - value, 6)
    suffix = f" {unit}" if unit else ""
    if value > limit + EPSILON and increases:
        return Check(gate, Decision.BLOCK, code,
                     f"{what} would exceed the limit {limit:,.2f}{suffix}",
                     limit=limit, value=round(value, 6), headroom=headroom)
    if value > limit + EPSILON:
        return Check(gate, Decision.PASS, code,
                     f"{what} is over the limit {limit:,.2f}{suffix} but this order "
                     "does not raise it", limit=limit, value=round(value, 6), headroom=headroom)
    return Check(gate, Decision.PASS, code, f"{what} within the limit {limit:,.2f}{suffix}",
                 limit=limit, value=round(value, 6), headroom=headroom)

"""The paper fill simulator: where an order would trade against the latest quote."""

from __future__ import annotations

from typing import NamedTuple

from peaktrade.execution.codes import OrderType, Side
from peaktrade.execution.state import QTY_EPSILON, Quote

BPS = 1e-4


class FillPlan(NamedTuple):
    """One simulated execution: quantity, price (slippage included) and fee."""

    qty: float
    price: float
    slippage_bps: float
    fee: float


def touch(side: str, quote: Quote | None, reference: float | None) -> float | None:
    """The price a marketable order meets: the far side of the quote, else last, else reference."""
    if quote is None:
        return reference
    far = quote.ask if side == Side.BUY else quote.bid
    if far is not None:
        return far
    return quote.last if quote.last is not None else reference


def slipped(side: str, price: float, slippage_bps: float) -> float:
    """A price moved against the trader by the slippage."""
    return price * (1 + slippage_bps * BPS) if side == Side.BUY else \
        price * (1 - slippage_bps * BPS)


def expected_price(side: str, order_type: str, limit_price: float | None,
                   reference: float | None, quote: Quote | None,
                   slippage_bps: float) -> float | None:
    """What the order is expected to cost per unit: the limit, or the slipped market price."""
    if order_type == OrderType.LIMIT:
        return limit_price
    far = touch(side, quote, reference)
    return slipped(side, far, slippage_bps) if far is not None else None


def plan_fill(side: str, order_type: str, limit_price: float | None, leaves: float,
              quote: Quote | None, reference: float | None, *, slippage_bps: float,
              fee_bps: float) -> FillPlan | None:
    """The fill this order gets now, or None when it is not marketable or nothing is offered."""
    far = touch(side, quote, reference)
    if far is None or leaves <= QTY_EPSILON:
        return None
    price = slipped(side, far, slippage_bps)
    if order_type == OrderType.LIMIT:
        if side == Side.BUY:
            if limit_price < far:
                return None
            price = min(limit_price, price)
        else:
            if limit_price > far:
                return None
            price = max(limit_price, price)
    qty = leaves
    if quote is not None and quote.size_left is not None:
        qty = min(qty, quote.size_left)
    if qty <= QTY_EPSILON:
        return None
    return FillPlan(qty, price, slippage_bps, qty * price * fee_bps * BPS)

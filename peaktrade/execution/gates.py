"""The safety gates: PriceSanity, ResearchOnly, LotSize and MinNotional (pure functions)."""

from __future__ import annotations

import math
from functools import cache

from peaktrade.config import MODES
from peaktrade.execution.codes import (
    LIVE_MODE,
    RESEARCH_ONLY_TAG,
    Code,
    Decision,
    Gate,
    OrderType,
)
from peaktrade.execution.instruments import Instrument
from peaktrade.execution.intents import Intent
from peaktrade.execution.results import Check
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import Quote

LOT_TOLERANCE = 1e-9  # in lots: 0.6 / 0.1 = 5.999999999 is 6 lots


@cache
def _price_ok(band: float) -> Check:
    """The pass without a quote to compare with: the same for every intent."""
    return Check(Gate.PRICE_SANITY, Decision.PASS, Code.PRICE_SANITY,
                 "price is finite and > 0", limit=band)


def _given_prices(limit_price: float | None,
                  price: float | None) -> tuple[tuple[str, float], ...]:
    """The prices an intent states, named as the messages name them."""
    if limit_price is None:
        return () if price is None else (("reference price", price),)
    if price is None:
        return (("limit price", limit_price),)
    return (("limit price", limit_price), ("reference price", price))


def check_price_sanity(intent: Intent, quote: Quote | None, expected: float | None,
                       rules: Rules, now_epoch: float) -> Check:
    """Prices finite and > 0, within the band around the last quote; MARKET needs a fresh price."""
    given = _given_prices(intent.limit_price, intent.price)
    for name, p in given:
        if not math.isfinite(p) or p <= 0:
            return Check(Gate.PRICE_SANITY, Decision.BLOCK, Code.PRICE_SANITY,
                         f"{name} must be finite and > 0, got {p}", limit=0.0, value=p)
    band = rules.price_band_pct
    ref = quote.mark if quote is not None else None
    worst = None
    if ref:
        for name, p in given:
            deviation = abs(p - ref) / ref * 100
            if worst is None or deviation > worst:
                worst = deviation
            if deviation > band:
                return Check(Gate.PRICE_SANITY, Decision.BLOCK, Code.PRICE_SANITY,
                             f"{name} {p:g} is {deviation:.2f}% away from the last quote "
                             f"{ref:g} (band {band:g}%)", limit=band,
                             value=round(deviation, 6), headroom=round(band - deviation, 6))
    if intent.order_type == OrderType.MARKET:
        if quote is not None:
            age = now_epoch - quote.epoch
            if age > rules.quote_staleness_s:
                return Check(Gate.PRICE_SANITY, Decision.BLOCK, Code.PRICE_SANITY,
                             f"quote for {intent.symbol} is {age:.1f} s old (limit "
                             f"{rules.quote_staleness_s:g} s); a MARKET order needs a fresh "
                             "quote", limit=rules.quote_staleness_s, value=round(age, 3),
                             headroom=round(rules.quote_staleness_s - age, 3))
        if expected is None:
            return Check(Gate.PRICE_SANITY, Decision.BLOCK, Code.PRICE_SANITY,
                         f"no quote and no reference price for a MARKET order on "
                         f"{intent.symbol}; send price or a quote first")
    if worst is None:
        return _price_ok(band)
    return Check(Gate.PRICE_SANITY, Decision.PASS, Code.PRICE_SANITY,
                 "price within the band around the last quote", limit=band,
                 value=round(worst, 6), headroom=round(band - worst, 6))


NOT_RESEARCH_ONLY = {mode: Check(Gate.RESEARCH_ONLY, Decision.PASS, Code.RESEARCH_ONLY,
                                f"not tagged {RESEARCH_ONLY_TAG}", limit=mode)
                     for mode in MODES}


def check_research_only(intent: Intent, rules: Rules) -> Check:
    """An intent tagged research_only never executes in live mode, nor reaches a broker."""
    tagged = RESEARCH_ONLY_TAG in intent.tags
    if tagged and rules.block_research_in_live:
        if rules.mode == LIVE_MODE:
            return Check(Gate.RESEARCH_ONLY, Decision.BLOCK, Code.RESEARCH_ONLY,
                         f"intent is tagged {RESEARCH_ONLY_TAG} and the desk is in live mode",
                         limit=rules.mode, value=RESEARCH_ONLY_TAG)
        if intent.route in rules.live_routes:
            return Check(Gate.RESEARCH_ONLY, Decision.BLOCK, Code.RESEARCH_ONLY,
                         f"intent is tagged {RESEARCH_ONLY_TAG} and route {intent.route} "
                         "goes to a real broker", limit=rules.mode, value=RESEARCH_ONLY_TAG)
    if tagged:
        return Check(Gate.RESEARCH_ONLY, Decision.PASS, Code.RESEARCH_ONLY,
                     f"{rules.mode} mode admits {RESEARCH_ONLY_TAG}", limit=rules.mode)
    return NOT_RESEARCH_ONLY[rules.mode]


def round_to_lot(quantity: float, lot: float) -> float:
    """Round down to whole lots, tolerating float error relative to the lot."""
    lots = math.floor(quantity / lot + LOT_TOLERANCE)
    return round(lots * lot, 12)


# Passing checks repeat (the same quantities, lots and notionals): each (a frozen value) is
# built once and shared; full caches simply stop growing.
_CACHED_MAX = 4096
_LOT_CHECKS: dict[tuple[float, float, float], tuple[Check, float]] = {}
_NOTIONAL_CHECKS: dict[tuple[float, float], Check] = {}


def check_lot_size(quantity: float, instrument: Instrument) -> tuple[Check, float]:
    """Round the quantity down to the lot; zero lots or less than min_qty blocks."""
    if type(quantity) is not float:  # 1 == 1.0 as a key, but not in the journal
        return _lot_size(quantity, instrument)
    key = (quantity, instrument.lot_size, instrument.min_qty)
    found = _LOT_CHECKS.get(key)
    if found is not None:
        return found
    found = _lot_size(quantity, instrument)
    if found[0].decision != Decision.BLOCK and len(_LOT_CHECKS) < _CACHED_MAX:
        _LOT_CHECKS[key] = found
    return found


def _lot_size(quantity: float, instrument: Instrument) -> tuple[Check, float]:
    lot = instrument.lot_size
    rounded = round_to_lot(quantity, lot)
    if rounded <= 0 or rounded + lot * LOT_TOLERANCE < instrument.min_qty:
        return Check(Gate.LOT_SIZE, Decision.BLOCK, Code.LOT_SIZE,
                     f"quantity {quantity:g} rounds down to {rounded:g} (lot {lot:g}, "
                     f"minimum {max(instrument.min_qty, lot):g} {instrument.symbol})",
                     limit=max(instrument.min_qty, lot), value=quantity,
                     headroom=rounded - max(instrument.min_qty, lot)), 0.0
    if abs(rounded - quantity) > lot * LOT_TOLERANCE:
        return Check(Gate.LOT_SIZE, Decision.ADJUST, Code.LOT_SIZE,
                     f"quantity {quantity:g} rounded down to {rounded:g} (lot {lot:g})",
                     limit=lot, value=quantity, headroom=None), rounded
    return Check(Gate.LOT_SIZE, Decision.PASS, Code.LOT_SIZE,
                 "quantity is a whole number of lots", lot, quantity), rounded


def check_min_notional(quantity: float, price: float, rules: Rules) -> Check:
    """quantity x expected price must reach the minimum notional."""
    notional = quantity * price
    minimum = rules.min_notional
    if notional < minimum:
        return Check(Gate.MIN_NOTIONAL, Decision.BLOCK, Code.MIN_NOTIONAL,
                     f"notional {notional:.2f} is below the minimum {minimum:.2f}",
                     limit=minimum, value=round(notional, 6),
                     headroom=round(notional - minimum, 6))
    key = (notional, minimum)
    check = _NOTIONAL_CHECKS.get(key)
    if check is None or type(notional) is not float or type(minimum) is not float:
        check = Check(Gate.MIN_NOTIONAL, Decision.PASS, Code.MIN_NOTIONAL,
                      "notional meets the minimum", minimum, round(notional, 6),
                      round(notional - minimum, 6))
        if len(_NOTIONAL_CHECKS) < _CACHED_MAX and type(notional) is float \
                and type(minimum) is float:
            _NOTIONAL_CHECKS[key] = check
    return check

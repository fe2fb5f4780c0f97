"""An order intent and its validation into field-level messages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from peaktrade.execution.codes import (
    DEFAULT_SOURCE,
    ORDER_TYPES,
    PAPER_ROUTE,
    SIDES,
    TIFS,
    OrderType,
    Side,
    TimeInForce,
)
from peaktrade.execution.errors import InvalidIntent

INTENT_FIELDS = frozenset({
    "symbol", "side", "quantity", "order_type", "limit_price", "tif", "price", "strategy",
    "tags", "reason", "confidence", "client_order_id", "route", "source",
})
MAX_TEXT = 200


class Intent(NamedTuple):
    """What a strategy or a person wants to trade, before any check (immutable, hot path)."""

    symbol: str
    side: str
    quantity: float
    order_type: str = OrderType.MARKET
    limit_price: float | None = None
    tif: str = TimeInForce.DAY
    price: float | None = None  # reference price
    strategy: str | None = None
    tags: tuple[str, ...] = ()
    reason: str | None = None
    confidence: float | None = None
    client_order_id: str | None = None
    route: str = PAPER_ROUTE
    source: str = DEFAULT_SOURCE

    @property
    def signed_quantity(self) -> float:
        return self.quantity if self.side == Side.BUY else -self.quantity


def parse_intents(data: Any, *, source: str, routes: frozenset[str],
                  default_route: str = PAPER_ROUTE) -> list[Intent]:
    """One Intent or mapping, or a list of them, into Intents; InvalidIntent names bad fields."""
    if type(data) is dict or isinstance(data, Intent | Mapping):
        return [_fast(data, source, default_route)
                or _one(data, source, routes, default_route, "")]
    if not isinstance(data, list | tuple):
        raise InvalidIntent({"_schema": [
            f"expected an order or a list of orders, got {type(data).__name__}"]})
    if not data:
        raise InvalidIntent({"_schema": ["expected at least one order, got an empty list"]})
    intents: list[Intent] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(data):
        # The common well-formed order first, without building its error prefix.
        fast = _fast(item, source, default_route)
        if fast is not None:
            intents.append(fast)
            continue
        try:
            intents.append(_one(item, source, routes, default_route, f"{index}."))
        except InvalidIntent as err:
            errors.update(err.errors)
    if errors:
        raise InvalidIntent(errors)
    return intents


_FAST_FIELDS = frozenset({"symbol", "side", "quantity", "price", "strategy", "reason",
                          "client_order_id", "source"})
_FINITE_MAX = float("inf")


def _fast(item: Any, source: str, route: str) -> Intent | None:
    """The common well-formed MARKET order, built without the checks' messages; else None."""
    if type(item) is not dict or not item.keys() <= _FAST_FIELDS:
        return None
    get = item.get
    symbol, side, qty, price = get("symbol"), get("side"), get("quantity"), get("price")
    if type(symbol) is not str or side not in SIDES or type(qty) not in (int, float) \
            or not 0 < qty < _FINITE_MAX:
        return None
    if price is not None and type(price) not in (int, float):
        return None
    strategy, reason = get("strategy"), get("reason")
    client_order_id, item_source = get("client_order_id"), get("source")
    for text in (strategy, reason, client_order_id, item_source):
        if text is not None and (type(text) is not str or len(text) > MAX_TEXT):
            return None
    symbol = _SYMBOLS.get(symbol) or _shared(_SYMBOLS, symbol, symbol.strip().upper())
    if not symbol or len(symbol) > 32:
        return None
    item_source = item_source or source
    return Intent(symbol, side, float(qty), OrderType.MARKET, None, TimeInForce.DAY,
                  None if price is None else float(price), strategy or None, (),
                  reason or None, None, client_order_id or None, route,
                  _SOURCES.get(item_source) or _shared(_SOURCES, item_source,
                                                       item_source.upper()))


# Symbols and sources repeat: each is normalised once, and every order holding it shares
# the one string (a session's projection keeps every order). Full, a cache stops growing.
_SHARED_MAX = 4096
_SYMBOLS: dict[str, str] = {}
_SOURCES: dict[str, str] = {}


def _shared(cache: dict[str, str], text: str, normalised: str) -> str:
    if len(cache) < _SHARED_MAX and len(text) <= MAX_TEXT:  # no huge text is kept
        cache[text] = normalised
    return normalised


def _one(item: Any, source: str, routes: frozenset[str], default_route: str,
         prefix: str) -> Intent:
    """Any intent or mapping, checked field by field (what _fast does not take)."""
    if isinstance(item, Intent):
        if item.route not in routes:
            raise InvalidIntent({f"{prefix}route": [_route_message(item.route, routes)]})
        # These become journal record fields, which the desk appends without re-checking.
        for name, value in (("symbol", item.symbol), ("strategy", item.strategy),
                            ("source", item.source)):
            if not isinstance(value, str) and (value is not None or name != "strategy"):
                raise InvalidIntent({f"{prefix}{name}": [
                    f"{name} must be a string, got {value!r}"]})
        return item
    if not isinstance(item, Mapping):
        raise InvalidIntent({f"{prefix}_schema": [
            f"expected an order object, got {type(item).__name__}"]})
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(prefix + name, []).append(message)

    unknown = sorted(str(k) for k in item if k not in INTENT_FIELDS)
    if unknown:
        bad("_schema", f"unknown field(s) {', '.join(unknown)}; allowed: "
                       f"{', '.join(sorted(INTENT_FIELDS))}")
    symbol = item.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        bad("symbol", f"symbol is required, got {symbol!r}")
        symbol = ""
    else:
        symbol = symbol.strip().upper()
        if len(symbol) > 32:
            bad("symbol", f"symbol must be at most 32 characters, got {len(symbol)}")
    side = _upper(item.get("side"))
    if side not in SIDES:
        bad("side", f"side must be one of {', '.join(SIDES)}, got {item.get('side')!r}")
    quantity = _number(item.get("quantity"))
    if quantity is None or not math.isfinite(quantity) or quantity <= 0:
        bad("quantity", f"quantity must be > 0, got {item.get('quantity')!r}")
    limit_price = item.get("limit_price")
    order_type = _upper(item.get("order_type")) or (
        OrderType.LIMIT if limit_price is not None else OrderType.MARKET)
    if order_type not in ORDER_TYPES:
        bad("order_type", f"order_type must be one of {', '.join(ORDER_TYPES)}, "
                          f"got {item.get('order_type')!r}")
    if limit_price is not None:
        limit_price = _number(limit_price)
        if limit_price is None:
            bad("limit_price", f"limit_price must be a number, got {item.get('limit_price')!r}")
        elif order_type == OrderType.MARKET:
            bad("limit_price", "limit_price is only for LIMIT orders; omit it or use "
                               "order_type LIMIT")
    elif order_type == OrderType.LIMIT:
        bad("limit_price", "limit_price is required for a LIMIT order")
    tif = _upper(item.get("tif")) or TimeInForce.DAY
    if tif not in TIFS:
        bad("tif", f"tif must be one of {', '.join(TIFS)}, got {item.get('tif')!r}")
    price = item.get("price")
    if price is not None:
        price = _number(price)
        if price is None:
            bad("price", f"price must be a number, got {item.get('price')!r}")
    confidence = item.get("confidence")
    if confidence is not None:
        confidence = _number(confidence)
        if confidence is None or not 0 <= confidence <= 1:
            bad("confidence", f"confidence must be between 0 and 1, "
                              f"got {item.get('confidence')!r}")
    tags = item.get("tags") or ()
    if isinstance(tags, str):
        tags = tuple(t.strip() for t in tags.split(",") if t.strip())
    elif isinstance(tags, list | tuple) and all(isinstance(t, str) for t in tags):
        tags = tuple(tags)
    else:
        bad("tags", f"tags must be a list of strings, got {item.get('tags')!r}")
        tags = ()
    texts = {}
    for name in ("strategy", "reason", "client_order_id"):
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
            bad(name, f"{name} must be a string of at most {MAX_TEXT} characters, got {value!r}")
            value = None
        texts[name] = value or None
    route = _upper(item.get("route")) or default_route
    if route not in routes:
        bad("route", _route_message(route, routes))
    item_source = item.get("source") or source
    if not isinstance(item_source, str):
        bad("source", f"source must be a string, got {item_source!r}")
    if errors:
        raise InvalidIntent(errors)
    return Intent(symbol, side, quantity, order_type, limit_price, tif, price,
                  texts["strategy"], tags, texts["reason"], confidence,
                  texts["client_order_id"], route, item_source.upper())


def _route_message(route: str, routes: frozenset[str]) -> str:
    return f"route must be one of {', '.join(sorted(routes))}, got {route!r}"


def _upper(value: Any) -> str | None:
    return value.strip().upper() if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> float | None:
    """A float from a real number or a numeric string; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class QuoteInput:
    """A market quote fed to the desk (bid, ask, last and size are each optional)."""

    symbol: str
    bid: float | None
    ask: float | None
    last: float | None
    size: float | None


def parse_quotes(data: Any) -> list[QuoteInput]:
    """One quote mapping or a list of them; InvalidIntent names the bad fields."""
    items = [data] if isinstance(data, Mapping) else data
    if not isinstance(items, list | tuple) or not items:
        raise InvalidIntent({"_schema": ["expected a quote or a non-empty list of quotes"]})
    quotes, errors = [], {}
    for index, item in enumerate(items):
        prefix = f"{index}." if not isinstance(data, Mapping) else ""
        if not isinstance(item, Mapping):
            errors[f"{prefix}_schema"] = [f"expected a quote object, got {type(item).__name__}"]
            continue
        symbol = item.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            errors[f"{prefix}symbol"] = [f"symbol is required, got {symbol!r}"]
        values: dict[str, float | None] = {}
        for name in ("bid", "ask", "last", "size"):
            raw = item.get(name)
            value = None if raw is None else _number(raw)
            if raw is not None and (value is None or not math.isfinite(value) or value < 0
                                    or (value == 0 and name != "size")):
                errors[f"{prefix}{name}"] = [f"{name} must be a finite number > 0, got {raw!r}"]
            values[name] = value
        if all(values[n] is None for n in ("bid", "ask", "last")):
            errors.setdefault(f"{prefix}_schema", []).append("a quote needs bid, ask or last")
        elif values["bid"] is not None and values["ask"] is not None \
                and values["bid"] > values["ask"]:
            errors[f"{prefix}bid"] = [f"bid {values['bid']} is above ask {values['ask']}"]
        if not errors:
            quotes.append(QuoteInput(symbol.strip().upper(), values["bid"], values["ask"],
                                     values["last"], values["size"]))
    if errors:
        raise InvalidIntent(errors)
    return quotes

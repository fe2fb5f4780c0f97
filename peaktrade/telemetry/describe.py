"""One line that says what a journal record means, for the timeline, CSV export and CLI."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from peaktrade.events import Kind


def describe(record: Mapping[str, Any]) -> str:
    """A one-line, human description of a record; never raises."""
    try:
        payload = record.get("payload")
        if not isinstance(payload, Mapping):
            payload = {}
        kind = record.get("kind")
        describer = _DESCRIBERS.get(kind) if isinstance(kind, str) else None
        if describer is not None:
            text = describer(record, payload)
            if text:
                return text
        return _fallback(record, payload)
    except Exception:  # noqa: BLE001 - a description must never break a view or an export
        return str(record.get("kind") or "event") if isinstance(record, Mapping) else "event"


def details(record: Mapping[str, Any]) -> str:
    """The record's payload as compact JSON (sorted keys); never raises."""
    payload = record.get("payload") if isinstance(record, Mapping) else None
    if payload is None:
        payload = {}
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return orjson.dumps(payload, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _number(value: Any) -> float | None:
    """A finite number from a payload value (numbers or numeric strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def format_price(value: Any) -> str:
    """Prices and money: thousands separators, 2 decimals (more for sub-unit prices)."""
    number = _number(value)
    if number is None:
        return str(value)
    if number != 0 and abs(number) < 1:
        return format_qty(round(number, 8))
    return f"{number:,.2f}"


def format_qty(value: Any) -> str:
    """Quantities: as few decimals as they need, up to 8, no exponent."""
    number = _number(value)
    if number is None:
        return str(value)
    text = f"{number:,.8f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _side(payload: Mapping[str, Any]) -> str:
    return _text(payload.get("side")).upper()


def _qty(payload: Mapping[str, Any]) -> Any:
    for key in ("qty", "quantity", "filled_qty", "size"):
        if payload.get(key) is not None:
            return payload[key]
    return None


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _intent(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    order_type = _text(payload.get("order_type")).upper() or "MARKET"
    head = _join(_side(payload), format_qty(_qty(payload)) if _qty(payload) is not None else "",
                 _text(record.get("symbol")), order_type)
    if order_type == "LIMIT" and payload.get("limit_price") is not None:
        head += f" @ {format_price(payload['limit_price'])}"
    tif = _text(payload.get("tif")).upper()
    if tif and tif != "DAY":
        head += f" {tif}"
    if record.get("strategy"):
        head += f" (strategy {record['strategy']})"
    return head


def _gate_check(payload: Mapping[str, Any], decision: str) -> Mapping[str, Any] | None:
    """The check that decided the verdict: same code, else the first with that decision."""
    checks = payload.get("checks")
    if not isinstance(checks, list):
        return None
    checks = [c for c in checks if isinstance(c, Mapping)]
    code = payload.get("code")
    for check in checks:
        if code and check.get("code") == code:
            return check
    for check in checks:
        if _text(check.get("decision")).lower() == decision:
            return check
    return None


def _gate(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    decision = _text(payload.get("decision")).lower()
    if not decision and "passed" in payload:
        decision = "pass" if payload["passed"] else "block"
    check = _gate_check(payload, decision) or {}
    code = _text(payload.get("code") or check.get("code")) or _text(
        payload.get("gate") or payload.get("gate_name")).upper()
    if decision == "block":
        value, limit = _number(check.get("value")), _number(check.get("limit"))
        if value is not None and limit is not None:
            op = "<" if value < limit else ">" if value > limit else "="
            return f"BLOCKED {code}: {format_price(value)} {op} {format_price(limit)}"
        reason = _text(payload.get("reason") or check.get("reason"))
        return f"BLOCKED {code}: {reason}" if reason else f"BLOCKED {code}"
    if decision == "adjust":
        before = payload.get("requested_qty", check.get("value"))
        after = payload.get("qty")
        if _number(before) is not None and _number(after) is not None:
            return f"ADJUST {code} qty {format_qty(before)} -> {format_qty(after)}"
        reason = _text(payload.get("reason") or check.get("reason"))
        return _join(f"ADJUST {code}", reason)
    if decision == "pass":
        checks = payload.get("checks")
        if isinstance(checks, list):
            return f"PASS {len(checks)} check{'' if len(checks) == 1 else 's'}"
        gate = _text(payload.get("gate") or payload.get("gate_name"))
        return _join("PASS", gate)
    return ""


def _short_id(value: Any) -> str:
    """A long id (a broker's UUID) cut to its first 8 characters and an ellipsis."""
    text = _text(value)
    return f"{text[:8]}…" if len(text) > 12 else text


def _order(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    if payload.get("broker_order_id") is not None:  # a live broker acknowledged the order
        return _join("ACK", _text(payload.get("route")), "order",
                     _short_id(payload["broker_order_id"]),
                     _text(payload.get("broker_status")) or "accepted")
    status = _text(payload.get("status")).upper()
    order_type = _text(payload.get("order_type")).upper()
    text = _join(status or "ORDER", _side(payload),
                 format_qty(_qty(payload)) if _qty(payload) is not None else "",
                 _text(record.get("symbol")), order_type)
    if payload.get("limit_price") is not None:
        text += f" @ {format_price(payload['limit_price'])}"
    tif = _text(payload.get("tif")).upper()
    if tif and tif != "DAY":
        text += f" {tif}"
    route = _text(payload.get("route"))
    if route:
        text += f" via {route}"
    if record.get("mode") == "dry_run":
        text += " (dry run, not sent)"
    elif status == "PENDING":
        text += " (sent, awaiting the broker)"
    return text


def _fill(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    qty = _qty(payload)
    text = _join(_side(payload) or "FILL", format_qty(qty) if qty is not None else "",
                 _text(record.get("symbol")))
    if payload.get("price") is not None:
        text += f" @ {format_price(payload['price'])}"
    slip = _number(payload.get("slippage_bps"))
    if slip is not None:
        text += f" (slip {slip:.1f} bps)"
    status = _text(payload.get("status")).upper()
    if status == "PARTIAL":
        leaves = payload.get("leaves_qty")
        text += f" PARTIAL, {format_qty(leaves)} left" if leaves is not None else " PARTIAL"
    return text


def _cancel_or_reject(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    word = "CANCELLED" if record.get("kind") == Kind.CANCEL else "REJECTED"
    code = _text(payload.get("code"))
    reason = _text(payload.get("reason"))
    if code and reason.startswith(f"{code}:"):
        reason = reason[len(code) + 1:].strip()
    text = _join(word, _text(record.get("order_id")) if word == "CANCELLED" else "",
                 _text(record.get("symbol")))
    if code or reason:
        text += f" {code}: {reason}" if code and reason else f" {code or reason}"
    leaves = payload.get("leaves_qty")
    if word == "CANCELLED" and _number(leaves):
        text += f" ({format_qty(leaves)} left)"
    return text


def _position(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    text = _join("POSITION", _text(record.get("symbol")), format_qty(_qty(payload))
                 if _qty(payload) is not None else "")
    if payload.get("avg_price") is not None:
        text += f" @ {format_price(payload['avg_price'])}"
    pnl = [f"{label} {format_price(payload[key])}"
           for key, label in (("realized_pnl", "realized"), ("unrealized_pnl", "unrealized"))
           if _number(payload.get(key)) is not None]
    if pnl:
        text += f" ({', '.join(pnl)})"
    return text


def _quote(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    prices = "/".join(format_price(payload[key]) if payload.get(key) is not None else "-"
                      for key in ("bid", "ask", "last"))
    text = _join("QUOTE", _text(record.get("symbol")), f"bid/ask/last {prices}")
    if payload.get("size") is not None:
        text += f" size {format_qty(payload['size'])}"
    return text


def _control(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    action = _text(payload.get("action")) or "control"
    subject = _text(payload.get("breaker") or payload.get("session_id"))
    text = _join(action, _text(payload.get("mode")).upper(), subject)
    if payload.get("actor"):
        text += f" by {payload['actor']}"
    if payload.get("reason"):
        text += f": {payload['reason']}"
    return text


def _heartbeat(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    text = _join("HEARTBEAT", _text(payload.get("component")),
                 _text(payload.get("status")).upper())
    lag = _number(payload.get("lag_ms"))
    if lag is not None:
        text += f" (lag {lag:,.0f} ms)"
    return text


def _error(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    where = _text(payload.get("where"))
    error = _text(payload.get("error") or payload.get("message"))
    text = f"ERROR in {where}" if where else "ERROR"
    if error:
        text += f": {error}"
    return text


def _alert(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    head = _join("ALERT", _text(payload.get("severity")).upper(), _text(payload.get("rule")))
    message = _text(payload.get("message"))
    return f"{head}: {message}" if message else head


def _fallback(record: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
    """Unknown kinds and shapes: the kind, symbol, and the first few scalar payload values."""
    scalars = [f"{key}={value}" for key, value in payload.items()
               if isinstance(value, str | int | float | bool) and value is not None][:4]
    return _join(_text(record.get("kind")).upper() or "EVENT", _text(record.get("symbol")),
                 " ".join(scalars))


_DESCRIBERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], str]] = {
    Kind.INTENT: _intent,
    Kind.GATE: _gate,
    Kind.ORDER: _order,
    Kind.FILL: _fill,
    Kind.CANCEL: _cancel_or_reject,
    Kind.REJECT: _cancel_or_reject,
    Kind.POSITION: _position,
    Kind.QUOTE: _quote,
    Kind.CONTROL: _control,
    Kind.HEARTBEAT: _heartbeat,
    Kind.ERROR: _error,
    Kind.ALERT: _alert,
}

"""Turning verdicts into events: one decision's batch, the order it creates, the fills.

Used by the Desk under the session lock and, on a scratch state with no journal, by
what-if and the dry run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from peaktrade.events import Kind, format_ts
from peaktrade.execution.brokers import Broker, BrokerOrder
from peaktrade.execution.codes import (
    DRY_RUN_MODE,
    LIVE_MODE,
    WORKING_STATUSES,
    Code,
    Decision,
    KillSwitchMode,
    Side,
    Status,
    TimeInForce,
)
from peaktrade.execution.controls import KillSwitchView, due_trips
from peaktrade.execution.fills import FillPlan
from peaktrade.execution.instruments import Catalog
from peaktrade.execution.intents import Intent
from peaktrade.execution.pipeline import Moment, evaluate
from peaktrade.execution.results import OrderResult, Verdict, checks_payload
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import QTY_EPSILON, ControlBoard, DeskState, Order
from peaktrade.journal.writer import new_record


@lru_cache(maxsize=64)
def session_short(session_id: str) -> str:
    """The part of a session id that goes into order ids (O-<short>-<seq>)."""
    tail = session_id.rsplit("-", 1)[-1]
    return (tail or session_id)[-6:]


def moment_of(now: datetime, rules: Rules) -> Moment:
    """The decision time as the checks compare it (the rate window only when it is on)."""
    window = format_ts(now - timedelta(seconds=1)) \
        if rules.max_orders_per_second is not None else ""
    return Moment(_canonical(now), now.timestamp(), window)


_second: tuple[tuple[int, ...], str] = ((), "")


def _canonical(now: datetime) -> str:
    """format_ts, faster for the usual UTC-aware clock reading: the second is formatted
    once and reused by every decision within it."""
    global _second
    if now.tzinfo is not UTC:
        return format_ts(now)
    key = (now.second, now.minute, now.hour, now.day, now.month, now.year)
    cached = _second
    if cached[0] != key:
        cached = _second = (key, now.isoformat(timespec="microseconds")[:20])
    return f"{cached[1]}{now.microsecond:06d}Z"


# Plain strings: a record's kind is a str, never the enum.
INTENT, GATE, ORDER, FILL = Kind.INTENT.value, Kind.GATE.value, Kind.ORDER.value, Kind.FILL.value
CANCEL, REJECT, POSITION = Kind.CANCEL.value, Kind.REJECT.value, Kind.POSITION.value
CONTROL = Kind.CONTROL.value
BLOCK = Decision.BLOCK


class EventBatch:
    """The events of one decision, applied to the state as they are added (seq predicted).

    Ids derive from the seq an event will get: I-/O-<short>-<intent seq>, E-<short>-<seq>,
    so they are unique across processes without coordination.
    """

    __slots__ = ("state", "session_id", "short", "seq", "ts", "mode", "template",
                 "records", "filled", "verdict", "sends")

    def __init__(self, state: Any, session_id: str, last_seq: int, ts: str, mode: str) -> None:
        self.state = state
        self.session_id = session_id
        self.short = session_short(session_id)
        self.seq = last_seq
        self.ts = ts
        self.mode = mode
        # What every record of the batch shares, laid out by new_record; headers copy it.
        self.template = new_record(0, ts, session_id, "", mode, None, None, None, None, None,
                                   {})
        self.records: list[dict] = []
        self.filled: dict[str, Order] = {}  # symbol -> last order filled in this batch
        self.verdict: Verdict | None = None  # of the last intent decided, reasons and all
        self.sends: list[Order] = []  # orders journaled PENDING, for a remote broker to send

    def add(self, kind: str, payload: dict, symbol: str | None = None,
            strategy: str | None = None, intent_id: str | None = None,
            order_id: str | None = None, source: str | None = None, *,
            mode: str | None = None) -> dict:
        self.seq += 1
        record = new_record(self.seq, self.ts, self.session_id, kind, mode or self.mode, symbol,
                            strategy, intent_id, order_id, source, payload)
        self.state.apply(record)
        self.records.append(record)
        return record

    def header(self, symbol: str | None, strategy: str | None, intent_id: str | None,
               order_id: str | None, source: str | None, *, mode: str | None = None) -> dict:
        """The fields the records of one order share (for add_to)."""
        header = self.template.copy()
        header["symbol"] = symbol
        header["strategy"] = strategy
        header["intent_id"] = intent_id
        header["order_id"] = order_id
        header["source"] = source
        if mode:
            header["mode"] = mode
        return header

    def add_to(self, kind: str, payload: dict, header: dict) -> dict:
        """Like add, for a record of an order whose shared fields are `header`."""
        self.seq = seq = self.seq + 1
        record = header.copy()
        record["seq"] = seq
        record["kind"] = kind
        record["payload"] = payload
        self.state.apply(record)
        self.records.append(record)
        return record


class Decider:
    """Runs the checks on an intent and adds its events: intent, gate, then order or reject."""

    def __init__(self, rules: Rules, catalog: Catalog, brokers: dict[str, Broker]) -> None:
        self.rules = rules
        self.catalog = catalog
        self.brokers = brokers

    def decide(self, batch: EventBatch, intent: Intent, board: ControlBoard | None,
               kill_switch: KillSwitchView, now: datetime, moment: Moment) -> OrderResult:
        """Decide one intent into the batch; a repeated client_order_id adds nothing."""
        state: DeskState = batch.state
        coid = intent.client_order_id
        if coid is not None:
            existing = state.by_client_id.get(coid)
            if existing is not None:
                return state.orders[existing].result()
        if self.rules.breaker_limits:
            for trip in due_trips(state, self.rules, now, moment.ts, intent.strategy):
                batch.add(CONTROL, trip, strategy=trip["strategy"], source="DESK")
        verdict = evaluate(intent, state, board, kill_switch, self.rules, self.catalog, moment)
        batch.verdict = verdict
        (symbol, side, quantity, order_type, limit_price, tif, price, strategy, tags, reason,
         confidence, _, route, source) = intent
        decision, code, why, qty = verdict.decision, verdict.code, verdict.reason, \
            verdict.quantity
        seq = batch.seq + 1
        short = batch.short
        order_id = f"O-{short}-{seq}"
        intent_id = f"I-{short}-{seq}"
        note = batch.add_to
        header = batch.header(symbol, strategy, intent_id, order_id, source)
        note(INTENT, {
            "side": side, "qty": quantity, "order_type": order_type,
            "limit_price": limit_price, "tif": tif, "price": price, "tags": list(tags),
            "reason": reason, "confidence": confidence, "client_order_id": coid,
            "route": route}, header)
        note(GATE, {
            "decision": decision, "code": code, "reason": why, "qty": qty,
            "checks": checks_payload(verdict.checks)}, header)
        if decision == BLOCK:
            note(REJECT, {"code": code, "reason": why, "leaves_qty": 0.0}, header)
            return state.orders[order_id].result()
        payload = {"status": Status.NEW, "side": side, "qty": qty, "order_type": order_type,
                   "limit_price": limit_price, "tif": tif, "price": price, "route": route,
                   "client_order_id": coid}
        broker = self.brokers[route]
        if broker.remote:
            return self._journal_remote(batch, broker, intent, verdict, header, payload)
        note(ORDER, payload, header)
        order = state.orders[order_id]
        # A local broker's matching engine answers at once; its report would say no more.
        self.execute(batch, order, broker.execute(order, state, order.price), header)
        if order.tif == TimeInForce.IOC and order.status in WORKING_STATUSES:
            batch.add(CANCEL, {"code": Code.IOC_UNFILLED,
                               "reason": "IOC order not marketable; the rest is cancelled",
                               "leaves_qty": order.leaves, "actor": None},
                      symbol, strategy, intent_id, order_id, source)
        return order.result()

    def _journal_remote(self, batch: EventBatch, broker: Broker, intent: Intent,
                        verdict: Verdict, header: dict, payload: dict) -> OrderResult:
        """An order for a broker over the network: journaled with the exact request first.

        A sending route journals it PENDING and leaves the send to the desk (outside its
        locks); a dry-run route journals it as mode dry_run, and it rests, never sent.
        """
        sending = not broker.dry_run
        status = Status.PENDING if sending else Status.NEW
        # The request is built from the order as it will stand once journaled.
        order_id, intent_id = header["order_id"], header["intent_id"]
        draft = Order(order_id, intent_id, intent.client_order_id, intent.symbol, intent.side,
                      float(verdict.quantity), intent.order_type, intent.limit_price,
                      intent.tif, intent.price, intent.route, intent.source, intent.strategy,
                      batch.ts, status)
        payload["status"] = status
        payload["request"] = broker.request_body(draft)
        header = dict(header, mode=LIVE_MODE if sending else DRY_RUN_MODE)
        batch.add_to(ORDER, payload, header)
        order = batch.state.orders[order_id]
        if sending:
            batch.sends.append(order)
        return order.result()

    def execute(self, batch: EventBatch, order: Order, plan: FillPlan | None,
                header: dict | None = None) -> list[dict]:
        """Journal the fill a local broker's matching engine planned; returns the fill records.
        `header`: the order's record fields, when the caller has them already."""
        if plan is None:
            return []
        qty, price, slippage_bps, fee = plan
        leaves = max(order.leaves - qty, 0.0)
        symbol = order.symbol
        exec_id = f"E-{batch.short}-{batch.seq + 1}"
        fill = batch.add_to(FILL, {
            "qty": qty, "price": price, "fee": fee, "slippage_bps": slippage_bps,
            "leaves_qty": leaves,
            "status": Status.FILLED if leaves <= QTY_EPSILON else Status.PARTIAL,
            "side": order.side, "exec_id": exec_id, "route": order.route},
            header or batch.header(symbol, order.strategy, order.intent_id, order.order_id,
                                   order.source))
        batch.filled[symbol] = order
        return [fill]

    def fill_resting(self, batch: EventBatch, symbols: set[str], kill_switch: KillSwitchView,
                     now_ts: str) -> list[dict]:
        """Working orders on these symbols that the new quotes made marketable, in time order."""
        state: DeskState = batch.state
        fills = []
        for order in list(state.working.values()):
            broker = self.brokers.get(order.route)
            if broker is None or broker.remote or order.symbol not in symbols:
                continue  # a remote broker's fills are learned from the broker
            if self._may_fill(state, order, kill_switch, now_ts):
                fills.extend(self.execute(batch, order, broker.execute(order, state, None)))
        return fills

    def apply_report(self, batch: EventBatch, order: Order, report: BrokerOrder, *,
                     cancelled_by: str | None = None) -> None:
        """Journal what a remote broker reports about a journaled order, once.

        The acknowledgement (PENDING -> NEW, with the broker's id), then the fills not yet
        journaled, taken from the broker's cumulative quantity (so a fill learned twice,
        from polling and from a reconciliation, is journaled once: the desk compares under
        the session lock with everything the journal holds), then how the order ended.
        """
        ids = (order.symbol, order.strategy, order.intent_id, order.order_id, order.source)
        if order.status == Status.PENDING:
            batch.add(ORDER, {"status": Status.NEW, "broker_order_id": report.broker_order_id,
                              "broker_status": report.broker_status, "route": order.route,
                              "client_order_id": order.client_order_id}, *ids, mode=LIVE_MODE)
        new_qty = report.filled_qty - order.filled
        avg = report.filled_avg_price
        if new_qty > QTY_EPSILON and avg is not None and order.status in WORKING_STATUSES:
            new_qty = min(new_qty, order.leaves)
            price = (avg * report.filled_qty - order.fill_notional) / new_qty \
                if order.filled > 0 else avg
            leaves = max(order.leaves - new_qty, 0.0)
            batch.add(FILL, {
                "qty": new_qty, "price": price, "fee": 0.0,
                "slippage_bps": _slippage_bps(order.side, order.price, price),
                "leaves_qty": leaves,
                "status": Status.FILLED if leaves <= QTY_EPSILON else Status.PARTIAL,
                "side": order.side, "exec_id": f"E-{batch.short}-{batch.seq + 1}",
                "route": order.route, "broker_order_id": report.broker_order_id,
                "broker_filled_qty": report.filled_qty}, *ids, mode=LIVE_MODE)
            batch.filled[order.symbol] = order
        if order.status not in WORKING_STATUSES:
            return
        if report.status == Status.CANCELLED:
            code, reason = (Code.USER_CANCEL, f"cancelled by {cancelled_by}") \
                if cancelled_by else (Code.BROKER_CANCELLED, report.reason or
                                      f"{report.broker_status} at {order.route}")
            batch.add(CANCEL, {"code": code, "reason": reason, "leaves_qty": order.leaves,
                               "actor": cancelled_by, "broker_status": report.broker_status},
                      *ids, mode=LIVE_MODE)
        elif report.status == Status.REJECTED:
            self.refuse(batch, order, Code.BROKER_REJECTED,
                        report.reason or f"rejected by {order.route}")

    @staticmethod
    def refuse(batch: EventBatch, order: Order, code: str, reason: str) -> None:
        """Journal that a working order was refused by its broker (or never reached it)."""
        if order.status in WORKING_STATUSES:
            batch.add(REJECT, {"code": code, "reason": reason, "leaves_qty": 0.0},
                      order.symbol, order.strategy, order.intent_id, order.order_id,
                      order.source, mode=LIVE_MODE)

    def journal_positions(self, batch: EventBatch) -> None:
        """One position event per symbol the batch filled, after all its fills."""
        state: DeskState = batch.state
        for symbol, order in batch.filled.items():
            pos = state.positions[symbol]
            mark = state.marks.get(symbol, pos.avg_price)
            batch.add_to(POSITION, {
                "qty": pos.quantity, "avg_price": pos.avg_price,
                "realized_pnl": pos.realized_pnl,
                "unrealized_pnl": pos.quantity * (mark - pos.avg_price), "mark": mark},
                batch.header(symbol, order.strategy, None, order.order_id, order.source))
        batch.filled.clear()

    @staticmethod
    def _may_fill(state: DeskState, order: Order, kill_switch: KillSwitchView,
                  now_ts: str) -> bool:
        """Resting orders do not fill under HALT; under REDUCE_ONLY or a breaker, only reducing."""
        if kill_switch.engaged and kill_switch.mode == KillSwitchMode.HALT:
            return False
        restricted = kill_switch.engaged or any(
            latch.strategy in (None, order.strategy) for latch in state.active_latches(now_ts))
        return not restricted or state.is_reducing(order.symbol, order.signed_leaves)


def _slippage_bps(side: str, reference: float | None, price: float) -> float | None:
    """How much worse than the reference price a fill was, in basis points."""
    if not reference:
        return None
    moved = price - reference if side == Side.BUY else reference - price
    return round(moved / reference * 1e4, 4)

"""Projections of the journal: DeskState (one paper session) and ControlBoard (desk.jsonl).

`apply(record)` is the only place either changes. Replaying a journal through a fresh
projection gives exactly the state the live desk had.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from peaktrade.events import Kind, ts_to_epoch
from peaktrade.execution.codes import (
    PAPER_ROUTE,
    Action,
    Breaker,
    KillSwitchMode,
    OrderType,
    Side,
    Status,
    TimeInForce,
)
from peaktrade.execution.results import OrderResult
from peaktrade.journal.cursor import UNREADABLE

QTY_EPSILON = 1e-9  # quantities closer than this are equal (all quantities are lot multiples)
ORDER_TIMES_KEPT = 10_000  # recent order times, for the order rate limit


@dataclass(slots=True)
class Order:
    """A live order record inside the projection; OrderResult is its frozen snapshot."""

    order_id: str
    intent_id: str | None
    client_order_id: str | None
    symbol: str
    side: str
    quantity: float
    order_type: str
    limit_price: float | None
    tif: str
    price: float | None
    route: str
    source: str | None
    strategy: str | None
    created_at: str
    status: str
    reason: str | None = None
    filled: float = 0.0
    fill_notional: float = 0.0
    broker_order_id: str | None = None  # the broker's id, once it acknowledged the order
    broker_status: str | None = None  # the broker's last word on it

    @property
    def leaves(self) -> float:
        return max(self.quantity - self.filled, 0.0)

    @property
    def signed_leaves(self) -> float:
        return self.leaves if self.side == Side.BUY else -self.leaves

    def result(self) -> OrderResult:
        avg = self.fill_notional / self.filled if self.filled > 0 else None
        shown = avg if avg is not None else (self.limit_price if self.limit_price is not None
                                             else self.price)
        return OrderResult(self.order_id, self.client_order_id, self.symbol, self.side,
                           self.quantity, self.filled, avg, shown, self.order_type,
                           self.limit_price, self.tif, self.status, self.reason, self.route,
                           self.source, self.strategy, self.created_at,
                           self.broker_order_id, self.broker_status)


@dataclass(slots=True)
class Position:
    """Signed quantity at an average cost; realized PnL by the average-cost method."""

    symbol: str
    quantity: float = 0.0
    avg_price: float = 0.0
    realized_pnl: float = 0.0


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest quote of a symbol; `size_left` is what fills have not yet taken from it."""

    symbol: str
    bid: float | None
    ask: float | None
    last: float | None
    size: float | None
    ts: str
    epoch: float
    size_left: float | None

    @property
    def mark(self) -> float | None:
        if self.last is not None:
            return self.last
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2
        return self.bid if self.bid is not None else self.ask

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "bid": self.bid, "ask": self.ask, "last": self.last,
                "size": self.size, "ts": self.ts}


@dataclass(frozen=True, slots=True)
class Latch:
    """A tripped breaker: it blocks risk-increasing orders until `resets_at` or a reset."""

    breaker: str
    strategy: str | None
    value: float
    limit: float
    reason: str
    since: str
    resets_at: str


class DeskState:
    """Everything the desk knows about one paper session, rebuilt from its journal."""

    # Kinds apply() folds in by seq and time only: their payloads are never read.
    IGNORED_KINDS = frozenset({Kind.GATE.value, Kind.POSITION.value, Kind.HEARTBEAT.value,
                               Kind.ERROR.value, Kind.ALERT.value})

    def __init__(self, session_id: str, starting_cash: float) -> None:
        self.session_id = session_id
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.last_seq = 0
        self.orders: dict[str, Order] = {}
        self.working: dict[str, Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.positions: dict[str, Position] = {}
        self.quotes: dict[str, Quote] = {}
        self.marks: dict[str, float] = {}
        self.market_value = 0.0  # sum of position quantity x mark, kept as both change
        self.working_buy: dict[str, float] = {}
        self.working_sell: dict[str, float] = {}
        self.executions: list[dict] = []
        self.latches: dict[tuple[str, str | None], Latch] = {}
        self.order_times: deque[str] = deque(maxlen=ORDER_TIMES_KEPT)
        self.day = ""
        self.day_start_equity = starting_cash
        self.day_peak_equity = starting_cash
        self.trades_today = 0
        self.trades_by_strategy: dict[str, int] = {}
        self.loss_streak = 0
        self._intents: dict[str, dict] = {}

    def apply(self, record: dict) -> None:
        """Fold one journal record into the state."""
        self.last_seq = record["seq"]
        day = record["ts"][:10]
        if day != self.day:
            self._start_day(day)
        handler = HANDLERS.get(record["kind"])
        if handler is not None:
            handler(self, record)

    def apply_all(self, records: list[dict]) -> None:
        for record in records:
            self.apply(record)

    @property
    def equity(self) -> float:
        return self.cash + self.market_value

    def _set_mark(self, symbol: str, mark: float) -> None:
        pos = self.positions.get(symbol)
        if pos is not None and pos.quantity:
            self.market_value += pos.quantity * (mark - self.marks.get(symbol, mark))
        self.marks[symbol] = mark

    def position_qty(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        return pos.quantity if pos is not None else 0.0

    def is_reducing(self, symbol: str, signed_qty: float) -> bool:
        """An order that only shrinks the position (same size at most, opposite side)."""
        pos = self.position_qty(symbol)
        return pos * signed_qty < 0 and abs(signed_qty) <= abs(pos) + QTY_EPSILON

    def trades_on(self, day: str) -> int:
        return self.trades_today if day == self.day else 0

    def strategy_trades_on(self, day: str, strategy: str | None) -> int:
        if day != self.day or strategy is None:
            return 0
        return self.trades_by_strategy.get(strategy, 0)

    def day_start_equity_on(self, day: str) -> tuple[float, float]:
        """Start-of-day and peak equity of `day` (today's equity for a day not begun)."""
        if day == self.day:
            return self.day_start_equity, max(self.day_peak_equity, self.equity)
        equity = self.equity
        return equity, equity

    def active_latches(self, now_ts: str) -> list[Latch]:
        return [latch for latch in self.latches.values() if latch.resets_at > now_ts]

    def _start_day(self, day: str) -> None:
        equity = self.equity
        self.day = day
        self.day_start_equity = self.day_peak_equity = equity
        self.trades_today = 0
        self.trades_by_strategy = {}

    def _on_intent(self, record: dict) -> None:
        intent_id = record["intent_id"]
        if intent_id:
            self._intents[intent_id] = record

    def _new_order(self, record: dict, status: str) -> Order:
        intent_id = record["intent_id"]
        intent = self._intents.pop(intent_id, None) if intent_id else None
        payload = record["payload"]
        source = intent["payload"] if intent is not None else payload
        get = source.get
        qty = payload.get("qty", get("qty"))
        order_id = record["order_id"]
        client_order_id = get("client_order_id")
        order = Order(
            order_id, intent_id, client_order_id, record["symbol"], source["side"],
            float(qty), get("order_type", OrderType.MARKET), get("limit_price"),
            get("tif", TimeInForce.DAY), get("price"),
            get("route", payload.get("route", PAPER_ROUTE)), record["source"],
            record["strategy"], record["ts"], status)
        self.add_order(order)
        return order

    def add_order(self, order: Order) -> None:
        """Record an order (a rejected one too) under its ids."""
        self.orders[order.order_id] = order
        if order.client_order_id:
            self.by_client_id[order.client_order_id] = order.order_id

    def _on_order(self, record: dict) -> None:
        """A new order; for an order already known, what its broker acknowledged."""
        payload = record["payload"]
        order = self.orders.get(record["order_id"])
        if order is None:
            status = Status.PENDING if payload.get("status") == Status.PENDING else Status.NEW
            order = self._new_order(record, status)
            order.broker_order_id = payload.get("broker_order_id")
            order.broker_status = payload.get("broker_status")
            self.open_order(order)
            return
        if order.status == Status.PENDING:
            order.status = Status.NEW
        order.broker_order_id = payload.get("broker_order_id") or order.broker_order_id
        order.broker_status = payload.get("broker_status") or order.broker_status

    def open_order(self, order: Order) -> None:
        """A NEW order (already added) starts working: books, marks, trade counters."""
        self.working[order.order_id] = order
        symbol = order.symbol
        if symbol not in self.marks:
            price = order.limit_price if order.limit_price is not None else order.price
            if price is not None and price > 0:
                self._set_mark(symbol, price)
        # leaves of a new order: nothing is filled yet
        book = self.working_buy if order.side == Side.BUY else self.working_sell
        book[symbol] = book.get(symbol, 0.0) + max(order.quantity - order.filled, 0.0)
        self.trades_today += 1
        strategy = order.strategy
        if strategy:
            self.trades_by_strategy[strategy] = self.trades_by_strategy.get(strategy, 0) + 1
        self.order_times.append(order.created_at)

    def _on_reject(self, record: dict) -> None:
        payload = record["payload"]
        order = self.orders.get(record["order_id"])
        if order is not None:  # a broker refused an order the desk had sent
            if order.status in (Status.PENDING, Status.NEW, Status.PARTIAL):
                self._add_working(order, -order.leaves)
                order.status = Status.REJECTED
                order.reason = f"{payload.get('code')}: {payload.get('reason')}"
                self.working.pop(order.order_id, None)
            return
        if record["intent_id"] not in self._intents:
            return
        order = self._new_order(record, Status.REJECTED)
        order.reason = f"{payload.get('code')}: {payload.get('reason')}"

    def _add_working(self, order: Order, qty: float) -> None:
        book = self.working_buy if order.side == Side.BUY else self.working_sell
        book[order.symbol] = book.get(order.symbol, 0.0) + qty

    def _on_fill(self, record: dict) -> None:
        payload = record["payload"]
        order = self.orders.get(record["order_id"])
        if order is None:
            return
        self.fill(order, float(payload["qty"]), float(payload["price"]),
                  float(payload.get("fee") or 0.0),
                  payload.get("exec_id") or f"{record['order_id']}-{record['seq']}",
                  record["ts"])

    def fill(self, order: Order, qty: float, price: float, fee: float, exec_id: str,
             ts: str) -> None:
        """An execution of `order`: its status, the books, the position, cash and PnL."""
        quantity = order.quantity
        before = max(quantity - order.filled, 0.0)  # Order.leaves, inlined on the hot path
        order.filled += qty
        order.fill_notional += qty * price
        leaves = max(quantity - order.filled, 0.0)
        if leaves <= QTY_EPSILON:
            order.filled = quantity
            order.status = Status.FILLED
            self.working.pop(order.order_id, None)
            leaves = 0.0
        else:
            order.status = Status.PARTIAL
        symbol = order.symbol
        buy = order.side == Side.BUY
        book = self.working_buy if buy else self.working_sell
        book[symbol] = book.get(symbol, 0.0) + (leaves - before)
        signed = qty if buy else -qty
        quote = self.quotes.get(symbol)
        if quote is None:
            self._set_mark(symbol, price)
        realized = self._fold_position(symbol, signed, price)
        self.market_value += signed * self.marks[symbol]
        self.positions[symbol].realized_pnl -= fee
        self.cash -= signed * price + fee
        if realized is not None:
            if realized - fee < 0:
                self.loss_streak += 1
            elif realized - fee > 0:
                self.loss_streak = 0
        if quote is not None and quote.size_left is not None:
            self.quotes[symbol] = _replace_size(quote, max(quote.size_left - qty, 0.0))
        self.executions.append({
            "exec_id": exec_id, "order_id": order.order_id, "symbol": symbol,
            "side": order.side, "quantity": qty, "price": price, "timestamp": ts,
            "route": order.route,
        })
        equity = self.equity
        if equity > self.day_peak_equity:
            self.day_peak_equity = equity

    def _fold_position(self, symbol: str, signed: float, price: float) -> float | None:
        """Add a fill to the position; the realized PnL before fees, None when it only opens."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        old = pos.quantity
        new = old + signed
        realized = None
        if old == 0 or old * signed > 0:
            pos.avg_price = (old * pos.avg_price + signed * price) / new
        else:
            closed = min(abs(signed), abs(old))
            realized = closed * (price - pos.avg_price) * (1 if old > 0 else -1)
            pos.realized_pnl += realized
            if abs(new) <= QTY_EPSILON:
                new = 0.0
                pos.avg_price = 0.0
            elif new * old < 0:
                pos.avg_price = price
        pos.quantity = new
        return realized

    def _on_cancel(self, record: dict) -> None:
        order = self.orders.get(record["order_id"])
        if order is None or order.status not in (Status.PENDING, Status.NEW, Status.PARTIAL):
            return
        self._add_working(order, -order.leaves)
        payload = record["payload"]
        order.status = Status.CANCELLED
        order.reason = f"{payload.get('code')}: {payload.get('reason')}"
        self.working.pop(order.order_id, None)

    def _on_quote(self, record: dict) -> None:
        p = record["payload"]
        size = p.get("size")
        quote = Quote(record["symbol"], p.get("bid"), p.get("ask"), p.get("last"), size,
                      record["ts"], ts_to_epoch(record["ts"]), size)
        self.quotes[quote.symbol] = quote
        mark = quote.mark
        if mark is not None:
            self._set_mark(quote.symbol, mark)
            equity = self.equity
            if equity > self.day_peak_equity:
                self.day_peak_equity = equity

    def _on_control(self, record: dict) -> None:
        p = record["payload"]
        action = p.get("action")
        if action == Action.BREAKER_TRIP:
            latch = Latch(p["breaker"], p.get("strategy"), p.get("value"), p.get("limit"),
                          p.get("reason", ""), record["ts"], p["resets_at"])
            self.latches[(latch.breaker, latch.strategy)] = latch
            if latch.breaker == Breaker.LOSS_STREAK:
                self.loss_streak = 0
        elif action == Action.BREAKER_RESET:
            breaker = p.get("breaker")
            for key in [k for k in self.latches if k[0] == breaker]:
                del self.latches[key]
            self._rebase(breaker)

    def _rebase(self, breaker: str | None) -> None:
        """A manual reset restarts the breaker's measure from now."""
        if breaker in (Breaker.DAILY_LOSS, Breaker.DAILY_DRAWDOWN):
            self.day_start_equity = self.day_peak_equity = self.equity
        elif breaker == Breaker.TRADES_PER_DAY:
            self.trades_today = 0
        elif breaker == Breaker.TRADES_PER_STRATEGY:
            self.trades_by_strategy = {}
        elif breaker == Breaker.LOSS_STREAK:
            self.loss_streak = 0

    def snapshot(self) -> dict[str, Any]:
        """Everything observable, as plain data (replay-equals-live comparisons)."""
        return {
            "session_id": self.session_id, "cash": self.cash, "last_seq": self.last_seq,
            "orders": [o.result().to_dict() for o in self.orders.values()],
            "working": sorted(self.working),
            "positions": {s: (p.quantity, p.avg_price, p.realized_pnl)
                          for s, p in self.positions.items()},
            "quotes": {s: q.to_dict() for s, q in self.quotes.items()},
            "marks": dict(self.marks), "executions": list(self.executions),
            "latches": {f"{k[0]}:{k[1]}": v for k, v in self.latches.items()},
            "day": self.day, "day_start_equity": self.day_start_equity,
            "day_peak_equity": self.day_peak_equity, "trades_today": self.trades_today,
            "trades_by_strategy": dict(self.trades_by_strategy),
            "loss_streak": self.loss_streak,
        }


# By plain str: a record's kind is a str. Functions, not bound methods: a state holding its
# own methods would be a reference cycle, freed only by a full collection, orders and all.
HANDLERS = {
    Kind.INTENT.value: DeskState._on_intent, Kind.ORDER.value: DeskState._on_order,
    Kind.FILL.value: DeskState._on_fill, Kind.CANCEL.value: DeskState._on_cancel,
    Kind.REJECT.value: DeskState._on_reject, Kind.QUOTE.value: DeskState._on_quote,
    Kind.CONTROL.value: DeskState._on_control,
}


def _replace_size(quote: Quote, size_left: float) -> Quote:
    return Quote(quote.symbol, quote.bid, quote.ask, quote.last, quote.size, quote.ts,
                 quote.epoch, size_left)


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    engaged: bool = False
    mode: str = KillSwitchMode.HALT
    actor: str | None = None
    reason: str | None = None
    since: str | None = None


@dataclass(frozen=True, slots=True)
class QaState:
    blocked: bool = False
    actor: str | None = None
    reason: str | None = None
    since: str | None = None


class ControlBoard:
    """The desk journal's projection: kill switch, QA block and the active session."""

    def __init__(self) -> None:
        self.kill_switch = KillSwitchState()
        self.qa = QaState()
        self.session_id: str | None = None
        self.session_since: str | None = None
        self.last_seq = 0
        # The first break of the seq rule in the desk journal, as its follower found it:
        # while set, the kill switch counts as engaged (the controls cannot be trusted)
        self.integrity: str | None = None

    def apply(self, record: dict) -> None:
        """Fold one desk-journal record into the board."""
        self.last_seq = record["seq"]
        if record["kind"] == UNREADABLE:
            # A line that cannot be read may have been a control: fail closed until an
            # operator has looked and releases the kill switch (a journaled release).
            self.kill_switch = KillSwitchState(
                True, KillSwitchMode.HALT, "desk",
                f"the desk journal has an unreadable line after seq {record['seq']}: "
                "controls cannot be trusted (fail closed); check it, then release",
                self.kill_switch.since)
            return
        if record["kind"] != Kind.CONTROL:
            return
        p = record["payload"]
        action = p.get("action")
        ts = record["ts"]
        if action == Action.KILL_SWITCH_ENGAGE:
            self.kill_switch = KillSwitchState(True, p.get("mode") or KillSwitchMode.HALT,
                                               p.get("actor"), p.get("reason"), ts)
        elif action == Action.KILL_SWITCH_RELEASE:
            self.kill_switch = KillSwitchState(False, KillSwitchMode.HALT, p.get("actor"),
                                               p.get("reason"), ts)
        elif action == Action.QA_BLOCK:
            self.qa = QaState(True, p.get("actor"), p.get("reason"), ts)
        elif action == Action.QA_UNBLOCK:
            self.qa = QaState(False, p.get("actor"), p.get("reason"), ts)
        elif action == Action.SESSION_START and p.get("session_id"):
            self.session_id = p["session_id"]
            self.session_since = ts

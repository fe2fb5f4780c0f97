"""The Desk: every decision is catch up -> check -> append one batch -> apply, under a lock."""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from peaktrade.events import DESK_SESSION, Kind, format_ts
from peaktrade.execution import bridge
from peaktrade.execution.brokers import (
    Broker,
    BrokerError,
    BrokerRejected,
    brokers_for,
    default_route,
    routes_of,
    sends_orders,
)
from peaktrade.execution.codes import (
    BREAKERS,
    DRY_RUN_MODE,
    KILL_SWITCH_MODES,
    OPERATOR_ACTIONS,
    WORKING_STATUSES,
    Action,
    Breaker,
    Code,
    Decision,
    KillSwitchMode,
)
from peaktrade.execution.controls import (
    JOURNAL,
    KillSwitchView,
    breaker_measures,
    due_trips,
    kill_switch_view,
)
from peaktrade.execution.decisions import Decider, EventBatch, moment_of
from peaktrade.execution.errors import (
    BrokerUnreachable,
    ControlRefused,
    DeskError,
    InvalidIntent,
    OrderNotCancellable,
    UnknownOrder,
)
from peaktrade.execution.instruments import Catalog
from peaktrade.execution.intents import Intent, parse_intents, parse_quotes
from peaktrade.execution.pipeline import evaluate
from peaktrade.execution.results import OrderResult, Verdict
from peaktrade.execution.rules import Rules
from peaktrade.execution.state import ControlBoard, DeskState, Order
from peaktrade.journal import Journal, JournalCursor, JournalError, SessionWriter, newest
from peaktrade.journal.writer import utc_now

Clock = Callable[[], datetime]


def new_session_id(now: datetime) -> str:
    """A fresh paper session id: time it started plus a random suffix."""
    return f"paper-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def active_session_id(journal_or_root: Journal | str | os.PathLike[str]) -> str | None:
    """The active paper session recorded in the desk journal, without a Desk (read from the end)."""
    root = journal_or_root.root if isinstance(journal_or_root, Journal) else journal_or_root
    path = Path(root) / f"{DESK_SESSION}.jsonl"
    if not path.exists():
        return None
    latest = newest(path, 1, session_id=DESK_SESSION, kind=Kind.CONTROL.value,
                    where=lambda r: r["payload"].get("action") == Action.SESSION_START)
    return latest[0]["payload"].get("session_id") if latest else None


class Desk:
    """The execution desk of one journal: submit, what-if, cancel, quote, controls, read models.

    Safe across threads (one mutex) and processes (the journal's session lock): each
    decision catches the projection up with the journal before it runs.
    """

    def __init__(self, config: Mapping[str, Any], journal: Journal, *,
                 clock: Clock | None = None, environ: Mapping[str, str] | None = None,
                 session_ids: Callable[[datetime], str] = new_session_id,
                 owns_journal: bool = False) -> None:
        self.config = config
        self.journal = journal
        self.rules = Rules.from_config(config)
        self.catalog = Catalog.from_config(config)
        self._environ = os.environ if environ is None else environ
        self.brokers: dict[str, Broker] = brokers_for(config, self._environ)
        self._route_ids = frozenset(self.brokers)
        self._default_route = default_route(self.brokers)
        self._clock: Clock = clock or journal.clock or utc_now
        self._session_ids = session_ids
        self._owns_journal = owns_journal
        self._mutex = threading.RLock()
        self._board = ControlBoard()
        self._board_tail = JournalCursor(journal.root, DESK_SESSION, report_unreadable=True,
                                         max_line=journal.max_line_bytes)
        self._board_readable = True
        self._state: DeskState | None = None
        self._tail: JournalCursor | None = None
        self._reported: set[str] = set()  # integrity breaks this process journaled already
        self._decider = Decider(self.rules, self.catalog, self.brokers)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], journal: Journal | None = None, *,
                    clock: Clock | None = None,
                    environ: Mapping[str, str] | None = None) -> Desk:
        """A desk on the configured journal (or the one given)."""
        owns = journal is None
        journal = journal or Journal.from_config(config, clock=clock)
        return cls(config, journal, clock=clock, environ=environ, owns_journal=owns)

    def close(self) -> None:
        """Close the files the desk follows (and the journal when the desk opened it)."""
        with self._mutex:
            self._board_tail.close()
            if self._tail is not None:
                self._tail.close()
            if self._owns_journal:
                self.journal.close()

    @property
    def session_id(self) -> str:
        """The active paper session (one is started on first use)."""
        with self._mutex:
            return self._sync().session_id

    def submit(self, intents: Any, *, source: str = "API") -> list[OrderResult]:
        """Check, route and journal one intent or a batch; one result per input, in order."""
        parsed = self._parse(intents, source)
        with self._decision() as (state, writer, now):
            moment = moment_of(now, self.rules)
            kill_switch = self._kill_switch()
            batch = EventBatch(state, state.session_id, writer.last_seq, moment.ts,
                               self.rules.mode)
            board = self._board if self._board_readable else None
            decide = self._decider.decide
            results = [decide(batch, intent, board, kill_switch, now, moment)
                       for intent in parsed]
            self._commit(writer, batch)
        if batch.sends:
            sent = self._settle([bridge.send(self.brokers[order.route], copy.copy(order))
                                 for order in batch.sends], journal_unknown=True)
            results = [sent.get(result.order_id, result) for result in results]
        return results

    @property
    def sends_orders(self) -> bool:
        """Some route sends orders to a broker over the network (not dry)."""
        return any(map(sends_orders, self.brokers.values()))

    def reconcile(self) -> dict[str, Any]:
        """Bring the working orders of sending routes in line with their brokers.

        Each order is asked for (outside the locks) and what changed is journaled once:
        acknowledgements of orders in flight, fills not yet journaled, orders the broker
        ended. Run on start, then every poll interval, by `peaktrade reconcile`.
        Open orders the broker holds that this session does not know are listed.
        """
        with self._mutex:
            state = self._sync()
            orders = [copy.copy(order) for order in state.working.values()
                      if self._sending(order.route)]
            known = {order.client_order_id or order.order_id for order in state.orders.values()}
        outcomes = [bridge.refresh(self.brokers[order.route], order) for order in orders]
        strangers, unreachable = [], []
        for route, broker in self.brokers.items():
            if not self._sending(route):
                continue
            try:
                open_orders = broker.open_orders(None)
            except BrokerError as err:
                unreachable.append(f"{route}: {err}")
                continue
            strangers += [{"route": route, "broker_order_id": o.broker_order_id,
                           "client_order_id": o.client_order_id, "symbol": o.symbol,
                           "side": o.side, "qty": o.qty, "status": o.broker_status}
                          for o in open_orders if o.client_order_id not in known]
        before = {order.order_id: order.result() for order in orders}
        after = self._settle(outcomes) if outcomes else {}
        return {"checked": len(orders),
                "changed": [after[i].to_dict() for i in after if after[i] != before.get(i)],
                "unknown": [{"order_id": o.order_id, "detail": o.unknown}
                            for o in outcomes if o.unknown],
                "not_at_desk": strangers, "unreachable": unreachable}

    def _sending(self, route: str) -> bool:
        broker = self.brokers.get(route)
        return broker is not None and sends_orders(broker)

    def _settle(self, outcomes: list[bridge.Outcome], *, cancelled_by: str | None = None,
                journal_unknown: bool = False) -> dict[str, OrderResult]:
        """Journal what broker calls found out, under the session lock; the orders after.

        The projection is caught up first, so whatever another process already journaled
        about these orders (an acknowledgement, a fill) is not journaled again.
        """
        with self._decision() as (state, writer, now):
            batch = self._batch(state, writer, format_ts(now))
            decider = self._decider
            for outcome in outcomes:
                order = state.orders.get(outcome.order_id)
                if order is None:
                    continue  # another session started meanwhile
                if outcome.report is not None:
                    decider.apply_report(batch, order, outcome.report, cancelled_by=cancelled_by)
                elif outcome.refused is not None:
                    decider.refuse(batch, order, outcome.code, outcome.refused)
                elif journal_unknown:
                    batch.add(Kind.ERROR.value, {
                        "where": f"broker.{order.route.lower()}", "error": "outcome unknown",
                        "detail": f"order {order.order_id} stays PENDING until the broker "
                                  f"answers a lookup: {outcome.unknown}"},
                        order.symbol, order.strategy, order.intent_id, order.order_id,
                        order.source)
            self._commit(writer, batch)
            return {o.order_id: state.orders[o.order_id].result()
                    for o in outcomes if o.order_id in state.orders}

    def what_if(self, intents: Any, *, source: str = "API") -> list[Verdict]:
        """The verdicts submit would reach, appending nothing (a batch is checked in order)."""
        parsed = self._parse(intents, source)
        with self._mutex:
            state = self._sync()
            now = self._clock()
            moment = moment_of(now, self.rules)
            kill_switch = self._kill_switch()
            board = self._board if self._board_readable else None
            intent = parsed[0]
            if len(parsed) == 1 and intent.client_order_id not in state.by_client_id \
                    and not due_trips(state, self.rules, now, moment.ts, intent.strategy):
                return [evaluate(intent, state, board, kill_switch, self.rules, self.catalog,
                                 moment)]
            scratch = copy.deepcopy(state)
            batch = EventBatch(scratch, state.session_id, state.last_seq, moment.ts,
                               self.rules.mode)
            verdicts = []
            for intent in parsed:
                batch.verdict = None
                self._decider.decide(batch, intent, board, kill_switch, now, moment)
                verdicts.append(batch.verdict or _repeat_verdict(intent))
            return verdicts

    def cancel(self, order_id: str, *, source: str = "API",
               actor: str | None = None) -> OrderResult:
        """Cancel a working order; cancels pass even with the kill switch engaged."""
        who = actor or source
        with self._decision() as (state, writer, now):
            order = state.orders.get(order_id)
            if order is None:
                raise UnknownOrder(f"order {order_id!r} does not exist in session "
                                   f"{state.session_id}")
            if order.status not in WORKING_STATUSES:
                raise OrderNotCancellable(
                    f"order {order_id} is {order.status}; only PENDING, NEW or PARTIAL "
                    "orders can be cancelled")
            if not self._sending(order.route):
                batch = self._batch(state, writer, format_ts(now))
                dry = order.route in self.brokers and self.brokers[order.route].dry_run
                batch.add(Kind.CANCEL.value, {"code": Code.USER_CANCEL,
                                              "reason": f"cancelled by {who}",
                                              "leaves_qty": order.leaves, "actor": actor},
                          order.symbol, order.strategy, order.intent_id, order_id, source,
                          mode=DRY_RUN_MODE if dry else None)
                self._commit(writer, batch)
                return order.result()
            order = copy.copy(order)
        return self._cancel_at_broker(order, who)

    def _cancel_at_broker(self, order: Order, who: str) -> OrderResult:
        """Cancel at the broker first; the journal says cancelled once the broker does."""
        broker = self.brokers[order.route]
        try:
            outcome = bridge.cancel(broker, order)
        except BrokerRejected as err:
            self._settle([bridge.refresh(broker, order)])  # it may have filled meanwhile
            raise OrderNotCancellable(f"{order.route} refused to cancel order "
                                      f"{order.order_id}: {err}") from None
        except BrokerError as err:
            raise BrokerUnreachable(f"{order.route} did not answer the cancel of order "
                                    f"{order.order_id}; it is still working: {err}") from None
        return self._settle([outcome], cancelled_by=who).get(order.order_id, order.result())

    def quote(self, quotes: Any, *, source: str | None = None) -> list[dict]:
        """Record quotes; resting orders that became marketable fill. Returns the fill records."""
        parsed = parse_quotes(quotes)
        with self._decision() as (state, writer, now):
            moment = moment_of(now, self.rules)
            batch = self._batch(state, writer, moment.ts)
            for q in parsed:
                batch.add(Kind.QUOTE.value, {"bid": q.bid, "ask": q.ask, "last": q.last,
                                             "size": q.size}, symbol=q.symbol, source=source)
            fills = self._decider.fill_resting(batch, {q.symbol for q in parsed},
                                               self._kill_switch(), moment.ts)
            for trip in due_trips(state, self.rules, now, moment.ts, None):
                batch.add(Kind.CONTROL.value, trip, source="DESK")
            self._commit(writer, batch)
        return fills

    def heartbeat(self, component: str, status: str = "ok", lag_ms: float = 0.0) -> dict:
        """Journal that a component is alive (the dashboard's heartbeat banner reads these)."""
        with self._decision() as (state, writer, now):
            batch = self._batch(state, writer, format_ts(now))
            batch.add(Kind.HEARTBEAT.value, {"component": component, "status": status,
                                             "lag_ms": round(lag_ms, 3)},
                      source=component.upper())
            self._commit(writer, batch)
            return batch.records[-1]

    def journal_error(self, where: str, error: str, detail: str) -> dict:
        """Journal an `error` event: a component of the desk failed at something."""
        with self._decision() as (state, writer, now):
            batch = self._batch(state, writer, format_ts(now))
            batch.add(Kind.ERROR.value, {"where": where, "error": error, "detail": detail},
                      source=where.upper())
            self._commit(writer, batch)
            return batch.records[-1]

    def control(self, action: str, *, actor: str, reason: str, mode: str | None = None,
                breaker: str | None = None) -> dict:
        """Operate a control (kill switch, breaker reset, QA block); returns the control record."""
        action, actor, reason = self._check_control(action, actor, reason)
        payload: dict[str, Any] = {"action": action, "actor": actor, "reason": reason}
        if action == Action.BREAKER_RESET:
            name = str(breaker or "").upper()
            if name not in BREAKERS:
                raise InvalidIntent({"breaker": [
                    f"breaker must be one of {', '.join(BREAKERS)}, got {breaker!r}"]})
            with self._decision() as (state, writer, now):
                if not any(latch.breaker == name
                           for latch in state.active_latches(format_ts(now))):
                    raise ControlRefused(f"breaker {name} is not tripped; nothing to reset")
                batch = self._batch(state, writer, format_ts(now))
                batch.add(Kind.CONTROL.value, {**payload, "breaker": name}, source="CONTROL")
                self._commit(writer, batch)
                return batch.records[-1]
        if action == Action.KILL_SWITCH_ENGAGE:
            mode = str(mode or KillSwitchMode.HALT).upper()
            if mode not in KILL_SWITCH_MODES:
                raise InvalidIntent({"mode": [
                    f"mode must be one of {', '.join(KILL_SWITCH_MODES)}, got {mode!r}"]})
            payload["mode"] = mode
        return self._append_control(payload)

    def reset_session(self, *, actor: str | None = None) -> str:
        """Start a fresh paper session; the old session's journal stays."""
        with self._mutex:
            now = self._clock()
            session_id = self._session_ids(now)
            self._append_control({"action": Action.SESSION_START,
                                  "session_id": session_id, "actor": actor or "desk",
                                  "reason": "paper session reset"})
            return self._sync().session_id

    def controls(self) -> dict[str, Any]:
        """Kill switch, QA block and every breaker, as the UI shows them."""
        with self._mutex:
            state = self._sync()
            now_ts = format_ts(self._clock())
            board = self._board
            return {"kill_switch": self._kill_switch().to_dict(),
                    "qa_block": {"blocked": board.qa.blocked or not self._board_readable,
                                 "actor": board.qa.actor, "reason": board.qa.reason,
                                 "since": board.qa.since},
                    "breakers": self._breakers(state, now_ts)}

    def orders(self, *, limit: int | None = None, status: str | None = None,
               symbol: str | None = None, route: str | None = None,
               source: str | None = None) -> list[OrderResult]:
        """Orders of the active session, newest first, filtered."""
        with self._mutex:
            state = self._sync()
            out = []
            for order in reversed(state.orders.values()):
                if (status and order.status != status.upper()) or \
                        (symbol and order.symbol != symbol.upper()) or \
                        (route and order.route != route.upper()) or \
                        (source and (order.source or "") != source.upper()):
                    continue
                out.append(order.result())
                if limit is not None and len(out) >= limit:
                    break
            return out

    def order(self, order_id: str) -> OrderResult:
        """One order of the active session; UnknownOrder when there is none."""
        with self._mutex:
            order = self._sync().orders.get(order_id)
            if order is None:
                raise UnknownOrder(f"order {order_id!r} does not exist in session "
                                   f"{self._state.session_id}")
            return order.result()

    def executions(self, *, symbol: str | None = None, route: str | None = None,
                   limit: int | None = None) -> list[dict]:
        """Fills of the active session, newest first."""
        with self._mutex:
            out = []
            for execution in reversed(self._sync().executions):
                if (symbol and execution["symbol"] != symbol.upper()) or \
                        (route and execution["route"] != route.upper()):
                    continue
                out.append(dict(execution))
                if limit is not None and len(out) >= limit:
                    break
            return out

    def positions(self) -> list[dict]:
        """Non-zero positions, marked: quantity > 0 long, < 0 short."""
        with self._mutex:
            state = self._sync()
            out = []
            for symbol in sorted(state.positions):
                pos = state.positions[symbol]
                if pos.quantity == 0:
                    continue
                mark = state.marks.get(symbol, pos.avg_price)
                out.append({"symbol": symbol, "quantity": pos.quantity,
                            "avg_price": pos.avg_price, "mark": mark,
                            "unrealized_pnl": pos.quantity * (mark - pos.avg_price),
                            "realized_pnl": pos.realized_pnl})
            return out

    def account(self) -> dict[str, Any]:
        """Cash, equity and PnL of the active paper session."""
        with self._mutex:
            state = self._sync()
            equity = state.equity
            start, peak = state.day_start_equity_on(format_ts(self._clock())[:10])
            unrealized = sum(p.quantity * (state.marks.get(s, p.avg_price) - p.avg_price)
                             for s, p in state.positions.items())
            return {"session_id": state.session_id, "cash": state.cash, "equity": equity,
                    "start_equity": state.starting_cash,
                    "realized_pnl": sum(p.realized_pnl for p in state.positions.values()),
                    "unrealized_pnl": unrealized, "day_pnl": equity - start,
                    "drawdown_pct": (peak - equity) / start * 100 if start > 0 else 0.0}

    def quotes(self) -> list[dict]:
        """The latest quote of each symbol."""
        with self._mutex:
            state = self._sync()
            return [state.quotes[s].to_dict() for s in sorted(state.quotes)]

    def routes(self) -> list[dict]:
        return [route.to_dict() for route in routes_of(self.brokers)]

    def instruments(self) -> list[dict]:
        """The instrument catalog (the order form's symbol suggestions)."""
        return [i.to_dict() for i in self.catalog.all()]

    def state(self) -> DeskState:
        """The projection, caught up (tests compare it with a replay)."""
        with self._mutex:
            return self._sync()

    def _parse(self, intents: Any, source: str) -> list[Intent]:
        parsed = parse_intents(intents, source=source, routes=self._route_ids,
                               default_route=self._default_route)
        if self.catalog.strict:
            errors = {}
            for index, intent in enumerate(parsed):
                if not self.catalog.known(intent.symbol):
                    key = "symbol" if len(parsed) == 1 and not isinstance(intents, list) \
                        else f"{index}.symbol"
                    errors[key] = [f"unknown symbol {intent.symbol!r}; known: "
                                   f"{', '.join(self.catalog.symbols())}"]
            if errors:
                raise InvalidIntent(errors)
        return parsed

    def _kill_switch(self) -> KillSwitchView:
        return kill_switch_view(self._board if self._board_readable else None, self._environ)

    def _check_control(self, action: str, actor: str, reason: str) -> tuple[str, str, str]:
        errors = {}
        if action not in OPERATOR_ACTIONS:
            errors["action"] = [f"action must be one of {', '.join(OPERATOR_ACTIONS)}, "
                                f"got {action!r}"]
        if not isinstance(actor, str) or not actor.strip():
            errors["actor"] = [f"actor (who) is required, got {actor!r}"]
        if not isinstance(reason, str) or not reason.strip():
            errors["reason"] = [f"reason (why) is required, got {reason!r}"]
        if errors:
            raise InvalidIntent(errors)
        return action, actor.strip(), reason.strip()

    def _append_control(self, payload: dict) -> dict:
        """Append a control to the desk journal under its lock, after re-reading it."""
        with self._mutex, self.journal.locked(DESK_SESSION) as writer:
            self._poll_board()
            if not self._board_readable:
                raise JournalError("the desk journal cannot be read; controls are refused")
            action = payload["action"]
            ks, qa = self._board.kill_switch, self._board.qa
            if action == Action.KILL_SWITCH_RELEASE:
                env = kill_switch_view(self._board, self._environ)
                if env.engaged and env.source != JOURNAL:
                    raise ControlRefused(
                        f"the kill switch is engaged by the environment ({env.reason}); unset "
                        "PEAKTRADE_KILL_SWITCH and restart to release it")
                if not ks.engaged:
                    raise ControlRefused("the kill switch is not engaged; nothing to release")
            elif action == Action.QA_UNBLOCK and not qa.blocked:
                raise ControlRefused("QA block is not set; nothing to unblock")
            return self._write_control(writer, payload)

    def _poll_board(self) -> None:
        try:
            records = self._board_tail.poll()
        except OSError:
            self._board_readable = False
            return
        self._board_readable = True
        for record in records:
            self._board.apply(record)
        broken = self._board_tail.broken
        integrity = broken.describe() if broken is not None else None
        if integrity != self._board.integrity:
            self._board.integrity = integrity
            if integrity is not None and self._state is not None:
                self._report_integrity(self._state.session_id, DESK_SESSION, integrity)

    def _report_integrity(self, session_id: str, broken: str, problem: str) -> None:
        """Journal an `error` that a journal breaks the integrity rules, once per process,
        in a journal that can still be written (best effort: the refusal stands anyway)."""
        key = f"{broken}:{problem}"
        if key in self._reported:
            return
        self._reported.add(key)
        with contextlib.suppress(JournalError, OSError, ValueError):
            self.journal.append(session_id, [{
                "kind": Kind.ERROR.value, "source": "JOURNAL",
                "payload": {"where": "journal.integrity", "error": "journal integrity broken",
                            "detail": f"journal {broken}: {problem}; it is not appended to "
                                      "until `peaktrade journal repair` quarantines the "
                                      "offending lines", "session_id": broken}}])

    def _sync(self) -> DeskState:
        """Catch up with the desk journal and the active session's journal (no lock held)."""
        state = self._active_state()
        state.apply_all(self._tail.poll())
        return state

    def _active_state(self) -> DeskState:
        """The projection of the active session (switched when another session started)."""
        self._poll_board()
        session_id = self._board.session_id
        if session_id is None:
            if not self._board_readable and self._state is not None:
                return self._state
            session_id = self._start_first_session()
        if self._state is None or self._state.session_id != session_id:
            if self._tail is not None:
                self._tail.close()
            self._state = DeskState(session_id, self.rules.starting_cash)
            self._tail = self._cursor(session_id)
        return self._state

    def _cursor(self, session_id: str) -> JournalCursor:
        return JournalCursor(self.journal.root, session_id, head_only=DeskState.IGNORED_KINDS,
                             max_line=self.journal.max_line_bytes)

    def _start_first_session(self) -> str:
        """Start a session unless another process just did, under the desk journal's lock."""
        with self.journal.locked(DESK_SESSION) as writer:
            self._poll_board()
            if not self._board_readable:
                raise JournalError("the desk journal cannot be read; no active session is known")
            if self._board.session_id is None:
                self._write_control(writer, {
                    "action": Action.SESSION_START, "actor": "desk",
                    "session_id": self._session_ids(self._clock()), "reason": "first use"})
            return self._board.session_id

    def _write_control(self, writer: SessionWriter, payload: dict) -> dict:
        batch = EventBatch(self._board, DESK_SESSION, writer.last_seq,
                           format_ts(self._clock()), self.rules.mode)
        batch.add(Kind.CONTROL.value, payload, source="CONTROL")
        records = writer.append(batch.records)
        self._board_tail.wrote(records[-1]["seq"], writer.end)
        return records[-1]

    def _decision(self) -> _Decision:
        """Hold the session lock, caught up; on any failure the projection is rebuilt."""
        return _Decision(self)

    def _caught_up(self, writer: SessionWriter) -> DeskState:
        """Under the session lock: the projection with everything the journal holds."""
        state = self._state
        if state.last_seq != writer.last_seq:  # seq is gap-free: equal = caught up
            state.apply_all(self._tail.poll())
        if state.last_seq != writer.last_seq:
            state = self._rebuild(writer.session_id, writer.last_seq)
        return state

    def _rebuild(self, session_id: str, last_seq: int) -> DeskState:
        """Read the session again from its start (the projection lost track of the journal)."""
        self._tail.close()
        self._state = DeskState(session_id, self.rules.starting_cash)
        self._tail = self._cursor(session_id)
        self._state.apply_all(self._tail.poll())
        if self._state.last_seq != last_seq:
            raise DeskError(f"journal of {session_id} ends at seq {last_seq} but only "
                            f"{self._state.last_seq} could be read")
        return self._state

    def _batch(self, state: DeskState, writer: SessionWriter, ts: str) -> EventBatch:
        """An empty batch of events for this decision, seq following the journal's."""
        return EventBatch(state, state.session_id, writer.last_seq, ts, self.rules.mode)

    def _commit(self, writer: SessionWriter, batch: EventBatch) -> None:
        """Append the batch the decision applied to the projection: all or nothing. On any
        failure the projection is dropped and rebuilt from the journal (see _Decision)."""
        self._decider.journal_positions(batch)
        if not batch.records:
            return
        records = writer.append(batch.records)
        if records[-1]["seq"] != batch.seq:
            raise DeskError(f"journal assigned seq {records[-1]['seq']}, the desk expected "
                            f"{batch.seq}; the projection is rebuilt")
        self._tail.wrote(batch.seq, writer.end)

    def _breakers(self, state: DeskState, now_ts: str) -> list[dict]:
        measures = breaker_measures(state, self.rules, now_ts[:10], None)
        if Breaker.TRADES_PER_STRATEGY in self.rules.breaker_limits:
            measures[Breaker.TRADES_PER_STRATEGY] = max(
                (state.strategy_trades_on(now_ts[:10], s) for s in state.trades_by_strategy),
                default=0)
        out = []
        for name in BREAKERS:
            latches = [latch for key, latch in state.latches.items()
                       if key[0] == name and latch.resets_at > now_ts]
            limit = self.rules.breaker_limits.get(name)
            if limit is None and not latches:
                continue
            latch = latches[0] if latches else None
            out.append({"name": name, "tripped": latch is not None,
                        "value": latch.value if latch else measures.get(name),
                        "limit": latch.limit if latch else limit,
                        "resets_at": latch.resets_at if latch else None,
                        "reason": latch.reason if latch else None,
                        "since": latch.since if latch else None})
        return out


class _Decision:
    """Desk._decision: the desk mutex, then the session lock, the projection caught up.

    A plain context manager rather than a generator: it is entered on every decision.
    """

    __slots__ = ("_desk", "_lock", "_writer")

    def __init__(self, desk: Desk) -> None:
        self._desk = desk

    def __enter__(self) -> tuple[DeskState, SessionWriter, datetime]:
        desk = self._desk
        desk._mutex.acquire()
        try:
            self._lock = desk.journal.locked(desk._active_state().session_id)
            self._writer = self._lock.__enter__()
        except BaseException:
            desk._mutex.release()
            raise
        try:
            broken = self._writer.broken
            if broken is None:
                return desk._caught_up(self._writer), self._writer, desk._clock()
        except BaseException:
            self.__exit__(True)
            raise
        self.__exit__(True)
        # Said in the desk journal once the session lock is released (locks are only ever
        # taken desk journal first).
        desk._report_integrity(DESK_SESSION, self._writer.session_id, str(broken))
        raise broken

    def __exit__(self, failed: object, *exc: object) -> None:
        desk = self._desk
        try:
            # The decision applied its records before appending them: unless the journal
            # holds every one, the projection is rebuilt from the journal.
            if failed and desk._state is not None \
                    and desk._state.last_seq != self._writer.last_seq:
                desk._state = None
        finally:
            try:
                self._lock.__exit__()
            finally:
                desk._mutex.release()


def _repeat_verdict(intent: Intent) -> Verdict:
    """The verdict on an intent whose client_order_id was already used (no checks run)."""
    return Verdict(intent.symbol, intent.side, intent.quantity, Decision.PASS, None,
                   "client_order_id already used: the original order stands", ())

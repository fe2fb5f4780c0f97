"""Property tests: random sequences of intents, quotes, cancels and controls (issue 3)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade.config import load_config
from peaktrade.execution import ControlRefused, Desk
from peaktrade.execution.risk import symbol_exposure
from peaktrade.execution.state import DeskState
from peaktrade.journal import Journal, read_events
from tests.unit.execution.conftest import FakeClock

SYMBOLS = ("AAPL", "MSFT", "SOL-USD")
BASE = {"AAPL": 100.0, "MSFT": 50.0, "SOL-USD": 20.0}
GROSS_LIMIT = 5_000.0
EPS = 1e-6

submit_op = st.tuples(
    st.just("submit"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]),
    st.integers(min_value=1, max_value=30), st.sampled_from(["MARKET", "LIMIT"]),
    st.floats(min_value=-0.05, max_value=0.05), st.sampled_from(["DAY", "IOC"]),
    st.sampled_from(["alpha", "beta"]))
quote_op = st.tuples(st.just("quote"), st.sampled_from(SYMBOLS),
                     st.floats(min_value=-0.04, max_value=0.04),
                     st.one_of(st.none(), st.integers(min_value=1, max_value=20)))
cancel_op = st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=50))
control_op = st.tuples(st.just("control"),
                       st.sampled_from(["HALT", "HALT", "REDUCE_ONLY", "release", "reset"]))
advance_op = st.tuples(st.just("advance"), st.sampled_from([0.2, 0.2, 5.0, 30.0, 36_000.0]))
OPERATIONS = {"submit": submit_op, "quote": quote_op, "cancel": cancel_op,
              "control": control_op, "advance": advance_op}
WEIGHTS = ["submit"] * 8 + ["quote"] * 5 + ["control"] * 2 + ["cancel", "advance"]
operations = st.lists(st.sampled_from(WEIGHTS).flatmap(OPERATIONS.__getitem__),
                      min_size=10, max_size=50)


def gross(state: DeskState) -> float:
    names = set(state.positions) | set(state.working_buy) | set(state.working_sell)
    return sum(symbol_exposure(state, s, state.marks.get(s, 0.0)) for s in names)


def run(ops) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(datetime(2026, 3, 2, 22, 0, tzinfo=UTC))
        config = load_config({"log_dir": tmp, "journal": {"fsync": "never"},
                              "gates": {"min_notional": 1.0},
                              "risk": {"max_gross_exposure": GROSS_LIMIT},
                              "breakers": {"max_trades_per_day": 5, "max_loss_streak": 2}},
                             environ={})
        desk = Desk(config, Journal.from_config(config, clock=clock), clock=clock, environ={},
                    owns_journal=True)
        try:
            prices = dict(BASE)
            desk.quote([{"symbol": s, "bid": p * 0.999, "ask": p * 1.001, "last": p}
                        for s, p in prices.items()])
            for op in ops:
                step(desk, clock, prices, op)
            check_replay_and_fills(desk, tmp)
        finally:
            desk.close()


def step(desk: Desk, clock: FakeClock, prices: dict, op: tuple) -> None:
    state = desk.state()
    before_fills = len(state.executions)
    before_positions = {s: p.quantity for s, p in state.positions.items()}
    before_gross = gross(state)
    kill = desk.controls()["kill_switch"]
    now_ts = clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kind = op[0]
    if kind == "submit":
        _, symbol, side, qty, order_type, offset, tif, strategy = op
        intent = {"symbol": symbol, "side": side, "quantity": qty, "tif": tif,
                  "strategy": strategy}
        if order_type == "LIMIT":
            intent["limit_price"] = round(prices[symbol] * (1 + offset), 4)
        signed = qty if side == "BUY" else -qty
        reducing = state.is_reducing(symbol, signed)
        latched = [latch for latch in state.latches.values() if latch.resets_at > now_ts
                   and latch.strategy in (None, strategy)]
        (result,) = desk.submit(intent)
        accepted = result.status != "REJECTED"
        if accepted:
            assert gross(desk.state()) <= max(GROSS_LIMIT, before_gross) + EPS
            assert not latched or reducing, "a latched breaker let a risk-increasing order in"
    elif kind == "quote":
        _, symbol, move, size = op
        prices[symbol] = round(prices[symbol] * (1 + move), 4)
        p = prices[symbol]
        desk.quote({"symbol": symbol, "bid": p * 0.999, "ask": p * 1.001, "last": p,
                    "size": size})
    elif kind == "cancel":
        working = [o for o in desk.orders() if o.status in ("NEW", "PARTIAL")]
        if working:
            desk.cancel(working[op[1] % len(working)].order_id)
    elif kind == "control":
        try:
            if op[1] == "release":
                desk.control("kill_switch.release", actor="prop", reason="test")
            elif op[1] == "reset":
                for name in {k[0] for k in desk.state().latches}:
                    desk.control("breaker.reset", actor="prop", reason="t", breaker=name)
            else:
                desk.control("kill_switch.engage", actor="prop", reason="test", mode=op[1])
        except ControlRefused:
            pass
    else:
        clock.advance(op[1])
    after = desk.state()
    if kill["engaged"] and kill["mode"] == "HALT":
        assert len(after.executions) == before_fills, "a fill while the kill switch is HALT"
    if kill["engaged"] and kill["mode"] == "REDUCE_ONLY":
        for symbol, pos in after.positions.items():
            assert abs(pos.quantity) <= abs(before_positions.get(symbol, 0.0)) + EPS, \
                "a position grew in REDUCE_ONLY"


def check_replay_and_fills(desk: Desk, root: str) -> None:
    live = desk.state()
    replayed = DeskState(live.session_id, live.starting_cash)
    replayed.apply_all(list(read_events(root, session_id=live.session_id)))
    assert replayed.snapshot() == live.snapshot()
    for symbol, pos in live.positions.items():
        signed = sum(e["quantity"] if e["side"] == "BUY" else -e["quantity"]
                     for e in live.executions if e["symbol"] == symbol)
        assert abs(pos.quantity - signed) < EPS


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_desk_invariants_hold_for_random_sequences(ops):
    run(ops)

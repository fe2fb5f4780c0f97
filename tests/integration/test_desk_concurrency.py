"""Several processes deciding on one journal stay consistent (issue 3, Must hold)."""

from __future__ import annotations

import multiprocessing

from peaktrade.config import load_config
from peaktrade.execution import Desk
from peaktrade.execution.state import DeskState
from peaktrade.journal import read_events

GROSS_LIMIT = 20_000.0
PROCESSES = 4
ORDERS_PER_PROCESS = 60


def _config(root: str):
    return load_config({"log_dir": root, "journal": {"fsync": "never"},
                        "risk": {"max_gross_exposure": GROSS_LIMIT},
                        "paper": {"slippage_bps": 0}}, environ={})


def _trader(root: str, worker: int, barrier) -> None:
    desk = Desk.from_config(_config(root), environ={})
    barrier.wait()
    symbols = ("AAPL", "MSFT", "GOOGL")
    for i in range(ORDERS_PER_PROCESS):
        desk.submit({"symbol": symbols[(i + worker) % 3], "side": "BUY", "quantity": 3,
                     "price": 100.0, "client_order_id": f"w{worker}-{i}", "strategy": "race"})
    desk.close()


def test_four_processes_never_exceed_one_gross_limit_together(tmp_path):
    root = str(tmp_path / "journal")
    desk = Desk.from_config(_config(root), environ={})
    session_id = desk.session_id
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_trader, args=(root, w, barrier)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    records = list(read_events(root, session_id=session_id))
    state = DeskState(session_id, 100_000)
    state.apply_all(records)
    gross = sum(abs(p.quantity) * state.marks[s] for s, p in state.positions.items())
    assert gross <= GROSS_LIMIT
    assert gross >= GROSS_LIMIT - 300  # the limit was reached, not avoided
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    orders = [r for r in records if r["kind"] == "order"]
    assert len({r["order_id"] for r in orders}) == len(orders)
    intents = [r for r in records if r["kind"] == "intent"]
    assert len(intents) == PROCESSES * ORDERS_PER_PROCESS
    assert desk.state().snapshot() == state.snapshot()
    desk.close()

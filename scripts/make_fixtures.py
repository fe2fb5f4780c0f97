"""Regenerate the golden journal fixtures byte for byte with the real Journal.

    python scripts/make_fixtures.py [OUT_DIR]     (default: fixtures/)

Every session is written through peaktrade.journal.Journal with an injected clock,
so the files only change when the journal's format or these scenarios change.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peaktrade.journal import Journal

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CHECKS = ("PriceSanity", "ResearchOnly", "LotSize", "MinNotional")
PRICES = {"BTC-USD": 100_000.0, "ETH-USD": 2_500.0, "SOL-USD": 150.0}

# intent->order and order->fill latencies of the latency session, in ms (None: no fill)
LATENCY_CHAINS = (("lat-1", "BTC-USD", 50, 5), ("lat-2", "BTC-USD", 100, 15),
                  ("lat-3", "ETH-USD", 120, 250), ("lat-4", "SOL-USD", 3000, 1200),
                  ("lat-5", "ETH-USD", 80, None))

# Invalid lines of several kinds, written between valid events of the bad-lines session.
BAD_LINES = (
    b'{"v":1,"seq":3,"ts":"2026-01-05T14:30:0',      # cut short: the next append ends it
    b"this is not json at all",                       # plain text
    b"[1, 2, 3]",                                      # JSON, but not an object
    b'{"v":1,"payload":{}}',                           # an object without a kind
    b'{"kind":"fill","ts":"yesterday","payload":{}}',  # a time that is not a time
    b'{"kind":"fill","ts":"2026-01-05T14:30:01Z","payload":[1]}',  # payload not an object
    b"\xff\xfe\xfdnot utf-8\xc3\x28",                  # not UTF-8
    b"\x00\x00\x00\x00",                               # NUL bytes
)
PARTIAL_LAST_LINE = b'{"v":1,"seq":99,"ts":"2026-01-05T14:31:00.000000Z","session_id":"gol'


class FixtureClock:
    """A settable clock for the journal: every append is stamped with `now`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, ms: float) -> FixtureClock:
        self.now = START + timedelta(milliseconds=ms)
        return self


def checks(symbol: str, qty: float, decision: str = "pass",
           blocked_value: float | None = None) -> list[dict]:
    """The four gate checks of one verdict; the last one blocks when asked to."""
    notional = round(qty * PRICES[symbol], 2)
    out = []
    for gate in CHECKS:
        blocks = decision == "block" and gate == "MinNotional"
        value = blocked_value if blocks else notional if gate == "MinNotional" else qty
        out.append({"gate": gate, "decision": "block" if blocks else "pass",
                    "code": "MIN_NOTIONAL" if blocks else "OK",
                    "reason": "notional below minimum" if blocks else "ok",
                    "limit": 10.0 if gate == "MinNotional" else None, "value": value,
                    "headroom": round(value - 10.0, 2) if gate == "MinNotional" else None})
    return out


def intent_events(intent_id: str, symbol: str, qty: float, strategy: str, *,
                  order_type: str = "MARKET", decision: str = "pass",
                  blocked_value: float | None = None) -> list[dict]:
    """intent + its gate verdict, as the desk journals them in one batch."""
    side = "BUY"
    common = {"symbol": symbol, "strategy": strategy, "intent_id": intent_id, "source": "API"}
    price = PRICES[symbol]
    verdict = {"decision": decision, "code": "MIN_NOTIONAL" if decision == "block" else "OK",
               "reason": "notional below minimum" if decision == "block" else "all checks passed",
               "qty": qty, "checks": checks(symbol, qty, decision, blocked_value)}
    return [
        {**common, "kind": "intent",
         "payload": {"side": side, "qty": qty, "order_type": order_type,
                     "limit_price": price * 0.99 if order_type == "LIMIT" else None,
                     "tif": "DAY", "price": price, "tags": [], "reason": "signal",
                     "confidence": 0.7, "client_order_id": f"c-{intent_id}", "route": "PAPER"}},
        {**common, "kind": "gate", "payload": verdict},
    ]


def order_event(intent_id: str, symbol: str, qty: float, strategy: str,
                order_type: str = "MARKET") -> dict:
    return {"kind": "order", "symbol": symbol, "strategy": strategy, "intent_id": intent_id,
            "order_id": f"o-{intent_id}", "source": "API",
            "payload": {"status": "NEW", "side": "BUY", "qty": qty, "order_type": order_type,
                        "limit_price": PRICES[symbol] * 0.99 if order_type == "LIMIT" else None,
                        "tif": "DAY", "route": "PAPER", "client_order_id": f"c-{intent_id}"}}


def fill_events(intent_id: str, symbol: str, qty: float, strategy: str) -> list[dict]:
    """A full fill at the price moved 5 bps against the buyer, and the position after it."""
    price = round(PRICES[symbol] * 1.0005, 2)
    common = {"symbol": symbol, "strategy": strategy, "intent_id": intent_id,
              "order_id": f"o-{intent_id}", "source": "API"}
    return [
        {**common, "kind": "fill",
         "payload": {"side": "BUY", "qty": qty, "price": price, "fee": 0.0,
                     "slippage_bps": 5.0, "leaves_qty": 0.0, "status": "FILLED"}},
        {**common, "kind": "position", "order_id": None, "intent_id": None,
         "payload": {"qty": qty, "avg_price": price, "realized_pnl": 0.0,
                     "unrealized_pnl": 0.0, "mark": PRICES[symbol]}},
    ]


def quote_event(symbol: str) -> dict:
    price = PRICES[symbol]
    return {"kind": "quote", "symbol": symbol, "source": "DEMO",
            "payload": {"bid": price - 5, "ask": price + 5, "last": price, "size": 10.0}}


Timeline = list[tuple[float, list[dict]]]


def write_session(root: Path, session_id: str, timeline: Timeline,
                  raw: Callable[[int], bytes | None] | None = None) -> None:
    """Append each batch at its time; `raw(i)` may write bytes directly after batch i."""
    clock = FixtureClock(START)
    journal = Journal(root, fsync="never", max_bytes=1 << 30, clock=clock)
    path = root / f"{session_id}.jsonl"
    for index, (ms, batch) in enumerate(sorted(timeline, key=lambda item: item[0])):
        clock.at(ms)
        journal.append(session_id, batch)
        extra = raw(index) if raw else None
        if extra is not None:
            with open(path, "ab") as fh:
                fh.write(extra)
    journal.close()


def ok_timeline() -> Timeline:
    """Three symbols, two strategies, nine clean intent->gate->order->fill chains."""
    timeline: Timeline = [(0, [quote_event(symbol) for symbol in PRICES])]
    qty = {"BTC-USD": 0.5, "ETH-USD": 2.0, "SOL-USD": 10.0}
    for n in range(9):
        symbol = tuple(PRICES)[n % 3]
        strategy = "momentum" if n % 2 == 0 else "mean_revert"
        intent_id = f"ok-{n + 1}"
        start = 1000 + n * 1000
        timeline.append((start, intent_events(intent_id, symbol, qty[symbol], strategy)))
        timeline.append((start + 40 + n, [order_event(intent_id, symbol, qty[symbol],
                                                      strategy)]))
        timeline.append((start + 60 + 2 * n, fill_events(intent_id, symbol, qty[symbol],
                                                         strategy)))
    timeline.append((10_500, [{"kind": "heartbeat", "source": "DEMO",
                               "payload": {"component": "demo", "status": "ok",
                                           "lag_ms": 12}}]))
    return timeline


def latency_timeline() -> Timeline:
    """Chains with known latencies, interleaved on the same symbols; a veto; a lone intent."""
    timeline: Timeline = []
    for n, (intent_id, symbol, to_order, to_fill) in enumerate(LATENCY_CHAINS):
        start = n * 500  # chains overlap in time: only the ids can join them
        order_type = "MARKET" if to_fill is not None else "LIMIT"
        timeline.append((start, intent_events(intent_id, symbol, 1.0, "latency",
                                              order_type=order_type)))
        timeline.append((start + to_order, [order_event(intent_id, symbol, 1.0, "latency",
                                                        order_type)]))
        if to_fill is not None:
            timeline.append((start + to_order + to_fill,
                             fill_events(intent_id, symbol, 1.0, "latency")))
    timeline.append((6000, intent_events("lat-veto", "SOL-USD", 0.05, "latency",
                                         decision="block", blocked_value=7.5)))
    timeline.append((6000, [{"kind": "reject", "symbol": "SOL-USD", "strategy": "latency",
                             "intent_id": "lat-veto", "source": "API",
                             "payload": {"code": "MIN_NOTIONAL",
                                         "reason": "MIN_NOTIONAL: notional 7.50 < 10.00",
                                         "leaves_qty": 0.0}}]))
    timeline.append((6500, intent_events("lat-waiting", "BTC-USD", 1.0, "latency")))
    return timeline


def bad_lines_timeline() -> Timeline:
    """Clean chains on two symbols; invalid lines are written between the batches."""
    timeline: Timeline = []
    for n in range(4):
        symbol = "BTC-USD" if n % 2 == 0 else "ETH-USD"
        intent_id = f"bad-{n + 1}"
        start = n * 1000
        timeline.append((start, intent_events(intent_id, symbol, 1.0, "momentum")))
        timeline.append((start + 30, [order_event(intent_id, symbol, 1.0, "momentum")]))
        timeline.append((start + 45, fill_events(intent_id, symbol, 1.0, "momentum")))
    return timeline


def bad_line_after(index: int) -> bytes | None:
    """One invalid line (or a blank one) after each of the first batches, then none.

    The first is left without its newline, like a killed writer's, so the journal's
    next append has to terminate it.
    """
    if index == 0:
        return BAD_LINES[0]
    if index < len(BAD_LINES):
        return BAD_LINES[index] + b"\n"
    if index == len(BAD_LINES):
        return b"\n"
    return None


def generate(out_dir: Path) -> list[Path]:
    """Write the three golden sessions into out_dir; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_session(root, "golden_session_ok", ok_timeline())
        write_session(root, "golden_session_latency", latency_timeline())
        write_session(root, "golden_session_bad_lines", bad_lines_timeline(), bad_line_after)
        with open(root / "golden_session_bad_lines.jsonl", "ab") as fh:
            fh.write(PARTIAL_LAST_LINE)
        for name in ("golden_session_ok", "golden_session_bad_lines", "golden_session_latency"):
            target = out_dir / f"{name}.jsonl"
            shutil.copyfile(root / f"{name}.jsonl", target)
            written.append(target)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT_ROOT / "fixtures"
    for path in generate(out):
        print(f"wrote {path.relative_to(out.parent) if out.parent in path.parents else path}")

"""Append cost per event, with the session lock and the default fsync policy (interval).

    python bench/bench_journal.py [EVENTS]

Targets (issue 2): <= 15 us/event for single-event appends, <= 5 us/event in batches
of 5. Predecessor on this machine class: 38 us/event.
"""

from __future__ import annotations

import sys
import tempfile
import time

from peaktrade.journal import Journal

TARGET_SINGLE_US = 15.0
TARGET_BATCH5_US = 5.0
PREDECESSOR_US = 38.0
EVENT = {"kind": "fill", "symbol": "BTC-USD", "strategy": "momentum", "intent_id": "i-1",
         "order_id": "o-1", "source": "API",
         "payload": {"side": "BUY", "qty": 0.5, "price": 100_050.0, "fee": 0.0,
                     "slippage_bps": 5.0, "leaves_qty": 0.0, "status": "FILLED"}}


def per_event_us(journal: Journal, events: int, batch: int) -> float:
    """Best of three runs of `events` appends in batches of `batch`, in us per event."""
    batch_events = [EVENT] * batch
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(events // batch):
            journal.append("bench", batch_events)
        best = min(best, (time.perf_counter() - started) / events * 1e6)
    return best


def main() -> int:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        journal = Journal(tmp)  # defaults: fsync interval (1 s), 10 MB rotation
        per_event_us(journal, 2_000, 1)  # warm up: files open, code paths hot
        single = per_event_us(journal, events, 1)
        batched = per_event_us(journal, events, 5)
        journal.close()
    for label, figure, target in (("single-event appends", single, TARGET_SINGLE_US),
                                  ("batches of 5", batched, TARGET_BATCH5_US)):
        print(f"{label}: {figure:.1f} us/event (target <= {target:.0f} us: "
              f"{'met' if figure <= target else 'NOT met'}; "
              f"{PREDECESSOR_US / figure:.1f}x faster than the predecessor's "
              f"{PREDECESSOR_US:.0f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

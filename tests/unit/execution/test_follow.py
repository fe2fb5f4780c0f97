"""The projection follows the journal: other writers, rotation, partial lines."""

from __future__ import annotations

import gc
import weakref

import pytest

from peaktrade.events import KINDS
from peaktrade.execution.follow import SessionTail
from peaktrade.execution.state import HANDLERS, DeskState
from peaktrade.journal import Journal, read_events
from peaktrade.journal.writer import new_record
from tests.unit.execution.conftest import buy, sell


def test_desks_follow_each_other_across_rotations(make_desk, tmp_path):
    one = make_desk(journal={"max_bytes": 4096, "fsync": "never"})
    two = make_desk(journal={"max_bytes": 4096, "fsync": "never"})
    for i in range(40):
        (one if i % 2 else two).submit(buy("AAPL", 1) if i % 3 else sell("MSFT", 2))
    assert list((tmp_path / "journal" / "archive").iterdir())
    assert one.state().snapshot() == two.state().snapshot()
    assert len(one.orders()) == 40
    fresh = DeskState(one.session_id, 100_000)
    fresh.apply_all(list(read_events(tmp_path / "journal", session_id=one.session_id)))
    assert fresh.snapshot() == one.state().snapshot()


def test_tail_skips_its_own_writes_and_reads_everyone_elses(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    tail = SessionTail(tmp_path, "s1")
    assert tail.poll() == []
    with journal.locked("s1") as writer:
        records = writer.append([{"kind": "heartbeat", "payload": {}}] * 3)
        tail.wrote(records[-1]["seq"])
    assert tail.poll() == []
    journal.append("s1", [{"kind": "alert", "payload": {"n": 1}}])
    assert [r["seq"] for r in tail.poll()] == [4]
    journal.close()
    tail.close()


def test_tail_holds_a_partial_line_until_its_newline(tmp_path):
    path = tmp_path / "s1.jsonl"
    line = (b'{"v":1,"seq":1,"ts":"2026-03-02T14:30:00.000000Z","session_id":"s1",'
            b'"kind":"heartbeat","mode":"paper","symbol":null,"strategy":null,'
            b'"intent_id":null,"order_id":null,"source":null,"payload":{}}\n')
    path.write_bytes(line[:40])
    tail = SessionTail(tmp_path, "s1")
    assert tail.poll() == []
    with open(path, "ab") as fh:
        fh.write(line[40:])
    assert [r["seq"] for r in tail.poll()] == [1]
    tail.close()


def test_tail_skips_its_own_writes_across_rotations_and_still_reads_the_others(tmp_path):
    journal = Journal(tmp_path, fsync="never", max_bytes=4096)
    tail = SessionTail(tmp_path, "s1")
    for _ in range(60):
        with journal.locked("s1") as writer:
            records = writer.append([{"kind": "heartbeat", "payload": {"pad": "x" * 100}}])
            tail.wrote(records[-1]["seq"], writer.end)
    assert list((tmp_path / "archive").iterdir())
    assert tail.poll() == []
    journal.append("s1", [{"kind": "alert", "payload": {}}])
    assert [r["seq"] for r in tail.poll()] == [61]
    journal.close()
    tail.close()


def test_trusted_append_writes_the_records_as_built_and_refuses_a_seq_that_does_not_follow(
        tmp_path):
    journal = Journal(tmp_path, fsync="never")
    ts = "2026-03-02T14:30:00.000000Z"
    with journal.locked("s1") as writer:
        built = [new_record(seq, ts, "s1", "heartbeat", "paper", None, None, None, None,
                            "DEMO", {"n": seq}) for seq in (1, 2)]
        assert writer.append_trusted(built) is built
        with pytest.raises(ValueError, match="continue s1 at seq 3"):
            writer.append_trusted([new_record(4, ts, "s1", "heartbeat", "paper", None, None,
                                              None, None, None, {})])
    assert list(read_events(tmp_path, session_id="s1")) == built
    assert journal.append("s1", [{"kind": "alert", "payload": {}}])[0]["seq"] == 3
    journal.close()


def test_tail_polled_between_a_rotation_and_the_next_append_reads_each_record_once(tmp_path):
    journal = Journal(tmp_path, fsync="never", max_bytes=2048)
    tail = SessionTail(tmp_path, "s1")
    seen = []
    for _ in range(40):
        journal.append("s1", [{"kind": "heartbeat", "payload": {"pad": "x" * 100}}])
        journal.flush()  # compression of a rotated segment has finished
        seen += [r["seq"] for r in tail.poll()]
    assert len(list((tmp_path / "archive").iterdir())) > 2
    assert seen == list(range(1, 41))
    journal.close()
    tail.close()


def test_tail_reads_ignored_kinds_without_their_payload_and_the_rest_in_full(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    tail = SessionTail(tmp_path, "s1", head_only=DeskState.IGNORED_KINDS)
    journal.append("s1", [{"kind": "gate", "payload": {"decision": "pass", "checks": []}},
                          {"kind": "quote", "symbol": "AAPL", "payload": {"last": 10.0}},
                          {"kind": "position", "payload": {"qty": 1.0}}])
    gate, quote, position = tail.poll()
    assert (gate["kind"], gate["seq"], gate["payload"]) == ("gate", 1, None)
    assert quote["payload"] == {"last": 10.0}
    assert (position["seq"], position["payload"]) == (3, None)
    journal.close()
    tail.close()


def test_the_projection_ignores_exactly_the_kinds_it_has_no_handler_for():
    handled = set(HANDLERS)
    assert handled.isdisjoint(DeskState.IGNORED_KINDS)
    assert handled | DeskState.IGNORED_KINDS == set(KINDS)


def test_a_dropped_projection_is_freed_at_once_not_by_the_cycle_collector():
    # A session's projection holds every order: it must not wait for a full collection.
    state = DeskState("s1", 100_000)
    state.apply(new_record(1, "2026-01-05T14:30:00.000000Z", "s1", "quote", "paper", "AAPL",
                           None, None, None, "FEED", {"last": 10.0}))
    gone = weakref.ref(state)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        del state
        assert gone() is None
    finally:
        if was_enabled:
            gc.enable()

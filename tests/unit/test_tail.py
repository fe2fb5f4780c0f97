"""The journal tail: partial lines, rotation, truncation, bad lines, fan-out, slow subscribers."""

from __future__ import annotations

import pytest

from peaktrade.events import InvalidSessionId
from peaktrade.journal import Journal
from peaktrade.journal.tail import Broker, RecordFilter

SID = "s1"


def _event(kind="fill", symbol="BTC-USD", **payload):
    return {"kind": kind, "symbol": symbol, "payload": payload}


@pytest.fixture
def broker(log_dir):
    b = Broker(log_dir, watch=False, poll_interval_s=60)
    yield b
    b.stop()


def _seqs(batches):
    return [rec["seq"] for batch in batches for rec in batch.records]


def _drain(broker, sub):
    broker.pump()
    return sub.next_batches(timeout=0)


def test_live_subscriber_gets_only_records_appended_after_it_joined(broker, journal):
    journal.append(SID, [_event(), _event()])
    sub = broker.subscribe(SID)
    journal.append(SID, [_event(), _event(), _event()])
    assert _seqs(_drain(broker, sub)) == [3, 4, 5]
    assert _drain(broker, sub) == []


def test_partial_line_is_held_until_its_newline_arrives(broker, journal, log_dir):
    journal.append(SID, [_event()])
    sub = broker.subscribe(SID)
    line = (b'{"v":1,"seq":2,"ts":"2026-01-01T00:00:00.000000Z","session_id":"s1",'
            b'"kind":"fill","mode":"paper","symbol":"ETH-USD","strategy":null,'
            b'"intent_id":null,"order_id":null,"source":null,"payload":{}}\n')
    with open(log_dir / "s1.jsonl", "ab") as fh:
        fh.write(line[:40])
        fh.flush()
        assert _drain(broker, sub) == []
        fh.write(line[40:])
    batches = _drain(broker, sub)
    assert _seqs(batches) == [2]
    assert batches[0].records[0]["symbol"] == "ETH-USD"


def test_bad_lines_are_counted_and_skipped(broker, journal, log_dir):
    journal.append(SID, [_event()])
    sub = broker.subscribe(SID)
    with open(log_dir / "s1.jsonl", "ab") as fh:
        fh.write(b"{not json\n\n")
    journal.append(SID, [_event()])
    assert _seqs(_drain(broker, sub)) == [2]
    assert broker._cursors[SID].stats.invalid == 1


def test_rotation_loses_and_repeats_nothing(broker, log_dir):
    small = Journal(log_dir, max_bytes=4096, fsync="never")
    sub = broker.subscribe(SID)
    seen = []
    for _ in range(40):
        small.append(SID, [_event(note="x" * 300)])
        if len(seen) % 7 == 0:
            seen += _seqs(_drain(broker, sub))
    small.close()
    seen += _seqs(_drain(broker, sub))
    assert seen == list(range(1, 41))
    assert list((log_dir / "archive").iterdir())


def test_truncated_file_is_read_again_without_repeats(broker, journal, log_dir):
    journal.append(SID, [_event(), _event()])
    sub = broker.subscribe(SID)
    journal.append(SID, [_event()])
    assert _seqs(_drain(broker, sub)) == [3]
    (log_dir / "s1.jsonl").write_bytes(b"")
    with open(log_dir / "s1.jsonl", "ab") as fh:
        fh.write(b'{"v":1,"seq":4,"ts":"2026-01-01T00:00:00.000000Z","session_id":"s1",'
                 b'"kind":"error","mode":"paper","symbol":null,"strategy":null,'
                 b'"intent_id":null,"order_id":null,"source":null,"payload":{}}\n')
    assert _seqs(_drain(broker, sub)) == [4]


def test_after_seq_replays_the_journal_then_continues_live(broker, journal):
    journal.append(SID, [_event() for _ in range(5)])
    sub = broker.subscribe(SID, after_seq=2)
    journal.append(SID, [_event()])
    assert _seqs(_drain(broker, sub)) == [3, 4, 5, 6]


def test_each_batch_is_rendered_once_per_filter_not_per_subscriber(broker, journal):
    calls = []

    def render(records):
        calls.append([r["seq"] for r in records])
        return "html"

    fills = RecordFilter(kinds=frozenset({"fill"}))
    subs = [broker.subscribe(SID, fills, render) for _ in range(10)]
    other = broker.subscribe(SID, RecordFilter(symbols=frozenset({"ETH-USD"})), render)
    journal.append(SID, [_event("fill"), _event("order"), _event("fill", "ETH-USD")])
    broker.pump()
    assert sorted(calls) == [[1, 3], [3]]
    for sub in subs:
        (batch,) = sub.next_batches(timeout=0)
        assert batch.rendered == "html" and [r["seq"] for r in batch.records] == [1, 3]
    assert _seqs(other.next_batches(timeout=0)) == [3]


def test_vetoes_filter_matches_blocked_verdicts_only(broker, journal):
    sub = broker.subscribe(SID, RecordFilter(kinds=frozenset({"gate"}),
                                             decisions=frozenset({"block"})))
    journal.append(SID, [_event("gate", decision="pass"), _event("gate", decision="block")])
    assert _seqs(_drain(broker, sub)) == [2]


def test_slow_subscriber_is_dropped_to_a_resync_without_blocking_others(log_dir, journal):
    broker = Broker(log_dir, watch=False, max_batches=3)
    try:
        slow = broker.subscribe(SID)
        fast = broker.subscribe(SID)
        fast_seen = []
        for _ in range(10):
            journal.append(SID, [_event()])
            fast_seen += _seqs(_drain(broker, fast))
        assert fast_seen == list(range(1, 11))
        assert slow.overflows > 0
        journal.append(SID, [_event()])
        broker.pump()
        assert _seqs(slow.next_batches(timeout=0)) == list(range(1, 12))
    finally:
        broker.stop()


def test_closed_subscriber_is_released(broker, journal):
    sub = broker.subscribe(SID)
    assert broker.subscriber_count(SID) == 1
    sub.close()
    assert broker.subscriber_count(SID) == 0
    assert SID not in broker._cursors


def test_session_id_with_path_characters_is_refused(broker):
    with pytest.raises(InvalidSessionId):
        broker.subscribe("../etc")


def test_watchdog_wakes_the_broker_without_waiting_for_the_poll(log_dir, journal):
    broker = Broker(log_dir, poll_interval_s=60)
    try:
        sub = broker.subscribe(SID)
        journal.append(SID, [_event()])
        seen = []
        for _ in range(50):
            seen += _seqs(sub.next_batches(timeout=0.1))
            if seen:
                break
        assert seen == [1]
    finally:
        broker.stop()


def test_a_long_replay_comes_in_chunks_and_live_batches_wait_their_turn(log_dir, journal):
    broker = Broker(log_dir, watch=False, backlog_chunk=3)
    try:
        journal.append(SID, [_event() for _ in range(10)])
        sub = broker.subscribe(SID, after_seq=0)
        chunks = [_seqs(sub.next_batches(timeout=0))]
        journal.append(SID, [_event(), _event()])
        broker.pump()
        while len(chunks) < 10 and (batch := sub.next_batches(timeout=0)):
            chunks.append(_seqs(batch))
        assert chunks[0] == [1, 2, 3]
        assert all(len(chunk) <= 3 for chunk in chunks)
        assert [seq for chunk in chunks for seq in chunk] == list(range(1, 13))
    finally:
        broker.stop()

"""read_events: files and folders, filters, gz segments, newest first from the end."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.journal import Journal, archive_segments, newest, read_events
from peaktrade.journal.writer import compress_segment

START = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


class Clock:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now

    def tick(self, seconds=1.0):
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


def write(journal, clock, session, n, *, symbol="BTC-USD", kind="fill", strategy="s"):
    out = []
    for i in range(n):
        clock.tick()
        out += journal.append(session, [{"kind": kind, "symbol": symbol, "strategy": strategy,
                                         "order_id": f"{session}-{i}", "payload": {"i": i}}])
    return out


def test_reads_a_folder_of_sessions_merged_by_time(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock)
    for i in range(3):
        for session in ("a", "b"):
            clock.tick()
            journal.append(session, [{"kind": "fill", "payload": {"i": i}}])
    journal.close()
    records = list(read_events(tmp_path))
    assert [r["session_id"] for r in records] == ["a", "b"] * 3
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)
    backwards = list(read_events(tmp_path, newest_first=True))
    assert backwards == records[::-1]
    assert [r["session_id"] for r in read_events(tmp_path, session_id="b")] == ["b"] * 3


def test_filters_kind_symbol_strategy_and_limit(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock)
    write(journal, clock, "s", 5, symbol="BTC-USD", kind="fill", strategy="mom")
    write(journal, clock, "s", 5, symbol="ETH-USD", kind="order", strategy="mr")
    journal.close()
    assert len(list(read_events(tmp_path, kind="fill"))) == 5
    assert len(list(read_events(tmp_path, kind=["fill", "order"]))) == 10
    assert len(list(read_events(tmp_path, kind="fill,order", symbol="ETH-USD"))) == 5
    assert {r["strategy"] for r in read_events(tmp_path, strategy="mr")} == {"mr"}
    assert [r["seq"] for r in read_events(tmp_path, limit=3)] == [1, 2, 3]
    assert [r["seq"] for r in newest(tmp_path, 2, symbol="BTC-USD")] == [5, 4]
    assert list(read_events(tmp_path, limit=0)) == []
    with pytest.raises(ValueError, match="limit must be >= 0, got -1"):
        read_events(tmp_path, limit=-1)


def test_since_and_until_compare_as_times_not_strings(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock)
    records = write(journal, clock, "s", 10)   # 14:00:01 .. 14:00:10 UTC
    journal.close()
    # 15:00:03+01:00 is 14:00:03Z; as strings it would sort after every record
    window = list(read_events(tmp_path, since="2026-01-05T15:00:03+01:00",
                              until=datetime(2026, 1, 5, 14, 0, 5, tzinfo=UTC)))
    assert [r["seq"] for r in window] == [3, 4, 5]
    assert list(read_events(tmp_path, since=records[-1]["ts"]))[0]["seq"] == 10
    with pytest.raises(ValueError):
        read_events(tmp_path, since="last tuesday")


def test_after_seq_reads_only_what_follows(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock, max_bytes=4096)
    write(journal, clock, "s", 100)
    journal.close()
    assert (tmp_path / "archive").is_dir()
    assert [r["seq"] for r in read_events(tmp_path, session_id="s", after_seq=95)] \
        == [96, 97, 98, 99, 100]


def test_gz_segments_and_the_active_file_read_in_order(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock, max_bytes=4096)
    write(journal, clock, "s", 120)
    journal.flush()
    journal.close()
    archived = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert archived and all(name.endswith(".jsonl.gz") for name in archived)
    assert [r["seq"] for r in read_events(tmp_path)] == list(range(1, 121))
    assert [r["seq"] for r in read_events(tmp_path, newest_first=True)] \
        == list(range(120, 0, -1))
    first_segment = tmp_path / "archive" / archived[0]
    assert [r["seq"] for r in read_events(first_segment)][0] == 1
    assert all(r["session_id"] == "s" for r in read_events(first_segment))


def test_a_corrupt_gz_segment_counts_one_invalid_line(tmp_path):
    path = tmp_path / "s.1.jsonl.gz"
    good = b'{"kind":"fill","ts":"2026-01-05T14:00:00Z","payload":{}}\n' * 3
    path.write_bytes(gzip.compress(good)[:-12])
    reader = read_events(path)
    records = list(reader)
    assert reader.stats.invalid == 1
    assert len(records) <= 3


def test_newest_first_reads_from_the_end_without_scanning(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock, max_bytes=1 << 30)
    write(journal, clock, "big", 20_000)
    journal.close()
    reader = read_events(tmp_path, session_id="big", newest_first=True, limit=5)
    assert [r["seq"] for r in reader] == [20_000, 19_999, 19_998, 19_997, 19_996]
    # Only the last block of the file was looked at, not its 20,000 lines.
    assert reader.stats.total < 20_000 // 2


def test_newest_first_of_a_legacy_file_numbers_lines_like_a_forward_read(tmp_path):
    path = tmp_path / "old.jsonl"
    lines = [b'{"ts":"2026-01-05T14:00:0%dZ","kind":"fill","payload":{}}' % i for i in range(5)]
    path.write_bytes(b"\n".join(lines[:2]) + b"\n\nbad\n" + b"\n".join(lines[2:]) + b"\n")
    forward = list(read_events(path))
    assert [r["seq"] for r in forward] == [1, 2, 5, 6, 7]
    assert list(read_events(path, newest_first=True)) == forward[::-1]


def test_missing_paths_read_as_nothing(tmp_path):
    assert list(read_events(tmp_path / "nope")) == []
    assert list(read_events(tmp_path / "nope.jsonl")) == []
    assert list(read_events(tmp_path, session_id="nobody")) == []
    assert list(read_events(tmp_path, session_id="../etc")) == []


def test_a_segment_compressed_while_a_read_lists_it_is_found_again(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock, max_bytes=4096)
    write(journal, clock, "s", 60)
    journal.flush()
    journal.close()
    # Put the second segment back in the plain, in-progress state; the read lists it,
    # then it is compressed before the read gets to it.
    segment = archive_segments(tmp_path, "s")["s"][1].path
    plain = segment.with_name(segment.name.removesuffix(".gz"))
    plain.write_bytes(gzip.decompress(segment.read_bytes()))
    segment.unlink()
    reader = iter(read_events(tmp_path, session_id="s"))
    first = next(reader)
    compress_segment(plain)
    assert not plain.exists()
    assert [first["seq"]] + [r["seq"] for r in reader] == list(range(1, 61))


def test_payload_marker_decodes_only_the_payloads_that_hold_it(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock)
    journal.append("s", [{"kind": "gate", "payload": {"decision": "pass"}},
                         {"kind": "gate", "payload": {"decision": "block", "code": "X"}}])
    journal.close()
    reader = read_events(tmp_path, payload_marker=b'"block"')
    records = list(reader)
    assert [r["payload"] for r in records] == [None, {"decision": "block", "code": "X"}]
    assert reader.stats.valid == 2
    assert [r["payload"] for r in read_events(tmp_path)][0] == {"decision": "pass"}


def test_payload_kinds_limit_the_marker_to_those_kinds(tmp_path, clock):
    journal = Journal(tmp_path, fsync="never", clock=clock)
    journal.append("s", [{"kind": "gate", "payload": {"decision": "block", "code": "X"}},
                         {"kind": "error", "payload": {"detail": "block"}},
                         {"kind": "gate", "payload": {"decision": "pass"}}])
    journal.close()
    reader = read_events(tmp_path, payload_marker=b'"block"', payload_kinds=frozenset({"gate"}))
    assert [r["payload"] for r in reader] == [{"decision": "block", "code": "X"}, None, None]
    assert reader.stats.valid == 3

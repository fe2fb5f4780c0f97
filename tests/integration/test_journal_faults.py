"""The journal under fault and load: many processes, SIGKILL, rotation, garbage lines."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import orjson
import pytest

from peaktrade.journal import Journal, JournalCursor, read_events
from peaktrade.journal.files import archive_segments
from peaktrade.telemetry.summary import summarize_path

ROOT = Path(__file__).resolve().parents[2]

# A writer process: appends `count` events (in batches of `batch`) to one session and
# prints the seq of every record whose append returned.
WRITER = """
import sys
from peaktrade.journal import Journal
root, session, count, batch, max_bytes, tag = sys.argv[1:7]
count, batch = int(count), int(batch)
journal = Journal(root, max_bytes=int(max_bytes))
out = sys.stdout
n = 0
while count == 0 or n < count:
    events = [{"kind": "fill", "symbol": "BTC-USD", "order_id": f"{tag}-{n + i}",
               "source": tag, "payload": {"n": n + i, "pad": "x" * 120}}
              for i in range(batch)]
    records = journal.append(session, events)
    n += batch
    out.write(" ".join(f"{r['seq']}:{r['order_id']}" for r in records) + "\\n")
    out.flush()
journal.close()
"""


def start_writer(root, session, count, *, batch=1, max_bytes=10_000_000, tag="w"):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), session, str(count), str(batch),
         str(max_bytes), tag],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def acknowledged(output: bytes) -> dict[int, str]:
    """seq -> order_id of every append the writer saw return (complete lines only)."""
    acked = {}
    for line in output.split(b"\n")[:-1]:
        for item in line.decode().split():
            seq, order_id = item.split(":")
            acked[int(seq)] = order_id
    return acked


def wait_all(procs, timeout=120):
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err.decode()
        outputs.append(out)
    return outputs


@pytest.mark.slow
def test_four_processes_append_40000_events_without_interleaving(tmp_path):
    procs = [start_writer(tmp_path, "load", 10_000, tag=f"p{n}") for n in range(4)]
    outputs = wait_all(procs)
    reader = read_events(tmp_path, session_id="load")
    records = list(reader)
    assert reader.stats.invalid == 0 and reader.stats.blank == 0
    assert reader.stats.total == 40_000
    assert [r["seq"] for r in records] == list(range(1, 40_001))
    acked = {}
    for out in outputs:
        acked.update(acknowledged(out))
    assert acked == {r["seq"]: r["order_id"] for r in records}
    for tag in ("p0", "p1", "p2", "p3"):
        mine = [r["payload"]["n"] for r in records if r["source"] == tag]
        assert mine == list(range(10_000))  # each writer's events in its own order


@pytest.mark.slow
def test_sigkilled_writer_loses_nothing_it_acknowledged(tmp_path):
    rng = random.Random(7)
    acked: dict[int, str] = {}
    kills = 10
    for round_no in range(kills):
        proc = start_writer(tmp_path, "crashy", 0, batch=rng.choice([1, 5, 50]),
                            tag=f"r{round_no}")
        time.sleep(rng.uniform(0.3, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        acked.update(acknowledged(out))
        # a killed writer may leave a torn line; simulate the worst case every other round
        if round_no % 2:
            with open(tmp_path / "crashy.jsonl", "ab") as fh:
                fh.write(b'{"v":1,"seq":999999,"ts":"2026-01-0')
    survivor = Journal(tmp_path, fsync="never")
    last = survivor.append("crashy", [{"kind": "heartbeat", "payload": {}}])[0]
    survivor.close()
    reader = read_events(tmp_path, session_id="crashy")
    records = {r["seq"]: r for r in reader}
    assert acked, "the writer never got to append"
    for seq, order_id in acked.items():
        assert records[seq]["order_id"] == order_id
    assert sorted(records) == list(range(1, last["seq"] + 1))  # no reuse, no gap
    assert reader.stats.invalid <= kills


@pytest.mark.slow
def test_rotation_while_two_processes_append_and_a_cursor_follows(tmp_path):
    procs = [start_writer(tmp_path, "rot", 3000, max_bytes=40_000, tag=f"p{n}")
             for n in range(2)]
    cursor = JournalCursor(tmp_path, "rot")
    followed = []
    snapshots = 0
    try:
        while any(p.poll() is None for p in procs):
            followed += cursor.poll()
            seqs = [r["seq"] for r in read_events(tmp_path, session_id="rot")]
            assert seqs == list(range(1, len(seqs) + 1))  # a read racing rotation: no gaps
            snapshots += 1
    finally:
        for proc in procs:  # a failed check must not leave writers or their pipes behind
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)
    assert [proc.returncode for proc in procs] == [0, 0]
    followed += cursor.poll()
    cursor.close()
    assert [r["seq"] for r in followed] == list(range(1, 6001))
    assert len(archive_segments(tmp_path, "rot")["rot"]) > 5
    newest = [r["seq"] for r in read_events(tmp_path, session_id="rot", newest_first=True)]
    assert newest == list(range(6000, 0, -1))
    assert snapshots > 1


GARBAGE = [
    bytes(random.Random(1).randrange(256) for _ in range(300)).replace(b"\n", b""),
    b"\x00" * 64,
    b'{"v":1,"kind":"fill","payload":{}}\x00\x00',
    b"\xc3\x28\xa0\xa1 not utf-8 \xff",
    b'{"kind":"quote","symbol":"\xff\xfe","ts":"2026-01-01T00:00:00Z","payload":{}}',
    b"{" * 2000,
    b'{"kind": "fill", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"kind":"fill","ts":"2026-01-01T00:00:00Z","payload":{"x":"' + b"y" * 3_000_000 + b'"}}',
]


def test_garbage_lines_are_counted_invalid_and_never_crash(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    path = tmp_path / "junk.jsonl"
    for n, line in enumerate(GARBAGE):
        journal.append("junk", [{"kind": "intent", "intent_id": f"i{n}", "payload": {}}])
        with open(path, "ab") as fh:
            fh.write(line + b"\n")
    after = journal.append("junk", [{"kind": "intent", "intent_id": "last", "payload": {}}])
    journal.close()
    assert after[0]["seq"] == len(GARBAGE) + 1
    expected = {"total": 2 * len(GARBAGE) + 1, "blank": 0, "valid": len(GARBAGE) + 1,
                "invalid": len(GARBAGE), "seq_breaks": 0}
    for newest_first in (False, True):
        reader = read_events(path, newest_first=newest_first)
        seqs = [r["seq"] for r in reader]
        assert sorted(seqs) == list(range(1, len(GARBAGE) + 2))
        assert reader.stats.as_dict() == expected
    cursor = JournalCursor(tmp_path, "junk")
    assert len(cursor.poll()) == len(GARBAGE) + 1
    assert cursor.stats.invalid == len(GARBAGE)
    cursor.close()
    assert summarize_path(path)["lines"] == expected


def test_random_bytes_files_never_crash_a_read(tmp_path):
    rng = random.Random(42)
    for n in range(30):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5000)))
        path = tmp_path / f"r{n}.jsonl"
        path.write_bytes(blob)
        forward = read_events(path)
        list(forward)
        backward = read_events(path, newest_first=True)
        list(backward)
        assert forward.stats.as_dict() == backward.stats.as_dict()
        assert forward.stats.total >= 1
        (tmp_path / f"r{n}.jsonl.gz").write_bytes(blob)
        list(read_events(tmp_path / f"r{n}.jsonl.gz"))


def test_a_torn_line_is_terminated_by_the_next_append_and_reads_as_one_invalid_line(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    journal.append("s", [{"kind": "intent", "payload": {}}])
    with open(tmp_path / "s.jsonl", "ab") as fh:
        fh.write(b'{"v":1,"seq":2,"ts":"20')
    record = journal.append("s", [{"kind": "intent", "payload": {}}])[0]
    journal.close()
    assert record["seq"] == 2
    lines = (tmp_path / "s.jsonl").read_bytes().split(b"\n")
    assert lines[1] == b'{"v":1,"seq":2,"ts":"20'
    assert orjson.loads(lines[2])["seq"] == 2
    reader = read_events(tmp_path / "s.jsonl")
    assert [r["seq"] for r in reader] == [1, 2]
    assert reader.stats.invalid == 1


def test_fork_does_not_share_the_parent_lock(tmp_path):
    journal = Journal(tmp_path, fsync="never")
    journal.append("f", [{"kind": "intent", "payload": {}}])
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # other tests' threads may still run; the child only appends and exits
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        seq = journal.append("f", [{"kind": "intent", "payload": {}}])[0]["seq"]
        os.write(write_fd, str(seq).encode())
        os._exit(0)
    os.close(write_fd)
    os.waitpid(pid, 0)
    child_seq = int(os.read(read_fd, 32))
    os.close(read_fd)
    assert child_seq == 2
    assert journal.append("f", [{"kind": "intent", "payload": {}}])[0]["seq"] == 3
    journal.close()

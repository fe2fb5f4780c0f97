"""SSE against a real gunicorn: 50 clients and one writer; exactly once, in order, resumable."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.parse

import pytest

from peaktrade.journal import Journal
from tests.live_server import LiveServer

SEQ_RE = re.compile(rb'data-seq="(\d+)"')


class RawSSEClient:
    """A minimal SSE reader on a raw socket (HTTP/1.0, so the body is not chunked)."""

    def __init__(self, url: str, path: str, *, last_event_id: int | None = None,
                 timeout: float = 20.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
        headers = [f"GET {path} HTTP/1.0", f"Host: {parsed.netloc}",
                   "Accept: text/event-stream"]
        if last_event_id is not None:
            headers.append(f"Last-Event-ID: {last_event_id}")
        self.sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        self.buffer = b""
        self.head = b""
        self.status = 0
        self.last_id: int | None = None
        self.seqs: list[int] = []
        self.received_at: dict[int, float] = {}
        self.duplicates = 0
        self.connected = threading.Event()

    def read_head(self) -> int:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        self.head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(self.head.split(b" ", 2)[1])
        return self.status

    def read_until(self, last_seq: int, deadline: float) -> None:
        """Collect the seqs of timeline rows until `last_seq` has arrived."""
        if not self.status and self.read_head() != 200:
            return
        self.connected.set()
        while (not self.seqs or self.seqs[-1] < last_seq) and time.monotonic() < deadline:
            while b"\n\n" in self.buffer:
                message, _, self.buffer = self.buffer.partition(b"\n\n")
                self._take(message)
            if self.seqs and self.seqs[-1] >= last_seq:
                return
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return
            if not chunk:
                return
            self.buffer += chunk

    def _take(self, message: bytes) -> None:
        now = time.time()
        for line in message.split(b"\n"):
            if line.startswith(b"id: "):
                self.last_id = int(line[4:])
        for seq in reversed([int(s) for s in SEQ_RE.findall(message)]):
            if seq in self.received_at:
                self.duplicates += 1
                continue
            self.received_at[seq] = now
            self.seqs.append(seq)

    def close(self) -> None:
        self.sock.close()


def _event(index: int) -> dict:
    kind = "fill" if index % 3 == 0 else "order"
    return {"kind": kind, "symbol": "BTC-USD", "payload": {"qty": 1, "price": 100.0 + index}}


@pytest.fixture
def live(tmp_path):
    log_dir = tmp_path / "journal"
    log_dir.mkdir()
    journal = Journal(log_dir, fsync="never")
    journal.append("live", [{"kind": "control", "payload": {"action": "session.start"}}])
    with LiveServer(log_dir, workers=2, threads=80) as server:
        yield server, journal
    journal.close()


def _run_clients(clients, last_seq_of):
    deadline = time.monotonic() + 25
    threads = [threading.Thread(target=c.read_until, args=(last_seq_of(c), deadline))
               for c in clients]
    for t in threads:
        t.start()
    return threads


def test_fifty_clients_get_every_matching_event_once_in_order(live):
    server, journal = live
    everything = [RawSSEClient(server.url, "/stream/execution/live?since_seq=1")
                  for _ in range(25)]
    fills = [RawSSEClient(server.url, "/stream/execution/live?kind=fill&since_seq=1")
             for _ in range(25)]
    kinds = {}
    total = 300
    for index in range(total):
        kinds[index + 2] = _event(index)["kind"]
    last_fill = max(seq for seq, kind in kinds.items() if kind == "fill")
    try:
        threads = _run_clients(everything + fills,
                               lambda c: total + 1 if c in everything else last_fill)
        for client in everything + fills:
            assert client.connected.wait(15), "a stream did not open"
        for start in range(0, total, 10):
            journal.append("live", [_event(i) for i in range(start, start + 10)])
            time.sleep(0.01)
        for t in threads:
            t.join(30)
        for client in everything:
            assert client.status == 200
            assert client.seqs == list(range(2, total + 2))
            assert client.duplicates == 0
        expected_fills = sorted(seq for seq, kind in kinds.items() if kind == "fill")
        for client in fills:
            assert client.seqs == expected_fills
            assert client.duplicates == 0
    finally:
        for client in everything + fills:
            client.close()


def test_client_reconnecting_with_last_event_id_misses_nothing(live):
    server, journal = live
    first = RawSSEClient(server.url, "/stream/execution/live?since_seq=1")
    journal.append("live", [_event(i) for i in range(20)])
    first.read_until(21, time.monotonic() + 15)
    first.close()
    assert first.seqs == list(range(2, 22))
    journal.append("live", [_event(i) for i in range(20, 50)])
    again = RawSSEClient(server.url, "/stream/execution/live", last_event_id=first.last_id)
    try:
        thread = _run_clients([again], lambda c: 61)[0]
        assert again.connected.wait(15)
        journal.append("live", [_event(i) for i in range(50, 60)])
        thread.join(30)
    finally:
        again.close()
    assert first.seqs + again.seqs == list(range(2, 62))
    assert again.duplicates == 0


def test_stream_cap_and_disconnect_release_under_gunicorn(tmp_path):
    log_dir = tmp_path / "journal"
    log_dir.mkdir()
    journal = Journal(log_dir, fsync="never")
    journal.append("cap", [{"kind": "control", "payload": {}}])
    env = {"PEAKTRADE_WEB__MAX_STREAMS_PER_WORKER": "1", "PEAKTRADE_WEB__SSE_KEEPALIVE_S": "0.2"}
    try:
        with LiveServer(log_dir, workers=1, threads=4, env=env) as server:
            first = RawSSEClient(server.url, "/stream/execution/cap")
            assert first.read_head() == 200
            second = RawSSEClient(server.url, "/stream/execution/cap")
            assert second.read_head() == 503
            assert b"\r\nRetry-After: " in second.head
            second.close()
            first.close()
            status = 503
            for _ in range(50):  # the keepalive write notices the closed socket
                third = RawSSEClient(server.url, "/stream/execution/cap")
                status = third.read_head()
                third.close()
                if status == 200:
                    break
                time.sleep(0.1)
            assert status == 200
    finally:
        journal.close()

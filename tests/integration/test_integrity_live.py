"""Journal integrity on a real gunicorn with two workers: a broken journal fails closed in
every process, a refused write leaves nothing behind, and nothing acknowledged is lost."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.live_server import PROJECT_ROOT, LiveServer

pytestmark = pytest.mark.slow

ORDERS = "/api/v1/paper/orders"
KILL_SWITCH = "/api/v1/controls/kill-switch"
TOKEN = "integrity-live-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT = 60
PEAKTRADE = Path(sys.executable).with_name("peaktrade")
FIFTY_MB_LINE = b'{"v":1,"seq":999999,"pad":"' + b"x" * 50_000_000 + b'"}\n'


class AnsweringServer(LiveServer):
    """A LiveServer that is up once it answers /api/health at all (a broken journal may
    make health answer 503, and the desk must still be reachable to say why)."""

    def start(self, timeout: float = 20.0) -> AnsweringServer:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=PROJECT_ROOT, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.output.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=1):
                    return self
            except urllib.error.HTTPError:
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout}s: "
                           f"{self.output.read_text()[-2000:]}")

    def crash(self) -> None:
        """SIGKILL the master and both workers at once: no graceful shutdown."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def desk_server():
    """Start gunicorn desks on a log dir (two workers, an API token); all stopped after."""
    started: list[AnsweringServer] = []

    def start(log_dir: Path, **env: str) -> AnsweringServer:
        server = AnsweringServer(log_dir, workers=2, threads=8, env={
            "PEAKTRADE_API_TOKEN": TOKEN, "PEAKTRADE_JOURNAL__FSYNC": "never", **env})
        started.append(server)
        server.start()
        wait_for_both_workers(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_for_both_workers(server: LiveServer, timeout: float = 20.0) -> None:
    """Until two worker processes answer: the first one may serve before the second is up."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout

    def pid(_: int) -> int | None:
        try:
            return requests.get(server.url + "/api/health", headers={"Connection": "close"},
                                timeout=5).json().get("pid")
        except (requests.RequestException, ValueError):
            return None

    with ThreadPoolExecutor(8) as pool:
        while len(seen) < 2:
            assert time.monotonic() < deadline, f"only workers {seen} answered"
            seen.update(p for p in pool.map(pid, range(16)) if p is not None)


def buy(client_order_id: str, symbol: str = "AAPL", quantity: int = 1) -> dict:
    return {"symbol": symbol, "side": "BUY", "quantity": quantity, "price": 100.0,
            "client_order_id": client_order_id}


def post(server: LiveServer, path: str, body: object) -> requests.Response:
    """One request on a fresh connection, so that either worker may take it."""
    return requests.post(server.url + path, json=body, headers={**AUTH, "Connection": "close"},
                         timeout=TIMEOUT)


def get(server: LiveServer, path: str, **params: object) -> requests.Response:
    return requests.get(server.url + path, params=params, headers={"Connection": "close"},
                        timeout=TIMEOUT)


def kill_switch(server: LiveServer, action: str, reason: str) -> requests.Response:
    return post(server, KILL_SWITCH, {"action": action, "reason": reason, "actor": "drill"})


def submit(server: LiveServer, body: object, acked: dict[str, dict]) -> requests.Response:
    """POST orders; every order answered 200 goes into `acked` (order_id -> result)."""
    response = post(server, ORDERS, body)
    if response.status_code == 200:
        for result in response.json():
            acked[result["order_id"]] = result
    return response


def submit_concurrently(server: LiveServer, bodies: list, acked: dict[str, dict],
                        threads: int = 8) -> list[requests.Response]:
    """Several requests at once on their own connections: both workers take some."""
    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(lambda body: post(server, ORDERS, body), bodies))
    for response in responses:
        if response.status_code == 200:
            for result in response.json():
                acked[result["order_id"]] = result
    return responses


def session_id(server: LiveServer) -> str:
    response = get(server, "/api/v1/paper/account")
    assert response.status_code == 200, response.text
    return response.json()["session_id"]


def journal_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def assert_each_acknowledged_order_listed_once(server: LiveServer, acked: dict[str, dict]):
    """Nothing answered 200 is lost: the session lists every such order exactly once."""
    for _worker in range(4):  # several fresh connections: each worker answers from its own view
        response = get(server, ORDERS, limit=1000)
        assert response.status_code == 200, response.text
        listed = Counter(order["order_id"] for order in response.json())
        assert all(count == 1 for count in listed.values()), listed.most_common(3)
        missing = [order_id for order_id in acked if order_id not in listed]
        assert not missing, f"acknowledged but not listed: {missing[:5]}"
        statuses = {o["order_id"]: o["status"] for o in response.json()}
        assert all(statuses[i] == acked[i]["status"] for i in acked)


def run_cli(log_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PEAKTRADE_")}
    env["PEAKTRADE_LOG_DIR"] = str(log_dir)
    return subprocess.run([str(PEAKTRADE), *args], cwd=log_dir.parent, env=env,
                          capture_output=True, text=True, timeout=60)


def not_filled(response: requests.Response) -> list[str]:
    """What is wrong with an order answer that must not be a fill ([] when it is right)."""
    if response.status_code == 503:
        return []
    if response.status_code != 200:
        return [f"status {response.status_code}: {response.text[:200]}"]
    return [f"{r['client_order_id']}: {r['status']} {r['reason']}" for r in response.json()
            if r["status"] != "REJECTED" or not (r["reason"] or "").startswith("KILL_SWITCH")]


def test_a_stale_desk_line_engages_the_kill_switch_in_every_worker_and_after_restart(
        desk_server, log_dir):
    server = desk_server(log_dir)
    acked: dict[str, dict] = {}
    for n in range(5):
        assert kill_switch(server, "engage", f"drill {n}").status_code == 200
        assert kill_switch(server, "release", f"drill {n} over").status_code == 200
    desk = log_dir / "desk.jsonl"
    lines = journal_lines(desk)
    stale = next(line for line in lines if b'"kill_switch.release"' in line)
    with open(desk, "ab") as fh:
        fh.write(stale + b"\n")
    stale_seq, last_seq = json.loads(stale)["seq"], max(json.loads(line)["seq"] for line in lines)
    expected = f"seq {stale_seq} after {last_seq} at line {len(lines) + 1}"

    refused = kill_switch(server, "engage", "after the stale line")
    assert refused.status_code == 503, refused.text
    message = refused.json()["error"]
    assert "desk.jsonl" in message and expected in message, message

    responses = submit_concurrently(server, [buy(f"stale-desk-{n}") for n in range(8)], acked)
    problems = [p for response in responses for p in not_filled(response)]
    assert not problems, problems
    for _worker in range(4):
        state = get(server, "/api/v1/controls").json()["kill_switch"]
        assert state["engaged"] is True and state["source"] == "journal-integrity", state
    assert_each_acknowledged_order_listed_once(server, acked)

    server.stop()
    server = desk_server(log_dir)
    health = get(server, "/api/health")
    print(f"\nhealth after a restart on the broken desk journal: {health.status_code} "
          f"{health.json().get('status')}")
    after_restart = submit_concurrently(server, [buy(f"restart-{n}") for n in range(4)], acked)
    problems = [p for response in after_restart for p in not_filled(response)]
    assert not problems, problems
    state = get(server, "/api/v1/controls").json()["kill_switch"]
    assert state["engaged"] is True and state["source"] == "journal-integrity", state
    status = run_cli(log_dir, "kill-switch", "status")
    assert "kill switch  released" not in status.stdout, status.stdout + status.stderr
    assert "ENGAGED" in status.stdout, status.stdout + status.stderr
    assert_each_acknowledged_order_listed_once(server, acked)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (root only), unmounted after the test's servers stopped."""
    if os.geteuid() != 0:
        pytest.skip("a full disk needs a tmpfs mount, which needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_full_disk_refuses_whole_batches_and_the_retry_fills_each_order_once(
        small_disk, desk_server):
    log_dir = small_disk
    server = desk_server(log_dir, PEAKTRADE_JOURNAL__FSYNC="always")
    acked: dict[str, dict] = {}
    assert submit(server, buy("disk-warmup"), acked).status_code == 200
    sid = session_id(server)
    journal = log_dir / f"{sid}.jsonl"
    # Leave room for a few batches only; the filler is deleted later to free the disk.
    free = os.statvfs(log_dir).f_bavail * os.statvfs(log_dir).f_frsize
    filler = log_dir / "filler.bin"
    filler.write_bytes(b"\0" * max(0, free - 96 * 1024))

    refused: list[list[dict]] = []

    def batch(batch_no: int) -> list[dict]:
        return [buy(f"disk-b{batch_no}-o{n}") for n in range(10)]

    def sort_out(sent: list[dict], response: requests.Response) -> None:
        if response.status_code == 503:
            print(f"\nbatch refused: {response.json()['error']}")
            refused.append(sent)
            return
        assert response.status_code == 200, response.text
        assert all(r["status"] == "FILLED" for r in response.json())

    for batch_no in range(200):
        sort_out(sent := batch(batch_no), submit(server, sent, acked))
        if refused:
            break
    # More batches at once, so that both workers meet the full disk.
    more = [batch(batch_no) for batch_no in range(1000, 1008)]
    for sent, response in zip(more, submit_concurrently(server, more, acked), strict=True):
        sort_out(sent, response)
    assert refused, "the disk never filled up"

    records = [json.loads(line) for line in journal_lines(journal)]  # no torn line
    for line in journal_lines(log_dir / "desk.jsonl"):
        json.loads(line)
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(1, len(seqs) + 1))
    written = Counter(r["payload"].get("client_order_id") for r in records
                      if r["kind"] == "order")
    mentioned = {r["payload"].get("client_order_id") for r in records}
    for batch in refused:
        leaked = [o["client_order_id"] for o in batch if o["client_order_id"] in mentioned]
        assert not leaked, f"refused with 503 but journaled: {leaked}"
    for result in acked.values():
        assert written[result["client_order_id"]] == 1, result

    filler.unlink()
    retry = submit(server, refused[0], acked)
    assert retry.status_code == 200, retry.text
    assert [r["status"] for r in retry.json()] == ["FILLED"] * len(refused[0])
    assert [r["client_order_id"] for r in retry.json()] == \
        [o["client_order_id"] for o in refused[0]]
    again = submit(server, refused[0], acked)  # the same ids once more: the originals stand
    assert again.status_code == 200, again.text
    assert [r["order_id"] for r in again.json()] == [r["order_id"] for r in retry.json()]
    records = [json.loads(line) for line in journal_lines(journal)]
    written = Counter(r["payload"].get("client_order_id") for r in records
                      if r["kind"] == "order")
    fills = Counter(r["order_id"] for r in records if r["kind"] == "fill")
    for result in retry.json():
        assert written[result["client_order_id"]] == 1
        assert fills[result["order_id"]] == 1
    assert_each_acknowledged_order_listed_once(server, acked)


def test_a_50_mb_line_in_the_session_journal_is_skipped_and_orders_still_fill(
        desk_server, log_dir):
    server = desk_server(log_dir)
    acked: dict[str, dict] = {}
    assert submit(server, buy("big-0"), acked).status_code == 200
    journal = log_dir / f"{session_id(server)}.jsonl"
    with open(journal, "ab") as fh:
        fh.write(FIFTY_MB_LINE)
    started = time.perf_counter()
    response = submit(server, buy("big-1"), acked)
    print(f"\nfirst order after a 50 MB line: {response.status_code} in "
          f"{time.perf_counter() - started:.3f} s")
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()] == ["FILLED"]
    started = time.perf_counter()
    responses = submit_concurrently(server, [buy(f"big-{n}") for n in range(2, 10)], acked)
    print(f"8 more orders at once (both workers): {time.perf_counter() - started:.3f} s")
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert all(r.json()[0]["status"] == "FILLED" for r in responses)
    started = time.perf_counter()
    timeline = get(server, f"/api/live/execution/{journal.stem}", limit=1000)
    print(f"timeline after a 50 MB line: {timeline.status_code} in "
          f"{time.perf_counter() - started:.3f} s")
    assert timeline.status_code == 200, timeline.text[:500]
    fills = [item for item in timeline.json()["timeline"] if item["kind"] == "fill"]
    assert len(fills) == 10
    assert_each_acknowledged_order_listed_once(server, acked)


@pytest.mark.xfail(reason="`peaktrade telemetry check` still reports the time out of "
                   "order before the seq, so the stale seq is not named", strict=False)
def test_a_stale_session_seq_answers_503_naming_file_line_and_seqs(desk_server, log_dir):
    server = desk_server(log_dir)
    acked: dict[str, dict] = {}
    for n in range(4):
        assert submit(server, buy(f"seq-{n}", symbol=("AAPL", "MSFT")[n % 2]),
                      acked).status_code == 200
    sid = session_id(server)
    journal = log_dir / f"{sid}.jsonl"
    lines = journal_lines(journal)
    stale = next(line for line in lines if b'"kind":"fill"' in line)
    with open(journal, "ab") as fh:
        fh.write(stale + b"\n")
    stale_seq, last_seq = json.loads(stale)["seq"], json.loads(lines[-1])["seq"]
    expected = f"seq {stale_seq} after {last_seq} at line {len(lines) + 1}"

    # Each worker finds the break for itself.
    for response in submit_concurrently(server, [buy(f"seq-after-{n}") for n in range(8)], acked):
        assert response.status_code == 503, response.text
        message = response.json()["error"]
        assert f"{sid}.jsonl" in message and expected in message, message

    assert_each_acknowledged_order_listed_once(server, acked)
    assert len(get(server, ORDERS, limit=1000).json()) == len(acked) == 4

    live = get(server, f"/api/live/execution/{sid}", limit=1000)
    assert live.status_code == 200, live.text
    timeline_seqs = [item["seq"] for item in live.json()["timeline"]]
    assert sorted(timeline_seqs) == list(range(1, last_seq + 1))
    assert sum(item["kind"] == "fill" for item in live.json()["timeline"]) == 4
    summary = live.json()["summary"]
    assert summary["event_count"] == last_seq and summary["kind_counts"]["fill"] == 4
    assert summary["lines"]["seq_breaks"] == 1  # counted and reported, never applied
    export = get(server, "/api/telemetry", session_id=sid, format="csv")
    assert export.status_code == 200, export.text
    rows = list(csv.reader(io.StringIO(export.text)))[1:]
    assert len(rows) == last_seq
    assert sum(row[1] == "fill" for row in rows) == 4

    check = run_cli(log_dir, "telemetry", "check", "--path", str(log_dir), "--session", sid)
    assert check.returncode != 0, check.stdout
    assert expected in check.stdout, check.stdout + check.stderr


def test_every_acknowledged_order_survives_a_crash_of_both_workers(desk_server, log_dir):
    server = desk_server(log_dir)
    acked: dict[str, dict] = {}
    bodies = [buy(f"crash-{n}") if n % 2 else
              [buy(f"crash-{n}-{k}", symbol="MSFT") for k in range(3)] for n in range(40)]
    responses = submit_concurrently(server, bodies, acked, threads=8)
    assert [r.status_code for r in responses] == [200] * len(bodies)
    assert len(acked) == 20 + 20 * 3
    server.crash()
    server = desk_server(log_dir)
    assert_each_acknowledged_order_listed_once(server, acked)
    assert len(get(server, ORDERS, limit=1000).json()) == len(acked)

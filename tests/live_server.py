"""A real gunicorn serving the desk on a free loopback port, for tests and benches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """gunicorn with the project's gunicorn.conf.py; environment overrides per test."""

    def __init__(self, log_dir: Path, *, env: dict[str, str] | None = None,
                 workers: int = 2, threads: int = 32) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = Path(log_dir)
        self.env = {
            **os.environ,
            "PEAKTRADE_BIND": f"127.0.0.1:{self.port}",
            "PEAKTRADE_LOG_DIR": str(log_dir),
            "PEAKTRADE_DEMO": "0",
            "PEAKTRADE_WORKERS": str(workers),
            "PEAKTRADE_THREADS": str(threads),
            **(env or {}),
        }
        if "PEAKTRADE_KILL_SWITCH" not in (env or {}):
            self.env.pop("PEAKTRADE_KILL_SWITCH", None)
        self.process: subprocess.Popen[bytes] | None = None
        self.output = self.log_dir.parent / f"gunicorn-{self.port}.log"

    def start(self, timeout: float = 20.0) -> LiveServer:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                [str(gunicorn), "-c", "gunicorn.conf.py", "wsgi:app"], cwd=PROJECT_ROOT,
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.output.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout}s: "
                           f"{self.output.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Shared fixtures: an app on a journal in tmp_path, its client and CLI runner."""

from __future__ import annotations

import pytest

from peaktrade import create_app
from peaktrade.journal import Journal
from peaktrade.web import close_app


@pytest.fixture
def log_dir(tmp_path):
    path = tmp_path / "journal"
    path.mkdir()
    return path


@pytest.fixture
def journal(log_dir):
    j = Journal(log_dir, fsync="never")
    yield j
    j.close()


@pytest.fixture
def app(log_dir, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_KILL_SWITCH", raising=False)
    monkeypatch.delenv("PEAKTRADE_CONFIG", raising=False)
    app = create_app({"log_dir": str(log_dir), "demo": {"enabled": False},
                      "journal": {"fsync": "never"}, "web": {"sse_keepalive_s": 0.2}})
    app.config["TESTING"] = True
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()

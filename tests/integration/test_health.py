"""GET /api/health: 200 with the journal's state, 503 saying why when it cannot write."""

from __future__ import annotations

import os
import shutil

from peaktrade import __version__, create_app
from peaktrade.web import close_app


def test_health_reports_a_writable_journal(client, log_dir):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {"status": "ok", "version": __version__,
                    "journal_dir": str(log_dir.resolve()), "journal_writable": True,
                    "pid": os.getpid()}
    assert not [p for p in log_dir.iterdir() if p.name.startswith(".probe-")]


def test_health_is_503_with_the_reason_when_the_journal_dir_is_not_writable(app, client,
                                                                              log_dir):
    # Replace the journal folder by a plain file while the app runs (root ignores chmod).
    shutil.rmtree(log_dir)
    log_dir.write_text("not a directory")
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["journal_writable"] is False
    assert body["reason"].startswith(f"journal directory {log_dir} is not writable")


def test_an_app_started_on_an_unwritable_journal_answers_503(tmp_path, monkeypatch):
    monkeypatch.delenv("PEAKTRADE_SECRET_KEY", raising=False)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the journal folder should be")
    app = create_app({"log_dir": str(blocked), "demo": {"enabled": False}})
    try:
        response = app.test_client().get("/api/health")
        assert response.status_code == 503
        assert response.get_json()["reason"].startswith(f"journal directory {blocked}")
    finally:
        close_app(app)


def test_health_is_json_even_for_unknown_api_paths(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.is_json

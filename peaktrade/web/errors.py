"""Error responses: JSON for the API, HTML for pages; each says what was wrong."""

from __future__ import annotations

from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
)
from werkzeug.exceptions import HTTPException

from peaktrade.journal import JournalError


def wants_json() -> bool:
    """API paths, and clients that prefer JSON to HTML, get JSON errors."""
    if request.path.startswith(("/api/", "/ws/")):
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def error_response(status: int, message: str,
                   errors: dict[str, Any] | None = None) -> Response:
    """A JSON error: {"error": message, "errors": {field: [messages]}}."""
    response = jsonify({"error": message, "errors": errors or {}})
    response.status_code = status
    return response


def _handle_http_error(err: HTTPException) -> Response:
    status = err.code or 500
    message = err.description or err.name
    if status == 413:
        message = f"request body is larger than the limit of {request.max_content_length} bytes"
    if wants_json():
        response = error_response(status, message)
    else:
        response = make_response(render_template("error.html", status=status, title=err.name,
                                                 message=message), status)
    for name, value in err.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _journal_unavailable(err: Exception) -> Response:
    """The journal cannot be read or written: nothing was decided, say so (fail closed)."""
    current_app.logger.error("journal unavailable: %s", err)
    message = (f"the journal cannot be used ({err}); nothing was recorded or decided. "
               "See /api/health.")
    if wants_json():
        response = error_response(503, message)
    else:
        response = make_response(render_template("error.html", status=503,
                                                 title="Journal unavailable",
                                                 message=message), 503)
    response.headers["Retry-After"] = "5"
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(JournalError, _journal_unavailable)
    app.register_error_handler(OSError, _journal_unavailable)

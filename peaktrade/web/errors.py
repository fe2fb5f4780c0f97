"""Error responses: JSON for the API, HTML for pages; each says what was wrong."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException


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


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _handle_http_error)

"""Security: headers on every response, CSRF for forms, bearer token for API writes, login."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SECRET_KEY_FILE = ".secret_key"
LOGIN_EXEMPT = frozenset({"security.login"})

bp = Blueprint("security", __name__)


def _add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    return response


def load_secret_key(configured: str | None, journal_root: Path) -> str:
    """The configured secret key, else one generated once and shared through the journal root."""
    if configured:
        return configured
    path = Path(journal_root) / SECRET_KEY_FILE
    if not path.exists():
        try:
            _create_secret_key(path)
        except OSError as err:
            # An unwritable journal must still let /api/health answer 503 and say why;
            # until it is fixed, each worker signs its forms with a key of its own.
            logging.getLogger(__name__).warning(
                "cannot store a shared secret key in %s (%s); using a per-process key",
                path.parent, err.strerror)
            return secrets.token_hex(32)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds a secret key of {len(key)} characters; "
                           "delete it to generate a new one or set PEAKTRADE_SECRET_KEY")
    return key


def _create_secret_key(path: Path) -> None:
    """Write the key to a private temp file and link it into place: the first worker wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use."""
    token = session.get(CSRF_FIELD)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def api_token() -> str | None:
    """The configured API token, or None when writes are open."""
    return current_app.config["PEAKTRADE"]["web"]["api_token"] or None


def _token_fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def logged_in() -> bool:
    """Whether this browser has logged in with the current API token (True when none is set)."""
    token = api_token()
    if token is None:
        return True
    return hmac.compare_digest(session.get("login", ""), _token_fingerprint(token))


def _cross_site_reason() -> str | None:
    """Why this write comes from another site, or None when it is same-origin."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return "Sec-Fetch-Site is cross-site"
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        return f"Origin {origin} is not this desk ({request.host})"
    if origin == "null":
        return "Origin is null"
    return None


def _bearer_ok(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.encode())


def _guard_writes() -> Response | None:
    """Refuse cross-site writes, API writes without the token and form posts without CSRF."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return _guard_websocket()
    if request.method in SAFE_METHODS:
        return None
    reason = _cross_site_reason()
    if reason:
        abort(403, f"cross-site {request.method} refused: {reason}")
    if request.path.startswith("/api/"):
        token = api_token()
        if token is not None and not _bearer_ok(token):
            given = "missing" if "Authorization" not in request.headers else "wrong"
            abort(401, f"this desk needs 'Authorization: Bearer <token>' for writes; "
                       f"the token is {given}")
        return None
    if request.endpoint in LOGIN_EXEMPT:
        return None
    expected = session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not expected or not given or not hmac.compare_digest(expected, given):
        abort(403, "CSRF token missing or wrong: reload the page and submit again")
    if not logged_in():
        if request.headers.get("HX-Request"):
            response = Response(status=401)
            response.headers["HX-Redirect"] = url_for("security.login", next=_referrer_path())
            return response
        abort(401, "log in with the desk's API token first (/login)")
    return None


def _guard_websocket() -> None:
    """A WebSocket can send orders: same origin only, and the token (or a login) when set."""
    reason = _cross_site_reason()
    if reason:
        abort(403, f"cross-site WebSocket refused: {reason}")
    token = api_token()
    if token is not None and not _bearer_ok(token) and not logged_in():
        abort(401, "this desk needs 'Authorization: Bearer <token>' or a browser login (/login) "
                   "for the WebSocket")


def _referrer_path() -> str:
    return _safe_next(urlsplit(request.headers.get("Referer", "")).path or "/")


def _safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else becomes /."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log this browser in once with the desk's API token."""
    token = api_token()
    next_path = _safe_next(request.values.get("next"))
    if token is None:
        return redirect(next_path)
    error = None
    if request.method == "POST":
        given = request.form.get("token", "")
        if hmac.compare_digest(given.encode(), token.encode()):
            session.clear()
            session["login"] = _token_fingerprint(token)
            return redirect(next_path)
        error = "that token is wrong; use the value of PEAKTRADE_API_TOKEN"
    status = 401 if error else 200
    return render_template("login.html", error=error, next_path=next_path), status


@bp.post("/logout")
def logout():
    """Forget this browser's login."""
    session.pop("login", None)
    return redirect(url_for("security.login"))


def init_app(app: Flask) -> None:
    config = app.config["PEAKTRADE"]
    app.secret_key = load_secret_key(config["web"]["secret_key"], Path(config["log_dir"]))
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="peaktrade_session")
    app.before_request(_guard_writes)
    app.after_request(_add_security_headers)
    app.add_template_global(csrf_token)
    app.add_template_global(logged_in)
    app.add_template_global(lambda: api_token() is not None, name="login_required")
    app.register_blueprint(bp)

"""Desk controls: kill switch, breakers, QA block (API and page header)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from marshmallow import ValidationError

from peaktrade.execution import DeskError
from peaktrade.execution.codes import BREAKER_CONFIG_KEYS, BREAKERS, KILL_SWITCH_MODES, Action
from peaktrade.web.context import get_desk
from peaktrade.web.paper import json_body, json_response
from peaktrade.web.schemas import (
    BREAKER_RESET_FORM,
    BREAKER_RESET_IN,
    CONTROLS,
    KILL_SWITCH_FORM,
    KILL_SWITCH_IN,
    QA_IN,
    first_message,
)

bp = Blueprint("controls", __name__)

KILL_SWITCH_ACTION = {"engage": Action.KILL_SWITCH_ENGAGE, "release": Action.KILL_SWITCH_RELEASE}
DEFAULT_BREAKER_RESET_REASON = "manual reset"


def _actor(given: str | None, channel: str) -> str:
    """Who acted: the given name, else the channel and the client's address."""
    return given or f"{channel}@{request.remote_addr}"


def _kill_switch(data: dict, channel: str) -> dict:
    return get_desk().control(KILL_SWITCH_ACTION[data["action"]],
                              actor=_actor(data.get("actor"), channel),
                              reason=data["reason"], mode=data.get("mode"))


def breaker_name(name: str) -> str:
    """A breaker by its name (DAILY_LOSS) or its [breakers] key (max_daily_loss); else 404."""
    if name.upper() in BREAKERS:
        return name.upper()
    for breaker, key in BREAKER_CONFIG_KEYS.items():
        if name.lower() == key:
            return breaker
    abort(404, f"unknown breaker {name!r}; breakers are {', '.join(BREAKERS)} "
               f"(or their [breakers] keys {', '.join(BREAKER_CONFIG_KEYS.values())})")


def _breaker_reset(name: str, data: dict, channel: str) -> dict:
    return get_desk().control(Action.BREAKER_RESET, actor=_actor(data.get("actor"), channel),
                              reason=data.get("reason") or DEFAULT_BREAKER_RESET_REASON,
                              breaker=breaker_name(name))


@bp.get("/api/v1/controls")
def api_controls():
    """Kill switch, QA block and circuit breakers."""
    return json_response(CONTROLS.dump(get_desk().controls()))


@bp.post("/api/v1/controls/kill-switch")
def api_kill_switch():
    """Engage (HALT or REDUCE_ONLY) or release the kill switch, with who and why."""
    _kill_switch(KILL_SWITCH_IN.load(json_body()), "api")
    return json_response(CONTROLS.dump(get_desk().controls()))


@bp.post("/api/v1/controls/breakers/<name>/reset")
def api_breaker_reset(name: str):
    """Reset a tripped circuit breaker (journaled)."""
    _breaker_reset(name, BREAKER_RESET_IN.load(json_body(required=False)), "api")
    return json_response(CONTROLS.dump(get_desk().controls()))


@bp.post("/api/v1/controls/qa")
def api_qa():
    """Set the QA status: when the desk cannot trade today every order is blocked."""
    data = QA_IN.load(json_body())
    action = Action.QA_UNBLOCK if data["can_trade_today"] else Action.QA_BLOCK
    get_desk().control(action, actor=_actor(data.get("actor"), "api"), reason=data["reason"])
    return json_response(CONTROLS.dump(get_desk().controls()))


def controls_state() -> dict[str, Any] | None:
    """The controls for the header; None when they cannot be read (shown as unknown)."""
    try:
        return get_desk().controls()
    except Exception:  # the header must render even when the desk cannot be read
        current_app.logger.exception("desk controls could not be read for the page header")
        return None


@bp.app_template_global()
def header_controls() -> dict[str, Any]:
    """What _controls_header.html shows on every page."""
    return {"controls": controls_state(), "kill_switch_modes": KILL_SWITCH_MODES}


def _header(message: str | None = None, ok: bool = True, part: str | None = None) -> str:
    return render_template("_controls_header.html", message=message, ok=ok, part=part,
                           controls_header=header_controls())


@bp.get("/controls/header")
def header():
    """The controls header alone (or only its state with ?part=state), for polling."""
    return _header(part=request.args.get("part"))


@bp.post("/controls/kill-switch")
def kill_switch_form():
    """Engage or release the kill switch from the page header."""
    try:
        data = KILL_SWITCH_FORM.load(request.form)
        _kill_switch(data, "web")
    except ValidationError as err:
        return _header(first_message(err.messages), ok=False)
    except DeskError as err:
        return _header(str(err), ok=False)
    verb = "engaged" if data["action"] == "engage" else "released"
    return _header(f"Kill switch {verb}.")


@bp.post("/controls/breakers/<name>/reset")
def breaker_reset_form(name: str):
    """Reset a tripped breaker from the page header."""
    try:
        _breaker_reset(name, BREAKER_RESET_FORM.load(request.form), "web")
    except ValidationError as err:
        return _header(first_message(err.messages), ok=False)
    except DeskError as err:
        return _header(str(err), ok=False)
    return _header(f"Breaker {breaker_name(name)} reset.")

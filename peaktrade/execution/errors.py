"""What the desk raises; the web layer maps each to one HTTP status."""

from __future__ import annotations


class DeskError(Exception):
    """The desk could not do what was asked; the message says why."""


class InvalidIntent(DeskError):
    """Input to the desk is malformed; `errors` maps each field to its messages (-> 400/422)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))


class UnknownOrder(DeskError):
    """No order with this id in the active session (-> 404)."""


class OrderNotCancellable(DeskError):
    """The order is no longer working, so it cannot be cancelled (-> 409)."""


class ControlRefused(DeskError):
    """A control action that cannot apply in the current state (-> 409)."""


class BrokerUnreachable(DeskError):
    """The broker gave no usable answer; nothing was decided by it (-> 503)."""

"""The execution service layer: the desk decides, the journal remembers."""

from peaktrade.execution.desk import Desk, active_session_id
from peaktrade.execution.errors import (
    BrokerUnreachable,
    ControlRefused,
    DeskError,
    InvalidIntent,
    OrderNotCancellable,
    UnknownOrder,
)
from peaktrade.execution.intents import Intent
from peaktrade.execution.results import Check, OrderResult, Verdict

__all__ = [
    "BrokerUnreachable", "Check", "ControlRefused", "Desk", "DeskError", "Intent", "InvalidIntent",
    "OrderNotCancellable", "OrderResult", "UnknownOrder", "Verdict", "active_session_id",
]

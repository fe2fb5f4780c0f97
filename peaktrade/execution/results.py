"""What the desk answers: order results and check verdicts (frozen values)."""

from __future__ import annotations

from typing import Any, NamedTuple

from peaktrade.execution.codes import Decision


class OrderResult(NamedTuple):
    """An order as the desk knows it now (REJECTED ones too: they carry the reason).

    NamedTuples here rather than frozen dataclasses: results, checks and verdicts are
    built for every order on the hot path, and a NamedTuple is built several times faster.
    """

    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    quantity: float
    filled_quantity: float
    avg_fill_price: float | None
    price: float | None
    order_type: str
    limit_price: float | None
    tif: str
    status: str
    reason: str | None
    route: str
    source: str | None
    strategy: str | None
    created_at: str
    broker_order_id: str | None = None
    broker_status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


class Check(NamedTuple):
    """One check's decision: pass, adjust or block, with the limit, value and headroom."""

    gate: str
    decision: str
    code: str
    reason: str
    limit: float | str | None = None
    value: float | str | None = None
    headroom: float | None = None

    def to_dict(self) -> dict[str, Any]:
        gate, decision, code, reason, limit, value, headroom = self
        return {"gate": gate, "decision": decision, "code": code, "reason": reason,
                "limit": limit, "value": value, "headroom": headroom}


    def journal_dict(self) -> dict[str, Any]:
        """The check as a gate event lists it: a passing check without its reason.

        The gate event carries the deciding check's reason, and a blocking or adjusting
        check keeps its own; the passing checks' fixed phrases would only repeat in every
        event. What-if, the dry run and the API still show every reason: they use the
        Verdict, not the journal.
        """
        gate, decision, code, reason, limit, value, headroom = self
        if decision == Decision.PASS:
            return {"gate": gate, "decision": decision, "code": code, "limit": limit,
                    "value": value, "headroom": headroom}
        return {"gate": gate, "decision": decision, "code": code, "reason": reason,
                "limit": limit, "value": value, "headroom": headroom}


def checks_payload(checks: tuple[Check, ...] | list[Check]) -> list[dict[str, Any]]:
    """The `checks` list of a gate event."""
    return [c.journal_dict() for c in checks]


class Verdict(NamedTuple):
    """The overall decision on one intent: the deciding check's code and every check run."""

    symbol: str
    side: str
    quantity: float
    decision: str
    code: str | None
    reason: str
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "side": self.side, "quantity": self.quantity,
                "decision": self.decision, "code": self.code, "reason": self.reason,
                "checks": [c.to_dict() for c in self.checks]}

"""The live bridge: the calls a desk makes to a remote broker, outside its locks.

Each call ends in an Outcome that the desk journals under the session lock afterwards. A
new order is POSTed once and never retried blindly: when the answer is lost, the order
is looked up by its client_order_id, and only a confirmed "not found" ends it.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from peaktrade.execution.brokers import (
    Broker,
    BrokerError,
    BrokerOrder,
    BrokerRejected,
    BrokerUnavailable,
)
from peaktrade.execution.codes import Code, Status
from peaktrade.execution.state import Order

log = logging.getLogger("peaktrade.broker")


class Outcome(NamedTuple):
    """What one call found out about one order: a report, a refusal, or nothing usable."""

    order_id: str
    report: BrokerOrder | None = None
    refused: str | None = None  # the broker refused the order, or never received it
    code: str = Code.BROKER_REJECTED
    unknown: str | None = None  # no usable answer: the order stays as journaled


def send(broker: Broker, order: Order) -> Outcome:
    """Send a new order once; when the answer is lost, find out by client_order_id."""
    try:
        return Outcome(order.order_id, report=broker.submit(order, None))
    except BrokerRejected as err:
        return Outcome(order.order_id, refused=str(err))
    except BrokerUnavailable as err:
        log.warning("%s order %s: %s; looking it up by client_order_id instead of sending "
                    "it again", order.route, order.order_id, err)
        return lookup(broker, order)


def lookup(broker: Broker, order: Order) -> Outcome:
    """An order whose submission is in doubt, looked up by its client_order_id."""
    try:
        report = broker.resolve(order)
    except BrokerError as err:
        return Outcome(order.order_id, unknown=f"in flight: {err}")
    if report is None:
        return Outcome(order.order_id, code=Code.BROKER_NOT_FOUND, refused=(
            f"{order.route} has no order with client_order_id "
            f"{order.client_order_id or order.order_id} after every lookup: it never "
            "reached the broker"))
    return Outcome(order.order_id, report=report)


def refresh(broker: Broker, order: Order) -> Outcome:
    """The broker's current view of a working order (reconciliation and polling)."""
    if order.status == Status.PENDING or order.broker_order_id is None:
        return lookup(broker, order)
    try:
        report = broker.fetch_order(order, None)
    except BrokerError as err:
        return Outcome(order.order_id, unknown=str(err))
    if report is None:
        return Outcome(order.order_id, unknown=(
            f"{order.route} does not know order {order.broker_order_id}"))
    return Outcome(order.order_id, report=report)


def cancel(broker: Broker, order: Order) -> Outcome:
    """Ask the broker to cancel; BrokerRejected (not cancellable) and BrokerUnavailable
    propagate to the caller, who decides what the operator hears."""
    report = broker.cancel(order, None)
    if report is None:
        return Outcome(order.order_id, code=Code.BROKER_NOT_FOUND, refused=(
            f"{order.route} does not know the order: it never reached the broker"))
    return Outcome(order.order_id, report=report)

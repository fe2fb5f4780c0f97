"""Desks on real journals in tmp_path, with an injected clock and environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from peaktrade.config import load_config
from peaktrade.execution import Desk
from peaktrade.journal import Journal

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def environ():
    return {}


@pytest.fixture
def make_desk(tmp_path, clock, environ):
    """make_desk(**config_overrides) -> Desk on tmp_path/journal; closed after the test."""
    desks = []

    def make(session_ids=None, **overrides) -> Desk:
        config = load_config({"log_dir": str(tmp_path / "journal"),
                              "journal": {"fsync": "never"}, **overrides}, environ={})
        journal = Journal.from_config(config, clock=clock)
        desk = Desk(config, journal, clock=clock, environ=environ,
                    session_ids=session_ids or (lambda now: "paper-test-abc123"),
                    owns_journal=True)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()


@pytest.fixture
def desk(make_desk):
    return make_desk()


def buy(symbol: str = "AAPL", quantity: float = 10, price: float | None = 100.0, **extra):
    return {"symbol": symbol, "side": "BUY", "quantity": quantity, "price": price, **extra}


def sell(symbol: str = "AAPL", quantity: float = 10, price: float | None = 100.0, **extra):
    return {"symbol": symbol, "side": "SELL", "quantity": quantity, "price": price, **extra}

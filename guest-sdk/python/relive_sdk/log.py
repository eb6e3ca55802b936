"""Progress events for the operator.

Each call sends one line to the host, which journals it and shows it in the
run's timeline (``relive show``). While a run is replayed after a crash,
lines already recorded are matched against the journal instead of being
emitted a second time, so logging is safe anywhere in an agent.

.. code-block:: python

    from relive_sdk import log

    log.info("fetched 3 sources")

``print`` works too (stdout and stderr are captured and shown on the host's
stderr, once), but is not journaled.
"""

from __future__ import annotations

import enum

from ._host import host

__all__ = ["Level", "debug", "error", "info", "log", "trace", "warn"]


class Level(enum.Enum):
    """How important an event is."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


def log(level: Level, message: str) -> None:
    """Sends ``message`` at ``level``: one journaled host call."""
    host().log(level, message)


def trace(message: str) -> None:
    """Sends a ``trace`` event: fine-grained detail, usually hidden."""
    log(Level.TRACE, message)


def debug(message: str) -> None:
    """Sends a ``debug`` event: detail useful when diagnosing an agent."""
    log(Level.DEBUG, message)


def info(message: str) -> None:
    """Sends an ``info`` event: normal progress."""
    log(Level.INFO, message)


def warn(message: str) -> None:
    """Sends a ``warn`` event: something unexpected the agent recovered from."""
    log(Level.WARN, message)


def error(message: str) -> None:
    """Sends an ``error`` event: something failed."""
    log(Level.ERROR, message)

"""Durable sleep: the run is suspended and continues when the time comes,
even across host restarts.

.. code-block:: python

    from datetime import timedelta
    from relive_sdk import timers

    timers.sleep(timedelta(hours=1))
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from ._host import host

__all__ = ["sleep", "sleep_until"]


def sleep(duration: timedelta | float) -> None:
    """Sleeps for ``duration`` (a ``timedelta``, or seconds), with millisecond
    precision, measured from the journaled wall clock."""
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    host().sleep(_millis(seconds))


def sleep_until(when: datetime) -> None:
    """Sleeps until ``when`` (a naive ``datetime`` is taken as UTC; a time
    in the past returns at once)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    host().sleep_until(_millis(when.timestamp()))


def _millis(seconds: float) -> int:
    if math.isnan(seconds) or seconds <= 0:
        return 0
    return min(int(seconds * 1000), 2**64 - 1)

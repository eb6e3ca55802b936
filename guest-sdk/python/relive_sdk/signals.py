"""External signals (``relive signal RUN NAME --data JSON``).

.. code-block:: python

    from relive_sdk import signals

    payload = signals.wait("invoice-paid", timeout=3600)
    if payload is None:
        ...  # an hour passed first
"""

from __future__ import annotations

from datetime import timedelta

from ._host import host
from .timers import _millis

__all__ = ["wait"]


def wait(name: str, timeout: timedelta | float | None = None) -> str | None:
    """Waits for the signal ``name`` and returns its payload (JSON text), or
    ``None`` when ``timeout`` (a ``timedelta``, or seconds) passes first;
    ``timeout=None`` waits for ever. The run is suspended meanwhile."""
    if timeout is None:
        return host().wait_signal(name, None)
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
    return host().wait_signal(name, _millis(seconds))

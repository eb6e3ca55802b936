"""Random values supplied (and journaled) by the host.

Inside a component, ``os.urandom`` reads ``wasi:random/random``, which the
host records: a replayed run sees exactly the values of the original run.
So do the standard library's ``random`` (seeded from it when the run
starts), ``secrets`` and ``uuid.uuid4()``; use any of them. The helpers here
are the Rust SDK's names for the same thing.
"""

from __future__ import annotations

import os

__all__ = ["bytes", "u64"]

_bytes = bytes


def u64() -> int:
    """A random integer in ``[0, 2**64)``: one host call."""
    return int.from_bytes(os.urandom(8), "little")


def bytes(n: int) -> _bytes:  # noqa: A001 - the Rust SDK's name
    """``n`` random bytes: one host call per 256 bytes (CPython reads
    ``os.urandom`` in chunks of that size)."""
    if n < 0:
        raise ValueError(f"random.bytes: n must be 0 or more, got {n}")
    return os.urandom(n)

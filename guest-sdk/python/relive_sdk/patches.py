"""Patch markers: change an agent without breaking the runs recorded before
the change (like Temporal's ``patched``).

.. code-block:: python

    from relive_sdk import patched

    if patched("shorter-summary"):
        ...  # the new code: new runs, and runs that recorded the marker
    else:
        ...  # the old code: runs recorded before the patch, when replayed

Once no run recorded before the patch is left (check with ``relive runs``
and ``relive upgrade``), retire it: delete the old branch and call
:func:`deprecate_patch` where ``patched`` was, so runs that recorded the
marker still replay. When those are gone too, delete the call.
"""

from __future__ import annotations

from ._host import host

__all__ = ["deprecate_patch", "patched"]


def patched(patch_id: str) -> bool:
    """True when this point is reached with the patch in place; false when
    replaying a run recorded before the patch."""
    return host().patched(patch_id)


def deprecate_patch(patch_id: str) -> None:
    """Marks a retired patch: accepts the marker in runs that recorded it,
    and records nothing in new runs."""
    host().deprecate_patch(patch_id)

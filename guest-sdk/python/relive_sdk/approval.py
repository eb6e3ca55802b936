"""Human approval of an action.

While the agent waits, the host keeps no instance, memory or process for it:
the run is ``suspended`` in the journal and resumed by replay when someone
answers (``relive approve RUN`` / ``relive reject RUN --reason ...``, the API
or the web UI).

.. code-block:: python

    from relive_sdk import approval

    match approval.request("send-email", {"to": "ops@example.com"}):
        case approval.Approved(details):
            ...  # act, with `details` if the approver edited them
        case approval.Rejected(reason):
            ...  # adapt
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union

from . import schema
from ._host import host

__all__ = ["Approved", "Decision", "Rejected", "request"]


@dataclass
class Approved:
    """Go ahead."""

    details: str | None = None
    """The details as edited by the approver; ``None`` when unchanged."""


@dataclass
class Rejected:
    """Do not."""

    reason: str
    """The approver's reason."""


Decision = Union[Approved, Rejected]
"""The answer to :func:`request`."""


def request(action: str, details: Any = "") -> Decision:
    """Asks for approval of ``action`` (a short name, e.g. ``"send-email"``)
    described by ``details``, and returns the decision.

    ``details`` is text, or a dataclass or dict sent as JSON; it is shown to
    the approver, who may edit it.
    """
    text = details if isinstance(details, str) else json.dumps(schema.to_json(details))
    return host().request_approval(action, text)

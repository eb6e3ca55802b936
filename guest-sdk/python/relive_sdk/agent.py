"""The component's export: the agent's ``run`` function.

An agent module defines ``run(input) -> answer`` and exports it with
:func:`export_agent`, as the module attribute ``WitWorld`` that
componentize-py looks for:

.. code-block:: python

    from relive_sdk import AgentLoop, export_agent

    def run(input: str) -> str:
        return AgentLoop("You are a careful researcher.").run(input)

    WitWorld = export_agent(run)

The host calls ``run`` with the input the run was started with. After a
crash it calls ``run`` again with the same input and replays the journal,
so ``run`` must reach its host calls in the same order given the same
answers: get every nondeterministic value through the host (clocks,
``random``, ``os.urandom``, ``uuid.uuid4()`` are; iteration over a ``set``
of strings is not stable across builds: sort it).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

from . import schema

__all__ = ["AgentError", "export_agent", "outcome"]


class AgentError(Exception):
    """The agent gives up: the run fails with this message (without a
    traceback). Any other exception fails the run too, with its traceback."""


def outcome(run: Callable[[str], Any], input: str) -> tuple[bool, str]:
    """Calls ``run(input)`` and returns ``(True, answer)`` or ``(False,
    error)``: what the export hands to the host.

    A ``str`` answer is returned as is; any other value is sent as JSON
    (dataclasses included). :class:`AgentError` becomes its message; any
    other exception its traceback.
    """
    try:
        answer = run(input)
    except AgentError as e:
        return False, str(e)
    except Exception as e:
        # The traceback from `run` on: this frame is the SDK's, not the agent's.
        frames = traceback.format_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        return False, "".join(frames).rstrip()
    if isinstance(answer, str):
        return True, answer
    try:
        return True, json.dumps(schema.to_json(answer), ensure_ascii=False)
    except TypeError as e:
        return False, f"the agent returned a {type(answer).__name__}, which is not JSON: {e}"


def export_agent(run: Callable[[str], Any]) -> type:
    """Exports ``run`` as the component's ``run`` function; assign the result
    to the module attribute ``WitWorld``.

    ``run`` takes the run's input and returns the final answer (``str``, or a
    dataclass or other JSON value, sent as JSON); raising
    :class:`AgentError` fails the run with its message, any other exception
    fails it with the traceback.
    """
    from ._wit import world_class

    return world_class(run)

"""Other agents, run as child runs.

A child is a run of its own: its own journal, sandbox, limits and grants
(its ``[agents.NAME]`` table), started only if the operator allowed this
agent to (``agents = ["NAME"]`` under ``[agents.THIS]``). The calls are
journaled: after a crash the same child is found again, never started
twice. While this run waits for children it is suspended (no memory, no
process) and woken when they end. What children use counts toward this
run's token and cost budgets.

.. code-block:: python

    from relive_sdk import agents

    # One child, waited for.
    notes = agents.call("researcher", "what is durable execution?")

    # Several at once: spawn them, then join.
    children = [agents.spawn("researcher", topic) for topic in ["wasm", "wasi"]]
    for result in agents.join(children):
        if isinstance(result, agents.AgentError):
            ...  # result.describe(): e.g. "failed: child run 0k3f2ab1cd.4 failed: ..."
        else:
            ...  # the child's answer

The names are the Rust SDK's (``relive_sdk::agents``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from . import agent
from ._host import host

__all__ = ["AgentError", "AgentErrorKind", "call", "join", "spawn"]

AgentErrorKind = Literal["denied", "failed", "cancelled"]


class AgentError(agent.AgentError):
    """A child run could not give a result.

    ``kind`` is ``"denied"`` (this agent may not start that agent, or it
    has no component), ``"failed"`` (the child run failed, diverged or was
    uncertain) or ``"cancelled"`` (the child run was cancelled);
    ``message`` is the host's explanation. ``str(error)`` is
    :meth:`describe`.

    It is a :class:`relive_sdk.AgentError`: left uncaught in ``run``, it
    fails this run too, with its description as the error.

    >>> AgentError("cancelled", "by the operator").describe()
    'cancelled: by the operator'
    """

    kind: AgentErrorKind
    message: str

    def __init__(self, kind: AgentErrorKind, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(f"{kind}: {message}")

    def describe(self) -> str:
        """A one-line description for people (and models), e.g.
        ``failed: child run 0k3f2ab1cd.4 failed: no notes found``."""
        return f"{self.kind}: {self.message}"


def call(agent: str, input: str) -> str:
    """Runs ``agent`` on ``input`` as a child run and returns its output: a
    spawn and a join of one.

    Raises :class:`AgentError`.
    """
    return host().call_agent(agent, input)


def spawn(agent: str, input: str) -> str:
    """Starts ``agent`` on ``input`` as a child run without waiting; returns
    the child's run id, for :func:`join`.

    Raises :class:`AgentError` (``denied``) when it cannot be started.
    """
    return host().spawn_agent(agent, input)


def join(children: Iterable[str]) -> list[str | AgentError]:
    """Waits until every child in ``children`` (run ids from :func:`spawn`)
    has ended; one result per child, in order: its output, or the
    :class:`AgentError` saying why there is none (returned, not raised)."""
    return host().join_agents(list(children))

"""Write durable AI agents for the relive host in ordinary Python.

An agent is a WebAssembly component that exports one function,
``run(input) -> answer``, and reaches the outside world only through the
host: the LLM (:mod:`~relive_sdk.llm`), tools granted by the operator
(:mod:`~relive_sdk.tools`), other agents run as child runs
(:mod:`~relive_sdk.agents`), progress events (:mod:`~relive_sdk.log`),
approvals, timers and signals, and the WASI clocks and randomness
(``time.time()``, ``datetime.now()``, ``random``, ``uuid.uuid4()``). The
host journals every one of these calls, so a run that was interrupted by a
crash is resumed by replaying the recorded answers: the agent code needs no
checkpoints of its own.

A complete agent (``app.py``), built with ``relive build`` and run with
``relive run``:

.. code-block:: python

    from relive_sdk import AgentLoop, export_agent, log, tool

    @tool
    def word_count(text: str) -> int:
        '''Counts the words of a text.

        Args:
            text: the text to count.
        '''
        return len(text.split())

    def run(input: str) -> str:
        log.info(f"researching: {input}")
        return AgentLoop(
            "You are a careful researcher. Use the tools.",
            tools=["search", word_count],
            max_steps=8,
        ).run(input)

    WitWorld = export_agent(run)

The names are the Rust SDK's: ``llm.chat``, ``llm.chat_batch``,
``tools.call``, ``tools.call_batch``, ``tools.list``, ``agents.call``,
``agents.spawn``, ``agents.join``, ``log``, ``random``,
``approval.request``, ``timers.sleep``, ``signals.wait``, ``patched``, and
:class:`AgentLoop`.
"""

from __future__ import annotations

from . import _host, agents, approval, llm, log, output, random, schema, signals, timers, tools
from .agent import AgentError, export_agent
from .agent_loop import DEFAULT_MAX_STEPS, DEFAULT_OUTPUT_RETRIES, AgentLoop
from .patches import deprecate_patch, patched
from .tools import Tool, tool

__all__ = [
    "DEFAULT_MAX_STEPS",
    "DEFAULT_OUTPUT_RETRIES",
    "AgentError",
    "AgentLoop",
    "Tool",
    "agents",
    "approval",
    "deprecate_patch",
    "export_agent",
    "llm",
    "log",
    "output",
    "patched",
    "random",
    "schema",
    "signals",
    "timers",
    "tool",
    "tools",
]

__version__ = "0.1.0"

# The generated bindings exist inside a component (componentize-py makes
# them while building it) and wherever `componentize-py bindings` put them on
# sys.path; elsewhere the SDK's pure parts (schemas, tools) still work.
try:
    from . import _wit  # noqa: F401  (installs the host)
except ModuleNotFoundError as _e:
    if _e.name not in ("wit_world", "componentize_py_types") and not (
        _e.name or ""
    ).startswith("wit_world."):
        raise
    _host.install(None, f"the bindings `{_e.name}` are not importable")

"""The ready-made tool-calling loop most agents need.

Ask the model; if it asks for tools, run them — all the calls of one turn
at once, journaled in the order the model asked — hand back their results
and ask again; stop at the first answer without tool calls. Every step is a
sequence of journaled host calls, so an interrupted loop resumes exactly
where it stopped.

Other agents can be offered to the model as tools: :meth:`AgentLoop.agent`
(the model gets the sub-agent's answer and goes on) and
:meth:`AgentLoop.handoff` (the sub-agent's answer is the loop's answer).
The Rust SDK's loop makes the same host calls in the same order, so a
Python and a Rust agent journal the same conversation alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

from . import agents, log, output, schema, tools
from .agent import AgentError
from .llm import ChatRequest, FinishReason, LlmError, Message, ToolCall, ToolSpec, chat
from .tools import Tool, ToolError

__all__ = ["DEFAULT_MAX_STEPS", "DEFAULT_OUTPUT_RETRIES", "AgentLoop"]

DEFAULT_MAX_STEPS = 10
"""Model calls :meth:`AgentLoop.run` makes at most (besides output
retries), unless ``max_steps`` says otherwise."""

DEFAULT_OUTPUT_RETRIES = 2
"""Times the model is asked again when its structured answer does not
validate, unless ``output_retries`` says otherwise."""

OutputT = TypeVar("OutputT")

AnyTool = Tool[Any, Any] | ToolSpec | str
"""What ``tools=`` takes: a Python :class:`~relive_sdk.tools.Tool`, the
:class:`~relive_sdk.llm.ToolSpec` of a host tool, or a host tool's name."""

SUB_AGENT_SCHEMA = (
    '{"type":"object","properties":{"input":{"type":"string",'
    '"description":"what to ask the agent"}},"required":["input"]}'
)
"""The JSON schema of a sub-agent tool's arguments (the Rust SDK's, byte
for byte): the model sends the sub-agent its ``input``."""


@dataclass(frozen=True)
class _SubAgent:
    """Another agent offered to the model as a tool."""

    agent: str
    """The agent's name (its ``[agents.NAME]`` table)."""
    tool: str
    """The tool's name the model sees: ``agent_NAME`` or ``handoff_NAME``."""
    description: str
    handoff: bool
    """The child's answer ends the loop."""


@dataclass(frozen=True)
class _Failed:
    """A call of a turn that gave no result: its one-line error."""

    error: str


class AgentLoop(Generic[OutputT]):
    """A tool-calling agent loop: a system prompt, the tools offered to the
    model, a step limit, and the type of the answer.

    .. code-block:: python

        from relive_sdk import AgentLoop

        answer = AgentLoop("You are a careful researcher.", max_steps=5).run(
            "What is durable execution?"
        )

    Args:
        system_prompt: instructions for the model.
        model: a model the operator granted to this agent; ``None``: the
            agent's default.
        tools: what the model may call: Python tools (:func:`~relive_sdk.tool`),
            host tools by name or :class:`~relive_sdk.llm.ToolSpec`; ``None``
            (the default): every host tool granted (``tools.list()``).
        max_steps: most model calls; a step is one model call and the tool
            calls it asks for.
        output_type: the type of the answer: ``str`` (the default), or a
            dataclass (or any type :mod:`relive_sdk.schema` knows) for
            structured output, checked against its JSON schema.
        output_retries: how often the model is asked again when its
            structured answer does not validate; it is told what is wrong.

    Sub-agents are added with :meth:`agent` and :meth:`handoff`.
    """

    @overload
    def __init__(
        self: AgentLoop[str],
        system_prompt: str,
        *,
        model: str | None = None,
        tools: Sequence[AnyTool] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        output_retries: int = DEFAULT_OUTPUT_RETRIES,
    ) -> None: ...
    @overload
    def __init__(
        self: AgentLoop[OutputT],
        system_prompt: str,
        *,
        output_type: type[OutputT],
        model: str | None = None,
        tools: Sequence[AnyTool] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        output_retries: int = DEFAULT_OUTPUT_RETRIES,
    ) -> None: ...

    def __init__(
        self,
        system_prompt: str,
        *,
        output_type: Any = str,
        model: str | None = None,
        tools: Sequence[AnyTool] | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        output_retries: int = DEFAULT_OUTPUT_RETRIES,
    ) -> None:
        self.system_prompt = system_prompt
        self.model = model
        self.tools = list(tools) if tools is not None else None
        self.max_steps = max_steps
        self.output_type: Any = output_type
        self.output_retries = output_retries
        self._agents: list[_SubAgent] = []
        if output_type is not str:
            schema.json_schema(output_type)  # fails now on a type without a schema
        self._check_names()

    def agent(self, name: str, description: str) -> AgentLoop[OutputT]:
        """Offers the agent ``name`` to the model as the tool ``agent_NAME``
        (arguments ``{"input": "..."}``): the model sends it an input and
        gets its answer, a child run's output, back as the tool's result.
        The operator must allow it (``agents = ["NAME"]``). Returns this
        loop, to chain calls.

        .. code-block:: python

            AgentLoop("Plan, then research each point.").agent(
                "researcher", "Researches one question and answers it"
            ).run(topic)
        """
        self._agents.append(_SubAgent(name, f"agent_{name}", description, handoff=False))
        self._check_names()
        return self

    def handoff(self, name: str, description: str) -> AgentLoop[OutputT]:
        """Offers a hand-off to the agent ``name`` as the tool
        ``handoff_NAME`` (arguments ``{"input": "..."}``): when the model
        calls it, the sub-agent's answer (a child run's output) is the
        loop's answer, as ``output_type``. The operator must allow it
        (``agents = ["NAME"]``). Returns this loop, to chain calls.
        """
        self._agents.append(_SubAgent(name, f"handoff_{name}", description, handoff=True))
        self._check_names()
        return self

    def _check_names(self) -> None:
        names = [_tool_name(t) for t in self.tools or []] + [a.tool for a in self._agents]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"AgentLoop: tools offered twice: {', '.join(duplicates)}")

    def run(self, input: str) -> OutputT:
        """Runs the loop on the user message ``input`` and returns the model's
        first answer without tool calls, as ``output_type``.

        The tool calls of one model turn run together: the host tools in
        one batch (:func:`~relive_sdk.tools.call_batch`), the sub-agents as
        child runs spawned together and then joined, then the Python tools,
        in order. A failing tool (or sub-agent) does not stop the loop: the
        model gets ``"error: ..."`` as that call's result and may adapt,
        and a ``warn`` line is logged once the turn's calls have ended.
        Logs one ``info`` line per step.

        Raises :class:`~relive_sdk.AgentError` when the model cannot be
        reached, when the step limit is reached while the model still asks
        for tools, when a hand-off's sub-agent fails, or when the
        structured answer is still invalid after ``output_retries``
        retries.
        """
        specs, local = self._offered()
        specs += [ToolSpec(a.tool, a.description, SUB_AGENT_SCHEMA) for a in self._agents]
        system = self.system_prompt
        if self.output_type is not str:
            system = f"{system}\n\n{output.instructions(self.output_type)}"
        request = ChatRequest(
            [Message.system(system), Message.user(input)], model=self.model, tools=specs
        )
        if self.max_steps < 1:
            raise AgentError(
                f"agent loop: the step limit is {self.max_steps}, so the model was never asked; "
                "set max_steps to at least 1"
            )
        retries = 0
        step = 0
        while True:
            step += 1
            try:
                response = chat(request)
            except LlmError as e:
                raise AgentError(f"agent loop: step {step}: {e}") from e
            message = response.message
            if not message.tool_calls:
                if self.output_type is str:
                    log.info(f"step {step}: final answer")
                    _warn_if_cut(step, response.finish_reason)
                    return cast(OutputT, message.content)
                try:
                    parsed: OutputT = output.parse(self.output_type, message.content)
                except schema.ValidationError as e:
                    name = getattr(self.output_type, "__name__", "the output type")
                    if retries >= self.output_retries:
                        raise AgentError(
                            f"agent loop: step {step}: the answer does not match {name} after "
                            f"{retries} {'retry' if retries == 1 else 'retries'}: {e}"
                        ) from None
                    retries += 1
                    log.warn(f"step {step}: the answer does not match {name}; asking again")
                    request.messages.append(message)
                    request.messages.append(Message.user(output.retry_prompt(e)))
                    continue
                log.info(f"step {step}: final answer")
                _warn_if_cut(step, response.finish_reason)
                return parsed
            names = ", ".join(c.name for c in message.tool_calls)
            if step - retries >= self.max_steps:
                raise AgentError(
                    f"agent loop: reached the step limit ({self.max_steps}) while the model "
                    f"still asks for tools ({names}); raise it with max_steps"
                )
            plural = "" if len(message.tool_calls) == 1 else "s"
            log.info(f"step {step}: calling tool{plural} {names}")
            calls = list(message.tool_calls)
            request.messages.append(message)
            results = self._call_all(calls, local)
            for call, result in zip(calls, results):
                sub = self._sub_agent(call.name)
                if sub is not None and sub.handoff:
                    # The first hand-off of the turn ends the loop.
                    log.info(f"step {step}: handed off")
                    return self._handed_off(sub, result)
            for call, result in zip(calls, results):
                if isinstance(result, _Failed):
                    log.warn(f"step {step}: tool {call.name} {result.error}")
                    content = f"error: {result.error}"
                else:
                    content = result
                request.messages.append(Message.tool_result(call.id, content))

    def _offered(self) -> tuple[list[ToolSpec], dict[str, Tool[Any, Any]]]:
        """The specs offered to the model, and the Python tools by name."""
        if self.tools is None:
            return tools.list(), {}
        specs: list[ToolSpec] = []
        local: dict[str, Tool[Any, Any]] = {}
        granted: dict[str, ToolSpec] | None = None
        for t in self.tools:
            if isinstance(t, Tool):
                specs.append(t.spec())
                local[t.name] = t
            elif isinstance(t, ToolSpec):
                specs.append(t)
            else:
                if granted is None:
                    granted = {s.name: s for s in tools.list()}
                if t not in granted:
                    raise AgentError(
                        f"agent loop: no host tool `{t}` is granted to this agent "
                        f"(granted: {', '.join(granted) or 'none'}); grant it in relive.toml "
                        "or remove it from tools="
                    )
                specs.append(granted[t])
        return specs, local

    def _sub_agent(self, tool: str) -> _SubAgent | None:
        return next((a for a in self._agents if a.tool == tool), None)

    def _call_all(
        self, calls: list[ToolCall], local: dict[str, Tool[Any, Any]]
    ) -> list[str | _Failed]:
        """Runs one turn's calls: the host tools in one batch, the
        sub-agents as child runs started together and then joined, then the
        Python tools. One result per call, in order."""
        subs = [self._sub_agent(c.name) for c in calls]
        batch = [
            (c.name, c.arguments)
            for c, sub in zip(calls, subs)
            if sub is None and c.name not in local
        ]
        host_results = iter(tools.call_batch(batch) if batch else [])
        # Sub-agents: start every child, then wait for them together.
        spawned = [None if sub is None else _spawn(sub, c.arguments) for c, sub in zip(calls, subs)]
        children = [s for s in spawned if isinstance(s, str)]
        answers = iter(agents.join(children) if children else [])
        results: list[str | _Failed] = []
        for c, sub, started in zip(calls, subs, spawned):
            if started is not None:
                if isinstance(started, _Failed):
                    results.append(started)
                else:
                    answer = next(answers)
                    results.append(answer if isinstance(answer, str) else _Failed(answer.describe()))
            elif c.name in local:
                results.append(_run_python_tool(local[c.name], c.arguments))
            else:
                result = next(host_results)
                results.append(result if isinstance(result, str) else _Failed(str(result)))
        return results

    def _handed_off(self, sub: _SubAgent, result: str | _Failed) -> OutputT:
        """The loop's answer from a hand-off's result."""
        if isinstance(result, _Failed):
            raise AgentError(f"agent loop: hand-off to `{sub.agent}` {result.error}")
        if self.output_type is str:
            return cast(OutputT, result)
        try:
            parsed: OutputT = output.parse(self.output_type, result)
        except schema.ValidationError as e:
            name = getattr(self.output_type, "__name__", "the output type")
            raise AgentError(
                f"agent loop: hand-off to `{sub.agent}`: its answer does not match {name}: {e}"
            ) from None
        return parsed


def _spawn(sub: _SubAgent, arguments: str) -> str | _Failed:
    """Starts the child run a sub-agent tool call asks for: its run id, or
    why it could not be started."""
    try:
        value = json.loads(arguments)
    except ValueError as e:
        return _Failed(f"invalid arguments: not JSON ({e})")
    # The `input` the model gives, or the arguments as they are when they
    # are not the expected object.
    given = value.get("input") if isinstance(value, dict) else None
    child_input = given if isinstance(given, str) else arguments
    try:
        return agents.spawn(sub.agent, child_input)
    except agents.AgentError as e:
        return _Failed(e.describe())


def _run_python_tool(t: Tool[Any, Any], arguments: str) -> str | _Failed:
    try:
        return t.invoke(arguments)
    except ToolError as e:
        return _Failed(str(e))
    except Exception as e:  # a Python tool's own failure goes to the model
        return _Failed(f"failed: {type(e).__name__}: {e}")


def _warn_if_cut(step: int, reason: FinishReason) -> None:
    if reason == FinishReason.LENGTH:
        log.warn(f"step {step}: the answer was cut at the token limit")


def _tool_name(t: AnyTool) -> str:
    if isinstance(t, Tool):
        return t.name
    if isinstance(t, ToolSpec):
        return t.name
    return t


"""The ready-made tool-calling loop most agents need.

Ask the model; if it asks for tools, run them, hand back their results and
ask again; stop at the first answer without tool calls. Every step is a
sequence of journaled host calls, so an interrupted loop resumes exactly
where it stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar, cast, overload

from . import log, output, schema, tools
from .agent import AgentError
from .llm import ChatRequest, LlmError, FinishReason, Message, ToolCall, ToolSpec, chat
from .log import Level
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
        if output_type is not str:
            schema.json_schema(output_type)  # fails now on a type without a schema
        names = [_tool_name(t) for t in self.tools or []]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"AgentLoop: tools offered twice: {', '.join(duplicates)}")

    def run(self, input: str) -> OutputT:
        """Runs the loop on the user message ``input`` and returns the model's
        first answer without tool calls, as ``output_type``.

        A failing tool does not stop the loop: the model gets ``"error: ..."``
        as that tool's result and may adapt. Logs one ``info`` line per step.

        Raises :class:`~relive_sdk.AgentError` when the model cannot be
        reached, when the step limit is reached while the model still asks
        for tools, or when the structured answer is still invalid after
        ``output_retries`` retries.
        """
        specs, local = self._offered()
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
            request.messages.append(message)
            for call in list(message.tool_calls):
                content = self._run_tool(step, call, local)
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

    def _run_tool(self, step: int, call: ToolCall, local: dict[str, Tool[Any, Any]]) -> str:
        """The content of the tool message answering ``call``."""
        try:
            if call.name in local:
                return local[call.name].invoke(call.arguments)
            return tools.call_json(call.name, call.arguments)
        except ToolError as e:
            error = str(e)
        except Exception as e:  # a Python tool's own failure goes to the model
            error = f"failed: {type(e).__name__}: {e}"
        log.log(Level.WARN, f"step {step}: tool {call.name} {error}")
        return f"error: {error}"


def _warn_if_cut(step: int, reason: FinishReason) -> None:
    if reason == FinishReason.LENGTH:
        log.warn(f"step {step}: the answer was cut at the token limit")


def _tool_name(t: AnyTool) -> str:
    if isinstance(t, Tool):
        return t.name
    if isinstance(t, ToolSpec):
        return t.name
    return t


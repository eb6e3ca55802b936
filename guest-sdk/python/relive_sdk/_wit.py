"""The only module that touches the generated bindings.

componentize-py generates the package ``wit_world`` from relive's
``wit/agent.wit`` (world ``agent``) when it builds the component; this
module converts between its types and the SDK's, and provides the export
class. The bindings are never edited by hand: regenerate them with
``componentize-py -d wit -w agent bindings DIR`` for an IDE or a type
checker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports import agents as w_agents
from wit_world.imports import approval as w_approval
from wit_world.imports import llm as w_llm
from wit_world.imports import log as w_log
from wit_world.imports import patches as w_patches
from wit_world.imports import signals as w_signals
from wit_world.imports import timers as w_timers
from wit_world.imports import tools as w_tools
from wit_world.imports import types as w_types

from . import _host
from .agent import outcome
from .agents import AgentError
from .approval import Approved, Decision, Rejected
from .llm import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    LlmError,
    Message,
    Role,
    ToolCall,
    ToolSpec,
    Usage,
)
from .log import Level
from .tools import ToolError

_ROLES = {
    Role.SYSTEM: w_types.Role.SYSTEM,
    Role.USER: w_types.Role.USER,
    Role.ASSISTANT: w_types.Role.ASSISTANT,
    Role.TOOL: w_types.Role.TOOL,
}
_ROLES_BACK = {v: k for k, v in _ROLES.items()}
_FINISH = {
    w_llm.FinishReason.STOP: FinishReason.STOP,
    w_llm.FinishReason.TOOL_CALLS: FinishReason.TOOL_CALLS,
    w_llm.FinishReason.LENGTH: FinishReason.LENGTH,
    w_llm.FinishReason.OTHER: FinishReason.OTHER,
}
_LEVELS = {
    Level.TRACE: w_log.Level.TRACE,
    Level.DEBUG: w_log.Level.DEBUG,
    Level.INFO: w_log.Level.INFO,
    Level.WARN: w_log.Level.WARN,
    Level.ERROR: w_log.Level.ERROR,
}


def _message_out(m: Message) -> w_types.Message:
    return w_types.Message(
        role=_ROLES[m.role],
        content=m.content,
        tool_calls=[w_types.ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in m.tool_calls],
        tool_call_id=m.tool_call_id,
    )


def _message_in(m: w_types.Message) -> Message:
    return Message(
        role=_ROLES_BACK[m.role],
        content=m.content,
        tool_calls=[ToolCall(c.id, c.name, c.arguments) for c in m.tool_calls],
        tool_call_id=m.tool_call_id,
    )


def _spec_out(s: ToolSpec) -> w_types.ToolSpec:
    return w_types.ToolSpec(name=s.name, description=s.description, parameters=s.parameters)


def _request_out(r: ChatRequest) -> w_llm.ChatRequest:
    return w_llm.ChatRequest(
        model=r.model,
        messages=[_message_out(m) for m in r.messages],
        tools=[_spec_out(s) for s in r.tools],
        temperature=r.temperature,
        max_tokens=r.max_tokens,
    )


def _response_in(r: w_llm.ChatResponse) -> ChatResponse:
    return ChatResponse(
        message=_message_in(r.message),
        finish_reason=_FINISH[r.finish_reason],
        usage=Usage(r.usage.input_tokens, r.usage.output_tokens),
        model=r.model,
    )


def _llm_error(error: w_llm.LlmError) -> LlmError:
    if isinstance(error, w_llm.LlmError_Denied):
        return LlmError("denied", error.value)
    if isinstance(error, w_llm.LlmError_InvalidRequest):
        return LlmError("invalid-request", error.value)
    return LlmError("unavailable", error.value)


def _tool_error(error: w_tools.ToolError) -> ToolError:
    if isinstance(error, w_tools.ToolError_NotFound):
        return ToolError("not-found", error.value)
    if isinstance(error, w_tools.ToolError_InvalidArguments):
        return ToolError("invalid-arguments", error.value)
    return ToolError("failed", error.value)


def _agent_error(error: w_agents.AgentError) -> AgentError:
    if isinstance(error, w_agents.AgentError_Denied):
        return AgentError("denied", error.value)
    if isinstance(error, w_agents.AgentError_Failed):
        return AgentError("failed", error.value)
    return AgentError("cancelled", error.value)


class WitHost:
    """The host, reached through the component's imports."""

    def chat(self, request: ChatRequest) -> ChatResponse:
        try:
            return _response_in(w_llm.chat(_request_out(request)))
        except Err as e:
            raise _llm_error(e.value) from None

    def chat_batch(self, requests: list[ChatRequest]) -> list[ChatResponse | LlmError]:
        results = w_llm.chat_batch([_request_out(r) for r in requests])
        return [
            _response_in(r.value) if isinstance(r, Ok) else _llm_error(r.value) for r in results
        ]

    def call_tool(self, name: str, arguments: str) -> str:
        try:
            return w_tools.call(name, arguments)
        except Err as e:
            raise _tool_error(e.value) from None

    def call_tools(self, calls: list[tuple[str, str]]) -> list[str | ToolError]:
        results = w_tools.call_batch(calls)
        return [r.value if isinstance(r, Ok) else _tool_error(r.value) for r in results]

    def list_tools(self) -> list[ToolSpec]:
        return [ToolSpec(s.name, s.description, s.parameters) for s in w_tools.list()]

    def log(self, level: Level, message: str) -> None:
        w_log.log(_LEVELS[level], message)

    def request_approval(self, action: str, details: str) -> Decision:
        decision = w_approval.request(action, details)
        if isinstance(decision, w_approval.Decision_Approved):
            return Approved(decision.value)
        return Rejected(decision.value)

    def sleep(self, milliseconds: int) -> None:
        w_timers.sleep(milliseconds)

    def sleep_until(self, unix_ms: int) -> None:
        w_timers.sleep_until(unix_ms)

    def wait_signal(self, name: str, timeout_ms: int | None) -> str | None:
        return w_signals.wait(name, timeout_ms)

    def patched(self, patch_id: str) -> bool:
        return w_patches.patched(patch_id)

    def deprecate_patch(self, patch_id: str) -> None:
        w_patches.deprecate(patch_id)

    def call_agent(self, agent: str, input: str) -> str:
        try:
            return w_agents.call(agent, input)
        except Err as e:
            raise _agent_error(e.value) from None

    def spawn_agent(self, agent: str, input: str) -> str:
        try:
            return w_agents.spawn(agent, input)
        except Err as e:
            raise _agent_error(e.value) from None

    def join_agents(self, children: list[str]) -> list[str | AgentError]:
        results = w_agents.join(children)
        return [r.value if isinstance(r, Ok) else _agent_error(r.value) for r in results]


def world_class(run: Callable[[str], Any]) -> type:
    """The class componentize-py instantiates for the export: its ``run``
    calls ``run`` and turns failures into the WIT ``result``'s error."""

    class WitWorld(wit_world.WitWorld):
        def run(self, input: str) -> str:
            ok, text = outcome(run, input)
            if not ok:
                raise Err(text)
            return text

    WitWorld.__qualname__ = f"WitWorld({getattr(run, '__name__', 'run')})"
    return WitWorld


_host.install(WitHost())

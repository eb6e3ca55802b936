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
from componentize_py_types import Err
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


class WitHost:
    """The host, reached through the component's imports."""

    def chat(self, request: ChatRequest) -> ChatResponse:
        try:
            r = w_llm.chat(
                w_llm.ChatRequest(
                    model=request.model,
                    messages=[_message_out(m) for m in request.messages],
                    tools=[_spec_out(s) for s in request.tools],
                    temperature=request.temperature,
                    max_tokens=request.max_tokens,
                )
            )
        except Err as e:
            error = e.value
            if isinstance(error, w_llm.LlmError_Denied):
                raise LlmError("denied", error.value) from None
            if isinstance(error, w_llm.LlmError_InvalidRequest):
                raise LlmError("invalid-request", error.value) from None
            raise LlmError("unavailable", error.value) from None
        return ChatResponse(
            message=_message_in(r.message),
            finish_reason=_FINISH[r.finish_reason],
            usage=Usage(r.usage.input_tokens, r.usage.output_tokens),
            model=r.model,
        )

    def call_tool(self, name: str, arguments: str) -> str:
        try:
            return w_tools.call(name, arguments)
        except Err as e:
            error = e.value
            if isinstance(error, w_tools.ToolError_NotFound):
                raise ToolError("not-found", error.value) from None
            if isinstance(error, w_tools.ToolError_InvalidArguments):
                raise ToolError("invalid-arguments", error.value) from None
            raise ToolError("failed", error.value) from None

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

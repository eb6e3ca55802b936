"""A fake of the generated bindings' import functions: the seam where a
component calls the host.

It answers chat requests from a script and records everything it is asked,
in the generated types (``wit_world.imports.*``), so the tests cover the
SDK's conversions as well as its logic.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from componentize_py_types import Err, Ok, Result
from wit_world.imports import agents, approval, llm, log, patches, signals, timers, tools, types

ChatReply = llm.ChatResponse | Err[Any]


def answer(content: str, finish: llm.FinishReason = llm.FinishReason.STOP) -> llm.ChatResponse:
    """A final answer of the model."""
    return llm.ChatResponse(
        message=types.Message(role=types.Role.ASSISTANT, content=content, tool_calls=[], tool_call_id=None),
        finish_reason=finish,
        usage=llm.Usage(input_tokens=1, output_tokens=1),
        model="fake",
    )


def asks_for(*calls: tuple[str, str, Any]) -> llm.ChatResponse:
    """An answer asking for tool calls ``(id, name, arguments)``; arguments
    that are not text are sent as JSON."""
    reply = answer("", llm.FinishReason.TOOL_CALLS)
    reply.message.tool_calls = [
        types.ToolCall(id=i, name=n, arguments=a if isinstance(a, str) else json.dumps(a))
        for i, n, a in calls
    ]
    return reply


def spec(name: str) -> types.ToolSpec:
    return types.ToolSpec(name=name, description=f"the {name} tool", parameters="{}")


@dataclass
class FakeWit:
    """Scripted answers and a record of every host call."""

    replies: deque[ChatReply] = field(default_factory=deque)
    granted: list[types.ToolSpec] = field(default_factory=lambda: [spec("search")])
    tool_impls: dict[str, Callable[[str], str]] = field(default_factory=dict)
    decision: approval.Decision = field(default_factory=lambda: approval.Decision_Approved(None))
    signal_payload: str | None = None
    patches_in_place: set[str] = field(default_factory=set)
    startable: set[str] = field(default_factory=lambda: {"researcher"})
    """Agents this one may start; spawning another is denied."""
    child_errors: dict[str, agents.AgentError] = field(default_factory=dict)
    """Children (by run id) that end with an error instead of their answer."""

    requests: list[llm.ChatRequest] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    spawned: list[tuple[str, str]] = field(default_factory=list)
    joined: list[list[str]] = field(default_factory=list)
    lists: int = 0
    logs: list[tuple[log.Level, str]] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    """Every host call in order (a log with its message): the shape of the
    journal the host would write."""

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(llm, "chat", self.chat)
        monkeypatch.setattr(llm, "chat_batch", self.chat_batch)
        monkeypatch.setattr(tools, "call", self.call)
        monkeypatch.setattr(tools, "call_batch", self.call_batch)
        monkeypatch.setattr(tools, "list", self.list_tools)
        monkeypatch.setattr(agents, "call", self.call_agent)
        monkeypatch.setattr(agents, "spawn", self.spawn)
        monkeypatch.setattr(agents, "join", self.join)
        monkeypatch.setattr(log, "log", self.log)
        monkeypatch.setattr(approval, "request", self.request)
        monkeypatch.setattr(timers, "sleep", lambda ms: self.calls.append(("sleep", ms)))
        monkeypatch.setattr(timers, "sleep_until", lambda ms: self.calls.append(("sleep-until", ms)))
        monkeypatch.setattr(signals, "wait", self.wait)
        monkeypatch.setattr(patches, "patched", self.patched)
        monkeypatch.setattr(patches, "deprecate", lambda i: self.calls.append(("deprecate", i)))

    def chat(self, request: llm.ChatRequest) -> llm.ChatResponse:
        self.events.append("llm.chat")
        return self._reply(request)

    def _reply(self, request: llm.ChatRequest) -> llm.ChatResponse:
        self.requests.append(request)
        assert self.replies, "the agent asked the model more often than scripted"
        reply = self.replies.popleft()
        if isinstance(reply, Err):
            raise reply
        return reply

    def chat_batch(self, requests: list[llm.ChatRequest]) -> list[Result[llm.ChatResponse, llm.LlmError]]:
        self.events.append("llm.chat-batch")
        results: list[Result[llm.ChatResponse, llm.LlmError]] = []
        for request in requests:
            try:
                results.append(Ok(self._reply(request)))
            except Err as e:
                results.append(e)
        return results

    def call(self, name: str, arguments: str) -> str:
        self.events.append("tools.call")
        return self._tool(name, arguments)

    def _tool(self, name: str, arguments: str) -> str:
        self.tool_calls.append((name, arguments))
        if name in self.tool_impls:
            return self.tool_impls[name](arguments)
        if name == "search":
            return json.dumps({"echo": json.loads(arguments)})
        raise Err(tools.ToolError_NotFound(name))

    def call_batch(self, calls: list[tuple[str, str]]) -> list[Result[str, tools.ToolError]]:
        self.events.append("tools.call-batch")
        self.batches.append(len(calls))
        results: list[Result[str, tools.ToolError]] = []
        for name, arguments in calls:
            try:
                results.append(Ok(self._tool(name, arguments)))
            except Err as e:
                results.append(e)
        return results

    def list_tools(self) -> list[types.ToolSpec]:
        self.events.append("tools.list")
        self.lists += 1
        return list(self.granted)

    def spawn(self, agent: str, input: str) -> str:
        self.events.append("agents.spawn")
        self.spawned.append((agent, input))
        if agent not in self.startable:
            raise Err(agents.AgentError_Denied(f"may not start {agent}"))
        return f"child-{len(self.spawned)}"

    def join(self, children: list[str]) -> list[Result[str, agents.AgentError]]:
        self.events.append("agents.join")
        self.joined.append(list(children))
        return [
            Err(self.child_errors[c]) if c in self.child_errors else Ok(f"answer of {c}")
            for c in children
        ]

    def call_agent(self, agent: str, input: str) -> str:
        self.events.append("agents.call")
        self.spawned.append((agent, input))
        if agent not in self.startable:
            raise Err(agents.AgentError_Denied(f"may not start {agent}"))
        child = f"child-{len(self.spawned)}"
        if child in self.child_errors:
            raise Err(self.child_errors[child])
        return f"answer of {child}"

    def log(self, level: log.Level, message: str) -> None:
        self.events.append(f"log: {message}")
        self.logs.append((level, message))

    def request(self, action: str, details: str) -> approval.Decision:
        self.calls.append(("approval", (action, details)))
        return self.decision

    def wait(self, name: str, timeout_ms: int | None) -> str | None:
        self.calls.append(("signal", (name, timeout_ms)))
        return self.signal_payload

    def patched(self, patch_id: str) -> bool:
        self.calls.append(("patched", patch_id))
        return patch_id in self.patches_in_place

    def info_lines(self) -> list[str]:
        return [m for level, m in self.logs if level == log.Level.INFO]

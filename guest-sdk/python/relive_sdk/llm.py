"""Chat with the language model the operator configured for this agent.

The agent never sees an API key or a provider: it names a model granted to
it (or none, for its default) and the host does the rest: retries,
timeouts, token accounting. Every call is journaled, so after a crash a
replayed run gets the recorded answer without calling the model again.

.. code-block:: python

    from relive_sdk import llm
    from relive_sdk.llm import ChatRequest, Message

    request = ChatRequest(
        [Message.system("Answer in one sentence."), Message.user("What is durable execution?")],
        temperature=0.2,
    )
    try:
        print(llm.chat(request).message.content)
    except llm.LlmError as e:
        print(e)
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._host import host

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "FinishReason",
    "LlmError",
    "Message",
    "Role",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "chat",
    "chat_batch",
]


class Role(enum.Enum):
    """Who wrote a message in a conversation."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    """The result of a tool call, sent back to the model."""


@dataclass
class ToolCall:
    """A request from the model to call a tool."""

    id: str
    """Chosen by the model; echo it in the ``tool`` message that carries the
    result (:meth:`Message.tool_result`)."""
    name: str
    """Name of the tool, as offered to the model."""
    arguments: str
    """Arguments as a JSON document (an object, normally)."""

    def parsed_arguments(self) -> Any:
        """The arguments as a JSON value; raises :class:`ValueError` when
        they are not valid JSON."""
        return json.loads(self.arguments)


@dataclass
class Message:
    """One message of a conversation.

    Build them with :meth:`system`, :meth:`user`, :meth:`assistant` and
    :meth:`tool_result`.
    """

    role: Role
    content: str = ""
    """May be empty for an assistant message that only calls tools."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Tool calls requested by the assistant (empty otherwise)."""
    tool_call_id: str | None = None
    """For :attr:`Role.TOOL`: the id of the tool call this message answers."""

    @classmethod
    def system(cls, content: str) -> Message:
        """A ``system`` message: instructions for the model."""
        return cls(Role.SYSTEM, content)

    @classmethod
    def user(cls, content: str) -> Message:
        """A ``user`` message."""
        return cls(Role.USER, content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        """An ``assistant`` message without tool calls (e.g. an earlier answer
        of the model, when building a conversation by hand)."""
        return cls(Role.ASSISTANT, content)

    @classmethod
    def tool_result(cls, call_id: str, content: str) -> Message:
        """A ``tool`` message carrying the result of the tool call ``call_id``
        (the :attr:`ToolCall.id` chosen by the model)."""
        return cls(Role.TOOL, content, tool_call_id=call_id)


@dataclass
class ToolSpec:
    """A tool the model may call."""

    name: str
    description: str
    parameters: str
    """JSON schema of the arguments object, as JSON text."""


@dataclass
class ChatRequest:
    """A request to the model."""

    messages: list[Message]
    model: str | None = None
    """A model the operator granted to this agent; ``None``: the agent's
    default model."""
    tools: list[ToolSpec] = field(default_factory=list)
    """Tools the model may ask to call."""
    temperature: float | None = None
    max_tokens: int | None = None
    """Caps the length of the answer, in tokens."""


class FinishReason(enum.Enum):
    """Why the model stopped."""

    STOP = "stop"
    """The model finished its answer."""
    TOOL_CALLS = "tool_calls"
    """The model asks for tool calls (see ``message.tool_calls``)."""
    LENGTH = "length"
    """The answer was cut at the token limit."""
    OTHER = "other"
    """The provider stopped for another reason (content filter, ...)."""


@dataclass
class Usage:
    """Tokens counted by the provider."""

    input_tokens: int
    output_tokens: int


@dataclass
class ChatResponse:
    """The model's answer."""

    message: Message
    finish_reason: FinishReason
    usage: Usage
    model: str
    """The model that answered, as reported by the provider."""


class LlmError(Exception):
    """The model could not answer.

    ``kind`` is ``"denied"`` (the agent may not use this model, or no model
    is configured), ``"invalid-request"`` (the provider rejected the
    request) or ``"unavailable"`` (the provider could not be reached or
    kept failing); ``message`` is the host's explanation. ``str(error)`` is
    one line for people, e.g. ``model unavailable: timeout``.
    """

    kind: Literal["denied", "invalid-request", "unavailable"]
    message: str

    def __init__(
        self, kind: Literal["denied", "invalid-request", "unavailable"], message: str
    ) -> None:
        self.kind = kind
        self.message = message
        label = {
            "denied": "model denied",
            "invalid-request": "invalid request",
            "unavailable": "model unavailable",
        }[kind]
        super().__init__(f"{label}: {message}")


def chat(request: ChatRequest) -> ChatResponse:
    """Sends ``request`` to the model and returns its answer: one journaled
    host call.

    When the answer asks for tool calls, they are in
    ``response.message.tool_calls``; run them (see :mod:`relive_sdk.tools`)
    and send the results back as :meth:`Message.tool_result` messages, or
    let :class:`~relive_sdk.AgentLoop` do it.

    Raises :class:`LlmError`.
    """
    return host().chat(request)


def chat_batch(requests: Iterable[ChatRequest]) -> list[ChatResponse | LlmError]:
    """Sends several requests at once: the host runs them concurrently and
    journals them as separate calls in the order given (so a replay is the
    same whatever order they finished in). One result per request, in order:
    the answer, or the :class:`LlmError` it failed with (returned, not
    raised).
    """
    return host().chat_batch(list(requests))

"""The seam between the SDK's logic and the host's imports.

Every module of the SDK reaches the host through :func:`host`, which returns
the one :class:`Host` of the component: the generated bindings of
``wit/agent.wit``, wrapped by :mod:`relive_sdk._wit`. Those bindings only
exist inside a component built by ``relive build`` (componentize-py
generates them); under plain CPython there is no host, and calling one of
its functions says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .agents import AgentError
    from .approval import Decision
    from .llm import ChatRequest, ChatResponse, LlmError, ToolSpec
    from .log import Level
    from .tools import ToolError


class Host(Protocol):
    """The host services of the ``relive:agent`` world, in the SDK's types.

    Errors are raised as the SDK's exceptions (:class:`~relive_sdk.llm.LlmError`,
    :class:`~relive_sdk.tools.ToolError`, :class:`~relive_sdk.agents.AgentError`);
    the batch calls return them in place of the results they stand for.
    """

    def chat(self, request: ChatRequest) -> ChatResponse: ...
    def chat_batch(self, requests: list[ChatRequest]) -> list[ChatResponse | LlmError]: ...
    def call_tool(self, name: str, arguments: str) -> str: ...
    def call_tools(self, calls: list[tuple[str, str]]) -> list[str | ToolError]: ...
    def list_tools(self) -> list[ToolSpec]: ...
    def log(self, level: Level, message: str) -> None: ...
    def request_approval(self, action: str, details: str) -> Decision: ...
    def sleep(self, milliseconds: int) -> None: ...
    def sleep_until(self, unix_ms: int) -> None: ...
    def wait_signal(self, name: str, timeout_ms: int | None) -> str | None: ...
    def patched(self, patch_id: str) -> bool: ...
    def deprecate_patch(self, patch_id: str) -> None: ...
    def call_agent(self, agent: str, input: str) -> str: ...
    def spawn_agent(self, agent: str, input: str) -> str: ...
    def join_agents(self, children: list[str]) -> list[str | AgentError]: ...


_host: Host | None = None
_missing: str = "relive_sdk was imported before its bindings"


def install(new: Host | None, missing: str = "") -> None:
    """Makes ``new`` the host the SDK talks to (``None``: no host; calls
    then fail with ``missing`` as the reason)."""
    global _host, _missing
    _host = new
    if missing:
        _missing = missing


def host() -> Host:
    """The component's host; raises :class:`RuntimeError` outside one."""
    if _host is None:
        raise RuntimeError(
            f"no relive host: {_missing}. The host's services exist only inside a component: "
            "build the agent with `relive build` and run it with `relive run`"
        )
    return _host

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
    from .approval import Decision
    from .llm import ChatRequest, ChatResponse, ToolSpec
    from .log import Level


class Host(Protocol):
    """The host services of the ``relive:agent`` world, in the SDK's types.

    Errors are raised as the SDK's exceptions (:class:`~relive_sdk.llm.LlmError`,
    :class:`~relive_sdk.tools.ToolError`).
    """

    def chat(self, request: ChatRequest) -> ChatResponse: ...
    def call_tool(self, name: str, arguments: str) -> str: ...
    def list_tools(self) -> list[ToolSpec]: ...
    def log(self, level: Level, message: str) -> None: ...
    def request_approval(self, action: str, details: str) -> Decision: ...
    def sleep(self, milliseconds: int) -> None: ...
    def sleep_until(self, unix_ms: int) -> None: ...
    def wait_signal(self, name: str, timeout_ms: int | None) -> str | None: ...
    def patched(self, patch_id: str) -> bool: ...
    def deprecate_patch(self, patch_id: str) -> None: ...


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

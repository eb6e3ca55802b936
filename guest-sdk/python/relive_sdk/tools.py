"""Tools: the operator's, called through the host, and the agent's own.

**Host tools** are granted to the agent by the operator in ``relive.toml``
(a command, an HTTP fetch, files). The host runs them and journals their
results, so a replayed run gets the recorded result without running the
tool again. Call them with :func:`call` (dataclasses or dicts in, a typed
value out) or :func:`call_json` (JSON text in and out); :func:`list`
returns them, ready to offer to the model.

.. code-block:: python

    from dataclasses import dataclass
    from relive_sdk import tools

    @dataclass
    class Query:
        query: str

    @dataclass
    class Notes:
        query: str
        notes: list[dict[str, object]]

    found = tools.call("search", Query("wasm"), result=Notes)

**Python tools** are plain typed functions of the agent, offered to the
model by :class:`~relive_sdk.AgentLoop`. :func:`tool` reads the type hints
and the docstring to build the JSON schema and the description, so the
function is its own documentation; the model's arguments are checked
against the hints before the function runs. They run inside the sandbox,
so they reach the outside only through the host (and are replayed like
the rest of the agent).

>>> @tool
... def word_count(text: str) -> int:
...     '''Counts the words of a text.
...
...     Args:
...         text: the text to count.
...     '''
...     return len(text.split())
>>> word_count.spec().description
'Counts the words of a text.'
>>> word_count.invoke('{"text": "one two three"}')
'3'
>>> word_count("a b")
2
"""

from __future__ import annotations

import builtins
import functools
import json
import typing
from collections.abc import Callable, Iterable
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from . import schema
from ._host import host
from .llm import ToolSpec

__all__ = ["Tool", "ToolError", "ToolSpec", "call", "call_batch", "call_json", "list", "tool"]

R = TypeVar("R")
P = ParamSpec("P")

ToolErrorKind = Literal["not-found", "invalid-arguments", "failed"]


class ToolError(Exception):
    """A tool call failed.

    ``kind`` is ``"not-found"`` (no tool of this name is granted),
    ``"invalid-arguments"`` (the arguments are not valid JSON, or do not
    match the tool's parameters) or ``"failed"`` (the tool ran and reported
    a failure, or its result does not decode); ``message`` is the
    explanation. ``str(error)`` is one line for people and models, e.g.
    ``failed: exit status 1: no such index``.
    """

    kind: ToolErrorKind
    message: str

    def __init__(self, kind: ToolErrorKind, message: str) -> None:
        self.kind = kind
        self.message = message
        label = {
            "not-found": "not found",
            "invalid-arguments": "invalid arguments",
            "failed": "failed",
        }[kind]
        super().__init__(f"{label}: {message}")


@overload
def call(name: str, arguments: Any) -> Any: ...
@overload
def call(name: str, arguments: Any, result: type[R]) -> R: ...


def call(name: str, arguments: Any, result: Any = Any) -> Any:
    """Calls the host tool ``name`` and decodes its JSON result.

    ``arguments`` is a dataclass, a dict, or any value
    :func:`~relive_sdk.schema.to_json` accepts. ``result`` is the type of
    the result (a dataclass, ``list[str]``, ...; by default the JSON value
    as is); the result is checked against it.

    Raises :class:`ToolError`: the host's error; ``invalid-arguments`` when
    ``arguments`` cannot be encoded; ``failed`` when the result does not
    decode as ``result`` (the message names the tool and the mismatch).
    """
    try:
        encoded = json.dumps(schema.to_json(arguments))
    except (TypeError, ValueError) as e:
        raise ToolError(
            "invalid-arguments", f"cannot encode the arguments of tool `{name}` as JSON: {e}"
        ) from None
    text = call_json(name, encoded)
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ToolError("failed", f"tool `{name}` returned text that is not JSON: {e}") from None
    try:
        return schema.from_json(result, value)
    except schema.ValidationError as e:
        raise ToolError(
            "failed",
            f"tool `{name}` returned a result this agent cannot decode as "
            f"{getattr(result, '__name__', result)}: {e}",
        ) from None


def call_json(name: str, arguments: str) -> str:
    """Calls the host tool ``name`` with a JSON document of arguments and
    returns its JSON result as text: one journaled host call.

    Raises :class:`ToolError`.
    """
    return host().call_tool(name, arguments)


def call_batch(calls: Iterable[tuple[str, str]]) -> builtins.list[str | ToolError]:
    """Calls several host tools at once: ``(name, arguments)`` pairs, each
    arguments a JSON document. The host runs them concurrently and journals
    them as separate calls in the order given, so a replay is the same
    whatever order they finished in. One result per call, in order: its
    JSON result as text, or the :class:`ToolError` it failed with (returned,
    not raised).

    .. code-block:: python

        queries = ['{"query": "wasm"}', '{"query": "wasi"}']
        for result in tools.call_batch([("search", q) for q in queries]):
            if isinstance(result, tools.ToolError):
                log.warn(f"search {result}")
    """
    return host().call_tools([(name, arguments) for name, arguments in calls])


def list() -> builtins.list[ToolSpec]:  # noqa: A001 - the name of the WIT function
    """The host tools granted to this agent, as they can be offered to the
    model: one journaled host call."""
    return host().list_tools()


class Tool(Generic[P, R]):
    """A Python function offered to the model as a tool (see :func:`tool`).

    Calling the object calls the function; :meth:`invoke` is what the agent
    loop does with the model's arguments.
    """

    def __init__(
        self,
        function: Callable[P, R],
        name: str | None = None,
        description: str | None = None,
    ) -> None:
        summary, parameters = schema.function_schema(function)
        self.function = function
        self.name: str = name or function.__name__
        self.description: str = description if description is not None else summary
        self.parameters: dict[str, Any] = parameters
        """The JSON schema of the arguments object."""
        self._hints = typing.get_type_hints(function)
        functools.update_wrapper(self, function)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def spec(self) -> ToolSpec:
        """The tool as offered to the model."""
        return ToolSpec(self.name, self.description, json.dumps(self.parameters))

    def invoke(self, arguments: str) -> str:
        """Runs the tool on the model's ``arguments`` (JSON text) and returns
        its result as JSON text.

        Raises :class:`ToolError` (``invalid-arguments``) when the arguments
        are not JSON or do not match the parameters; exceptions of the
        function itself propagate.
        """
        try:
            raw = json.loads(arguments) if arguments.strip() else {}
        except ValueError as e:
            raise ToolError("invalid-arguments", f"tool `{self.name}`: not JSON: {e}") from None
        if not isinstance(raw, dict):
            raise ToolError(
                "invalid-arguments", f"tool `{self.name}`: expected a JSON object of arguments"
            )
        args_type = _ArgsOf(self)
        try:
            kwargs = args_type.check(raw)
        except schema.ValidationError as e:
            raise ToolError("invalid-arguments", f"tool `{self.name}`: {e}") from None
        value = self.function(**kwargs)  # type: ignore[call-arg]
        return json.dumps(schema.to_json(value), ensure_ascii=False)


class _ArgsOf:
    """Checks a tool's arguments object against its parameters."""

    def __init__(self, tool: Tool[Any, Any]) -> None:
        self.tool = tool

    def check(self, raw: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = self.tool.parameters["properties"]
        required: builtins.list[str] = self.tool.parameters.get("required", [])
        problems: builtins.list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {}
        for name in raw:
            if name not in properties:
                known = ", ".join(properties) or "none"
                problems.append((name, f"is not a parameter (parameters: {known})"))
        for name in properties:
            if name in raw:
                try:
                    kwargs[name] = schema.from_json(self.tool._hints[name], raw[name])
                except schema.ValidationError as e:
                    problems.extend(
                        (f"{name}{'.' if p and not p.startswith('[') else ''}{p}", m)
                        for p, m in e.problems
                    )
            elif name in required:
                problems.append((name, "is required but missing"))
        if problems:
            raise schema.ValidationError(problems)
        return kwargs


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Makes a typed function a :class:`Tool`: ``@tool``, or
    ``@tool(name=..., description=...)`` to override the function's name
    and docstring summary.

    Every parameter needs a type annotation; the docstring's summary is the
    description and its ``Args:`` section describes the parameters. The
    return value is sent to the model as JSON (dataclasses included).
    """
    if function is not None:
        return Tool(function)

    def wrap(fn: Callable[P, R]) -> Tool[P, R]:
        return Tool(fn, name=name, description=description)

    return wrap

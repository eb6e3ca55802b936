"""JSON schemas from Python types, and JSON checked against them.

Tools get their parameter schema from their function's type hints
(:func:`function_schema`), structured output gets the schema of its
dataclass (:func:`json_schema`), and what the model sends back is checked
and converted to those types (:func:`from_json`). Supported types:
``str``, ``int``, ``float``, ``bool``, ``None``, ``list[T]``,
``tuple[T, ...]``, ``dict[str, T]``, ``T | None`` and other unions,
``Literal[...]``, ``Enum`` subclasses, dataclasses (nested), and ``Any``.

Everything here is pure Python: it runs the same inside a component and
under plain CPython.

>>> from dataclasses import dataclass
>>> @dataclass
... class Point:
...     x: int
...     label: str = ""
>>> json_schema(Point)["required"]
['x']
>>> from_json(Point, {"x": 3})
Point(x=3, label='')
>>> from_json(Point, {"x": "3"})
Traceback (most recent call last):
    ...
relive_sdk.schema.ValidationError: `x`: expected an integer, got "3"
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar, Union

__all__ = [
    "ValidationError",
    "from_json",
    "function_schema",
    "json_schema",
    "parse_docstring",
    "to_json",
]

T = TypeVar("T")

JSON = Any
"""A JSON value as :mod:`json` reads it: dict, list, str, int, float,
bool or None."""


class ValidationError(ValueError):
    """A JSON value does not match the type it should have.

    ``problems`` lists every mismatch found, each as ``(path, message)``,
    where ``path`` is like ``items[2].score`` (empty for the value itself).
    ``str(error)`` joins them, one per line: the text a model gets back
    when its answer does not validate.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "\n".join(f"`{path}`: {message}" if path else message for path, message in problems)
        )


def json_schema(tp: Any) -> dict[str, JSON]:
    """The JSON schema of values of type ``tp``.

    A dataclass becomes an object schema whose properties are its fields
    (fields without a default are required), with the class docstring as
    its description; nested dataclasses are inlined.

    >>> json_schema(list[int])
    {'type': 'array', 'items': {'type': 'integer'}}
    >>> json_schema(int | None)
    {'anyOf': [{'type': 'integer'}, {'type': 'null'}]}
    """
    return _schema(tp, set())


def _schema(tp: Any, seen: set[type]) -> dict[str, JSON]:
    if tp is Any or tp is object:
        return {}
    if tp is None or tp is type(None):
        return {"type": "null"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        return {"enum": values}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if tp in seen:
            raise TypeError(f"{tp.__name__} refers to itself; recursive types have no inline schema")
        return _dataclass_schema(tp, seen | {tp})
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema(a, seen) for a in args]}
    if origin in (list, typing.Sequence, collections.abc.Sequence):
        item = args[0] if args else Any
        return {"type": "array", "items": _schema(item, seen)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], seen)}
        return {
            "type": "array",
            "prefixItems": [_schema(a, seen) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin is dict:
        key = args[0] if args else str
        if key is not str:
            raise TypeError(f"dict keys must be str in JSON, not {_name(key)}")
        value = args[1] if len(args) > 1 else Any
        return {"type": "object", "additionalProperties": _schema(value, seen)}
    if tp is list:
        return {"type": "array"}
    if tp is dict:
        return {"type": "object"}
    raise TypeError(
        f"no JSON schema for {_name(tp)}; use str, int, float, bool, None, list, tuple, "
        "dict[str, ...], Literal, an Enum or a dataclass"
    )


def _dataclass_schema(cls: type, seen: set[type]) -> dict[str, JSON]:
    hints = typing.get_type_hints(cls)
    doc = parse_docstring(cls.__doc__ or "")
    properties: dict[str, JSON] = {}
    required: list[str] = []
    for field in dataclasses.fields(cls):
        prop = _schema(hints[field.name], seen)
        if field.name in doc.params:
            prop = {"description": doc.params[field.name], **prop}
        properties[field.name] = prop
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            required.append(field.name)
    schema: dict[str, JSON] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    if doc.summary and not _is_generated_doc(cls, cls.__doc__ or ""):
        schema = {"title": cls.__name__, "description": doc.summary, **schema}
    else:
        schema = {"title": cls.__name__, **schema}
    return schema


def _is_generated_doc(cls: type, doc: str) -> bool:
    # dataclasses set __doc__ to the signature when a class has none.
    return doc.startswith(cls.__name__ + "(")


@typing.overload
def from_json(tp: type[T], value: JSON) -> T: ...
@typing.overload
def from_json(tp: Any, value: JSON) -> Any: ...


def from_json(tp: Any, value: JSON) -> Any:
    """Checks the JSON value ``value`` against ``tp`` and converts it.

    Objects become dataclasses, strings become enum members, lists become
    tuples where ``tp`` says so; an ``int`` is accepted where a ``float`` is
    expected, never the other way round, and ``bool`` is not an ``int``.
    Unknown fields of a dataclass are refused.

    Raises :class:`ValidationError` naming every mismatch.
    """
    problems: list[tuple[str, str]] = []
    result = _convert(tp, value, "", problems)
    if problems:
        raise ValidationError(problems)
    return result


def _convert(tp: Any, value: JSON, path: str, problems: list[tuple[str, str]]) -> Any:
    def fail(expected: str) -> None:
        problems.append((path, f"expected {expected}, got {_show(value)}"))

    if tp is Any or tp is object:
        return value
    if tp is None or tp is type(None):
        if value is not None:
            fail("null")
        return None
    if tp is str:
        if not isinstance(value, str):
            fail("a string")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("a number")
            return value
        return float(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if member.value == value:
                return member
        fail("one of " + ", ".join(_show(m.value) for m in tp))
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _convert_dataclass(tp, value, path, problems)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        if not any(a == value and type(a) is type(value) for a in args):
            fail("one of " + ", ".join(_show(a) for a in args))
        return value
    if origin in (Union, types.UnionType):
        others = [a for a in args if a is not type(None)]
        if value is not None and len(others) == 1:  # Optional[X]: report X's problems
            return _convert(others[0], value, path, problems)
        for arg in args:
            attempt: list[tuple[str, str]] = []
            converted = _convert(arg, value, path, attempt)
            if not attempt:
                return converted
        fail(" or ".join(_describe(a) for a in args))
        return value
    if origin in (list, typing.Sequence, collections.abc.Sequence) or tp is list:
        if not isinstance(value, list):
            fail("an array")
            return value
        item = args[0] if args else Any
        return [_convert(item, v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list):
            fail("an array")
            return value
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]", problems) for i, v in enumerate(value))
        if len(value) != len(args):
            fail(f"an array of {len(args)} items")
            return value
        return tuple(_convert(a, v, f"{path}[{i}]", problems) for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            fail("an object")
            return value
        item = args[1] if len(args) > 1 else Any
        return {k: _convert(item, v, _join(path, k), problems) for k, v in value.items()}
    raise TypeError(f"cannot check JSON against {_name(tp)}")


def _convert_dataclass(cls: type, value: JSON, path: str, problems: list[tuple[str, str]]) -> Any:
    if not isinstance(value, dict):
        problems.append((path, f"expected an object ({cls.__name__}), got {_show(value)}"))
        return value
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], _join(path, name), problems)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            problems.append((_join(path, name), "is required but missing"))
    for name in value:
        if name not in fields:
            known = ", ".join(fields) or "none"
            problems.append((_join(path, name), f"is not a field of {cls.__name__} (fields: {known})"))
    if problems:
        return value
    return cls(**kwargs)


def to_json(value: Any) -> JSON:
    """``value`` as a JSON value: dataclasses become objects (recursively),
    enum members their values, tuples lists.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Query:
    ...     query: str
    >>> to_json([Query("wasm")])
    [{'query': 'wasm'}]
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON: use a dataclass, dict, list, str, number, bool or None")


class Docstring:
    """A docstring split into its summary and its per-parameter text."""

    def __init__(self, summary: str, params: dict[str, str], returns: str) -> None:
        self.summary = summary
        self.params = params
        self.returns = returns


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params|Attributes|Fields|Returns|Return|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_GOOGLE_PARAM = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")
_SPHINX_RETURNS = re.compile(r"^\s*:returns?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> Docstring:
    """Splits a Google-style (``Args:`` section) or Sphinx-style
    (``:param name:``) docstring into its summary, parameter
    descriptions and return description.

    >>> d = parse_docstring('''Search the notes.
    ...
    ...     Args:
    ...         query: words to look for.
    ...     ''')
    >>> d.summary, d.params
    ('Search the notes.', {'query': 'words to look for.'})
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    summary: list[str] = []
    params: dict[str, str] = {}
    returns: list[str] = []
    section: str | None = None
    current: str | None = None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section = header.group(1).lower()
            current = None
            continue
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            section, current = "args", sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            continue
        sphinx_ret = _SPHINX_RETURNS.match(line)
        if sphinx_ret:
            section, current = "returns", None
            returns.append(sphinx_ret.group(1).strip())
            continue
        if section is None:
            summary.append(line)
        elif section in ("args", "arguments", "parameters", "params", "attributes", "fields"):
            match = _GOOGLE_PARAM.match(line)
            indent = len(line) - len(line.lstrip())
            if match and (current is None or indent <= _indent_of_params(lines, section)):
                current = match.group(1).lstrip("*")
                params[current] = match.group(3).strip()
            elif current is not None and line.strip():
                params[current] = (params[current] + " " + line.strip()).strip()
        elif section in ("returns", "return") and line.strip():
            returns.append(line.strip())
    text = "\n".join(summary).strip()
    return Docstring(_unwrap(text), params, " ".join(returns))


def _indent_of_params(lines: list[str], section: str) -> int:
    """The indentation of the first parameter line under ``section``."""
    inside = False
    for line in lines:
        header = _SECTION.match(line)
        if header:
            inside = header.group(1).lower() == section
            continue
        if inside and line.strip():
            return len(line) - len(line.lstrip())
    return 0


def _unwrap(text: str) -> str:
    """Joins the lines of each paragraph; keeps blank lines between them."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def function_schema(fn: Callable[..., Any]) -> tuple[str, dict[str, JSON]]:
    """The description and the parameter schema of a tool function.

    The description is the docstring's summary; each parameter becomes a
    property typed by its annotation and described by its entry in the
    docstring's ``Args:`` section (or ``:param name:``); parameters without
    a default are required. Every parameter needs a type annotation.

    >>> def search(query: str, limit: int = 5) -> list[str]:
    ...     '''Search the notes.
    ...
    ...     Args:
    ...         query: words to look for.
    ...         limit: most notes to return.
    ...     '''
    ...     return []
    >>> description, schema = function_schema(search)
    >>> description
    'Search the notes.'
    >>> schema["properties"]["limit"]
    {'description': 'most notes to return.', 'type': 'integer', 'default': 5}
    >>> schema["required"]
    ['query']
    """
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    doc = parse_docstring(inspect.getdoc(fn) or "")
    properties: dict[str, JSON] = {}
    required: list[str] = []
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool `{fn.__name__}`: *{name} has no JSON schema; name every parameter")
        if name not in hints:
            raise TypeError(
                f"tool `{fn.__name__}`: parameter `{name}` has no type annotation; "
                f"annotate it (e.g. `{name}: str`) so that the model knows what to send"
            )
        prop = _schema(hints[name], set())
        if name in doc.params:
            prop = {"description": doc.params[name], **prop}
        if param.default is inspect.Parameter.empty:
            required.append(name)
        else:
            try:
                prop["default"] = to_json(param.default)
            except TypeError:
                pass
        properties[name] = prop
    schema: dict[str, JSON] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return doc.summary, schema


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: JSON) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or repr(tp)


def _describe(tp: Any) -> str:
    if tp is None or tp is type(None):
        return "null"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if tp in names:
        return names[tp]
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return f"an object ({tp.__name__})"
    origin = typing.get_origin(tp)
    if origin in (list, tuple) or tp in (list, tuple):
        return "an array"
    if origin is dict or tp is dict:
        return "an object"
    return _name(tp)

"""JSON schemas from type hints, and JSON checked against them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from relive_sdk.schema import ValidationError, from_json, function_schema, json_schema, parse_docstring, to_json


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclass
class Source:
    url: str
    trust: float = 0.5


@dataclass
class Report:
    """A research report.

    Attributes:
        title: a short title.
        sources: where the facts come from.
    """

    title: str
    priority: Priority
    sources: list[Source]
    tags: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    kind: Literal["brief", "full"] = "brief"


def test_a_dataclass_becomes_an_object_schema_with_descriptions() -> None:
    schema = json_schema(Report)
    assert schema["title"] == "Report"
    assert schema["description"] == "A research report."
    assert schema["required"] == ["title", "priority", "sources"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["title"] == {"description": "a short title.", "type": "string"}
    assert props["priority"] == {"enum": ["low", "high"]}
    assert props["sources"]["items"]["properties"]["trust"] == {"type": "number"}
    assert props["tags"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["kind"] == {"enum": ["brief", "full"]}


def test_valid_json_converts_to_the_types() -> None:
    report = from_json(
        Report,
        {"title": "t", "priority": "high", "sources": [{"url": "u", "trust": 1}], "kind": "full"},
    )
    assert report == Report("t", Priority.HIGH, [Source("u", 1.0)], kind="full")
    assert isinstance(report.sources[0].trust, float)
    assert from_json(tuple[int, str], [1, "a"]) == (1, "a")
    anything: object = from_json(Any, {"x": [1]})
    assert anything == {"x": [1]}


def test_every_mismatch_is_named_by_its_path() -> None:
    with pytest.raises(ValidationError) as e:
        from_json(
            Report,
            {"title": 3, "priority": "urgent", "sources": [{"url": "u"}, {"trust": "high"}], "extra": 1},
        )
    assert e.value.problems == [
        ("title", "expected a string, got 3"),
        ("priority", 'expected one of "low", "high", got "urgent"'),
        ("sources[1].url", "is required but missing"),
        ("sources[1].trust", 'expected a number, got "high"'),
        ("extra", "is not a field of Report (fields: title, priority, sources, tags, note, kind)"),
    ]
    assert str(e.value).splitlines()[0] == "`title`: expected a string, got 3"


def test_bool_is_not_a_number_and_a_float_is_not_an_int() -> None:
    with pytest.raises(ValidationError, match="expected an integer, got true"):
        from_json(int, True)
    with pytest.raises(ValidationError, match="expected an integer, got 1.5"):
        from_json(int, 1.5)
    assert from_json(int, 2.0) == 2
    with pytest.raises(ValidationError, match="expected a number, got false"):
        from_json(float, False)
    with pytest.raises(ValidationError, match="expected one of 1, 2"):
        from_json(Literal[1, 2], True)


def test_unions_try_each_member() -> None:
    assert from_json(int | str, "x") == "x"
    with pytest.raises(ValidationError, match="expected an integer or a string, got null"):
        from_json(int | str, None)


def test_types_without_a_json_form_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="no JSON schema for complex"):
        json_schema(complex)
    with pytest.raises(TypeError, match="dict keys must be str"):
        json_schema(dict[int, str])


def test_to_json_encodes_dataclasses_enums_and_tuples() -> None:
    value = to_json(Report("t", Priority.LOW, [Source("u")], note=None))
    assert value["priority"] == "low"
    assert value["sources"] == [{"url": "u", "trust": 0.5}]
    assert to_json((1, 2)) == [1, 2]
    with pytest.raises(TypeError, match="set is not JSON"):
        to_json({1})


def test_google_and_sphinx_docstrings() -> None:
    google = parse_docstring(
        """Find notes.

        Longer text that wraps
        over two lines.

        Args:
            query (str): what to look for,
                over several lines.
            limit: how many.

        Returns:
            the notes.
        """
    )
    assert google.summary == "Find notes.\n\nLonger text that wraps over two lines."
    assert google.params == {"query": "what to look for, over several lines.", "limit": "how many."}
    assert google.returns == "the notes."
    sphinx = parse_docstring("Find notes.\n\n:param query: what to look for.\n:param int limit: how many.\n:returns: notes.")
    assert sphinx.summary == "Find notes."
    assert sphinx.params == {"query": "what to look for.", "limit": "how many."}
    assert sphinx.returns == "notes."


def test_function_schema_needs_annotations() -> None:
    def untyped(query, limit: int = 3) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(TypeError, match="parameter `query` has no type annotation"):
        function_schema(untyped)

    def star(*args: int) -> None:
        pass

    with pytest.raises(TypeError, match=r"\*args has no JSON schema"):
        function_schema(star)


def test_function_schema_of_dataclass_parameters() -> None:
    def file_report(report: Report, urgent: bool = False) -> str:
        """Files a report."""
        return ""

    description, schema = function_schema(file_report)
    assert description == "Files a report."
    assert schema["properties"]["report"]["title"] == "Report"
    assert schema["properties"]["urgent"] == {"type": "boolean", "default": False}
    assert schema["required"] == ["report"]

"""Host tools through the generated imports, and Python tools."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from componentize_py_types import Err
from wit_world.imports import tools as w_tools

from relive_sdk import tool, tools
from relive_sdk.tools import ToolError

from .fake import FakeWit


@dataclass
class Query:
    query: str


@dataclass
class Notes:
    notes: list[str]


def test_call_sends_a_dataclass_as_json_and_decodes_the_result(fake: FakeWit) -> None:
    fake.tool_impls["search"] = lambda args: json.dumps({"notes": ["a", json.loads(args)["query"]]})
    found = tools.call("search", Query("wasm"), result=Notes)
    assert found == Notes(["a", "wasm"])
    assert fake.tool_calls == [("search", '{"query": "wasm"}')]


def test_call_without_a_result_type_returns_the_json_value(fake: FakeWit) -> None:
    assert tools.call("search", {"query": "x"}) == {"echo": {"query": "x"}}


def test_an_undecodable_result_is_a_failure_naming_the_tool(fake: FakeWit) -> None:
    fake.tool_impls["search"] = lambda args: '{"hits": []}'
    with pytest.raises(ToolError) as e:
        tools.call("search", Query("x"), result=Notes)
    assert e.value.kind == "failed"
    assert "tool `search` returned a result this agent cannot decode as Notes" in e.value.message
    assert "`notes`: is required but missing" in e.value.message


def test_unencodable_arguments_are_invalid_arguments(fake: FakeWit) -> None:
    with pytest.raises(ToolError) as e:
        tools.call("search", {1, 2})
    assert e.value.kind == "invalid-arguments"
    assert "`search`" in e.value.message
    assert fake.tool_calls == [], "nothing reached the host"


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (w_tools.ToolError_NotFound("x"), "not-found", "not found: x"),
        (w_tools.ToolError_InvalidArguments("bad"), "invalid-arguments", "invalid arguments: bad"),
        (w_tools.ToolError_Failed("exit 1"), "failed", "failed: exit 1"),
    ],
)
def test_host_errors_become_tool_errors(fake: FakeWit, error: w_tools.ToolError, kind: str, text: str) -> None:
    def fail(_: str) -> str:
        raise Err(error)

    fake.tool_impls["t"] = fail
    with pytest.raises(ToolError) as e:
        tools.call_json("t", "{}")
    assert (e.value.kind, str(e.value)) == (kind, text)


def test_list_returns_the_granted_specs(fake: FakeWit) -> None:
    specs = tools.list()
    assert [(s.name, s.description, s.parameters) for s in specs] == [("search", "the search tool", "{}")]


@tool(name="lookup", description="Looks a word up.")
def look_up(word: str, notes: Notes | None = None) -> Notes:
    return Notes([word, *(notes.notes if notes else [])])


def test_a_python_tool_checks_its_arguments_and_returns_json() -> None:
    assert look_up.name == "lookup"
    assert look_up.spec().description == "Looks a word up."
    assert json.loads(look_up.invoke('{"word": "a", "notes": {"notes": ["b"]}}')) == {"notes": ["a", "b"]}
    assert look_up("c") == Notes(["c"])
    with pytest.raises(ToolError) as e:
        look_up.invoke('{"notes": {"notes": [1]}, "other": 2}')
    assert e.value.kind == "invalid-arguments"
    assert e.value.message.splitlines() == [
        "tool `lookup`: `other`: is not a parameter (parameters: word, notes)",
        "`word`: is required but missing",
        "`notes.notes[0]`: expected a string, got 1",
    ]
    with pytest.raises(ToolError, match="not JSON"):
        look_up.invoke("{")
    with pytest.raises(ToolError, match="expected a JSON object"):
        look_up.invoke("[1]")


def test_call_batch_is_one_host_call_with_one_result_per_call_in_order(fake: FakeWit) -> None:
    def fail(arguments: str) -> str:
        raise Err(w_tools.ToolError_Failed("exit 1"))

    fake.tool_impls["fail"] = fail
    results = tools.call_batch(
        [("search", '{"q": 1}'), ("nope", "{}"), ("fail", "{}"), ("search", '{"q": 4}')]
    )
    assert fake.events == ["tools.call-batch"]
    assert fake.batches == [4]
    assert results[0] == '{"echo": {"q": 1}}'
    assert results[3] == '{"echo": {"q": 4}}'
    not_found, failed = results[1], results[2]
    assert isinstance(not_found, ToolError) and not_found.kind == "not-found"
    assert isinstance(failed, ToolError) and str(failed) == "failed: exit 1"


def test_an_empty_batch_still_asks_the_host(fake: FakeWit) -> None:
    assert tools.call_batch(iter([])) == []
    assert fake.batches == [0]

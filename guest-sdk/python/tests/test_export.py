"""The export: what the host gets back from ``run``."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import wit_world
from componentize_py_types import Err

from relive_sdk import AgentError, export_agent


@dataclass
class Answer:
    text: str


def echo(input: str) -> str:
    return f"echo: {input}"


def structured(input: str) -> Answer:
    return Answer(input)


def gives_up(input: str) -> str:
    raise AgentError(f"cannot answer {input!r}")


def crashes(input: str) -> str:
    return str({"a": 1}[input])


def test_the_export_implements_the_generated_world() -> None:
    world = export_agent(echo)
    assert wit_world.WitWorld in world.__mro__
    assert world().run("hi") == "echo: hi"
    assert export_agent(structured)().run("x") == '{"text": "x"}'


def test_agent_error_fails_the_run_with_its_message() -> None:
    with pytest.raises(Err) as e:
        export_agent(gives_up)().run("q")
    assert e.value.value == "cannot answer 'q'"


def test_an_exception_fails_the_run_with_its_traceback() -> None:
    with pytest.raises(Err) as e:
        export_agent(crashes)().run("missing")
    text = e.value.value
    assert text.startswith("Traceback (most recent call last):")
    assert "in outcome" not in text, "the SDK's own frame is left out"
    assert 'test_export.py", line' in text and "in crashes" in text
    assert text.endswith("KeyError: 'missing'")


def test_without_bindings_the_pure_parts_work_and_host_calls_say_why_not() -> None:
    code = (
        "import relive_sdk\n"
        "from relive_sdk import llm, schema\n"
        "assert schema.json_schema(int) == {'type': 'integer'}\n"
        "try:\n"
        "    llm.chat(llm.ChatRequest([llm.Message.user('hi')]))\n"
        "except RuntimeError as e:\n"
        "    print(e)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("no relive host: the bindings `wit_world` are not importable.")
    assert "`relive build`" in out

"""The agent loop against scripted answers (the Rust SDK's tests, and
Python tools and structured output)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from componentize_py_types import Err
from wit_world.imports import agents as w_agents
from wit_world.imports import llm as w_llm
from wit_world.imports import log as w_log
from wit_world.imports import types as w_types

from relive_sdk import AgentError, AgentLoop, tool
from relive_sdk.llm import ToolSpec

from .fake import FakeWit, answer, asks_for, spec


def test_a_direct_answer_is_returned_after_one_step(fake: FakeWit) -> None:
    fake.replies.append(answer("42"))
    assert AgentLoop("be brief").run("question") == "42"
    request = fake.requests[0]
    assert [(m.role, m.content) for m in request.messages] == [
        (w_types.Role.SYSTEM, "be brief"),
        (w_types.Role.USER, "question"),
    ]
    assert request.tools == [spec("search")], "defaults to tools.list"
    assert request.model is None
    assert fake.info_lines() == ["step 1: final answer"]


def test_tool_calls_are_run_and_their_results_sent_back(fake: FakeWit) -> None:
    fake.replies.extend(
        [
            asks_for(("c1", "search", {"query": "a"})),
            asks_for(("c2", "search", {"query": "b"}), ("c3", "search", {"query": "c"})),
            answer("done"),
        ]
    )
    assert AgentLoop("sys", model="m").run("q") == "done"
    assert len(fake.tool_calls) == 3
    assert all(r.model == "m" for r in fake.requests)
    last = fake.requests[2].messages
    R = w_types.Role
    assert [m.role for m in last] == [R.SYSTEM, R.USER, R.ASSISTANT, R.TOOL, R.ASSISTANT, R.TOOL, R.TOOL]
    assert last[2].tool_calls[0].id == "c1"
    assert (last[3].content, last[3].tool_call_id) == ('{"echo": {"query": "a"}}', "c1")
    assert last[6].tool_call_id == "c3"
    assert fake.info_lines() == [
        "step 1: calling tool search",
        "step 2: calling tools search, search",
        "step 3: final answer",
    ]


def test_a_failing_tool_is_reported_to_the_model(fake: FakeWit) -> None:
    fake.replies.extend([asks_for(("c1", "nope", {})), answer("sorry")])
    assert AgentLoop("sys").run("q") == "sorry"
    assert fake.requests[1].messages[3].content == "error: not found: nope"
    assert any(level == w_log.Level.WARN for level, _ in fake.logs)


def test_explicit_tool_specs_skip_the_listing(fake: FakeWit) -> None:
    fake.replies.append(answer("ok"))
    AgentLoop("sys", tools=[ToolSpec("other", "d", "{}")]).run("q")
    assert fake.lists == 0
    assert fake.requests[0].tools == [w_types.ToolSpec(name="other", description="d", parameters="{}")]


def test_host_tools_by_name_are_looked_up_once(fake: FakeWit) -> None:
    fake.replies.append(answer("ok"))
    AgentLoop("sys", tools=["search"]).run("q")
    assert fake.lists == 1
    assert fake.requests[0].tools == [spec("search")]


def test_an_ungranted_host_tool_fails_before_the_model_is_asked(fake: FakeWit) -> None:
    with pytest.raises(AgentError, match=r"no host tool `mail` is granted to this agent \(granted: search\)"):
        AgentLoop("sys", tools=["mail"]).run("q")
    assert fake.requests == []


def test_the_step_limit_stops_a_model_that_keeps_calling_tools(fake: FakeWit) -> None:
    call: tuple[str, str, object] = ("c", "search", {})
    fake.replies.extend([asks_for(call), asks_for(call), asks_for(call)])
    with pytest.raises(AgentError, match=r"step limit \(3\).*max_steps"):
        AgentLoop("sys", max_steps=3).run("q")
    assert len(fake.requests) == 3
    assert len(fake.tool_calls) == 2, "the last step's tools are not run"


def test_zero_steps_never_ask_the_model(fake: FakeWit) -> None:
    with pytest.raises(AgentError, match="at least 1"):
        AgentLoop("sys", max_steps=0).run("q")
    assert fake.requests == []


def test_an_llm_error_fails_the_loop_with_its_step(fake: FakeWit) -> None:
    fake.replies.append(Err(w_llm.LlmError_Denied("model x not granted")))
    with pytest.raises(AgentError) as e:
        AgentLoop("sys").run("q")
    assert str(e.value) == "agent loop: step 1: model denied: model x not granted"


def test_a_truncated_answer_is_returned_with_a_warning(fake: FakeWit) -> None:
    fake.replies.append(answer("partial", w_llm.FinishReason.LENGTH))
    assert AgentLoop("sys").run("q") == "partial"
    assert (w_log.Level.WARN, "step 1: the answer was cut at the token limit") in fake.logs


@tool
def add(a: int, b: int = 1) -> int:
    """Adds two numbers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


def test_python_tools_run_in_the_agent_and_are_offered_with_their_schema(fake: FakeWit) -> None:
    fake.replies.extend(
        [
            asks_for(("c1", "add", {"a": 2, "b": 3}), ("c2", "search", {"query": "x"})),
            answer("5"),
        ]
    )
    assert AgentLoop("sys", tools=[add, "search"]).run("q") == "5"
    offered = fake.requests[0].tools
    assert [t.name for t in offered] == ["add", "search"]
    assert offered[0].description == "Adds two numbers."
    assert json.loads(offered[0].parameters) == {
        "type": "object",
        "properties": {
            "a": {"description": "the first.", "type": "integer"},
            "b": {"description": "the second.", "type": "integer", "default": 1},
        },
        "required": ["a"],
        "additionalProperties": False,
    }
    assert fake.tool_calls == [("search", '{"query": "x"}')], "only host tools reach the host"
    assert fake.requests[1].messages[3].content == "5"


def test_bad_arguments_and_exceptions_of_python_tools_go_back_to_the_model(fake: FakeWit) -> None:
    fake.replies.extend(
        [
            asks_for(("c1", "add", {"a": "two"}), ("c2", "explode", {"reason": "boom"})),
            answer("gave up"),
        ]
    )
    assert AgentLoop("sys", tools=[add, explode]).run("q") == "gave up"
    results = [m.content for m in fake.requests[1].messages[3:]]
    assert results == [
        'error: invalid arguments: tool `add`: `a`: expected an integer, got "two"',
        "error: failed: RuntimeError: boom",
    ]


def test_the_same_tool_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="tools offered twice: add"):
        AgentLoop("sys", tools=[add, "add"])


@dataclass
class Verdict:
    """A spam verdict."""

    label: str
    score: float


def test_structured_output_is_checked_and_returned_as_its_type(fake: FakeWit) -> None:
    fake.replies.append(answer('{"label": "spam", "score": 0.9}'))
    verdict = AgentLoop("Classify.", output_type=Verdict, tools=[]).run("buy now")
    assert verdict == Verdict("spam", 0.9)
    system = fake.requests[0].messages[0].content
    assert system.startswith("Classify.\n\nWhen you give your final answer")
    assert '"required": ["label", "score"]' in system


def test_an_invalid_answer_is_sent_back_with_the_error_and_asked_again(fake: FakeWit) -> None:
    fake.replies.extend([answer('{"label": "spam"}'), answer("not json"), answer('{"label": "ham", "score": 0}')])
    verdict = AgentLoop("Classify.", output_type=Verdict, tools=[]).run("hi")
    assert verdict == Verdict("ham", 0.0)
    assert len(fake.requests) == 3
    retry = fake.requests[1].messages
    assert [m.role for m in retry[2:]] == [w_types.Role.ASSISTANT, w_types.Role.USER]
    assert retry[2].content == '{"label": "spam"}'
    assert "`score`: is required but missing" in retry[3].content
    assert "the answer is not JSON" in fake.requests[2].messages[5].content
    warnings = [m for level, m in fake.logs if level == w_log.Level.WARN]
    assert warnings == [
        "step 1: the answer does not match Verdict; asking again",
        "step 2: the answer does not match Verdict; asking again",
    ]


def test_retries_are_bounded(fake: FakeWit) -> None:
    fake.replies.extend([answer("{}"), answer("{}")])
    with pytest.raises(AgentError) as e:
        AgentLoop("Classify.", output_type=Verdict, tools=[], output_retries=1).run("hi")
    assert str(e.value).startswith("agent loop: step 2: the answer does not match Verdict after 1 retry:")
    assert "`label`: is required but missing" in str(e.value)
    assert len(fake.requests) == 2


def test_retries_do_not_use_up_tool_steps(fake: FakeWit) -> None:
    fake.replies.extend([answer("{}"), asks_for(("c1", "search", {})), answer('{"label": "x", "score": 1}')])
    verdict = AgentLoop("sys", output_type=Verdict, max_steps=2).run("q")
    assert verdict.label == "x"


def test_an_output_type_without_a_schema_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="no JSON schema for complex"):
        AgentLoop("sys", output_type=complex)


# Batches and sub-agents: the Rust SDK's tests, and the exact sequence of
# host calls (the journal's shape), which a Rust agent makes alike.


def tool_results(request: w_llm.ChatRequest) -> list[str]:
    return [m.content for m in request.messages if m.role == w_types.Role.TOOL]


def test_a_turns_tool_calls_go_in_one_batch_in_order(fake: FakeWit) -> None:
    fake.replies.extend(
        [
            asks_for(("c1", "search", '{"q":1}'), ("c2", "nope", "{}"), ("c3", "search", '{"q":3}')),
            answer("done"),
        ]
    )
    assert AgentLoop("sys").run("hi") == "done"
    assert fake.batches == [3], "one batch of three"
    results = tool_results(fake.requests[1])
    assert results == ['{"echo": {"q": 1}}', "error: not found: nope", '{"echo": {"q": 3}}']
    assert [m.tool_call_id for m in fake.requests[1].messages[3:]] == ["c1", "c2", "c3"]
    # The failure is logged after the batch, not between its calls.
    assert fake.events == [
        "tools.list",
        "llm.chat",
        "log: step 1: calling tools search, nope, search",
        "tools.call-batch",
        "log: step 1: tool nope not found: nope",
        "llm.chat",
        "log: step 2: final answer",
    ]


def test_sub_agents_are_tools_and_a_handoff_ends_the_loop(fake: FakeWit) -> None:
    fake.replies.extend(
        [
            asks_for(("a", "agent_researcher", {"input": "topic one"}), ("b", "search", {})),
            asks_for(("h", "handoff_researcher", {"input": "write it up"})),
        ]
    )
    loop = (
        AgentLoop("sys")
        .agent("researcher", "researches a topic")
        .handoff("researcher", "writes the final answer")
    )
    assert loop.run("hi") == "answer of child-2"
    assert fake.spawned == [("researcher", "topic one"), ("researcher", "write it up")]
    offered = fake.requests[0].tools
    assert [t.name for t in offered] == ["search", "agent_researcher", "handoff_researcher"]
    assert offered[1] == w_types.ToolSpec(
        name="agent_researcher",
        description="researches a topic",
        # The Rust SDK's schema, byte for byte: the same LLM request.
        parameters='{"type":"object","properties":{"input":{"type":"string",'
        '"description":"what to ask the agent"}},"required":["input"]}',
    )
    assert tool_results(fake.requests[1]) == ["answer of child-1", '{"echo": {}}']
    assert fake.events == [
        "tools.list",
        "llm.chat",
        "log: step 1: calling tools agent_researcher, search",
        "tools.call-batch",
        "agents.spawn",
        "agents.join",
        "llm.chat",
        "log: step 2: calling tool handoff_researcher",
        "agents.spawn",
        "agents.join",
        "log: step 2: handed off",
    ]


def test_a_turns_sub_agents_are_spawned_together_then_joined(fake: FakeWit) -> None:
    fake.replies.extend(
        [
            asks_for(
                ("a", "agent_researcher", {"input": "one"}),
                ("b", "agent_hostile", {"input": "two"}),
                ("c", "agent_researcher", '"not an object"'),
                ("d", "agent_researcher", "not json"),
            ),
            answer("done"),
        ]
    )
    fake.child_errors["child-3"] = w_agents.AgentError_Failed("child run child-3 failed: no notes")
    loop = AgentLoop("sys", tools=[]).agent("researcher", "r").agent("hostile", "h")
    assert loop.run("hi") == "done"
    # The arguments as they are when they are not the expected object.
    assert fake.spawned == [("researcher", "one"), ("hostile", "two"), ("researcher", '"not an object"')]
    assert fake.joined == [["child-1", "child-3"]], "a refused spawn is not joined"
    results = tool_results(fake.requests[1])
    assert results[:3] == [
        "answer of child-1",
        "error: denied: may not start hostile",
        "error: failed: child run child-3 failed: no notes",
    ]
    assert results[3].startswith("error: invalid arguments: not JSON (")
    assert fake.events[:6] == [
        "llm.chat",
        "log: step 1: calling tools agent_researcher, agent_hostile, agent_researcher, agent_researcher",
        "agents.spawn",
        "agents.spawn",
        "agents.spawn",
        "agents.join",
    ], "no empty batch, no listing (tools=[])"
    warnings = [m for level, m in fake.logs if level == w_log.Level.WARN]
    assert warnings[:2] == [
        "step 1: tool agent_hostile denied: may not start hostile",
        "step 1: tool agent_researcher failed: child run child-3 failed: no notes",
    ]
    assert len(warnings) == 3


def test_a_failed_handoff_fails_the_loop(fake: FakeWit) -> None:
    fake.replies.append(asks_for(("h", "handoff_researcher", {"input": "q"})))
    fake.child_errors["child-1"] = w_agents.AgentError_Cancelled("by the operator")
    with pytest.raises(AgentError) as e:
        AgentLoop("sys", tools=[]).handoff("researcher", "r").run("hi")
    assert str(e.value) == "agent loop: hand-off to `researcher` cancelled: by the operator"
    assert fake.info_lines()[-1] == "step 1: handed off"


def test_host_tools_sub_agents_and_python_tools_in_one_turn(fake: FakeWit) -> None:
    @tool
    def double(n: int) -> int:
        """Doubles a number.

        Args:
            n: the number.
        """
        fake.events.append("python tool double")
        return 2 * n

    fake.replies.extend(
        [
            asks_for(
                ("p", "double", {"n": 2}),
                ("s", "search", {"q": "x"}),
                ("a", "agent_researcher", {"input": "y"}),
            ),
            answer("done"),
        ]
    )
    assert AgentLoop("sys", tools=[double, "search"]).agent("researcher", "r").run("q") == "done"
    assert tool_results(fake.requests[1]) == ["4", '{"echo": {"q": "x"}}', "answer of child-1"]
    # The host's calls first (the batch, the children), then the agent's own.
    assert fake.events[2:] == [
        "log: step 1: calling tools double, search, agent_researcher",
        "tools.call-batch",
        "agents.spawn",
        "agents.join",
        "python tool double",
        "llm.chat",
        "log: step 2: final answer",
    ]
    assert fake.batches == [1], "Python tools run in the agent, not in the batch"


def test_a_handoff_answer_is_parsed_as_the_output_type(fake: FakeWit) -> None:
    fake.replies.append(asks_for(("h", "handoff_researcher", {"input": "q"})))
    loop = AgentLoop("sys", output_type=Verdict, tools=[]).handoff("researcher", "r")
    with pytest.raises(AgentError, match="hand-off to `researcher`: its answer does not match Verdict"):
        loop.run("hi")


def test_a_sub_agent_twice_or_named_like_a_tool_is_refused() -> None:
    with pytest.raises(ValueError, match="tools offered twice: agent_researcher"):
        AgentLoop("sys").agent("researcher", "a").agent("researcher", "b")

    @tool(name="handoff_x")
    def clash() -> str:
        """A tool named like a hand-off."""
        return ""

    with pytest.raises(ValueError, match="tools offered twice: handoff_x"):
        AgentLoop("sys", tools=[clash]).handoff("x", "d")

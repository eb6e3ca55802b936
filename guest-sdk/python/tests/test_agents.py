"""Child runs through the generated imports: `agents.call`, `spawn`, `join`."""

from __future__ import annotations

import pytest
from wit_world.imports import agents as w_agents

import relive_sdk
from relive_sdk import agents
from relive_sdk.agent import outcome

from .fake import FakeWit


def test_call_returns_the_childs_answer(fake: FakeWit) -> None:
    assert agents.call("researcher", "what is wasm?") == "answer of child-1"
    assert fake.events == ["agents.call"]
    assert fake.spawned == [("researcher", "what is wasm?")]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (w_agents.AgentError_Denied("add \"x\" to `agents`"), "denied"),
        (w_agents.AgentError_Failed("child run r.4 failed: no notes"), "failed"),
        (w_agents.AgentError_Cancelled("by the operator"), "cancelled"),
    ],
)
def test_a_childs_error_is_an_agent_error_with_its_kind(
    fake: FakeWit, error: w_agents.AgentError, kind: str
) -> None:
    fake.child_errors["child-1"] = error
    with pytest.raises(agents.AgentError) as e:
        agents.call("researcher", "q")
    assert (e.value.kind, e.value.message) == (kind, error.value)
    assert e.value.describe() == str(e.value) == f"{kind}: {error.value}"


def test_an_agent_that_may_not_be_started_is_denied(fake: FakeWit) -> None:
    with pytest.raises(agents.AgentError, match="^denied: may not start hostile$"):
        agents.spawn("hostile", "q")


def test_spawn_then_join_gives_one_result_per_child_in_order(fake: FakeWit) -> None:
    fake.child_errors["child-2"] = w_agents.AgentError_Failed("out of notes")
    children = [agents.spawn("researcher", topic) for topic in ["wasm", "wasi", "wit"]]
    assert children == ["child-1", "child-2", "child-3"]
    results = agents.join(iter(children))
    assert fake.events == ["agents.spawn"] * 3 + ["agents.join"]
    assert fake.joined == [children]
    assert results[0] == "answer of child-1" and results[2] == "answer of child-3"
    failed = results[1]
    assert isinstance(failed, agents.AgentError) and failed.describe() == "failed: out of notes"


def test_an_uncaught_child_error_fails_the_run_with_its_description(fake: FakeWit) -> None:
    fake.child_errors["child-1"] = w_agents.AgentError_Cancelled("with its parent")
    assert issubclass(agents.AgentError, relive_sdk.AgentError)
    assert outcome(lambda q: agents.call("researcher", q), "q") == (
        False,
        "cancelled: with its parent",
    )

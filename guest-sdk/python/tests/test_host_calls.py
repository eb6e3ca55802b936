"""Each SDK function reaches the right generated import, converted both ways."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from componentize_py_types import Err
from wit_world.imports import approval as w_approval
from wit_world.imports import llm as w_llm
from wit_world.imports import log as w_log
from wit_world.imports import types as w_types

from relive_sdk import approval, deprecate_patch, llm, log, patched, random, signals, timers
from relive_sdk.llm import ChatRequest, FinishReason, Message, Role, ToolCall, ToolSpec

from .fake import FakeWit, asks_for


def test_chat_converts_the_request_and_the_response(fake: FakeWit) -> None:
    fake.replies.append(asks_for(("c1", "search", '{"q": 1}')))
    request = ChatRequest(
        [Message.system("s"), Message.tool_result("c0", "r")],
        model="m",
        tools=[ToolSpec("search", "d", "{}")],
        temperature=0.5,
        max_tokens=10,
    )
    response = llm.chat(request)
    sent = fake.requests[0]
    assert sent == w_llm.ChatRequest(
        model="m",
        messages=[
            w_types.Message(role=w_types.Role.SYSTEM, content="s", tool_calls=[], tool_call_id=None),
            w_types.Message(role=w_types.Role.TOOL, content="r", tool_calls=[], tool_call_id="c0"),
        ],
        tools=[w_types.ToolSpec(name="search", description="d", parameters="{}")],
        temperature=0.5,
        max_tokens=10,
    )
    assert response.finish_reason == FinishReason.TOOL_CALLS
    assert response.message.role == Role.ASSISTANT
    assert response.message.tool_calls == [ToolCall("c1", "search", '{"q": 1}')]
    assert response.message.tool_calls[0].parsed_arguments() == {"q": 1}
    assert (response.usage.input_tokens, response.model) == (1, "fake")


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (w_llm.LlmError_Denied("no"), "denied", "model denied: no"),
        (w_llm.LlmError_InvalidRequest("bad"), "invalid-request", "invalid request: bad"),
        (w_llm.LlmError_Unavailable("timeout"), "unavailable", "model unavailable: timeout"),
    ],
)
def test_llm_errors_are_exceptions(fake: FakeWit, error: w_llm.LlmError, kind: str, text: str) -> None:
    fake.replies.append(Err(error))
    with pytest.raises(llm.LlmError) as e:
        llm.chat(ChatRequest([Message.user("hi")]))
    assert (e.value.kind, e.value.message, str(e.value)) == (kind, error.value, text)


def test_log_levels(fake: FakeWit) -> None:
    log.trace("t")
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    L = w_log.Level
    assert fake.logs == [(L.TRACE, "t"), (L.DEBUG, "d"), (L.INFO, "i"), (L.WARN, "w"), (L.ERROR, "e")]


@dataclass
class Email:
    to: str


def test_approval_sends_details_as_json_and_returns_the_decision(fake: FakeWit) -> None:
    fake.decision = w_approval.Decision_Approved("edited")
    assert approval.request("send-email", Email("ops")) == approval.Approved("edited")
    fake.decision = w_approval.Decision_Rejected("no")
    decision = approval.request("send-email", "plain text")
    match decision:
        case approval.Rejected(reason):
            assert reason == "no"
        case _:
            pytest.fail(f"expected a rejection, got {decision}")
    assert fake.calls == [
        ("approval", ("send-email", '{"to": "ops"}')),
        ("approval", ("send-email", "plain text")),
    ]


def test_timers_and_signals_take_timedeltas_or_seconds(fake: FakeWit) -> None:
    timers.sleep(timedelta(minutes=2))
    timers.sleep(1.5)
    timers.sleep(-3)
    timers.sleep_until(datetime(2030, 1, 1, tzinfo=timezone.utc))
    timers.sleep_until(datetime(2030, 1, 1))
    fake.signal_payload = '{"paid": true}'
    assert signals.wait("paid", timeout=timedelta(seconds=3)) == '{"paid": true}'
    assert signals.wait("paid") == '{"paid": true}'
    assert fake.calls == [
        ("sleep", 120_000),
        ("sleep", 1_500),
        ("sleep", 0),
        ("sleep-until", 1_893_456_000_000),
        ("sleep-until", 1_893_456_000_000),
        ("signal", ("paid", 3_000)),
        ("signal", ("paid", None)),
    ]


def test_patches(fake: FakeWit) -> None:
    fake.patches_in_place = {"new"}
    assert patched("new") is True
    assert patched("old") is False
    deprecate_patch("older")
    assert fake.calls == [("patched", "new"), ("patched", "old"), ("deprecate", "older")]


def test_random_helpers() -> None:
    assert 0 <= random.u64() < 2**64
    assert len(random.bytes(300)) == 300
    with pytest.raises(ValueError, match="n must be 0 or more"):
        random.bytes(-1)


def test_chat_batch_returns_answers_and_errors_in_order(fake: FakeWit) -> None:
    fake.replies.extend([asks_for(("c1", "search", "{}")), Err(w_llm.LlmError_Unavailable("timeout"))])
    first, second = llm.chat_batch(
        [ChatRequest([Message.user("a")], model="m"), ChatRequest([Message.user("b")])]
    )
    assert fake.events == ["llm.chat-batch"]
    assert [(r.model, r.messages[0].content) for r in fake.requests] == [("m", "a"), (None, "b")]
    assert isinstance(first, llm.ChatResponse)
    assert first.message.tool_calls == [ToolCall("c1", "search", "{}")]
    assert isinstance(second, llm.LlmError)
    assert (second.kind, str(second)) == ("unavailable", "model unavailable: timeout")

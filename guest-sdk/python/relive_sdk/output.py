"""Structured output: ask the model for JSON of a given type, and check it.

:class:`~relive_sdk.AgentLoop` with ``output_type=`` does all of this: it
tells the model the JSON schema of the type (:func:`instructions`), reads
the answer (:func:`parse`), and when the answer does not validate, sends
the error back to the model (:func:`retry_prompt`) and asks again, a
bounded number of times.

>>> from dataclasses import dataclass
>>> @dataclass
... class Verdict:
...     label: str
...     score: float
>>> parse(Verdict, '```json\\n{"label": "spam", "score": 1}\\n```')
Verdict(label='spam', score=1.0)
>>> parse(Verdict, '{"label": "spam"}')
Traceback (most recent call last):
    ...
relive_sdk.schema.ValidationError: `score`: is required but missing
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from . import schema

__all__ = ["instructions", "parse", "retry_prompt"]

T = TypeVar("T")

_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)


def instructions(output_type: Any) -> str:
    """The text appended to the system prompt: answer with JSON matching
    the schema of ``output_type``."""
    name = getattr(output_type, "__name__", "the answer")
    return (
        f"When you give your final answer, answer with a single JSON value ({name}) and "
        "nothing else: no prose, no code fence. It must match this JSON schema:\n"
        + json.dumps(schema.json_schema(output_type), ensure_ascii=False)
    )


def parse(output_type: type[T] | Any, text: str) -> T:
    """Reads the model's answer ``text`` as JSON (a surrounding code fence is
    allowed) and checks it against ``output_type``.

    Raises :class:`~relive_sdk.schema.ValidationError`: the text is not
    JSON, or does not match.
    """
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        value = json.loads(body)
    except ValueError as e:
        raise schema.ValidationError([("", f"the answer is not JSON ({e})")]) from None
    result: T = schema.from_json(output_type, value)
    return result


def retry_prompt(error: schema.ValidationError) -> str:
    """What the model is told when its answer does not validate."""
    return (
        "Your answer does not match the required JSON schema:\n"
        f"{error}\n"
        "Answer again with only the corrected JSON value."
    )

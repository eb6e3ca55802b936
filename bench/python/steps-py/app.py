"""`steps-py`: the benchmark workload of tests/guests/steps, in Python.

Input: {"steps": N, "kind": "tool" | "clock" | "random" | "llm" | "signal"}
(as the Rust `steps`): N journaled tool calls (the built-in `files` tool:
write step.txt, then read it back), wall-clock reads (`time.time_ns()`),
random reads (`random.u64()`), LLM calls, or a wait for the signal `go`
followed by N tool calls. Output: {"steps", "kind", "calls", "digest"}, the
digest a SHA-256 of every answer.
"""

import hashlib
import json
import time

from relive_sdk import AgentError, export_agent, llm, random, signals, tools

PAYLOAD = (
    "relive benchmark step payload: 150 bytes of text that every later step reads back, "
    "so each durable step returns a result of roughly two hundred bytes."
)


def step_arguments(step: int) -> dict[str, str]:
    if step == 1:
        return {"op": "write", "path": "step.txt", "content": PAYLOAD}
    return {"op": "read", "path": "step.txt"}


def run(input: str) -> str:
    try:
        spec = json.loads(input)
        steps, kind = int(spec["steps"]), str(spec["kind"])
    except (ValueError, KeyError, TypeError) as e:
        raise AgentError(f'steps-py: the input must be {{"steps": N, "kind": ...}}: {e}') from None
    digest = hashlib.sha256()
    if kind == "signal":
        digest.update((signals.wait("go") or "").encode())
    for step in range(1, steps + 1):
        if kind in ("tool", "signal"):
            digest.update(tools.call_json("step", json.dumps(step_arguments(step))).encode())
        elif kind == "clock":
            digest.update(time.time_ns().to_bytes(8, "little"))
        elif kind == "random":
            digest.update(random.u64().to_bytes(8, "little"))
        elif kind == "llm":
            request = llm.ChatRequest([llm.Message.user(f"step {step} of {steps}")])
            digest.update(llm.chat(request).message.content.encode())
        else:
            raise AgentError(f"steps-py: unknown kind {kind!r}")
    return json.dumps({"steps": steps, "kind": kind, "calls": steps, "digest": digest.hexdigest()[:16]})


WitWorld = export_agent(run)

"""`dispatcher-py`: the dispatcher example in Python, on relive_sdk.AgentLoop.

A cheap front agent that hands a request to an expensive specialist, the
(Rust) researcher, as a child run: a hand-off. The dispatcher's model sees
one tool, `handoff_researcher`; when it calls it, the researcher runs as a
child run of its own (its own journal, sandbox, limits and grants) and its
answer is the dispatcher's answer. Kill the host while the researcher
searches and resume the dispatcher: the same child is found again and goes
on where it stopped.
"""

from relive_sdk import AgentError, AgentLoop, export_agent, log

SYSTEM_PROMPT = (
    "You route requests. For a research question, hand it to the researcher with the question "
    "as its input; answer small talk yourself."
)


def run(input: str) -> str:
    request = input.strip()
    if not request:
        raise AgentError("dispatcher-py: the input is empty; pass a request")
    log.info(f"dispatching: {request}")
    return (
        AgentLoop(SYSTEM_PROMPT, tools=[], max_steps=3)
        .handoff("researcher", "Hands a research question to the researcher, whose answer is final")
        .run(request)
    )


WitWorld = export_agent(run)

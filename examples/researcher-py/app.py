"""`researcher-py`: the researcher example in Python, on relive_sdk.AgentLoop.

It answers a question by searching the operator's research notes with the
`search` tool (see tools/search.sh) and summarising what it found. With the
scripted model of relive.toml the conversation is fixed (two searches, then
an answer), which makes it a deterministic demo of crash-resume: kill the
host between the searches and resume, and neither the model nor the first
search runs again.
"""

from relive_sdk import AgentError, AgentLoop, export_agent, log

SYSTEM_PROMPT = (
    "You are a careful research assistant. Answer the user's question using the research "
    "notes: call the `search` tool with a short query, as often as useful, then answer in a "
    "few sentences and cite the notes you used. Say so when the notes do not answer the "
    "question."
)

MAX_STEPS = 6
"""Model calls allowed per run: enough for a few searches and the answer."""


def run(input: str) -> str:
    question = input.strip()
    if not question:
        raise AgentError("researcher-py: the input is empty; pass a question to research")
    log.info(f"researching: {question}")
    # No model=: the agent's default model, chosen by the operator.
    return AgentLoop(SYSTEM_PROMPT, max_steps=MAX_STEPS).run(question)


WitWorld = export_agent(run)

"""{{name}}: a relive agent in Python.

`run` is the agent: the host calls it with the run's input. Everything it
does across the sandbox wall (the model, tools, clocks, randomness, logs) is
journaled, so a crashed run resumes where it stopped.
"""

from relive_sdk import AgentLoop, export_agent, log, tool


@tool
def word_count(text: str) -> int:
    """Counts the words of a text.

    Args:
        text: the text to count.
    """
    return len(text.split())


def run(input: str) -> str:
    log.info(f"received: {input}")
    return AgentLoop(
        "You are a helpful assistant. Use the tools when they help.",
        tools=[word_count],
        max_steps=5,
    ).run(input)


WitWorld = export_agent(run)

"""`triage-py`: triages a support ticket into a typed decision (structured output).

The model must answer with JSON matching `Triage`; relive_sdk checks the
answer against the dataclass and, when it does not match, tells the model
what is wrong and asks again (at most `output_retries` times). The scripted
model of relive.toml gets it wrong once (an unknown priority, a missing
field), so a run shows the whole loop: answer, validation error, corrected
answer. Every step is journaled, so the retry replays too.
"""

from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import Enum
from typing import Literal

from relive_sdk import AgentError, AgentLoop, export_agent, log, tool


class Priority(Enum):
    LOW = "low"
    NORMAL = "normal"
    URGENT = "urgent"


@dataclass
class Triage:
    """How to handle a support ticket.

    Attributes:
        category: what the ticket is about.
        priority: how soon someone must answer.
        summary: the problem in one sentence.
        reply: a first answer to send to the customer.
    """

    category: Literal["billing", "bug", "question", "other"]
    priority: Priority
    summary: str
    reply: str


@tool
def days_since(day: str) -> int:
    """Counts the days from a date to today.

    Args:
        day: a date, as YYYY-MM-DD.
    """
    # datetime.now() reads the journaled wall clock: it replays exactly.
    today = datetime.now(timezone.utc).date()
    return (today - date.fromisoformat(day)).days


SYSTEM_PROMPT = (
    "You triage support tickets. Decide the category and the priority (urgent when the "
    "customer cannot work or pays twice; use days_since for dates in the ticket), summarise "
    "the problem and draft a short, kind first reply."
)


def run(input: str) -> Triage:
    ticket = input.strip()
    if not ticket:
        raise AgentError("triage-py: the input is empty; pass the text of a support ticket")
    triage = AgentLoop(SYSTEM_PROMPT, tools=[days_since], output_type=Triage, output_retries=2).run(
        ticket
    )
    log.info(f"triaged: {triage.category}, {triage.priority.value}")
    return triage


WitWorld = export_agent(run)

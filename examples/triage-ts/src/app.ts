/**
 * `triage-ts`: triages a support ticket into a typed decision (structured output).
 *
 * The model must answer with JSON matching the `Triage` schema; the SDK
 * checks the answer and, when it does not match, tells the model what is
 * wrong and asks again (at most `outputRetries` times). The scripted model of
 * relive.toml gets it wrong once (an unknown priority, a missing field), so a
 * run shows the whole loop: answer, validation error, corrected answer.
 * Every step is journaled, so the retry replays too.
 */

import { AgentError, AgentLoop, exportAgent, log, s, tool } from "relive-sdk";

/** How to handle a support ticket: the schema is also the answer's type. */
const Triage = s.object(
  {
    category: s.enum(["billing", "bug", "question", "other"], "what the ticket is about"),
    priority: s.enum(["low", "normal", "urgent"], "how soon someone must answer"),
    summary: s.string("the problem in one sentence"),
    reply: s.string("a first answer to send to the customer"),
  },
  { title: "Triage" },
);
type Triage = s.Infer<typeof Triage>;

const daysSince = tool({
  name: "days_since",
  description: "Counts the days from a date to today.",
  parameters: s.object({ day: s.string("a date, as YYYY-MM-DD") }),
  // Date.now() reads the journaled wall clock: it replays exactly.
  execute: ({ day }) => Math.floor((Date.now() - Date.parse(`${day}T00:00:00Z`)) / 86_400_000),
});

const SYSTEM_PROMPT =
  "You triage support tickets. Decide the category and the priority (urgent when the " +
  "customer cannot work or pays twice; use days_since for dates in the ticket), summarise " +
  "the problem and draft a short, kind first reply.";

export const run = exportAgent(async (input): Promise<Triage> => {
  const ticket = input.trim();
  if (ticket === "") {
    throw new AgentError("triage-ts: the input is empty; pass the text of a support ticket");
  }
  const triage = await new AgentLoop(SYSTEM_PROMPT, {
    tools: [daysSince],
    output: Triage,
    outputRetries: 2,
  }).run(ticket);
  log.info(`triaged: ${triage.category}, ${triage.priority}`);
  return triage;
});

/**
 * `dispatcher-ts`: the dispatcher example in TypeScript, on the SDK's AgentLoop.
 *
 * A cheap front agent that hands a request to an expensive specialist, the
 * (Rust) researcher, as a child run: a hand-off. The dispatcher's model sees
 * one tool, `handoff_researcher`; when it calls it, the researcher runs as a
 * child run of its own (its own journal, sandbox, limits and grants) and its
 * answer is the dispatcher's answer. Kill the host while the researcher
 * searches and resume the dispatcher: the same child is found again and goes
 * on where it stopped.
 */

import { AgentError, AgentLoop, exportAgent, log } from "relive-sdk";

const SYSTEM_PROMPT =
  "You route requests. For a research question, hand it to the researcher with the question " +
  "as its input; answer small talk yourself.";

export const run = exportAgent(async (input) => {
  const request = input.trim();
  if (request === "") {
    throw new AgentError("dispatcher-ts: the input is empty; pass a request");
  }
  log.info(`dispatching: ${request}`);
  return new AgentLoop(SYSTEM_PROMPT, { tools: [], maxSteps: 3 })
    .handoff("researcher", "Hands a research question to the researcher, whose answer is final")
    .run(request);
});

/**
 * `researcher-ts`: the researcher example in TypeScript, on the SDK's AgentLoop.
 *
 * It answers a question by searching the operator's research notes with the
 * `search` tool (see tools/search.sh) and summarising what it found. With
 * the scripted model of relive.toml the conversation is fixed (two searches,
 * then an answer), which makes it a deterministic demo of crash-resume: kill
 * the host between the searches and resume, and neither the model nor the
 * first search runs again.
 */

import { AgentError, AgentLoop, exportAgent, log } from "relive-sdk";

const SYSTEM_PROMPT =
  "You are a careful research assistant. Answer the user's question using the research " +
  "notes: call the `search` tool with a short query, as often as useful, then answer in a " +
  "few sentences and cite the notes you used. Say so when the notes do not answer the " +
  "question.";

/** Model calls allowed per run: enough for a few searches and the answer. */
const MAX_STEPS = 6;

export const run = exportAgent(async (input) => {
  const question = input.trim();
  if (question === "") {
    throw new AgentError("researcher-ts: the input is empty; pass a question to research");
  }
  log.info(`researching: ${question}`);
  // No model: the agent's default model, chosen by the operator.
  return new AgentLoop(SYSTEM_PROMPT, { maxSteps: MAX_STEPS }).run(question);
});

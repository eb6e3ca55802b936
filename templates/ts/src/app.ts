/**
 * {{name}}: a relive agent in TypeScript.
 *
 * `run` is the agent: the host calls it with the run's input. Everything it
 * does across the sandbox wall (the model, tools, clocks, randomness, logs)
 * is journaled, so a crashed run resumes where it stopped.
 */

import { AgentLoop, exportAgent, log, s, tool } from "relive-sdk";

const wordCount = tool({
  name: "word_count",
  description: "Counts the words of a text.",
  parameters: s.object({ text: s.string("the text to count") }),
  execute: ({ text }) => text.split(/\s+/).filter(Boolean).length,
});

export const run = exportAgent(async (input) => {
  log.info(`received: ${input}`);
  return new AgentLoop("You are a helpful assistant. Use the tools when they help.", {
    tools: [wordCount],
    maxSteps: 5,
  }).run(input);
});

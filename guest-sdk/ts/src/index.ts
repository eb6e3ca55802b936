/**
 * Write durable AI agents for the relive host in TypeScript or JavaScript.
 *
 * An agent is a WebAssembly component (built by `relive build` with
 * componentize-js) that exports one function, `run(input) -> answer`, and
 * reaches the outside world only through the host: the LLM ({@link llm}),
 * tools granted by the operator ({@link tools}), progress events
 * ({@link log}), approvals, timers and signals, and the WASI clocks and
 * randomness (`Date.now()`, `performance.now()`, `Math.random()`,
 * `crypto.getRandomValues()`, `crypto.randomUUID()`, `setTimeout`). The
 * host journals every one of these calls, so a run interrupted by a crash
 * is resumed by replaying the recorded answers: the agent needs no
 * checkpoints of its own.
 *
 * A complete agent (`src/app.ts`):
 *
 * ```ts
 * import { AgentLoop, exportAgent, log, s, tool } from "relive-sdk";
 *
 * const wordCount = tool({
 *   name: "word_count",
 *   description: "Counts the words of a text.",
 *   parameters: s.object({ text: s.string("the text to count") }),
 *   execute: ({ text }) => text.split(/\s+/).filter(Boolean).length,
 * });
 *
 * export const run = exportAgent(async (input) => {
 *   log.info(`researching: ${input}`);
 *   return new AgentLoop("You are a careful researcher. Use the tools.", {
 *     tools: ["search", wordCount],
 *     maxSteps: 8,
 *   }).run(input);
 * });
 * ```
 *
 * The names are the Rust and Python SDKs': `llm.chat`, `llm.chatBatch`,
 * `tools.call`, `tools.callBatch`, `tools.list`, `log`, `random`,
 * `approval.request`, `timers.sleep`, `signals.wait`, `patched`,
 * `agents.call`, `agents.spawn`, `agents.join` (other agents as child
 * runs), and {@link AgentLoop}, which offers sub-agents to the model with
 * `.agent(name, description)` and `.handoff(name, description)`.
 *
 * @module
 */

export { AgentError, exportAgent } from './agent.js';
export { AgentLoop, DEFAULT_MAX_STEPS, DEFAULT_OUTPUT_RETRIES } from './agent-loop.js';
export type { AgentLoopOptions, AnyTool } from './agent-loop.js';
export { LlmError, Message } from './llm.js';
export type { ChatRequest, ChatResponse, FinishReason, Role, ToolCall, ToolSpec, Usage } from './llm.js';
export { ToolError, tool } from './tools.js';
export type { Tool, ToolDefinition } from './tools.js';
export { ValidationError } from './schema.js';
export type { Infer, Schema } from './schema.js';
export { deprecatePatch, patched } from './patches.js';
export * as agents from './agents.js';
export * as approval from './approval.js';
export * as llm from './llm.js';
export * as log from './log.js';
export * as output from './output.js';
export * as random from './random.js';
export * as s from './schema.js';
export * as signals from './signals.js';
export * as timers from './timers.js';
export * as tools from './tools.js';

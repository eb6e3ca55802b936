/**
 * `ts-nondet`: a TypeScript test guest for the e2e tests (tests/typescript.rs).
 *
 * - `values`: reads every source of nondeterminism a JavaScript agent has
 *   (`Date.now()`, `new Date()`, `performance.now()`, `Math.random()`,
 *   `crypto.getRandomValues()`, `crypto.randomUUID()`, a `setTimeout`), logs
 *   them, calls the `pause` tool (which the test can make hang, to kill the
 *   host there), reads them again and returns both, with the values the
 *   module's top level computed (at build time).
 * - `network PORT`: tries `fetch` to 127.0.0.1:PORT; returns what happened
 *   (the SDK replaces `fetch`, which `relive build` compiles out).
 * - `raise`: fails with an Error thrown two frames deep.
 * - `batch`: the batch calls through the real imports: `tools.callBatch`
 *   (`pause`, an ungranted tool), `llm.chatBatch` (no model is granted) and
 *   an empty `agents.join`; returns what each gave, so the test sees how
 *   componentize-js hands over WIT results and tuples.
 * - `spawn-denied`: `agents.spawn` of an agent it may not start; returns
 *   the error it got.
 */

import { AgentError, LlmError, Message, ToolError, agents, exportAgent, llm, log, tools } from "relive-sdk";

/** Computed when the module is evaluated: while componentize-js builds the component. */
const TOP_LEVEL = { now: Date.now() };

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sample(): Promise<Record<string, unknown>> {
  const started = Date.now();
  const perfStarted = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 30));
  return {
    now: Date.now(),
    iso: new Date().toISOString(),
    performance: performance.now(),
    random: Math.random(),
    random2: Math.random(),
    getRandomValues: hex(crypto.getRandomValues(new Uint8Array(16))),
    randomUUID: crypto.randomUUID(),
    timerStarted: started,
    timerElapsedMs: performance.now() - perfStarted,
  };
}

async function network(port: number): Promise<Record<string, string>> {
  const result: Record<string, string> = { typeofFetch: typeof globalThis.fetch };
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`);
    result["fetch"] = `succeeded: ${response.status}`;
  } catch (e) {
    result["fetch"] = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  return result;
}

function explode(depth: number): string {
  if (depth === 0) throw new Error("boom from typescript");
  return explode(depth - 1);
}

/** What a call gave: `ok: ...`, or `ErrorName kind: message`. */
function shown(result: unknown): string {
  if (result instanceof ToolError || result instanceof LlmError) return `${result.name} ${result.kind}: ${result.message}`;
  if (result instanceof agents.AgentError) return `${result.name} ${result.kind}: ${result.describe()}`;
  return `ok: ${String(result)}`;
}

function batch(): Record<string, string[]> {
  const toolResults = tools.callBatch([
    ["pause", "{}"],
    ["nope", "{}"],
  ]);
  const chats = llm.chatBatch([{ messages: [Message.user("one")] }, { messages: [Message.user("two")], model: "large" }]);
  return {
    tools: toolResults.map(shown),
    chats: chats.map(shown),
    join: agents.join([]).map(shown),
  };
}

function spawnDenied(): string {
  try {
    return shown(agents.spawn("stranger", "hi"));
  } catch (e) {
    return shown(e);
  }
}

export const run = exportAgent(async (input) => {
  const [command, arg = ""] = input.split(" ");
  switch (command) {
    case "values": {
      const before = await sample();
      log.info("before: " + JSON.stringify(before));
      tools.call("pause", {});
      const after = await sample();
      return { before, after, topLevel: TOP_LEVEL };
    }
    case "network":
      return network(Number(arg));
    case "raise":
      return explode(1);
    case "batch":
      return batch();
    case "spawn-denied":
      return spawnDenied();
    default:
      throw new AgentError(`ts-nondet: unknown command ${JSON.stringify(command)}; use values, network PORT, raise, batch or spawn-denied`);
  }
});

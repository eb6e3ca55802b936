/**
 * `steps-ts`: the benchmark workload of tests/guests/steps, in TypeScript.
 *
 * Input: {"steps": N, "kind": "tool" | "clock" | "random" | "llm" | "signal"}
 * (as the Rust `steps`): N journaled tool calls (the built-in `files` tool:
 * write step.txt, then read it back), wall-clock reads (`Date.now()`),
 * random reads (`random.u64()`), LLM calls, or a wait for the signal `go`
 * followed by N tool calls. Output: {"steps", "kind", "calls", "digest"},
 * the digest a checksum of every answer: FNV-1a over its length and first
 * 16 characters (hashing whole answers in interpreted JavaScript would cost
 * more than the host call being measured).
 */

import { AgentError, Message, exportAgent, llm, random, signals, tools } from "relive-sdk";

const PAYLOAD =
  "relive benchmark step payload: 150 bytes of text that every later step reads back, " +
  "so each durable step returns a result of roughly two hundred bytes.";

function stepArguments(step: number): Record<string, string> {
  return step === 1 ? { op: "write", path: "step.txt", content: PAYLOAD } : { op: "read", path: "step.txt" };
}

/** FNV-1a over the length and the first 16 UTF-16 code units of every answer. */
class Digest {
  private hash = 0x811c9dc5;
  update(text: string): void {
    this.hash = Math.imul(this.hash ^ text.length, 0x01000193) >>> 0;
    for (let i = 0; i < Math.min(16, text.length); i++) {
      this.hash = Math.imul(this.hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
    }
  }
  hex(): string {
    return this.hash.toString(16).padStart(8, "0");
  }
}

export const run = exportAgent((input) => {
  let steps: number;
  let kind: string;
  try {
    const spec = JSON.parse(input) as { steps: unknown; kind: unknown };
    steps = Number(spec.steps);
    kind = String(spec.kind);
    if (!Number.isInteger(steps)) throw new Error(`steps is ${String(spec.steps)}`);
  } catch (e) {
    throw new AgentError(`steps-ts: the input must be {"steps": N, "kind": ...}: ${String(e)}`);
  }
  const digest = new Digest();
  if (kind === "signal") digest.update(signals.wait("go") ?? "");
  for (let step = 1; step <= steps; step++) {
    if (kind === "tool" || kind === "signal") {
      digest.update(tools.callJson("step", JSON.stringify(stepArguments(step))));
    } else if (kind === "clock") {
      digest.update(String(Date.now()));
    } else if (kind === "random") {
      digest.update(random.u64().toString());
    } else if (kind === "llm") {
      digest.update(llm.chat({ messages: [Message.user(`step ${step} of ${steps}`)] }).message.content);
    } else {
      throw new AgentError(`steps-ts: unknown kind ${JSON.stringify(kind)}`);
    }
  }
  return { steps, kind, calls: steps, digest: digest.hex() };
});

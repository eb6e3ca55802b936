/**
 * The component's export: the agent's `run` function.
 *
 * An agent module exports `run`, made by {@link exportAgent}; componentize-js
 * finds the export by its name, the one in relive's WIT world:
 *
 * ```ts
 * import { AgentLoop, exportAgent } from "relive-sdk";
 *
 * export const run = exportAgent(async (input) =>
 *   new AgentLoop("You are a careful researcher.").run(input),
 * );
 * ```
 *
 * The host calls `run` with the input the run was started with. After a
 * crash it calls `run` again with the same input and replays the journal, so
 * `run` must reach its host calls in the same order given the same answers:
 * take every nondeterministic value from the host (`Date.now()`,
 * `Math.random()`, `crypto.getRandomValues()`, `crypto.randomUUID()`,
 * timers and the SDK's calls all are).
 *
 * @module
 */

/**
 * `fetch` would need `wasi:http`, which relive does not grant (an HTTP call
 * from inside the sandbox would not be journaled): `relive build` leaves it
 * out, and StarlingMonkey's `fetch` then traps the whole component. This one
 * fails like a network error instead, and says what to do.
 */
function refusedFetch(input: unknown): Promise<never> {
  const target = input as { href?: unknown; url?: unknown } | null | undefined;
  const url = typeof input === 'string' ? input : String(target?.href ?? target?.url ?? 'a request');
  return Promise.reject(
    new TypeError(
      `fetch(${url}) is not available in a relive agent: relive does not grant wasi:http, whose calls ` +
        'it would not journal; reach the network through a tool granted in relive.toml ' +
        '(e.g. `tools.call("http_get", { url })`)',
    ),
  );
}
(globalThis as { fetch?: unknown }).fetch = refusedFetch;

/**
 * The agent gives up: the run fails with this message (without a stack).
 * Any other exception fails the run too, with its stack.
 */
export class AgentError extends Error {
  override name = 'AgentError';
}

/** What `run` may return: text as it is, anything else as JSON. */
export type Answer = unknown;

/**
 * Exports `run` as the component's `run` function: `export const run =
 * exportAgent(...)`.
 *
 * `run` takes the run's input and returns the final answer, or a promise of
 * it (the component runs its event loop until the promise settles, so
 * `await`, timers and promises work): a `string` is the answer as it is,
 * anything else is sent as JSON. Throwing {@link AgentError} fails the run
 * with its message; any other exception fails it with the exception's stack.
 */
export function exportAgent(
  run: (input: string) => Answer | Promise<Answer>,
): (input: string) => Promise<string> {
  return async (input: string): Promise<string> => {
    const [ok, text] = await outcome(run, input);
    if (!ok) {
      // componentize-js turns a thrown string into the `err` of the WIT
      // `result<string, string>`; any other thrown value would trap.
      throw text;
    }
    return text;
  };
}

/**
 * Calls `run(input)` and returns `[true, answer]` or `[false, error]`: what
 * the export hands to the host.
 */
export async function outcome(
  run: (input: string) => Answer | Promise<Answer>,
  input: string,
): Promise<[boolean, string]> {
  let answer: Answer;
  try {
    answer = await run(input);
  } catch (e) {
    return [false, describeError(e, 'outcome')];
  }
  if (typeof answer === 'string') {
    return [true, answer];
  }
  try {
    const text = JSON.stringify(answer);
    if (text === undefined) {
      return [false, `the agent returned ${typeof answer}, which is not JSON; return a string or a JSON value`];
    }
    return [true, text];
  } catch (e) {
    return [false, `the agent returned a value that is not JSON: ${e instanceof Error ? e.message : String(e)}`];
  }
}

/**
 * An exception as the run's error: an {@link AgentError}'s message; for any
 * other `Error`, `Name: message` and its stack, one frame a line
 * (`    at fn (file:line:column)`), cut before the frame of the function
 * `cutAt` (the SDK's own, below the agent's); anything else thrown, as text.
 */
export function describeError(e: unknown, cutAt?: string): string {
  if (e instanceof AgentError) {
    return e.message;
  }
  if (e instanceof Error) {
    const head = `${e.name}: ${e.message}`;
    const frames = stackFrames(e.stack ?? '');
    const cut = cutAt === undefined ? -1 : frames.findIndex((f) => f.startsWith(`    at ${cutAt} (`));
    if (cut > 0) frames.length = cut;
    return frames.length > 0 ? `${head}\n${frames.join('\n')}` : head;
  }
  if (typeof e === 'string') {
    return e;
  }
  try {
    return `uncaught ${JSON.stringify(e)}`;
  } catch {
    return `uncaught ${String(e)}`;
  }
}

/**
 * The frames of a stack, as `    at fn (file:line:column)`. SpiderMonkey
 * writes `fn@file:line:column` a line; V8 writes `    at ...` lines after
 * the message (kept as they are).
 */
export function stackFrames(stack: string): string[] {
  return stack
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      if (/^\s+at /.test(line)) {
        return [line.replace(/^\s+/, '    ')];
      }
      const at = line.lastIndexOf('@');
      if (at < 0) {
        return [];
      }
      const fn = line.slice(0, at) || '<anonymous>';
      return [`    at ${fn} (${line.slice(at + 1)})`];
    });
}

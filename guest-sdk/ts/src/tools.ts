/**
 * Tools: the operator's, called through the host, and the agent's own.
 *
 * **Host tools** are granted to the agent by the operator in `relive.toml`
 * (a command, an HTTP fetch, files). The host runs them and journals their
 * results, so a replayed run gets the recorded result without running the
 * tool again. Call them with {@link call} (a value in, a checked value out)
 * or {@link callJson} (JSON text in and out), several at once with
 * {@link callBatch}; {@link list} returns them, ready to offer to the model.
 *
 * ```ts
 * import { s, tools } from "relive-sdk";
 *
 * const Notes = s.object({ query: s.string(), notes: s.array(s.any()) });
 * const found = tools.call("search", { query: "wasm" }, Notes); // typed as Notes
 * ```
 *
 * **Agent tools** are functions of the agent offered to the model by
 * {@link AgentLoop}: `{ name, description, parameters, execute }`, where
 * `parameters` is a schema ({@link s}) and `execute` gets its arguments
 * typed from it, checked against it before it runs. They run inside the
 * sandbox, so they reach the outside only through the host (and replay
 * like the rest of the agent).
 *
 * ```ts
 * import { s, tool } from "relive-sdk";
 *
 * const wordCount = tool({
 *   name: "word_count",
 *   description: "Counts the words of a text.",
 *   parameters: s.object({ text: s.string("the text to count") }),
 *   execute: ({ text }) => text.split(/\s+/).filter(Boolean).length,
 * });
 * ```
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { call as witCall, callBatch as witCallBatch, list as witList } from 'relive:agent/tools@0.1.1';
import type * as wit from 'relive:agent/tools@0.1.1';
import { payload, type ToolSpec } from './llm.js';
import { type Infer, type Schema, ValidationError, parse } from './schema.js';

export type { ToolSpec };

/** What went wrong in {@link ToolError}. */
export type ToolErrorKind = wit.ToolError['tag'];

/**
 * A tool call failed.
 *
 * `kind` is `"not-found"` (no tool of this name is granted),
 * `"invalid-arguments"` (the arguments are not valid JSON, or do not match
 * the tool's parameters) or `"failed"` (the tool ran and reported a
 * failure, or its result does not decode); `detail` is the explanation, and
 * `message` one line for people and models, e.g. `failed: exit status 1`.
 */
export class ToolError extends Error {
  override name = 'ToolError';
  readonly kind: ToolErrorKind;
  readonly detail: string;

  constructor(kind: ToolErrorKind, detail: string) {
    const label = { 'not-found': 'not found', 'invalid-arguments': 'invalid arguments', failed: 'failed' }[kind];
    super(`${label}: ${detail}`);
    this.kind = kind;
    this.detail = detail;
  }
}

/**
 * Calls the host tool `name` with a JSON document of arguments and returns
 * its JSON result as text: one journaled host call.
 *
 * @throws {ToolError}
 */
export function callJson(name: string, args: string): string {
  try {
    return witCall(name, args);
  } catch (e) {
    const error = payload<wit.ToolError>(e);
    if (error === undefined) throw e;
    throw new ToolError(error.tag, error.val);
  }
}

/**
 * Calls the host tool `name` with `args` (sent as JSON) and decodes its JSON
 * result; with `result`, the result is checked against that schema and
 * typed by it.
 *
 * @throws {ToolError} the host's error; `invalid-arguments` when `args`
 * cannot be sent as JSON; `failed` when the result is not JSON or does not
 * match `result` (the message names the tool and the mismatch).
 */
export function call<T = unknown>(name: string, args: unknown, result?: Schema<T>): T {
  let encoded: string | undefined;
  try {
    encoded = JSON.stringify(args);
  } catch (e) {
    throw new ToolError('invalid-arguments', `cannot encode the arguments of tool \`${name}\` as JSON: ${String(e)}`);
  }
  if (encoded === undefined) {
    throw new ToolError('invalid-arguments', `the arguments of tool \`${name}\` are ${typeof args}, not JSON`);
  }
  const text = callJson(name, encoded);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ToolError('failed', `tool \`${name}\` returned text that is not JSON: ${(e as Error).message}`);
  }
  if (result === undefined) return value as T;
  try {
    return parse(result, value);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const title = typeof result['title'] === 'string' ? result['title'] : 'the expected schema';
    throw new ToolError('failed', `tool \`${name}\` returned a result that does not match ${title}: ${e.message}`);
  }
}

/**
 * Calls several host tools at once: `[name, args]` pairs, each `args` a
 * JSON document. The host runs them concurrently and journals them as
 * separate calls in the order given, so a replay is the same whatever order
 * they finished in. One result per call, in order: its JSON result as text,
 * or the {@link ToolError} it failed with (returned, not thrown).
 *
 * ```ts
 * const queries = ['{"query":"wasm"}', '{"query":"wasi"}'];
 * for (const result of tools.callBatch(queries.map((q) => ["search", q] as const))) {
 *   if (result instanceof ToolError) log.warn(`search ${result.message}`);
 * }
 * ```
 */
export function callBatch(calls: Iterable<readonly [name: string, args: string]>): Array<string | ToolError> {
  return witCallBatch([...calls].map(([name, args]): [string, string] => [name, args])).map((result) =>
    result.tag === 'ok' ? result.val : new ToolError(result.val.tag, result.val.val),
  );
}

/** The host tools granted to this agent, ready to offer to the model: one journaled host call. */
export function list(): ToolSpec[] {
  return witList();
}

/** What {@link tool} takes: the tool as the Vercel AI and OpenAI Agents SDKs define one. */
export interface ToolDefinition<S extends Schema<object>, R> {
  /** The name the model calls it by (letters, digits, `_`, `-`). */
  name: string;
  /** What it does, for the model. */
  description: string;
  /** The schema of its arguments object, built with `s.object({...})`. */
  parameters: S;
  /** Runs the tool; its result is sent to the model as JSON. */
  execute: (args: Infer<S>) => R | Promise<R>;
}

/** An agent tool (see {@link tool}). */
export interface Tool<A = any, R = unknown> {
  readonly name: string;
  readonly description: string;
  readonly parameters: Schema<A>;
  /** Runs the tool on arguments already checked. */
  execute(args: A): R | Promise<R>;
  /** The tool as offered to the model. */
  spec(): ToolSpec;
  /**
   * Runs the tool on the model's `args` (JSON text) and returns its result
   * as JSON text.
   *
   * @throws {ToolError} `invalid-arguments` when the arguments are not JSON
   * or do not match the parameters; exceptions of `execute` propagate.
   */
  invoke(args: string): Promise<string>;
}

/**
 * Makes an agent tool: `{ name, description, parameters, execute }`.
 * `execute`'s argument is typed from `parameters`, and the model's arguments
 * are checked against it before `execute` runs.
 */
export function tool<S extends Schema<object>, R>(definition: ToolDefinition<S, R>): Tool<Infer<S>, R> {
  const { name, description, execute } = definition;
  const parameters = definition.parameters as unknown as Schema<Infer<S>>;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new TypeError(`tool: \`${name}\` is not a valid tool name; use 1-64 letters, digits, \`_\` and \`-\``);
  }
  if (parameters['type'] !== 'object') {
    throw new TypeError(`tool \`${name}\`: parameters must be an object schema (\`s.object({...})\`)`);
  }
  return {
    name,
    description,
    parameters,
    execute,
    spec: () => ({ name, description, parameters: JSON.stringify(parameters) }),
    async invoke(args: string): Promise<string> {
      let raw: unknown;
      try {
        raw = args.trim() === '' ? {} : JSON.parse(args);
      } catch (e) {
        throw new ToolError('invalid-arguments', `tool \`${name}\`: not JSON: ${(e as Error).message}`);
      }
      let checked: Infer<S>;
      try {
        checked = parse(parameters, raw);
      } catch (e) {
        if (!(e instanceof ValidationError)) throw e;
        throw new ToolError('invalid-arguments', `tool \`${name}\`: ${e.message}`);
      }
      const value = await execute(checked);
      return JSON.stringify(value) ?? 'null';
    },
  };
}

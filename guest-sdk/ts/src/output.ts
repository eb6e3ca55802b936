/**
 * Structured output: ask the model for JSON matching a schema, and check it.
 *
 * {@link AgentLoop} with `output:` does all of this: it tells the model the
 * JSON schema ({@link instructions}), reads the answer ({@link parse}), and
 * when the answer does not validate, sends the error back to the model
 * ({@link retryPrompt}) and asks again, a bounded number of times.
 *
 * @module
 */

import * as schema from './schema.js';

const FENCE = /^\s*```[A-Za-z0-9_-]*\s*\n([\s\S]*?)\n\s*```\s*$/;

/** The name of what a schema describes: its `title`, else "the answer". */
export function nameOf(s: schema.JsonSchema): string {
  return typeof s['title'] === 'string' ? s['title'] : 'the answer';
}

/** The text appended to the system prompt: answer with JSON matching `output`. */
export function instructions(output: schema.JsonSchema): string {
  return (
    `When you give your final answer, answer with a single JSON value (${nameOf(output)}) and ` +
    'nothing else: no prose, no code fence. It must match this JSON schema:\n' +
    JSON.stringify(output)
  );
}

/**
 * Reads the model's answer `text` as JSON (a surrounding code fence is
 * allowed) and checks it against `output`.
 *
 * @throws {schema.ValidationError} the text is not JSON, or does not match.
 */
export function parse<T>(output: schema.Schema<T>, text: string): T {
  const fenced = FENCE.exec(text);
  const body = fenced?.[1] ?? text;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    throw new schema.ValidationError([{ path: '', message: `the answer is not JSON (${(e as Error).message})` }]);
  }
  return schema.parse(output, value);
}

/** What the model is told when its answer does not validate. */
export function retryPrompt(error: schema.ValidationError): string {
  return (
    'Your answer does not match the required JSON schema:\n' +
    `${error.message}\n` +
    'Answer again with only the corrected JSON value.'
  );
}

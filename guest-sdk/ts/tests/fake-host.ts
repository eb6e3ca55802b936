// The host's imports (every interface of the `agent` world), faked: what a
// test scripts is answered, and every call is recorded. Errors are thrown
// the way componentize-js throws a WIT `result`'s `err`: an Error whose
// `payload` is the error variant.
/// <reference path="../src/wit/agent.d.ts" />

import type * as llm from 'relive:agent/llm@0.1.1';
import type * as types from 'relive:agent/types@0.1.1';
import type * as approval from 'relive:agent/approval@0.1.1';
import type { Level } from 'relive:agent/log@0.1.1';

export interface Call {
  fn: string;
  args: unknown[];
}

type Reply = llm.ChatResponse | { error: llm.LlmError };
type ToolAnswer = string | { error: { tag: 'not-found' | 'invalid-arguments' | 'failed'; val: string } };

export const fake = {
  calls: [] as Call[],
  replies: [] as Reply[],
  tools: new Map<string, (args: string) => ToolAnswer>(),
  granted: [] as types.ToolSpec[],
  decision: { tag: 'approved', val: undefined } as approval.Decision,
  signal: undefined as string | undefined,
  patches: new Set<string>(),

  reset(): void {
    this.calls = [];
    this.replies = [];
    this.tools = new Map();
    this.granted = [];
    this.decision = { tag: 'approved', val: undefined };
    this.signal = undefined;
    this.patches = new Set();
  },

  /** The requests of every `llm.chat` call so far. */
  chats(): llm.ChatRequest[] {
    return this.calls.filter((c) => c.fn === 'chat').map((c) => c.args[0] as llm.ChatRequest);
  },

  /** Every `log.log` call so far, as `level: message`. */
  logs(): string[] {
    return this.calls.filter((c) => c.fn === 'log').map((c) => `${String(c.args[0])}: ${String(c.args[1])}`);
  },
};

/** A scripted reply: text, or tool calls. */
export function reply(content: string, toolCalls: types.ToolCall[] = []): llm.ChatResponse {
  return {
    message: { role: 'assistant', content, toolCalls },
    finishReason: toolCalls.length > 0 ? 'tool-calls' : 'stop',
    usage: { inputTokens: 10, outputTokens: 5 },
    model: 'fake-model',
  };
}

function componentError(payload: unknown): Error {
  return Object.assign(new Error(`${String(payload)} (see error.payload)`), { payload });
}

function record(fn: string, ...args: unknown[]): void {
  fake.calls.push({ fn, args: structuredClone(args) });
}

export function chat(request: llm.ChatRequest): llm.ChatResponse {
  record('chat', request);
  const next = fake.replies.shift();
  if (next === undefined) throw componentError({ tag: 'unavailable', val: 'the fake model has no reply left' });
  if ('error' in next) throw componentError(next.error);
  return structuredClone(next);
}

export function call(name: string, args: string): string {
  record('call', name, args);
  const handler = fake.tools.get(name);
  if (handler === undefined) throw componentError({ tag: 'not-found', val: `no tool \`${name}\` is granted` });
  const answer = handler(args);
  if (typeof answer !== 'string') throw componentError(answer.error);
  return answer;
}

export function list(): types.ToolSpec[] {
  record('list');
  return structuredClone(fake.granted);
}

export function log(level: Level, message: string): void {
  record('log', level, message);
}

export function request(action: string, details: string): approval.Decision {
  record('request', action, details);
  return fake.decision;
}

export function sleep(milliseconds: bigint): void {
  record('sleep', milliseconds);
}

export function sleepUntil(unixMs: bigint): void {
  record('sleepUntil', unixMs);
}

export function wait(name: string, timeoutMs: bigint | undefined): string | undefined {
  record('wait', name, timeoutMs);
  return fake.signal;
}

export function patched(id: string): boolean {
  record('patched', id);
  return fake.patches.has(id);
}

export function deprecate(id: string): void {
  record('deprecate', id);
}

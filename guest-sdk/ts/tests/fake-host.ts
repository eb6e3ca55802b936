// The host's imports (every interface of the `agent` world), faked: what a
// test scripts is answered, and every call is recorded, in order, as
// `interface.function` (the sequence of entries the host would journal).
// Errors are thrown the way componentize-js throws a WIT `result`'s `err`:
// an Error whose `payload` is the error variant; the batch calls return
// `{ tag: 'ok' | 'err', val }` per call, as componentize-js does.
//
// `relive:agent/agents` resolves to fake-agents.ts (its `call` is not
// tools'); every other interface resolves here (see hooks.ts).
/// <reference path="../src/wit/agent.d.ts" />

import type * as agents from 'relive:agent/agents@0.1.1';
import type * as llm from 'relive:agent/llm@0.1.1';
import type * as tools from 'relive:agent/tools@0.1.1';
import type * as types from 'relive:agent/types@0.1.1';
import type * as approval from 'relive:agent/approval@0.1.1';
import type { Level } from 'relive:agent/log@0.1.1';

export interface Call {
  /** `interface.function`, e.g. `tools.call-batch`; `log.log` for a log line. */
  fn: string;
  args: unknown[];
}

type Reply = llm.ChatResponse | { error: llm.LlmError };
type ToolAnswer = string | { error: tools.ToolError };

export const fake = {
  calls: [] as Call[],
  replies: [] as Reply[],
  tools: new Map<string, (args: string) => ToolAnswer>(),
  granted: [] as types.ToolSpec[],
  decision: { tag: 'approved', val: undefined } as approval.Decision,
  signal: undefined as string | undefined,
  patches: new Set<string>(),
  /** Agents this one may start; starting another is denied. */
  startable: new Set<string>(['researcher']),
  /** Children (by run id) that end with an error instead of their answer. */
  childErrors: new Map<string, agents.AgentError>(),
  /** Children (by run id) whose answer is not `answer of ID`. */
  childAnswers: new Map<string, string>(),
  /** Every child started (`agents.spawn` and `agents.call`), as `[agent, input]`: child `N` is `child-N`. */
  spawned: [] as Array<[string, string]>,

  reset(): void {
    this.calls = [];
    this.replies = [];
    this.tools = new Map();
    this.granted = [];
    this.decision = { tag: 'approved', val: undefined };
    this.signal = undefined;
    this.patches = new Set();
    this.startable = new Set(['researcher']);
    this.childErrors = new Map();
    this.childAnswers = new Map();
    this.spawned = [];
  },

  /** The requests the model got so far (`llm.chat` and `llm.chat-batch`), in order. */
  chats(): llm.ChatRequest[] {
    return this.calls.flatMap((c) =>
      c.fn === 'llm.chat'
        ? [c.args[0] as llm.ChatRequest]
        : c.fn === 'llm.chat-batch'
          ? (c.args[0] as llm.ChatRequest[])
          : [],
    );
  },

  /** Every `log.log` call so far, as `level: message`. */
  logs(): string[] {
    return this.calls.filter((c) => c.fn === 'log.log').map((c) => `${String(c.args[0])}: ${String(c.args[1])}`);
  },

  /**
   * Every host call so far, in order: `interface.function`, and a log line
   * as `log: message` (the Python SDK's tests' names).
   */
  events(): string[] {
    return this.calls.map((c) => (c.fn === 'log.log' ? `log: ${String(c.args[1])}` : c.fn));
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

export function componentError(payload: unknown): Error {
  return Object.assign(new Error(`${String(payload)} (see error.payload)`), { payload });
}

export function record(fn: string, ...args: unknown[]): void {
  fake.calls.push({ fn, args: structuredClone(args) });
}

export type Result<T, E> = { tag: 'ok'; val: T } | { tag: 'err'; val: E };

function answerChat(): Result<llm.ChatResponse, llm.LlmError> {
  const next = fake.replies.shift();
  if (next === undefined) return { tag: 'err', val: { tag: 'unavailable', val: 'the fake model has no reply left' } };
  if ('error' in next) return { tag: 'err', val: next.error };
  return { tag: 'ok', val: structuredClone(next) };
}

export function chat(request: llm.ChatRequest): llm.ChatResponse {
  record('llm.chat', request);
  const result = answerChat();
  if (result.tag === 'err') throw componentError(result.val);
  return result.val;
}

export function chatBatch(requests: llm.ChatRequest[]): Array<Result<llm.ChatResponse, llm.LlmError>> {
  record('llm.chat-batch', requests);
  return requests.map(() => answerChat());
}

function runTool(name: string, args: string): Result<string, tools.ToolError> {
  const handler = fake.tools.get(name);
  if (handler === undefined) return { tag: 'err', val: { tag: 'not-found', val: `no tool \`${name}\` is granted` } };
  const answer = handler(args);
  return typeof answer === 'string' ? { tag: 'ok', val: answer } : { tag: 'err', val: answer.error };
}

export function call(name: string, args: string): string {
  record('tools.call', name, args);
  const result = runTool(name, args);
  if (result.tag === 'err') throw componentError(result.val);
  return result.val;
}

export function callBatch(calls: Array<[string, string]>): Array<Result<string, tools.ToolError>> {
  record('tools.call-batch', calls);
  return calls.map(([name, args]) => runTool(name, args));
}

export function list(): types.ToolSpec[] {
  record('tools.list');
  return structuredClone(fake.granted);
}

/** Starts a fake child: its run id, or the error `agents.spawn` gives. */
export function startChild(agent: string, input: string): Result<string, agents.AgentError> {
  fake.spawned.push([agent, input]);
  if (!fake.startable.has(agent)) return { tag: 'err', val: { tag: 'denied', val: `may not start ${agent}` } };
  return { tag: 'ok', val: `child-${fake.spawned.length}` };
}

/** How a fake child ends: its error in `fake.childErrors`, else its answer (`answer of ID` unless `fake.childAnswers` says). */
export function childResult(child: string): Result<string, agents.AgentError> {
  const error = fake.childErrors.get(child);
  if (error !== undefined) return { tag: 'err', val: error };
  return { tag: 'ok', val: fake.childAnswers.get(child) ?? `answer of ${child}` };
}

export function log(level: Level, message: string): void {
  record('log.log', level, message);
}

export function request(action: string, details: string): approval.Decision {
  record('approval.request', action, details);
  return fake.decision;
}

export function sleep(milliseconds: bigint): void {
  record('timers.sleep', milliseconds);
}

export function sleepUntil(unixMs: bigint): void {
  record('timers.sleep-until', unixMs);
}

export function wait(name: string, timeoutMs: bigint | undefined): string | undefined {
  record('signals.wait', name, timeoutMs);
  return fake.signal;
}

export function patched(id: string): boolean {
  record('patches.patched', id);
  return fake.patches.has(id);
}

export function deprecate(id: string): void {
  record('patches.deprecate', id);
}

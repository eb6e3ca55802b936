/**
 * Chat with the language model the operator configured for this agent.
 *
 * The agent never sees an API key or a provider: it names a model granted to
 * it (or none, for its default) and the host does the rest: retries,
 * timeouts, token accounting. Every call is journaled, so after a crash a
 * replayed run gets the recorded answer without calling the model again.
 *
 * ```ts
 * import { llm, Message } from "relive-sdk";
 *
 * const response = llm.chat({
 *   messages: [Message.system("Answer in one sentence."), Message.user("What is durable execution?")],
 *   temperature: 0.2,
 * });
 * console.log(response.message.content);
 * ```
 *
 * The types are the WIT's (`wit/agent.wit`), as jco generates them
 * (`src/wit/`): records are interfaces with camelCase fields, enums are
 * string unions.
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { chat as witChat, chatBatch as witChatBatch } from 'relive:agent/llm@0.1.1';
import type * as wit from 'relive:agent/llm@0.1.1';
import type * as types from 'relive:agent/types@0.1.1';

/** Who wrote a message: `"system"`, `"user"`, `"assistant"` or `"tool"`. */
export type Role = types.Role;
/** A request from the model to call a tool. */
export type ToolCall = types.ToolCall;
/** A tool the model may call (its `parameters` is a JSON schema, as text). */
export type ToolSpec = types.ToolSpec;
/** Why the model stopped: `"stop"`, `"tool-calls"`, `"length"` or `"other"`. */
export type FinishReason = wit.FinishReason;
/** Tokens counted by the provider. */
export type Usage = wit.Usage;
/** The model's answer. */
export type ChatResponse = wit.ChatResponse;

/**
 * One message of a conversation. Build them with {@link Message.system},
 * {@link Message.user}, {@link Message.assistant} and
 * {@link Message.toolResult}.
 */
export type Message = types.Message;

/** Builders of {@link Message}s. */
export const Message = {
  /** A `system` message: instructions for the model. */
  system(content: string): Message {
    return { role: 'system', content, toolCalls: [] };
  },
  /** A `user` message. */
  user(content: string): Message {
    return { role: 'user', content, toolCalls: [] };
  },
  /**
   * An `assistant` message without tool calls (e.g. an earlier answer of the
   * model, when building a conversation by hand).
   */
  assistant(content: string): Message {
    return { role: 'assistant', content, toolCalls: [] };
  },
  /**
   * A `tool` message carrying the result of the tool call `callId` (the
   * {@link ToolCall.id} chosen by the model).
   */
  toolResult(callId: string, content: string): Message {
    return { role: 'tool', content, toolCalls: [], toolCallId: callId };
  },
} as const;

/** A request to the model. */
export interface ChatRequest {
  messages: Message[];
  /** A model the operator granted to this agent; absent: the agent's default. */
  model?: string | undefined;
  /** Tools the model may ask to call. */
  tools?: ToolSpec[] | undefined;
  temperature?: number | undefined;
  /** Caps the length of the answer, in tokens. */
  maxTokens?: number | undefined;
}

/** What went wrong in {@link LlmError}. */
export type LlmErrorKind = wit.LlmError['tag'];

/**
 * The model could not answer.
 *
 * `kind` is `"denied"` (the agent may not use this model, or no model is
 * configured), `"invalid-request"` (the provider rejected the request) or
 * `"unavailable"` (the provider could not be reached or kept failing);
 * `detail` is the host's explanation, and `message` one line for people,
 * e.g. `model unavailable: timeout`.
 */
export class LlmError extends Error {
  override name = 'LlmError';
  readonly kind: LlmErrorKind;
  readonly detail: string;

  constructor(kind: LlmErrorKind, detail: string) {
    const label = { denied: 'model denied', 'invalid-request': 'invalid request', unavailable: 'model unavailable' }[
      kind
    ];
    super(`${label}: ${detail}`);
    this.kind = kind;
    this.detail = detail;
  }
}

/**
 * Sends `request` to the model and returns its answer: one journaled host
 * call (synchronous: the component model's imports are).
 *
 * When the answer asks for tool calls, they are in
 * `response.message.toolCalls`; run them and send the results back as
 * {@link Message.toolResult} messages, or let {@link AgentLoop} do it.
 *
 * @throws {LlmError}
 */
export function chat(request: ChatRequest): ChatResponse {
  try {
    return witChat(toWit(request));
  } catch (e) {
    const error = payload<wit.LlmError>(e);
    if (error === undefined) throw e;
    throw new LlmError(error.tag, error.val);
  }
}

/**
 * Sends several requests at once: the host runs them concurrently and
 * journals them as separate calls in the order given (so a replay is the
 * same whatever order they finished in). One result per request, in order:
 * the answer, or the {@link LlmError} it failed with (returned, not
 * thrown).
 *
 * ```ts
 * const [short, long] = llm.chatBatch([
 *   { messages: [Message.user("Summarise in one line: ...")] },
 *   { messages: [Message.user("Summarise in one page: ...")], model: "large" },
 * ]);
 * if (short instanceof LlmError) log.warn(`the short summary: ${short.message}`);
 * ```
 */
export function chatBatch(requests: Iterable<ChatRequest>): Array<ChatResponse | LlmError> {
  return witChatBatch([...requests].map(toWit)).map((result) =>
    result.tag === 'ok' ? result.val : new LlmError(result.val.tag, result.val.val),
  );
}

/** The WIT record of a request: only the fields given. */
function toWit(request: ChatRequest): wit.ChatRequest {
  const witRequest: wit.ChatRequest = {
    messages: request.messages,
    tools: request.tools ?? [],
  };
  if (request.model !== undefined) witRequest.model = request.model;
  if (request.temperature !== undefined) witRequest.temperature = request.temperature;
  if (request.maxTokens !== undefined) witRequest.maxTokens = request.maxTokens;
  return witRequest;
}

/**
 * The `err` of a WIT `result` an import threw: componentize-js throws an
 * `Error` whose `payload` is the error value.
 */
export function payload<E extends { tag: string; val: unknown }>(thrown: unknown): E | undefined {
  if (typeof thrown === 'object' && thrown !== null && 'payload' in thrown) {
    const value = (thrown as { payload: unknown }).payload;
    if (typeof value === 'object' && value !== null && 'tag' in value && 'val' in value) {
      return value as E;
    }
  }
  return undefined;
}

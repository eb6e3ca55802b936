// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
/// <reference path="./relive-agent-types.d.ts" />
declare module 'relive:agent/llm@0.1.1' {
  export function chat(request: ChatRequest): ChatResponse;
  /**
   * Sends several requests at once: the host runs them concurrently and
   * journals them as separate calls, in the order given (so a replay is
   * the same whatever order they finished in). One result per request,
   * in order.
   */
  export function chatBatch(requests: Array<ChatRequest>): Array<Result<ChatResponse, LlmError>>;
  export type Message = import('relive:agent/types@0.1.1').Message;
  export type ToolSpec = import('relive:agent/types@0.1.1').ToolSpec;
  export interface ChatRequest {
    /**
     * Name of a model the operator granted to this agent; `none` means the
     * agent's default model.
     */
    model?: string,
    messages: Array<Message>,
    /**
     * Tools the model may ask to call.
     */
    tools: Array<ToolSpec>,
    temperature?: number,
    maxTokens?: number,
  }
  /**
   * # Variants
   * 
   * ## `"stop"`
   * 
   * The model finished its answer.
   * ## `"tool-calls"`
   * 
   * The model asks for tool calls (see `message.tool-calls`).
   * ## `"length"`
   * 
   * The answer was cut at the token limit.
   * ## `"other"`
   * 
   * The provider stopped for another reason (content filter, ...).
   */
  export type FinishReason = 'stop' | 'tool-calls' | 'length' | 'other';
  export interface Usage {
    inputTokens: number,
    outputTokens: number,
  }
  export interface ChatResponse {
    /**
     * The assistant's message.
     */
    message: Message,
    finishReason: FinishReason,
    usage: Usage,
    /**
     * The model that answered, as reported by the provider.
     */
    model: string,
  }
  export type LlmError = LlmErrorDenied | LlmErrorInvalidRequest | LlmErrorUnavailable;
  /**
   * The agent may not use this model, or no model is configured.
   */
  export interface LlmErrorDenied {
    tag: 'denied',
    val: string,
  }
  /**
   * The request was malformed or rejected by the provider (4xx).
   */
  export interface LlmErrorInvalidRequest {
    tag: 'invalid-request',
    val: string,
  }
  /**
   * The provider could not be reached or kept failing (5xx, timeouts).
   */
  export interface LlmErrorUnavailable {
    tag: 'unavailable',
    val: string,
  }
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}

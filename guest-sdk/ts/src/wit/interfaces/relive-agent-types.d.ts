// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/types@0.1.1' {
  /**
   * Who wrote a message in a conversation.
   * # Variants
   * 
   * ## `"system"`
   * 
   * ## `"user"`
   * 
   * ## `"assistant"`
   * 
   * ## `"tool"`
   * 
   * The result of a tool call, sent back to the model.
   */
  export type Role = 'system' | 'user' | 'assistant' | 'tool';
  /**
   * A request from the model to call a tool.
   */
  export interface ToolCall {
    /**
     * Identifier chosen by the model; echo it in the `tool` message that
     * carries the result.
     */
    id: string,
    /**
     * Name of the tool, as listed by `tools.list`.
     */
    name: string,
    /**
     * Arguments as a JSON document (an object, normally).
     */
    arguments: string,
  }
  export interface Message {
    role: Role,
    /**
     * Text of the message; may be empty for an assistant message that
     * only calls tools.
     */
    content: string,
    /**
     * Tool calls requested by the assistant (empty otherwise).
     */
    toolCalls: Array<ToolCall>,
    /**
     * For `role::tool`: the id of the tool call this message answers.
     */
    toolCallId?: string,
  }
  /**
   * A tool the model may call.
   */
  export interface ToolSpec {
    name: string,
    description: string,
    /**
     * JSON schema of the arguments object.
     */
    parameters: string,
  }
}

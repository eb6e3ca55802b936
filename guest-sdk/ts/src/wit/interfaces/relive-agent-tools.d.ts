// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
/// <reference path="./relive-agent-types.d.ts" />
declare module 'relive:agent/tools@0.1.1' {
  /**
   * Calls the tool `name` with a JSON document of arguments and returns its
   * JSON result.
   */
  export function call(name: string, arguments: string): string;
  /**
   * The tools granted to this agent.
   */
  export function list(): Array<ToolSpec>;
  /**
   * Calls several tools at once: `(name, arguments)` pairs. The host
   * runs them concurrently and journals them as separate calls, in the
   * order given. One result per call, in order.
   */
  export function callBatch(calls: Array<[string, string]>): Array<Result<string, ToolError>>;
  export type ToolSpec = import('relive:agent/types@0.1.1').ToolSpec;
  export type ToolError = ToolErrorNotFound | ToolErrorInvalidArguments | ToolErrorFailed;
  /**
   * No tool of this name is granted to the agent.
   */
  export interface ToolErrorNotFound {
    tag: 'not-found',
    val: string,
  }
  /**
   * The arguments are not valid JSON.
   */
  export interface ToolErrorInvalidArguments {
    tag: 'invalid-arguments',
    val: string,
  }
  /**
   * The tool ran and reported a failure.
   */
  export interface ToolErrorFailed {
    tag: 'failed',
    val: string,
  }
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}

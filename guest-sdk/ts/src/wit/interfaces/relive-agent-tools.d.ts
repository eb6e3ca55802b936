// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
/// <reference path="./relive-agent-types.d.ts" />
declare module 'relive:agent/tools@0.1.0' {
  /**
   * Calls the tool `name` with a JSON document of arguments and returns its
   * JSON result.
   */
  export function call(name: string, arguments: string): string;
  /**
   * The tools granted to this agent.
   */
  export function list(): Array<ToolSpec>;
  export type ToolSpec = import('relive:agent/types@0.1.0').ToolSpec;
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
}

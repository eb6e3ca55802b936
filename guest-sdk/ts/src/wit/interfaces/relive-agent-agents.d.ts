// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/agents@0.1.1' {
  /**
   * Runs `agent` on `input` as a child run and returns its output.
   */
  export function call(agent: string, input: string): string;
  /**
   * Starts `agent` on `input` as a child run without waiting; returns the
   * child's run id, for `join`.
   */
  export function spawn(agent: string, input: string): string;
  /**
   * Waits until every child in `children` has ended; one result per
   * child, in order.
   */
  export function join(children: Array<string>): Array<Result<string, AgentError>>;
  /**
   * Why a child could not give a result.
   */
  export type AgentError = AgentErrorDenied | AgentErrorFailed | AgentErrorCancelled;
  /**
   * This agent may not start that agent, or it has no component.
   */
  export interface AgentErrorDenied {
    tag: 'denied',
    val: string,
  }
  /**
   * The child run failed (its error), diverged or was uncertain.
   */
  export interface AgentErrorFailed {
    tag: 'failed',
    val: string,
  }
  /**
   * The child run was cancelled.
   */
  export interface AgentErrorCancelled {
    tag: 'cancelled',
    val: string,
  }
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}

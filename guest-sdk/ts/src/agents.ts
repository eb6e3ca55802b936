/**
 * Other agents, run as child runs.
 *
 * A child is a run of its own: its own journal, sandbox, limits and grants
 * (its `[agents.NAME]` table), started only if the operator allowed this
 * agent to (`agents = ["NAME"]` under `[agents.THIS]`). The calls are
 * journaled: after a crash the same child is found again, never started
 * twice. While this run waits for children it is suspended (no memory, no
 * process) and woken when they end. What children use counts toward this
 * run's token and cost budgets.
 *
 * ```ts
 * import { agents } from "relive-sdk";
 *
 * // One child, waited for.
 * const notes = agents.call("researcher", "what is durable execution?");
 *
 * // Several at once: spawn them, then join.
 * const children = ["wasm", "wasi"].map((topic) => agents.spawn("researcher", topic));
 * for (const result of agents.join(children)) {
 *   if (result instanceof agents.AgentError) {
 *     // result.describe(): e.g. "failed: child run 0k3f2ab1cd.4 failed: ..."
 *   } else {
 *     // the child's answer
 *   }
 * }
 * ```
 *
 * The names are the Rust and Python SDKs' (`relive_sdk::agents`,
 * `relive_sdk.agents`).
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { call as witCall, join as witJoin, spawn as witSpawn } from 'relive:agent/agents@0.1.1';
import type * as wit from 'relive:agent/agents@0.1.1';
import { AgentError as RunError } from './agent.js';
import { payload } from './llm.js';

/** What went wrong in {@link AgentError}: `"denied"`, `"failed"` or `"cancelled"`. */
export type AgentErrorKind = wit.AgentError['tag'];

/**
 * A child run could not give a result.
 *
 * `kind` is `"denied"` (this agent may not start that agent, or it has no
 * component), `"failed"` (the child run failed, diverged or was uncertain)
 * or `"cancelled"` (the child run was cancelled); `detail` is the host's
 * explanation, and `message` is {@link AgentError.describe}.
 *
 * It is a `relive-sdk` {@link RunError | AgentError}: left uncaught in
 * `run`, it fails this run too, with its description as the error.
 */
export class AgentError extends RunError {
  override name = 'AgentError';
  readonly kind: AgentErrorKind;
  readonly detail: string;

  constructor(kind: AgentErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
    this.kind = kind;
    this.detail = detail;
  }

  /**
   * A one-line description for people (and models), e.g.
   * `failed: child run 0k3f2ab1cd.4 failed: no notes found`.
   */
  describe(): string {
    return `${this.kind}: ${this.detail}`;
  }
}

/**
 * Runs `agent` on `input` as a child run and returns its output: a spawn
 * and a join of one.
 *
 * @throws {AgentError}
 */
export function call(agent: string, input: string): string {
  try {
    return witCall(agent, input);
  } catch (e) {
    throw agentError(e);
  }
}

/**
 * Starts `agent` on `input` as a child run without waiting; returns the
 * child's run id, for {@link join}.
 *
 * @throws {AgentError} (`denied`) when it cannot be started.
 */
export function spawn(agent: string, input: string): string {
  try {
    return witSpawn(agent, input);
  } catch (e) {
    throw agentError(e);
  }
}

/**
 * Waits until every child in `children` (run ids from {@link spawn}) has
 * ended; one result per child, in order: its output, or the
 * {@link AgentError} saying why there is none (returned, not thrown).
 */
export function join(children: Iterable<string>): Array<string | AgentError> {
  return witJoin([...children]).map((result) =>
    result.tag === 'ok' ? result.val : new AgentError(result.val.tag, result.val.val),
  );
}

/** The {@link AgentError} an import threw, or what it threw when it is not one. */
function agentError(thrown: unknown): unknown {
  const error = payload<wit.AgentError>(thrown);
  return error === undefined ? thrown : new AgentError(error.tag, error.val);
}

/**
 * Human approval of an action.
 *
 * While the agent waits, the host keeps no instance, memory or process for
 * it: the run is `suspended` in the journal and resumed by replay when
 * someone answers (`relive approve RUN` / `relive reject RUN --reason ...`,
 * the API or the web UI).
 *
 * ```ts
 * import { approval } from "relive-sdk";
 *
 * const decision = approval.request("send-email", { to: "ops@example.com" });
 * if (decision.kind === "approved") {
 *   // act, with decision.details if the approver edited them
 * } else {
 *   // adapt to decision.reason
 * }
 * ```
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { request as witRequest } from 'relive:agent/approval@0.1.1';

/** Go ahead; `details` are the details as edited by the approver (absent when unchanged). */
export interface Approved {
  kind: 'approved';
  details?: string | undefined;
}

/** Do not; `reason` is the approver's. */
export interface Rejected {
  kind: 'rejected';
  reason: string;
}

/** The answer to {@link request}. */
export type Decision = Approved | Rejected;

/**
 * Asks for approval of `action` (a short name, e.g. `"send-email"`)
 * described by `details` (text, or a value sent as JSON; shown to the
 * approver, who may edit it) and returns the decision. The run is suspended
 * until someone answers.
 */
export function request(action: string, details: unknown = ''): Decision {
  const text = typeof details === 'string' ? details : JSON.stringify(details);
  const decision = witRequest(action, text ?? '');
  return decision.tag === 'approved'
    ? { kind: 'approved', details: decision.val }
    : { kind: 'rejected', reason: decision.val };
}

// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/approval@0.1.1' {
  /**
   * Asks for approval of `action` (a short name, e.g. "send-email"),
   * described by `details` (text or JSON shown to the approver).
   */
  export function request(action: string, details: string): Decision;
  export type Decision = DecisionApproved | DecisionRejected;
  /**
   * Go ahead; `some(details)` when the approver edited the details.
   */
  export interface DecisionApproved {
    tag: 'approved',
    val: string | undefined,
  }
  /**
   * Do not; the approver's reason.
   */
  export interface DecisionRejected {
    tag: 'rejected',
    val: string,
  }
}

// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
/// <reference path="./interfaces/relive-agent-agents.d.ts" />
/// <reference path="./interfaces/relive-agent-approval.d.ts" />
/// <reference path="./interfaces/relive-agent-llm.d.ts" />
/// <reference path="./interfaces/relive-agent-log.d.ts" />
/// <reference path="./interfaces/relive-agent-patches.d.ts" />
/// <reference path="./interfaces/relive-agent-signals.d.ts" />
/// <reference path="./interfaces/relive-agent-timers.d.ts" />
/// <reference path="./interfaces/relive-agent-tools.d.ts" />
/// <reference path="./interfaces/relive-agent-types.d.ts" />
declare module 'relive:agent/agent@0.1.1' {
  export type * as ReliveAgentAgents011 from 'relive:agent/agents@0.1.1'; // import relive:agent/agents@0.1.1
  export type * as ReliveAgentApproval011 from 'relive:agent/approval@0.1.1'; // import relive:agent/approval@0.1.1
  export type * as ReliveAgentLlm011 from 'relive:agent/llm@0.1.1'; // import relive:agent/llm@0.1.1
  export type * as ReliveAgentLog011 from 'relive:agent/log@0.1.1'; // import relive:agent/log@0.1.1
  export type * as ReliveAgentPatches011 from 'relive:agent/patches@0.1.1'; // import relive:agent/patches@0.1.1
  export type * as ReliveAgentSignals011 from 'relive:agent/signals@0.1.1'; // import relive:agent/signals@0.1.1
  export type * as ReliveAgentTimers011 from 'relive:agent/timers@0.1.1'; // import relive:agent/timers@0.1.1
  export type * as ReliveAgentTools011 from 'relive:agent/tools@0.1.1'; // import relive:agent/tools@0.1.1
  export type * as ReliveAgentTypes011 from 'relive:agent/types@0.1.1'; // import relive:agent/types@0.1.1
  /**
  * Runs the agent on `input` and returns its final answer, or an error
  * message when the agent gives up.
  */
  export function run(input: string): string;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}

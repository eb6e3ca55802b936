// The host's `relive:agent/agents` import, faked (hooks.ts resolves it
// here): children are started by fake-host.ts's `startChild` and end as
// `fake.childErrors` says; every call is recorded in `fake.calls`.
/// <reference path="../src/wit/agent.d.ts" />

import type * as agents from 'relive:agent/agents@0.1.1';
import { type Result, childResult, componentError, record, startChild } from './fake-host.js';

export function call(agent: string, input: string): string {
  record('agents.call', agent, input);
  const started = startChild(agent, input);
  if (started.tag === 'err') throw componentError(started.val);
  const result = childResult(started.val);
  if (result.tag === 'err') throw componentError(result.val);
  return result.val;
}

export function spawn(agent: string, input: string): string {
  record('agents.spawn', agent, input);
  const started = startChild(agent, input);
  if (started.tag === 'err') throw componentError(started.val);
  return started.val;
}

export function join(children: string[]): Array<Result<string, agents.AgentError>> {
  record('agents.join', children);
  return children.map(childResult);
}

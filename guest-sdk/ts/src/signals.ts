/**
 * External signals (`relive signal RUN NAME --data JSON`).
 *
 * ```ts
 * import { signals } from "relive-sdk";
 *
 * const payload = signals.wait("invoice-paid", { timeoutMs: 3_600_000 });
 * if (payload === undefined) {
 *   // an hour passed first
 * }
 * ```
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { wait as witWait } from 'relive:agent/signals@0.1.1';
import { millis } from './timers.js';

/**
 * Waits for the signal `name` and returns its payload (JSON text), or
 * `undefined` when `timeoutMs` passes first; without it, waits for ever.
 * The run is suspended meanwhile.
 */
export function wait(name: string, options: { timeoutMs?: number | undefined } = {}): string | undefined {
  return witWait(name, options.timeoutMs === undefined ? undefined : millis(options.timeoutMs));
}

/**
 * Durable sleep: the run is suspended and continues when the time comes,
 * even across host restarts.
 *
 * ```ts
 * import { timers } from "relive-sdk";
 *
 * timers.sleep(60 * 60 * 1000); // an hour, in milliseconds
 * ```
 *
 * `setTimeout` works too and replays (the host journals the clock and every
 * poll), but it keeps the run in memory while it waits; `timers.sleep`
 * suspends it.
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { sleep as witSleep, sleepUntil as witSleepUntil } from 'relive:agent/timers@0.1.1';

/** Sleeps for `milliseconds`, measured from the journaled wall clock. */
export function sleep(milliseconds: number): void {
  witSleep(millis(milliseconds));
}

/** Sleeps until `when` (a `Date`, or milliseconds since the Unix epoch); a time in the past returns at once. */
export function sleepUntil(when: Date | number): void {
  witSleepUntil(millis(typeof when === 'number' ? when : when.getTime()));
}

/** Milliseconds as the WIT's `u64`: rounded down, negative and NaN as 0. */
export function millis(ms: number): bigint {
  if (Number.isNaN(ms) || ms <= 0) return 0n;
  if (ms >= 2 ** 64) return 2n ** 64n - 1n;
  return BigInt(Math.floor(ms));
}

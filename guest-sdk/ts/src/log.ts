/**
 * Progress events for the operator.
 *
 * Each call sends one line to the host, which journals it and shows it in
 * the run's timeline (`relive show`). While a run is replayed after a crash,
 * lines already recorded are matched against the journal instead of being
 * emitted a second time, so logging is safe anywhere in an agent.
 *
 * ```ts
 * import { log } from "relive-sdk";
 *
 * log.info("fetched 3 sources");
 * ```
 *
 * `console.log` works too (stdout and stderr are captured and shown on the
 * host's stderr, once), but is not journaled.
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { log as witLog } from 'relive:agent/log@0.1.1';
import type { Level } from 'relive:agent/log@0.1.1';

export type { Level };

/** Sends `message` at `level`: one journaled host call. */
export function log(level: Level, message: string): void {
  witLog(level, message);
}

/** Sends a `trace` event: fine-grained detail, usually hidden. */
export function trace(message: string): void {
  log('trace', message);
}

/** Sends a `debug` event: detail useful when diagnosing an agent. */
export function debug(message: string): void {
  log('debug', message);
}

/** Sends an `info` event: normal progress. */
export function info(message: string): void {
  log('info', message);
}

/** Sends a `warn` event: something unexpected the agent recovered from. */
export function warn(message: string): void {
  log('warn', message);
}

/** Sends an `error` event: something failed. */
export function error(message: string): void {
  log('error', message);
}

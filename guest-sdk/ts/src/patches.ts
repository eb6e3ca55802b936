/**
 * Patch markers: change an agent without breaking the runs recorded before
 * the change (like Temporal's `patched`).
 *
 * ```ts
 * import { patched } from "relive-sdk";
 *
 * if (patched("shorter-summary")) {
 *   // the new code: new runs, and runs that recorded the marker
 * } else {
 *   // the old code: runs recorded before the patch, when replayed
 * }
 * ```
 *
 * Once no run recorded before the patch is left (check with `relive runs`
 * and `relive upgrade`), retire it: delete the old branch and call
 * {@link deprecatePatch} where `patched` was, so runs that recorded the
 * marker still replay. When those are gone too, delete the call.
 *
 * @module
 */
/// <reference path="./wit/agent.d.ts" />

import { deprecate, patched as witPatched } from 'relive:agent/patches@0.1.1';

/** True when this point is reached with the patch in place; false when replaying a run recorded before the patch. */
export function patched(patchId: string): boolean {
  return witPatched(patchId);
}

/** Marks a retired patch: accepts the marker in runs that recorded it, and records nothing in new runs. */
export function deprecatePatch(patchId: string): void {
  deprecate(patchId);
}

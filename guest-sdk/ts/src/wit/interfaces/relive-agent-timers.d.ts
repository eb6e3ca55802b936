// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/timers@0.1.1' {
  /**
   * Sleeps for `milliseconds`, measured from the journaled wall clock.
   */
  export function sleep(milliseconds: bigint): void;
  /**
   * Sleeps until `unix-ms` (milliseconds since the Unix epoch).
   */
  export function sleepUntil(unixMs: bigint): void;
}

// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/signals@0.1.1' {
  /**
   * Waits for the signal `name` and returns its payload; `none` when
   * `timeout-ms` passes first.
   */
  export function wait(name: string, timeoutMs: bigint | undefined): string | undefined;
}

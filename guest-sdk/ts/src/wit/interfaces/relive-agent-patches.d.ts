// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/patches@0.1.1' {
  /**
   * True when this point of the run is reached live with the patch in
   * place (new runs, and runs that recorded it); false when replaying a
   * run recorded before the patch. Guard the new code with it.
   */
  export function patched(id: string): boolean;
  /**
   * Retires a patch once no run recorded before it is left: the old code
   * is gone, the marker of runs that recorded it is still accepted.
   */
  export function deprecate(id: string): void;
}

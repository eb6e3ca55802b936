// Generated from wit/agent.wit (world `agent`) by guest-sdk/ts/scripts/wit-types.mjs
// with jco's guest type generation. Do not edit: run `npm run wit-types`.
declare module 'relive:agent/log@0.1.1' {
  export function log(level: Level, message: string): void;
  /**
   * # Variants
   * 
   * ## `"trace"`
   * 
   * ## `"debug"`
   * 
   * ## `"info"`
   * 
   * ## `"warn"`
   * 
   * ## `"error"`
   */
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
}

// Loaded with `node --import ./build/tests/register.js`: every import of
// `relive:agent/...` resolves to the fake host (fake-host.ts), the seam
// where a component would call the real one.
import { register } from 'node:module';

register('./hooks.js', import.meta.url);

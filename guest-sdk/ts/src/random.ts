/**
 * Random values supplied (and journaled) by the host.
 *
 * Inside a component, `crypto.getRandomValues()` and `crypto.randomUUID()`
 * read `wasi:random/random`, which the host records, and `Math.random()` is
 * seeded from it at its first use in a run: a replayed run sees exactly the
 * values of the original run. Use any of them; the helpers here are the Rust
 * SDK's names for the same thing.
 *
 * @module
 */

interface WebCrypto {
  getRandomValues<A extends Uint8Array>(array: A): A;
}

/** The most bytes `crypto.getRandomValues` fills in one call (the Web Crypto limit). */
const MAX_CHUNK = 65536;

function webCrypto(): WebCrypto {
  return (globalThis as unknown as { crypto: WebCrypto }).crypto;
}

/** A random integer in `[0, 2**64)`: one host call. */
export function u64(): bigint {
  const bytes = webCrypto().getRandomValues(new Uint8Array(8));
  return new DataView(bytes.buffer).getBigUint64(0, true);
}

/** `n` random bytes: one host call per 64 KiB. */
export function bytes(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new RangeError(`random.bytes: n must be a whole number, 0 or more, got ${n}`);
  }
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += MAX_CHUNK) {
    webCrypto().getRandomValues(out.subarray(at, Math.min(n, at + MAX_CHUNK)));
  }
  return out;
}

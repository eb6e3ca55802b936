// Module resolution hooks (see register.ts): `relive:agent/<iface>@<version>`
// is the fake host; everything else resolves as usual.
type Resolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(
  specifier: string,
  context: unknown,
  next: Resolve,
): Promise<{ url: string; shortCircuit?: boolean }> {
  if (specifier.startsWith('relive:agent/')) {
    return { url: new URL('./fake-host.js', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}

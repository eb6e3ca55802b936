// Module resolution hooks (see register.ts): `relive:agent/agents@<version>`
// is the fake of child runs (fake-agents.ts), every other
// `relive:agent/<iface>@<version>` the fake host (fake-host.ts); everything
// else resolves as usual.
type Resolve = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(
  specifier: string,
  context: unknown,
  next: Resolve,
): Promise<{ url: string; shortCircuit?: boolean }> {
  if (specifier.startsWith('relive:agent/agents@')) {
    return { url: new URL('./fake-agents.js', import.meta.url).href, shortCircuit: true };
  }
  if (specifier.startsWith('relive:agent/')) {
    return { url: new URL('./fake-host.js', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}

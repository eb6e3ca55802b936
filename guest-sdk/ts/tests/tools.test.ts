import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { ToolError, s, tool, tools } from '../src/index.js';
import { fake } from './fake-host.js';

beforeEach(() => fake.reset());

const wordCount = tool({
  name: 'word_count',
  description: 'Counts the words of a text.',
  parameters: s.object({ text: s.string('the text to count'), min: s.optional(s.integer()) }),
  execute: ({ text, min }) => Math.max(min ?? 0, text.split(/\s+/).filter(Boolean).length),
});

test('a tool is offered with its JSON schema', () => {
  const spec = wordCount.spec();
  assert.equal(spec.name, 'word_count');
  assert.equal(spec.description, 'Counts the words of a text.');
  assert.deepEqual(JSON.parse(spec.parameters), {
    type: 'object',
    properties: { text: { type: 'string', description: 'the text to count' }, min: { type: 'integer' } },
    required: ['text'],
    additionalProperties: false,
  });
});

test('invoke checks the arguments, runs execute and answers JSON', async () => {
  assert.equal(await wordCount.invoke('{"text": "one two three"}'), '3');
  await assert.rejects(wordCount.invoke('{"text": 3}'), (e: unknown) => {
    assert.ok(e instanceof ToolError);
    assert.equal(e.kind, 'invalid-arguments');
    assert.equal(e.message, 'invalid arguments: tool `word_count`: `text`: expected a string, got 3');
    return true;
  });
  await assert.rejects(wordCount.invoke('{"text'), /tool `word_count`: not JSON/);
  await assert.rejects(wordCount.invoke('{}'), /`text`: is required but missing/);
});

test('a tool needs a valid name and object parameters', () => {
  assert.throws(
    () => tool({ name: 'no spaces', description: '', parameters: s.object({}), execute: () => 1 }),
    /not a valid tool name/,
  );
});

test('tools.call sends JSON and checks the result against a schema', () => {
  fake.tools.set('search', (args) => JSON.stringify({ query: JSON.parse(args).query, notes: ['n1'] }));
  const Notes = s.object({ query: s.string(), notes: s.array(s.string()) }, { title: 'Notes' });
  const found = tools.call('search', { query: 'wasm' }, Notes);
  assert.deepEqual(found, { query: 'wasm', notes: ['n1'] });
  assert.deepEqual(fake.calls[0], { fn: 'tools.call', args: ['search', '{"query":"wasm"}'] });

  const Wrong = s.object({ hits: s.integer() }, { title: 'Hits' });
  assert.throws(
    () => tools.call('search', { query: 'x' }, Wrong),
    (e: unknown) =>
      e instanceof ToolError &&
      e.kind === 'failed' &&
      e.message.startsWith('failed: tool `search` returned a result that does not match Hits: `hits`: is required'),
  );
});

test("the host's tool errors become ToolErrors", () => {
  assert.throws(
    () => tools.callJson('missing', '{}'),
    (e: unknown) => e instanceof ToolError && e.kind === 'not-found' && e.message === 'not found: no tool `missing` is granted',
  );
  fake.tools.set('broken', () => ({ error: { tag: 'failed', val: 'exit status 1' } }));
  assert.throws(() => tools.callJson('broken', '{}'), /^ToolError: failed: exit status 1$/m);
  assert.throws(() => tools.call('broken', { x: 1n }), /cannot encode the arguments of tool `broken`/);
});

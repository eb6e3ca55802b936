// Child runs and the batch calls through the imports: `agents.call`,
// `spawn`, `join`, `tools.callBatch`, `llm.chatBatch` (the Python SDK's
// tests/test_agents.py, and its batch tests).
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { AgentError, LlmError, Message, ToolError, agents, llm, tools } from '../src/index.js';
import { outcome } from '../src/agent.js';
import { fake, reply } from './fake-host.js';

beforeEach(() => fake.reset());

test("agents.call returns the child's answer", () => {
  assert.equal(agents.call('researcher', 'what is wasm?'), 'answer of child-1');
  assert.deepEqual(fake.events(), ['agents.call']);
  assert.deepEqual(fake.spawned, [['researcher', 'what is wasm?']]);
});

for (const [kind, detail] of [
  ['denied', 'add "x" to `agents`'],
  ['failed', 'child run r.4 failed: no notes'],
  ['cancelled', 'by the operator'],
] as const) {
  test(`a child's ${kind} error is an agents.AgentError with its kind`, () => {
    fake.childErrors.set('child-1', { tag: kind, val: detail });
    assert.throws(
      () => agents.call('researcher', 'q'),
      (e: unknown) => {
        assert.ok(e instanceof agents.AgentError);
        assert.deepEqual([e.kind, e.detail], [kind, detail]);
        assert.equal(e.describe(), `${kind}: ${detail}`);
        assert.equal(e.message, e.describe());
        assert.equal(e.name, 'AgentError');
        return true;
      },
    );
  });
}

test('an agent that may not be started is denied', () => {
  assert.throws(
    () => agents.spawn('hostile', 'q'),
    (e: unknown) => e instanceof agents.AgentError && e.kind === 'denied' && e.message === 'denied: may not start hostile',
  );
});

test('spawn then join gives one result per child, in order', () => {
  fake.childErrors.set('child-2', { tag: 'failed', val: 'out of notes' });
  const children = ['wasm', 'wasi', 'wit'].map((topic) => agents.spawn('researcher', topic));
  assert.deepEqual(children, ['child-1', 'child-2', 'child-3']);
  const results = agents.join(children.values());
  assert.deepEqual(fake.events(), ['agents.spawn', 'agents.spawn', 'agents.spawn', 'agents.join']);
  assert.deepEqual(fake.calls.at(-1)?.args, [children]);
  assert.equal(results[0], 'answer of child-1');
  assert.equal(results[2], 'answer of child-3');
  const failed = results[1];
  assert.ok(failed instanceof agents.AgentError);
  assert.equal(failed.describe(), 'failed: out of notes');
});

test("an uncaught child error fails the run with its description", async () => {
  fake.childErrors.set('child-1', { tag: 'cancelled', val: 'with its parent' });
  const error = new agents.AgentError('cancelled', 'x');
  assert.ok(error instanceof AgentError, 'a relive-sdk AgentError');
  assert.deepEqual(await outcome((q) => agents.call('researcher', q), 'q'), [false, 'cancelled: with its parent']);
});

test('tools.callBatch sends every call at once and returns errors in place of results', () => {
  fake.tools.set('search', (args) => `{"echo":${args}}`);
  fake.tools.set('broken', () => ({ error: { tag: 'failed', val: 'exit status 1' } }));
  const results = tools.callBatch(
    new Set([
      ['search', '{"q":1}'],
      ['nope', '{}'],
      ['broken', '{}'],
      ['search', '{"q":4}'],
    ] as const),
  );
  assert.deepEqual(fake.calls, [
    {
      fn: 'tools.call-batch',
      args: [
        [
          ['search', '{"q":1}'],
          ['nope', '{}'],
          ['broken', '{}'],
          ['search', '{"q":4}'],
        ],
      ],
    },
  ]);
  assert.equal(results.length, 4);
  assert.equal(results[0], '{"echo":{"q":1}}');
  assert.equal(results[3], '{"echo":{"q":4}}');
  const [notFound, failed] = [results[1], results[2]];
  assert.ok(notFound instanceof ToolError && notFound.kind === 'not-found');
  assert.equal(notFound.message, 'not found: no tool `nope` is granted');
  assert.ok(failed instanceof ToolError && failed.kind === 'failed');
  assert.equal(failed.message, 'failed: exit status 1');
});

test('llm.chatBatch sends the requests in order, only the fields given, and returns errors in place', () => {
  fake.replies = [reply('first'), { error: { tag: 'denied', val: 'no model `large`' } }, reply('third')];
  const results = llm.chatBatch([
    { messages: [Message.user('one')] },
    { messages: [Message.user('two')], model: 'large' },
    { messages: [Message.user('three')], maxTokens: 20 },
  ]);
  assert.deepEqual(fake.events(), ['llm.chat-batch']);
  assert.deepEqual(fake.chats(), [
    { messages: [{ role: 'user', content: 'one', toolCalls: [] }], tools: [] },
    { messages: [{ role: 'user', content: 'two', toolCalls: [] }], tools: [], model: 'large' },
    { messages: [{ role: 'user', content: 'three', toolCalls: [] }], tools: [], maxTokens: 20 },
  ]);
  const [first, denied, third] = results;
  assert.ok(!(first instanceof LlmError) && first?.message.content === 'first');
  assert.ok(denied instanceof LlmError);
  assert.equal(denied.message, 'model denied: no model `large`');
  assert.ok(!(third instanceof LlmError) && third?.message.content === 'third');
});

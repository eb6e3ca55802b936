import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { LlmError, Message, approval, deprecatePatch, llm, log, patched, random, signals, timers } from '../src/index.js';
import { fake, reply } from './fake-host.js';

beforeEach(() => fake.reset());

test('llm.chat sends only the fields given, and maps errors', () => {
  fake.replies = [reply('hello'), { error: { tag: 'denied', val: 'no model `gpt`' } }];
  const response = llm.chat({ messages: [Message.user('hi')], temperature: 0.5 });
  assert.equal(response.message.content, 'hello');
  assert.deepEqual(fake.chats()[0], {
    messages: [{ role: 'user', content: 'hi', toolCalls: [] }],
    tools: [],
    temperature: 0.5,
  });
  assert.throws(
    () => llm.chat({ messages: [], model: 'gpt' }),
    (e: unknown) => e instanceof LlmError && e.kind === 'denied' && e.message === 'model denied: no model `gpt`',
  );
  assert.deepEqual(Message.toolResult('c1', '3'), { role: 'tool', content: '3', toolCalls: [], toolCallId: 'c1' });
});

test('log, approval, timers, signals and patches reach their imports', () => {
  log.warn('careful');
  fake.decision = { tag: 'rejected', val: 'too expensive' };
  assert.deepEqual(approval.request('pay', { amount: 3 }), { kind: 'rejected', reason: 'too expensive' });
  fake.decision = { tag: 'approved', val: '{"amount":2}' };
  assert.deepEqual(approval.request('pay', 'three'), { kind: 'approved', details: '{"amount":2}' });
  timers.sleep(1500.9);
  timers.sleep(-5);
  timers.sleepUntil(new Date(86_400_000));
  fake.signal = '{"paid":true}';
  assert.equal(signals.wait('invoice-paid', { timeoutMs: 1000 }), '{"paid":true}');
  assert.equal(signals.wait('other'), '{"paid":true}');
  fake.patches.add('new-prompt');
  assert.equal(patched('new-prompt'), true);
  assert.equal(patched('other'), false);
  deprecatePatch('old');
  assert.deepEqual(
    fake.calls.map((c) => [c.fn, ...c.args]),
    [
      ['log.log', 'warn', 'careful'],
      ['approval.request', 'pay', '{"amount":3}'],
      ['approval.request', 'pay', 'three'],
      ['timers.sleep', 1500n],
      ['timers.sleep', 0n],
      ['timers.sleep-until', 86_400_000n],
      ['signals.wait', 'invoice-paid', 1000n],
      ['signals.wait', 'other', undefined],
      ['patches.patched', 'new-prompt'],
      ['patches.patched', 'other'],
      ['patches.deprecate', 'old'],
    ],
  );
});

test('random values come from crypto.getRandomValues, 64 KiB a call', () => {
  assert.equal(typeof random.u64(), 'bigint');
  assert.equal(random.bytes(0).length, 0);
  assert.equal(random.bytes(70_000).length, 70_000);
  assert.throws(() => random.bytes(-1), /n must be a whole number/);
});

import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import { AgentError, AgentLoop, s, tool } from '../src/index.js';
import { fake, reply } from './fake-host.js';

beforeEach(() => fake.reset());

const wordCount = tool({
  name: 'word_count',
  description: 'Counts the words of a text.',
  parameters: s.object({ text: s.string() }),
  execute: ({ text }) => text.split(/\s+/).filter(Boolean).length,
});

const search = { name: 'search', description: 'Search the notes', parameters: '{"type":"object"}' };

test('the loop runs the tools the model asks for and returns its answer', async () => {
  fake.granted = [search];
  fake.tools.set('search', () => '{"notes":["n1"]}');
  fake.replies = [
    reply('', [
      { id: 'c1', name: 'word_count', arguments: '{"text":"a b c"}' },
      { id: 'c2', name: 'search', arguments: '{"query":"q"}' },
    ]),
    reply('done: 3 words'),
  ];
  const answer = await new AgentLoop('Be brief.', { tools: [wordCount, 'search'] }).run('count');
  assert.equal(answer, 'done: 3 words');
  const [first, second] = fake.chats();
  assert.deepEqual(
    first?.tools.map((t) => t.name),
    ['word_count', 'search'],
  );
  assert.equal(first?.model, undefined);
  assert.deepEqual(
    second?.messages.slice(2).map((m) => [m.role, m.content, m.toolCallId]),
    [
      ['assistant', '', undefined],
      ['tool', '3', 'c1'],
      ['tool', '{"notes":["n1"]}', 'c2'],
    ],
  );
  assert.deepEqual(fake.logs(), ['info: step 1: calling tools word_count, search', 'info: step 2: final answer']);
});

test('without tools: every granted host tool is offered', async () => {
  fake.granted = [search];
  fake.replies = [reply('ok')];
  await new AgentLoop('x', { model: 'fast' }).run('q');
  assert.deepEqual(fake.chats()[0]?.tools, [search]);
  assert.equal(fake.chats()[0]?.model, 'fast');
});

test('a failing tool is reported to the model, which may adapt', async () => {
  const boom = tool({
    name: 'boom',
    description: '',
    parameters: s.object({}),
    execute: () => {
      throw new RangeError('too far');
    },
  });
  fake.replies = [
    reply('', [
      { id: 'c1', name: 'boom', arguments: '{}' },
      { id: 'c2', name: 'word_count', arguments: '{"text": 1}' },
    ]),
    reply('sorry'),
  ];
  assert.equal(await new AgentLoop('x', { tools: [boom, wordCount] }).run('q'), 'sorry');
  const results = fake.chats()[1]?.messages.slice(3).map((m) => m.content);
  assert.deepEqual(results, [
    'error: failed: RangeError: too far',
    'error: invalid arguments: tool `word_count`: `text`: expected a string, got 1',
  ]);
  assert.ok(fake.logs().includes('warn: step 1: tool boom failed: RangeError: too far'), fake.logs().join('\n'));
});

test('an ungranted host tool, the step limit and an unreachable model are AgentErrors', async () => {
  await assert.rejects(new AgentLoop('x', { tools: ['nope'] }).run('q'), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.match(e.message, /no host tool `nope` is granted to this agent \(granted: none\)/);
    return true;
  });
  fake.replies = [reply('', [{ id: 'c', name: 'word_count', arguments: '{"text":"a"}' }])];
  await assert.rejects(
    new AgentLoop('x', { tools: [wordCount], maxSteps: 1 }).run('q'),
    /reached the step limit \(1\) while the model still asks for tools \(word_count\); raise it with maxSteps/,
  );
  fake.replies = [{ error: { tag: 'unavailable', val: 'timeout' } }];
  await assert.rejects(new AgentLoop('x', { tools: [] }).run('q'), /agent loop: step 1: model unavailable: timeout/);
  assert.throws(() => new AgentLoop('x', { tools: [wordCount, wordCount] }), /tools offered twice: word_count/);
});

const Triage = s.object(
  { category: s.enum(['billing', 'bug']), priority: s.enum(['low', 'normal', 'urgent']), reply: s.string() },
  { title: 'Triage' },
);

test('structured output: the validation error goes back to the model, and the answer is typed', async () => {
  fake.replies = [
    reply('{"category": "billing", "priority": "high"}'),
    reply('```json\n{"category": "billing", "priority": "urgent", "reply": "refunding"}\n```'),
  ];
  const triage = await new AgentLoop('Triage.', { output: Triage, tools: [] }).run('charged twice');
  assert.deepEqual(triage, { category: 'billing', priority: 'urgent', reply: 'refunding' });
  const [first, second] = fake.chats();
  assert.match(first?.messages[0]?.content ?? '', /answer with a single JSON value \(Triage\)[\s\S]*It must match this JSON schema:\n\{"title":"Triage"/);
  const retry = second?.messages.at(-1)?.content ?? '';
  assert.equal(
    retry,
    'Your answer does not match the required JSON schema:\n' +
      '`priority`: expected one of "low", "normal", "urgent", got "high"\n' +
      '`reply`: is required but missing\n' +
      'Answer again with only the corrected JSON value.',
  );
  assert.ok(fake.logs().includes('warn: step 1: the answer does not match Triage; asking again'));
});

test('structured output gives up after outputRetries', async () => {
  fake.replies = [reply('not json'), reply('{}')];
  await assert.rejects(new AgentLoop('x', { output: Triage, outputRetries: 1, tools: [] }).run('q'), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.match(e.message, /^agent loop: step 2: the answer does not match Triage after 1 retry: `category`: is required/);
    return true;
  });
});

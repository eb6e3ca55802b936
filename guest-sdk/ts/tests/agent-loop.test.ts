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

// Batches and sub-agents: the Rust and Python SDKs' tests, and the exact
// sequence of host calls (the journal's shape), which a Rust or Python
// agent makes alike.

/** The granted `search` tool, echoing its arguments, as the Python SDK's fake has it. */
function grantSearch(): void {
  fake.granted = [search];
  fake.tools.set('search', (args) => `{"echo":${args}}`);
}

function toolResults(index: number): string[] {
  return (fake.chats()[index]?.messages ?? []).filter((m) => m.role === 'tool').map((m) => m.content);
}

function batchSizes(): number[] {
  return fake.calls.filter((c) => c.fn === 'tools.call-batch').map((c) => (c.args[0] as unknown[]).length);
}

test("a turn's tool calls go in one batch, in order", async () => {
  grantSearch();
  fake.replies = [
    reply('', [
      { id: 'c1', name: 'search', arguments: '{"q":1}' },
      { id: 'c2', name: 'nope', arguments: '{}' },
      { id: 'c3', name: 'search', arguments: '{"q":3}' },
    ]),
    reply('done'),
  ];
  assert.equal(await new AgentLoop('sys').run('hi'), 'done');
  assert.deepEqual(batchSizes(), [3], 'one batch of three');
  assert.deepEqual(toolResults(1), ['{"echo":{"q":1}}', 'error: not found: no tool `nope` is granted', '{"echo":{"q":3}}']);
  assert.deepEqual(
    fake.chats()[1]?.messages.slice(3).map((m) => m.toolCallId),
    ['c1', 'c2', 'c3'],
  );
  // The failure is logged after the batch, not between its calls.
  assert.deepEqual(fake.events(), [
    'tools.list',
    'llm.chat',
    'log: step 1: calling tools search, nope, search',
    'tools.call-batch',
    'log: step 1: tool nope not found: no tool `nope` is granted',
    'llm.chat',
    'log: step 2: final answer',
  ]);
});

test('sub-agents are tools, and a hand-off ends the loop', async () => {
  grantSearch();
  fake.replies = [
    reply('', [
      { id: 'a', name: 'agent_researcher', arguments: '{"input":"topic one"}' },
      { id: 'b', name: 'search', arguments: '{}' },
    ]),
    reply('', [{ id: 'h', name: 'handoff_researcher', arguments: '{"input":"write it up"}' }]),
  ];
  const loop = new AgentLoop('sys')
    .agent('researcher', 'researches a topic')
    .handoff('researcher', 'writes the final answer');
  assert.equal(await loop.run('hi'), 'answer of child-2');
  assert.deepEqual(fake.spawned, [
    ['researcher', 'topic one'],
    ['researcher', 'write it up'],
  ]);
  const offered = fake.chats()[0]?.tools ?? [];
  assert.deepEqual(
    offered.map((t) => t.name),
    ['search', 'agent_researcher', 'handoff_researcher'],
  );
  assert.deepEqual(offered[1], {
    name: 'agent_researcher',
    description: 'researches a topic',
    // The Rust SDK's schema, byte for byte: the same LLM request.
    parameters:
      '{"type":"object","properties":{"input":{"type":"string","description":"what to ask the agent"}},"required":["input"]}',
  });
  assert.deepEqual(toolResults(1), ['answer of child-1', '{"echo":{}}']);
  assert.deepEqual(fake.events(), [
    'tools.list',
    'llm.chat',
    'log: step 1: calling tools agent_researcher, search',
    'tools.call-batch',
    'agents.spawn',
    'agents.join',
    'llm.chat',
    'log: step 2: calling tool handoff_researcher',
    'agents.spawn',
    'agents.join',
    'log: step 2: handed off',
  ]);
});

test("a turn's sub-agents are spawned together, then joined", async () => {
  fake.replies = [
    reply('', [
      { id: 'a', name: 'agent_researcher', arguments: '{"input":"one"}' },
      { id: 'b', name: 'agent_hostile', arguments: '{"input":"two"}' },
      { id: 'c', name: 'agent_researcher', arguments: '"not an object"' },
      { id: 'd', name: 'agent_researcher', arguments: 'not json' },
    ]),
    reply('done'),
  ];
  fake.childErrors.set('child-3', { tag: 'failed', val: 'child run child-3 failed: no notes' });
  const loop = new AgentLoop('sys', { tools: [] }).agent('researcher', 'r').agent('hostile', 'h');
  assert.equal(await loop.run('hi'), 'done');
  // The arguments as they are when they are not the expected object.
  assert.deepEqual(fake.spawned, [
    ['researcher', 'one'],
    ['hostile', 'two'],
    ['researcher', '"not an object"'],
  ]);
  const joins = fake.calls.filter((c) => c.fn === 'agents.join').map((c) => c.args[0]);
  assert.deepEqual(joins, [['child-1', 'child-3']], 'a refused spawn is not joined');
  const results = toolResults(1);
  assert.deepEqual(results.slice(0, 3), [
    'answer of child-1',
    'error: denied: may not start hostile',
    'error: failed: child run child-3 failed: no notes',
  ]);
  assert.match(results[3] ?? '', /^error: invalid arguments: not JSON \(/);
  assert.deepEqual(
    fake.events().slice(0, 6),
    [
      'llm.chat',
      'log: step 1: calling tools agent_researcher, agent_hostile, agent_researcher, agent_researcher',
      'agents.spawn',
      'agents.spawn',
      'agents.spawn',
      'agents.join',
    ],
    'no empty batch, no listing (tools: [])',
  );
  const warnings = fake.logs().filter((l) => l.startsWith('warn: '));
  assert.deepEqual(warnings.slice(0, 2), [
    'warn: step 1: tool agent_hostile denied: may not start hostile',
    'warn: step 1: tool agent_researcher failed: child run child-3 failed: no notes',
  ]);
  assert.equal(warnings.length, 3);
});

test('a failed hand-off fails the loop', async () => {
  fake.replies = [reply('', [{ id: 'h', name: 'handoff_researcher', arguments: '{"input":"q"}' }])];
  fake.childErrors.set('child-1', { tag: 'cancelled', val: 'by the operator' });
  await assert.rejects(new AgentLoop('sys', { tools: [] }).handoff('researcher', 'r').run('hi'), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.equal(e.message, 'agent loop: hand-off to `researcher` cancelled: by the operator');
    return true;
  });
  assert.equal(fake.logs().at(-1), 'info: step 1: handed off');
});

test('host tools, sub-agents and agent tools in one turn: the host calls first', async () => {
  grantSearch();
  const double = tool({
    name: 'double',
    description: 'Doubles a number.',
    parameters: s.object({ n: s.integer() }),
    execute: ({ n }) => {
      fake.calls.push({ fn: 'agent tool double', args: [] });
      return 2 * n;
    },
  });
  fake.replies = [
    reply('', [
      { id: 'p', name: 'double', arguments: '{"n":2}' },
      { id: 's', name: 'search', arguments: '{"q":"x"}' },
      { id: 'a', name: 'agent_researcher', arguments: '{"input":"y"}' },
    ]),
    reply('done'),
  ];
  assert.equal(await new AgentLoop('sys', { tools: [double, 'search'] }).agent('researcher', 'r').run('q'), 'done');
  assert.deepEqual(toolResults(1), ['4', '{"echo":{"q":"x"}}', 'answer of child-1']);
  // The host's calls first (the batch, the children), then the agent's own.
  assert.deepEqual(fake.events().slice(2), [
    'log: step 1: calling tools double, search, agent_researcher',
    'tools.call-batch',
    'agents.spawn',
    'agents.join',
    'agent tool double',
    'llm.chat',
    'log: step 2: final answer',
  ]);
  assert.deepEqual(batchSizes(), [1], 'agent tools run in the agent, not in the batch');
});

test("a hand-off's answer is checked against the output schema and typed by it", async () => {
  const asks = () => [reply('', [{ id: 'h', name: 'handoff_researcher', arguments: '{"input":"q"}' }])];
  fake.replies = asks();
  const loop = new AgentLoop('sys', { output: Triage, tools: [] }).handoff('researcher', 'r');
  await assert.rejects(loop.run('hi'), (e: unknown) => {
    assert.ok(e instanceof AgentError);
    assert.match(e.message, /^agent loop: hand-off to `researcher`: its answer does not match Triage: /);
    return true;
  });
  fake.reset();
  fake.replies = asks();
  fake.childAnswers.set('child-1', '{"category": "bug", "priority": "low", "reply": "fixed"}');
  const triage = await loop.run('hi');
  assert.deepEqual(triage, { category: 'bug', priority: 'low', reply: 'fixed' });
  assert.equal(fake.chats().length, 1, 'the hand-off ends the loop: the model is not asked again');
});

test('a sub-agent twice, or named like a tool, is refused', () => {
  assert.throws(
    () => new AgentLoop('sys').agent('researcher', 'a').agent('researcher', 'b'),
    (e: unknown) => e instanceof TypeError && /tools offered twice: agent_researcher/.test(e.message),
  );
  const clash = tool({ name: 'handoff_x', description: 'A tool named like a hand-off.', parameters: s.object({}), execute: () => '' });
  assert.throws(() => new AgentLoop('sys', { tools: [clash] }).handoff('x', 'd'), /tools offered twice: handoff_x/);
});

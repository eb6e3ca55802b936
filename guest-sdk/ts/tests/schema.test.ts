import assert from 'node:assert/strict';
import { test } from 'node:test';
import { s } from '../src/index.js';

const Triage = s.object(
  {
    category: s.enum(['billing', 'bug', 'question', 'other'], 'what the ticket is about'),
    priority: s.enum(['low', 'normal', 'urgent']),
    summary: s.string(),
    reply: s.string(),
    tags: s.optional(s.array(s.string())),
  },
  { title: 'Triage' },
);

test('an object schema is plain JSON Schema, optional properties not required', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(Triage)), {
    title: 'Triage',
    type: 'object',
    properties: {
      category: { type: 'string', enum: ['billing', 'bug', 'question', 'other'], description: 'what the ticket is about' },
      priority: { type: 'string', enum: ['low', 'normal', 'urgent'] },
      summary: { type: 'string' },
      reply: { type: 'string' },
      tags: { type: 'array', items: { type: 'string' } },
    },
    required: ['category', 'priority', 'summary', 'reply'],
    additionalProperties: false,
  });
});

test('parse returns a matching value as it is', () => {
  const value = { category: 'bug', priority: 'low', summary: 's', reply: 'r', tags: ['a'] };
  assert.equal(s.parse(Triage, value), value);
});

test('parse names every mismatch with its path, as the Python SDK does', () => {
  let error: unknown;
  try {
    s.parse(Triage, { category: 'billing', priority: 'high', summary: 3, extra: true });
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof s.ValidationError);
  assert.equal(error.problems.length, 4);
  assert.equal(
    error.message,
    [
      '`priority`: expected one of "low", "normal", "urgent", got "high"',
      '`summary`: expected a string, got 3',
      '`reply`: is required but missing',
      '`extra`: is not a property (properties: category, priority, summary, reply, tags)',
    ].join('\n'),
  );
});

test('nested paths, integers, nullable and unions', () => {
  const Plan = s.object({
    steps: s.array(s.object({ n: s.integer(), note: s.nullable(s.string()) })),
    owner: s.union(s.string(), s.integer()),
  });
  const problems = s.problemsOf(Plan, { steps: [{ n: 1, note: null }, { n: 1.5, note: 2 }], owner: true });
  assert.deepEqual(problems, [
    { path: 'steps[1].n', message: 'expected an integer, got 1.5' },
    { path: 'steps[1].note', message: 'expected a string, got 2' },
    { path: 'owner', message: 'expected a string or an integer, got true' },
  ]);
  assert.deepEqual(s.problemsOf(s.object({}, { title: 'Empty' }), []), [
    { path: '', message: 'expected an object (Empty), got []' },
  ]);
});

test('records, literals, any and hand-written schemas', () => {
  assert.deepEqual(s.problemsOf(s.record(s.number()), { a: 1, b: 'x' }), [
    { path: 'b', message: 'expected a number, got "x"' },
  ]);
  assert.deepEqual(s.problemsOf(s.literal('yes'), 'no'), [{ path: '', message: 'expected "yes", got "no"' }]);
  assert.deepEqual(s.problemsOf(s.any(), { anything: [1] }), []);
  const Point = s.jsonSchema<{ x: number }>({ type: 'object', properties: { x: { type: 'number' } }, required: ['x'] });
  assert.equal(s.parse(Point, { x: 1, y: 2 }).x, 1); // additional properties allowed unless refused
  assert.throws(() => s.parse(Point, {}), /`x`: is required but missing/);
});

test('a long value is cut in the message', () => {
  const [problem] = s.problemsOf(s.integer(), 'x'.repeat(200));
  assert.ok(problem !== undefined && problem.message.endsWith('..."'.slice(0, 3)), problem?.message);
  assert.ok(problem.message.length < 120);
});

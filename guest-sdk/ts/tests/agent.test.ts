import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentError, exportAgent } from '../src/index.js';
import { describeError, stackFrames } from '../src/agent.js';

test('the export answers text as it is and other values as JSON', async () => {
  assert.equal(await exportAgent((input) => `hi ${input}`)('you'), 'hi you');
  assert.equal(await exportAgent(async () => ({ a: [1, 2] }))(''), '{"a":[1,2]}');
});

test('the export fails with a string: the message of an AgentError, or the stack', async () => {
  await assert.rejects(exportAgent(() => {
    throw new AgentError('no question');
  })(''), (e: unknown) => e === 'no question');
  await assert.rejects(exportAgent(async () => {
    throw new TypeError('bad');
  })(''), (e: unknown) => typeof e === 'string' && e.startsWith('TypeError: bad\n    at '));
  await assert.rejects(exportAgent(() => undefined)(''), (e: unknown) => typeof e === 'string' && e.includes('not JSON'));
});

test('fetch fails with an error that names the way to the network', async () => {
  await assert.rejects(fetch('http://127.0.0.1:9/'), (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.match(e.message, /^fetch\(http:\/\/127\.0\.0\.1:9\/\) is not available in a relive agent: relive does not grant wasi:http/);
    assert.match(e.message, /tools\.call\("http_get"/);
    return true;
  });
});

test("SpiderMonkey's stack frames are written like Node's", () => {
  assert.deepEqual(stackFrames('explode@app.js:40:11\nrun@app.js:55:12\n@app.js:60:1\n'), [
    '    at explode (app.js:40:11)',
    '    at run (app.js:55:12)',
    '    at <anonymous> (app.js:60:1)',
  ]);
  const error = new Error('boom');
  error.stack = 'explode@app.js:40:11\n';
  assert.equal(describeError(error), 'Error: boom\n    at explode (app.js:40:11)');
  error.stack = 'explode@app.js:40:11\nrun<@app.js:55:12\noutcome@app.js:23:20\nexportAgent/<@app.js:13:30\n';
  assert.equal(
    describeError(error, 'outcome'),
    'Error: boom\n    at explode (app.js:40:11)\n    at run< (app.js:55:12)',
  );
  assert.equal(describeError('plain'), 'plain');
  assert.equal(describeError({ code: 7 }), 'uncaught {"code":7}');
});

// Browser test of the relive web console, in headless Debian Chromium.
//
// Interface (positional arguments win over the environment):
//
//   node ui.test.mjs [BASE_URL] [TOKEN] [SCREENSHOT]
//
//   BASE_URL    RELIVE_URL          where `relive serve` listens, e.g. http://127.0.0.1:8080 (required)
//   TOKEN       RELIVE_TOKEN        the server's bearer token; "" or absent: none configured
//   SCREENSHOT  RELIVE_SCREENSHOT   where to write a full-page PNG of a run's timeline
//                                   (default: ./relive-ui.png)
//
//   RELIVE_EXPECT_RUN_DONE      id of a completed run (required): the test opens it, checks
//                               its header and timeline against the API, expands an entry
//   RELIVE_EXPECT_RUN_WAITING   id of a run suspended on an approval (required): the test
//                               opens it, clicks Approve, and checks it leaves the wait,
//                               first in the page (live, through the event stream), then
//                               through GET /v1/runs/{id}
//   RELIVE_EXPECT_APPROVED_STATUS  optional: a status the approved run must then reach,
//                               e.g. "completed" (checked in the page and through the API)
//   RELIVE_EXPECT_TREE_PARENT   instead of the above: id of a completed run that started a child
//   RELIVE_EXPECT_TREE_CHILD    run, and that child's id; the test checks the tree in the runs
//                               list, the parent's child runs, the child call's link in the
//                               timeline and the child's link back
//   RELIVE_TIMEOUT_MS           bound of every single wait (default 15000)
//   CHROMIUM                    the browser (default /usr/bin/chromium, Debian's package)
//
// Exit status: 0 when every check passed; 1 with a message naming the failed check;
// 2 on bad usage. Install once with `npm ci` in this folder (playwright-core only: it
// downloads no browser). The whole run is bounded too (20 × the single-wait bound).

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const argv = process.argv.slice(2);
const BASE = (argv[0] || process.env.RELIVE_URL || '').replace(/\/+$/, '');
const TOKEN = argv.length > 1 ? argv[1] : (process.env.RELIVE_TOKEN || '');
const SCREENSHOT = path.resolve(argv[2] || process.env.RELIVE_SCREENSHOT || 'relive-ui.png');
const DONE = process.env.RELIVE_EXPECT_RUN_DONE || '';
const WAITING = process.env.RELIVE_EXPECT_RUN_WAITING || '';
const APPROVED_STATUS = process.env.RELIVE_EXPECT_APPROVED_STATUS || '';
const TREE_PARENT = process.env.RELIVE_EXPECT_TREE_PARENT || '';
const TREE_CHILD = process.env.RELIVE_EXPECT_TREE_CHILD || '';
const TIMEOUT = Number(process.env.RELIVE_TIMEOUT_MS || 15000);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const KINDS = ['llm', 'tool', 'tool-list', 'clock', 'random', 'log', 'approval', 'timer', 'signal', 'patch'];
const FINAL = ['completed', 'failed', 'diverged', 'cancelled'];

function usage(message) {
  console.error(`ui.test.mjs: ${message}`);
  console.error('usage: RELIVE_EXPECT_RUN_DONE=ID RELIVE_EXPECT_RUN_WAITING=ID node ui.test.mjs BASE_URL [TOKEN] [SCREENSHOT]');
  process.exit(2);
}
if (!/^https?:\/\//.test(BASE)) usage(`the base URL is missing or not http(s): \`${BASE}\``);
if (TREE_PARENT || TREE_CHILD) {
  if (!TREE_PARENT || !TREE_CHILD) usage('set both RELIVE_EXPECT_TREE_PARENT and RELIVE_EXPECT_TREE_CHILD');
} else {
  if (!DONE) usage('RELIVE_EXPECT_RUN_DONE is not set: give the id of a completed run');
  if (!WAITING) usage('RELIVE_EXPECT_RUN_WAITING is not set: give the id of a run waiting for an approval');
}
if (!fs.existsSync(CHROMIUM)) usage(`no browser at ${CHROMIUM}; install Debian's chromium (apt-get install chromium) or set CHROMIUM`);

class CheckFailed extends Error {}
let passed = 0;
let step = 'starting';

function ok(message) {
  passed += 1;
  console.log(`ok ${passed} - ${message}`);
}
function fail(message) {
  throw new CheckFailed(message);
}
function check(cond, message, detail) {
  if (!cond) fail(message + (detail !== undefined ? `: ${detail}` : ''));
  ok(message);
}

/** Waits for `fn` (run in node) to return a truthy value, within the bound. */
async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      fail(`timed out after ${timeout} ms waiting for ${what}` + (last instanceof Error ? ` (last error: ${last.message})` : ''));
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function api(pathname) {
  const headers = { Accept: 'application/json' };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT);
  try {
    const res = await fetch(BASE + pathname, { headers, signal: ctl.signal });
    const text = await res.text();
    if (!res.ok) fail(`GET ${pathname} answered ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  } finally {
    clearTimeout(timer);
  }
}

const tid = (id) => `[data-testid="${id}"]`;

/** The tree of runs (issue 16): listed, linked both ways, statuses shown. */
async function checkTree(page) {
  step = 'reading the tree through the API';
  const child = await api(`/v1/runs/${encodeURIComponent(TREE_CHILD)}`);
  check(child.parent === TREE_PARENT, `API: ${TREE_CHILD} was started by ${TREE_PARENT}`, child.parent);

  step = 'opening the runs list (a tree)';
  await page.goto(`${BASE}/${TOKEN ? '#token=' + encodeURIComponent(TOKEN) : ''}`, { timeout: TIMEOUT });
  const parentRow = page.locator(`${tid('run-row')}[data-run-id="${TREE_PARENT}"]`);
  const childRow = page.locator(`${tid('run-row')}[data-run-id="${TREE_CHILD}"]`);
  await parentRow.waitFor({ state: 'visible' });
  await childRow.waitFor({ state: 'visible' });
  const order = await page.locator(tid('run-row')).evaluateAll((rows) => rows.map((r) => r.dataset.runId));
  check(order.indexOf(TREE_CHILD) === order.indexOf(TREE_PARENT) + 1,
    'the child run is listed right under its parent', order.join(', '));
  const mark = await childRow.locator('.child-mark').getAttribute('title');
  check(mark === `started by ${TREE_PARENT}`, 'the child row says which run started it', mark);
  check(await childRow.getAttribute('data-status') === child.status,
    `the list shows the child's status (${child.status})`);

  step = 'opening the parent run';
  await parentRow.locator(tid('run-link')).click();
  const children = page.locator(tid('run-children'));
  await children.waitFor({ state: 'visible' });
  check(await children.locator(tid('child-link'), { hasText: TREE_CHILD }).count() === 1,
    "the parent's header lists its child run");
  const badge = await children.locator(tid('child-status')).first().getAttribute('data-status');
  check(badge === child.status, "the parent's header shows the child's status", badge);

  step = 'following the child call';
  const callLink = page.locator(tid('entry-child-link'), { hasText: TREE_CHILD }).first();
  await callLink.waitFor({ state: 'visible' });
  ok('the child call in the timeline links to the child run');
  await callLink.click();
  await until('the child run to open',
    async () => decodeURIComponent(page.url()).endsWith(`#/runs/${TREE_CHILD}`));
  const back = page.locator(tid('run-parent'));
  await back.waitFor({ state: 'visible' });
  check((await back.textContent()) === TREE_PARENT, 'the child run links back to its parent');
}

async function main() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'relive-ui-chromium-'));
  const hardStop = setTimeout(() => {
    console.error(`FAIL: the browser test did not finish within ${20 * TIMEOUT} ms (at: ${step})`);
    process.exit(1);
  }, 20 * TIMEOUT);
  let context;
  const pageErrors = [];
  try {
    step = 'launching chromium';
    // Playwright refuses --user-data-dir in args: a persistent context takes it as a parameter.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      viewport: { width: 1440, height: 900 },
      timeout: TIMEOUT,
    });
    context.setDefaultTimeout(TIMEOUT);
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.log(`  (browser console) ${msg.text()}`);
    });

    if (TREE_PARENT) {
      await checkTree(page);
      check(pageErrors.length === 0, 'the page threw no uncaught errors', pageErrors.join(' | '));
      console.log(`browser test: all ${passed} checks passed`);
      return;
    }

    // ---- the API's view of the two runs
    step = 'reading the runs through the API';
    const done = await api(`/v1/runs/${encodeURIComponent(DONE)}`);
    const doneEntries = (await api(`/v1/runs/${encodeURIComponent(DONE)}/entries`)).entries;
    check(done.status === 'completed', `API: run ${DONE} is completed`, `it is ${done.status}`);
    const waiting = await api(`/v1/runs/${encodeURIComponent(WAITING)}`);
    check(waiting.waiting && waiting.waiting.kind === 'approval',
      `API: run ${WAITING} waits for an approval`, JSON.stringify(waiting.waiting));

    // ---- the runs list
    step = 'opening the runs list';
    await page.goto(`${BASE}/${TOKEN ? '#token=' + encodeURIComponent(TOKEN) : ''}`, { timeout: TIMEOUT });
    await page.locator(tid('runs-table')).waitFor({ state: 'visible' });
    ok('the runs list is shown');
    if (TOKEN) {
      const url = page.url();
      check(!url.includes(TOKEN), 'the token is removed from the address bar', url);
      const stored = await page.evaluate(() => sessionStorage.getItem('relive.token'));
      check(stored === TOKEN, 'the token is kept in sessionStorage');
    }
    const doneRow = page.locator(`${tid('run-row')}[data-run-id="${DONE}"]`);
    const waitRow = page.locator(`${tid('run-row')}[data-run-id="${WAITING}"]`);
    await doneRow.waitFor({ state: 'visible' });
    check(await doneRow.locator(tid('status-badge')).getAttribute('data-status') === 'completed',
      `the list shows ${DONE} as completed`);
    await waitRow.waitFor({ state: 'visible' });
    check(await waitRow.getAttribute('data-status') === 'suspended', `the list shows ${WAITING} as suspended`);
    const waitCell = (await waitRow.locator(tid('run-waiting')).textContent()) || '';
    check(waitCell.includes('approval'), `the list says ${WAITING} waits for an approval`, waitCell);

    step = 'filtering the runs list';
    await page.locator(tid('filter-status-completed')).click();
    await until('the status filter to hide the waiting run', async () => (await waitRow.count()) === 0);
    await doneRow.waitFor({ state: 'visible' });
    const statuses = await page.locator(tid('run-row')).evaluateAll((rows) => rows.map((r) => r.dataset.status));
    check(statuses.every((s) => s === 'completed'), 'the status filter shows completed runs only', statuses.join(','));
    check(page.url().includes('status=completed'), 'the filter is kept in the URL', page.url());
    await page.locator(tid('filter-status-all')).click();
    await page.locator(tid('filter-waiting')).check();
    await until('the waiting-only filter to hide the completed run', async () => (await doneRow.count()) === 0);
    await waitRow.waitFor({ state: 'visible' });
    ok('the waiting-only filter keeps the waiting run and hides the completed one');
    await page.locator(tid('filter-waiting')).uncheck();
    await doneRow.waitFor({ state: 'visible' });

    // ---- the completed run
    step = 'opening the completed run';
    await doneRow.click();
    await until('the run page of the completed run', async () => page.url().includes(`#/runs/${DONE}`));
    const detail = page.locator(`${tid('run-detail')}[data-run-id="${DONE}"]`);
    await detail.waitFor({ state: 'visible' });
    await until('the status badge of the completed run',
      async () => (await page.locator(tid('run-status')).getAttribute('data-status')) === 'completed');
    ok('the run page shows the completed status');
    const shownId = (await page.locator(tid('run-id')).textContent()) || '';
    check(shownId.trim() === done.id, 'the run page shows the run id', shownId);
    if (done.output !== null) {
      const out = await page.locator(tid('run-output')).textContent();
      check(out === done.output, 'the run page shows the output', out);
    }
    const rows = page.locator(tid('entry-row'));
    await until(`${doneEntries.length} timeline rows`, async () => (await rows.count()) === doneEntries.length);
    ok(`the timeline has one row per entry (${doneEntries.length})`);
    const shown = await rows.evaluateAll((trs) => trs.map((tr) => ({ seq: Number(tr.dataset.seq), kind: tr.dataset.kind, state: tr.dataset.state })));
    const expected = doneEntries.map((e) => ({ seq: e.seq, kind: e.kind, state: e.state }));
    check(JSON.stringify(shown) === JSON.stringify(expected), 'the rows match the entries in order (seq, kind, state)',
      `shown ${JSON.stringify(shown)}, API ${JSON.stringify(expected)}`);
    check(shown.every((r) => KINDS.includes(r.kind)), 'every row has a known kind');

    step = 'expanding an entry';
    // Prefer an entry with an object request (an LLM or tool call) to see pretty JSON.
    const target = doneEntries.find((e) => e.kind === 'llm')
      || doneEntries.find((e) => e.kind === 'tool')
      || doneEntries[0];
    check(Boolean(target), 'the completed run has an entry to expand');
    await page.locator(`${tid('entry-row')}[data-seq="${target.seq}"]`).click();
    const entryDetail = page.locator(`${tid('entry-detail')}[data-seq="${target.seq}"]`);
    await entryDetail.waitFor({ state: 'visible' });
    const reqText = (await entryDetail.locator(tid('entry-request')).textContent()) || '';
    const resText = (await entryDetail.locator(tid('entry-response')).textContent()) || '';
    let request;
    try { request = JSON.parse(target.request); } catch { request = undefined; }
    if (request && typeof request === 'object' && !Array.isArray(request)) {
      const keys = Object.keys(request);
      check(keys.every((k) => reqText.includes(JSON.stringify(k))),
        `the expanded #${target.seq} (${target.kind}) shows its request JSON`, `missing keys of ${keys.join(',')} in ${reqText.slice(0, 200)}`);
      check(reqText.includes('\n'), 'the request JSON is pretty-printed');
    } else {
      check(reqText.replace(/\s/g, '') === String(target.request).replace(/\s/g, ''),
        `the expanded #${target.seq} shows its request`, reqText.slice(0, 200));
    }
    check(resText.length > 0 && !resText.includes('no response yet'), 'the expanded entry shows its response', resText.slice(0, 200));

    step = 'taking the screenshot';
    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true, timeout: TIMEOUT });
    check(fs.statSync(SCREENSHOT).size > 1000, `a full-page screenshot is written to ${SCREENSHOT}`);

    // ---- the waiting run
    step = 'opening the waiting run';
    await page.locator(tid('nav-runs')).click();
    await waitRow.waitFor({ state: 'visible' });
    await waitRow.click();
    await page.locator(`${tid('run-detail')}[data-run-id="${WAITING}"]`).waitFor({ state: 'visible' });
    const panel = page.locator(`${tid('waiting-panel')}[data-kind="approval"]`);
    await panel.waitFor({ state: 'visible' });
    const waitName = (await panel.locator(tid('waiting-name')).textContent()) || '';
    check(waitName === waiting.waiting.name, 'the run page shows what the approval is for', waitName);
    await until('the event stream to connect (live indicator)',
      async () => (await page.locator(tid('live-indicator')).getAttribute('data-state')) === 'live');
    ok('the run page receives live events');
    const seq = waiting.waiting.seq;
    const waitEntry = page.locator(`${tid('entry-row')}[data-seq="${seq}"]`);
    await waitEntry.waitFor({ state: 'visible' });
    check(await waitEntry.getAttribute('data-state') === 'started', `the approval entry #${seq} is shown as started`);

    step = 'approving';
    await panel.locator(tid('approve-note')).fill('approved by the browser test');
    await panel.locator(tid('approve-button')).click();
    await until('the approval panel to go away', async () => (await page.locator(tid('waiting-panel')).count()) === 0);
    ok('the approval panel goes away after Approve');
    await until(`the approval entry #${seq} to turn completed in the page`,
      async () => (await waitEntry.getAttribute('data-state')) === 'completed');
    ok('the approval entry turns completed in the page, live');
    const banner = page.locator(tid('error-banner'));
    check(!(await banner.isVisible()), 'no error is shown', await banner.textContent());

    step = 'checking the approved run through the API';
    const after = await until('the API to show the run no longer waiting for the approval', async () => {
      const run = await api(`/v1/runs/${encodeURIComponent(WAITING)}`);
      return (!run.waiting || run.waiting.seq !== seq) ? run : null;
    });
    ok(`API: run ${WAITING} left the wait (now ${after.status})`);
    const entriesAfter = (await api(`/v1/runs/${encodeURIComponent(WAITING)}/entries`)).entries;
    const answered = entriesAfter.find((e) => e.seq === seq);
    check(answered && answered.state === 'completed' && String(answered.response).includes('approved by the browser test'),
      'API: the approval entry records the decision with the note', answered && answered.response);

    if (APPROVED_STATUS) {
      step = `waiting for ${APPROVED_STATUS}`;
      await until(`the page to show the run ${APPROVED_STATUS}`,
        async () => (await page.locator(tid('run-status')).getAttribute('data-status')) === APPROVED_STATUS);
      ok(`the page shows the approved run ${APPROVED_STATUS}, live`);
      const final = await until(`the API to show the run ${APPROVED_STATUS}`, async () => {
        const run = await api(`/v1/runs/${encodeURIComponent(WAITING)}`);
        return run.status === APPROVED_STATUS ? run : null;
      });
      const entriesFinal = (await api(`/v1/runs/${encodeURIComponent(WAITING)}/entries`)).entries;
      await until(`the page to show all ${entriesFinal.length} entries of the finished run`,
        async () => (await page.locator(tid('entry-row')).count()) === entriesFinal.length);
      ok(`the page shows every entry of the finished run (${entriesFinal.length})`);
      if (FINAL.includes(final.status)) {
        await until('the live indicator to say the run finished',
          async () => (await page.locator(tid('live-indicator')).getAttribute('data-state')) === 'final');
        ok('the event stream ends with the run');
      }
    }

    // ---- the token prompt
    if (TOKEN) {
      step = 'checking the token prompt';
      const fresh = await context.newPage(); // a new tab: no sessionStorage, so no token
      fresh.on('pageerror', (e) => pageErrors.push(e.message));
      await fresh.goto(`${BASE}/`, { timeout: TIMEOUT });
      await fresh.locator(tid('token-prompt')).waitFor({ state: 'visible' });
      ok('without a token the page asks for one (401)');
      await fresh.locator(tid('token-input')).fill(TOKEN);
      await fresh.locator(tid('token-save')).click();
      await fresh.locator(`${tid('run-row')}[data-run-id="${DONE}"]`).waitFor({ state: 'visible' });
      ok('after the token is entered the runs list loads');
      await fresh.close();
    }

    check(pageErrors.length === 0, 'the page threw no uncaught errors', pageErrors.join(' | '));
    console.log(`browser test: all ${passed} checks passed`);
  } finally {
    clearTimeout(hardStop);
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  if (e instanceof CheckFailed) {
    console.error(`FAIL (${step}): ${e.message}`);
  } else {
    console.error(`FAIL (${step}): ${e && e.stack ? e.stack : e}`);
  }
  process.exit(1);
});

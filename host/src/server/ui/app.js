// relive web console: the runs list and a run's timeline, served by `relive serve`.
//
// Plain JavaScript, no build step, no outside resources: the server embeds this file,
// index.html and style.css and serves them at /, /ui/app.js and /ui/style.css. Every
// URL is relative to the page, so the console also works under a path prefix.
//
// Why this file is long: with no build step there are no modules to split it into; it is
// the whole console (runs list, tree, timeline, answers, live updates, token prompt),
// in that order.
//
// Routes (hash): #/runs?status=&agent=&waiting=true   the runs list, filters in the URL
//                #/runs/ID                            one run: header, actions, timeline
// A token may come in the hash (#token=T, or #/runs/ID&token=T) or the query (?token=T);
// it is moved to sessionStorage and removed from the address bar. It is sent as
// `Authorization: Bearer T` on fetch, and as `?token=T` on EventSource (which cannot set
// headers). A 401 from the API opens a prompt for it.
//
// Everything the server returns is untrusted text (agent input and output, LLM
// answers): it is only ever put in the page through textContent, never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'relive.token';
  const BY_KEY = 'relive.by';
  const HIDE_LOCAL_KEY = 'relive.hideLocal';
  const LIST_POLL_MS = 2000;
  const RUN_POLL_MS = 2000;
  const HEALTH_POLL_MS = 10000;
  const STATUSES = ['running', 'suspended', 'completed', 'failed', 'diverged', 'uncertain', 'cancelled'];
  const FINAL = new Set(['completed', 'failed', 'diverged', 'cancelled']);
  const WAIT_KINDS = new Set(['approval', 'timer', 'signal', 'join']);
  const LOCAL_KINDS = new Set(['clock', 'random']);
  const PRETTY_LIMIT = 400000; // characters; longer JSON is shown as it is, unhighlighted

  // ------------------------------------------------------------------ DOM helpers

  /** Builds an element: h('div', {class: 'x', 'data-testid': 'y', onclick: fn}, child...). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value === undefined || value === null || value === false) continue;
        if (key.startsWith('on') && typeof value === 'function') {
          el.addEventListener(key.slice(2), value);
        } else if (key === 'class') {
          el.className = value;
        } else if (key === 'text') {
          el.textContent = value;
        } else if (key === 'value') {
          el.value = value;
        } else if (value === true) {
          el.setAttribute(key, '');
        } else {
          el.setAttribute(key, String(value));
        }
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ token

  const auth = {
    get token() {
      try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
    },
    set token(value) {
      try {
        if (value) sessionStorage.setItem(TOKEN_KEY, value);
        else sessionStorage.removeItem(TOKEN_KEY);
      } catch { /* storage disabled: the token lives as long as the page */ }
    },
  };

  /** Moves a token found in the hash into sessionStorage; returns the hash without it. */
  function takeTokenFromHash() {
    const search = new URLSearchParams(location.search);
    if (search.has('token')) {
      // `/?token=T` works too; it is removed from the address bar like the hash form.
      auth.token = search.get('token');
      search.delete('token');
      const rest = search.toString();
      history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }
    const raw = location.hash.replace(/^#/, '');
    const match = raw.match(/(^|[?&])token=([^&]*)/);
    if (!match) return raw;
    try { auth.token = decodeURIComponent(match[2]); } catch { auth.token = match[2]; }
    let rest = raw.slice(0, match.index) + raw.slice(match.index + match[0].length);
    rest = rest.replace(/^[?&]/, '').replace(/[?&]$/, '');
    if (rest && !rest.startsWith('/')) rest = '/runs?' + rest;
    history.replaceState(null, '', location.pathname + location.search + '#' + (rest || '/runs'));
    return rest || '/runs';
  }

  // ------------------------------------------------------------------ API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** A request body that is already JSON text: sent as it is, so numbers keep every digit. */
  class RawJson {
    constructor(text) { this.text = text; }
  }

  /** Calls the API; resolves with the parsed JSON body, or throws an ApiError. */
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const token = auth.token;
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = body instanceof RawJson ? body.text : JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network',
        'cannot reach the relive server (' + e.message + '); check that `relive serve` is running');
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const err = data && data.error;
      const message = err && err.message
        ? err.message
        : `${response.status} ${response.statusText}${text ? ': ' + text.slice(0, 200) : ''}`;
      const error = new ApiError(response.status, (err && err.code) || 'http_' + response.status, message);
      if (response.status === 401) tokenPrompt.open(message);
      throw error;
    }
    return data;
  }

  const enc = encodeURIComponent;

  function withToken(url) {
    const token = auth.token;
    if (!token) return url;
    return url + (url.includes('?') ? '&' : '?') + 'token=' + enc(token);
  }

  // ------------------------------------------------------------------ messages

  const banner = {
    key: null,
    show(message, key) {
      this.key = key || 'action';
      $('banner-text').textContent = message;
      $('banner').hidden = false;
    },
    clear(key) {
      if (key && this.key !== key) return;
      this.key = null;
      $('banner').hidden = true;
    },
    error(e, key) {
      if (e instanceof ApiError && e.status === 401) return; // the token prompt says it
      const code = e instanceof ApiError && e.code && e.code !== 'network' ? ` (${e.code})` : '';
      this.show((e && e.message ? e.message : String(e)) + code, key);
    },
  };

  let toastTimer = null;
  function toast(message) {
    const el = $('toast');
    el.textContent = message;
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 3500);
  }

  const tokenPrompt = {
    open(reason) {
      const modal = $('token-modal');
      $('token-reason').textContent = reason || 'This server requires a bearer token.';
      if (!modal.hidden) return;
      $('token-input').value = auth.token;
      modal.hidden = false;
      $('token-input').focus();
    },
    close() {
      $('token-modal').hidden = true;
    },
  };

  // ------------------------------------------------------------------ formatting

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function fmtTime(ms) {
    if (ms === null || ms === undefined) return '—';
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function isoTime(ms) {
    if (ms === null || ms === undefined) return '';
    try { return new Date(ms).toISOString(); } catch { return ''; }
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
    if (ms < 0) ms = 0;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    const s = Math.floor(ms / 1000);
    if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor(s / 3600) % 24}h`;
  }

  function fmtAgo(ms) {
    if (!ms) return '—';
    const d = Date.now() - ms;
    if (d < -5000) return 'in ' + fmtDuration(-d);
    if (d < 5000) return 'just now';
    if (d < 60000) return `${Math.floor(d / 1000)} s ago`;
    if (d < 3600000) return `${Math.floor(d / 60000)} min ago`;
    if (d < 86400000) return `${Math.floor(d / 3600000)} h ago`;
    return `${Math.floor(d / 86400000)} d ago`;
  }

  function fmtUntil(ms) {
    const d = ms - Date.now();
    return d > 0 ? 'in ' + fmtDuration(d) : 'due now';
  }

  function fmtCount(n) {
    return typeof n === 'number' ? n.toLocaleString('en-US') : '—';
  }

  function fmtTokens(tokens) {
    if (!tokens || (!tokens.input && !tokens.output)) return '—';
    return `${fmtCount(tokens.input)} / ${fmtCount(tokens.output)}`;
  }

  function fmtCost(cost) {
    if (cost === null || cost === undefined) return '—';
    if (cost === 0) return '0';
    return cost < 0.01 ? cost.toFixed(6) : cost.toFixed(4);
  }

  function shortDigest(digest) {
    if (!digest) return '—';
    const m = String(digest).match(/^(sha256:)?([0-9a-f]+)$/i);
    return m ? 'sha256:' + m[2].slice(0, 12) : digest;
  }

  function oneLine(text, max = 400) {
    const s = String(text ?? '').replace(/\s+/g, ' ').trim();
    return s.length > max ? s.slice(0, max - 1) + '…' : s;
  }

  function tryParse(text) {
    if (text === null || text === undefined) return undefined;
    try { return JSON.parse(text); } catch { return undefined; }
  }

  function waitingText(w) {
    if (!w) return '';
    switch (w.kind) {
      case 'approval': return `approval of ${w.name}`;
      case 'timer': return w.until_ms ? `timer, ${fmtUntil(w.until_ms)}` : 'timer';
      case 'signal': return `signal ${w.name}` + (w.until_ms ? ` (times out ${fmtUntil(w.until_ms)})` : '');
      case 'join': return `child runs ${w.details || ''}`.trim();
      default: return `${w.kind} ${w.name || ''}`.trim();
    }
  }

  function statusBadge(status, testid = 'status-badge') {
    return h('span', {
      class: 'badge status-' + status, 'data-testid': testid, 'data-status': status,
    }, status);
  }

  function kindBadge(kind) {
    return h('span', { class: 'kind kind-' + kind, 'data-testid': 'entry-kind' }, kind);
  }

  // ------------------------------------------------------------------ JSON view

  // Pretty-prints JSON text without JSON.parse round-tripping the values: numbers keep
  // their exact digits (journal values such as a random u64 or a wall clock in ns do not
  // fit a double). A string that itself holds a JSON object or array (tool results do)
  // is shown expanded, marked as such.

  function parseTree(text) {
    let i = 0;
    const n = text.length;
    const fail = () => { throw new Error('not JSON at ' + i); };
    const ws = () => { while (i < n && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++; };
    const expect = (ch) => { ws(); if (text[i] !== ch) fail(); i++; };
    function str() {
      if (text[i] !== '"') fail();
      const start = i++;
      while (i < n) {
        const c = text[i];
        if (c === '\\') i += 2;
        else if (c === '"') { i++; return { t: 'str', raw: text.slice(start, i) }; }
        else i++;
      }
      return fail();
    }
    function value() {
      ws();
      const c = text[i];
      if (c === '{' || c === '[') {
        const close = c === '{' ? '}' : ']';
        const items = [];
        i++;
        ws();
        if (text[i] === close) { i++; return { t: c, items }; }
        for (;;) {
          ws();
          if (c === '{') {
            const key = str();
            expect(':');
            items.push([key.raw, value()]);
          } else {
            items.push([null, value()]);
          }
          ws();
          if (text[i] === ',') { i++; continue; }
          expect(close);
          return { t: c, items };
        }
      }
      if (c === '"') return str();
      const start = i;
      while (i < n && !',]}: \t\r\n'.includes(text[i])) i++;
      if (start === i) fail();
      return { t: 'lit', raw: text.slice(start, i) };
    }
    const root = value();
    ws();
    if (i !== n) fail();
    return root;
  }

  function embeddedJson(raw, depth) {
    if (depth > 2 || raw.length < 4) return null;
    let inner;
    try { inner = JSON.parse(raw); } catch { return null; }
    const trimmed = inner.trim();
    if (!(trimmed.startsWith('{') || trimmed.startsWith('['))) return null;
    try { JSON.parse(trimmed); return parseTree(trimmed); } catch { return null; }
  }

  function renderTree(node, out, indent, depth) {
    const span = (cls, text) => out.append(h('span', { class: cls }, text));
    const text = (t) => out.append(document.createTextNode(t));
    if (node.t === '{' || node.t === '[') {
      const [open, close] = node.t === '{' ? ['{', '}'] : ['[', ']'];
      if (!node.items.length) { span('j-punc', open + close); return; }
      span('j-punc', open);
      const inner = indent + '  ';
      node.items.forEach(([key, child], idx) => {
        text('\n' + inner);
        if (key !== null) { span('j-key', key); span('j-punc', ': '); }
        renderTree(child, out, inner, depth);
        if (idx < node.items.length - 1) span('j-punc', ',');
      });
      text('\n' + indent);
      span('j-punc', close);
    } else if (node.t === 'str') {
      const nested = embeddedJson(node.raw, depth);
      if (nested) {
        out.append(h('span', { class: 'j-embed', title: 'a string that holds a JSON document, shown parsed' }, 'json'));
        text(' ');
        renderTree(nested, out, indent, depth + 1);
      } else {
        span('j-str', node.raw);
      }
    } else {
      const raw = node.raw;
      span(raw === 'true' || raw === 'false' || raw === 'null' ? 'j-lit' : 'j-num', raw);
    }
  }

  /** A <pre> showing `text` pretty-printed when it is JSON, as it is otherwise. */
  function jsonView(text, testid) {
    const pre = h('pre', { class: 'json', 'data-testid': testid });
    if (text === null || text === undefined) {
      pre.classList.add('json-none');
      pre.textContent = '— no response yet —';
      return pre;
    }
    if (text.length > PRETTY_LIMIT) {
      pre.textContent = text;
      return pre;
    }
    try {
      JSON.parse(text);
      renderTree(parseTree(text), pre, '', 0);
    } catch {
      pre.textContent = text;
    }
    return pre;
  }

  // ------------------------------------------------------------------ entry summaries

  /** {Ok: x} / {Err: {kind, message}} → [text, isError]. */
  function resultSummary(value, rawResponse) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      if ('Err' in value) {
        const err = value.Err;
        if (err && typeof err === 'object') {
          return [`error${err.kind ? ' (' + err.kind + ')' : ''}: ${err.message ?? JSON.stringify(err)}`, true];
        }
        return ['error: ' + String(err), true];
      }
      if ('Ok' in value) {
        const ok = value.Ok;
        return [typeof ok === 'string' ? ok : JSON.stringify(ok), false];
      }
    }
    return [rawResponse ?? '', false];
  }

  function llmSummary(value, raw) {
    if (value && typeof value === 'object' && 'Ok' in value && value.Ok && typeof value.Ok === 'object') {
      const message = value.Ok.message || {};
      const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
      if (calls.length) {
        return ['calls ' + calls.map((c) => `${c.name ?? '?'}(${typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? '')})`).join(', '), false];
      }
      return [message.content ?? '', false];
    }
    return resultSummary(value, raw);
  }

  /**
   * What a timeline row says about an entry: [request part, response part, isError].
   * Requests are shown from their raw text so that large numbers keep their digits.
   */
  function summarize(entry, stream) {
    const req = tryParse(entry.request);
    const res = tryParse(entry.response);
    const pending = entry.response === null || entry.response === undefined;
    const raw = entry.response ?? '';
    switch (entry.kind) {
      case 'llm': {
        const msgs = req && Array.isArray(req.messages) ? req.messages : [];
        const last = msgs.length ? msgs[msgs.length - 1] : null;
        const ask = last ? `${last.role}: ${last.content ?? ''}` : entry.request;
        if (pending) return [ask, stream ? stream : 'waiting for the model…', false];
        const [text, isErr] = llmSummary(res, raw);
        return [ask, text, isErr];
      }
      case 'tool': {
        if (pending) return [entry.request, 'running…', false];
        const [text, isErr] = resultSummary(res, raw);
        return [entry.request, text, isErr];
      }
      case 'log':
        return [req && typeof req.message === 'string' ? req.message : entry.request, '', false];
      case 'approval': {
        const details = req && typeof req.details === 'string' ? req.details : entry.request;
        if (pending) return [details, 'waiting for a decision', false];
        if (res && res.decision === 'approved') {
          return [details, `approved${res.by ? ' by ' + res.by : ''}${res.note ? ' — ' + res.note : ''}${res.details ? ' (details replaced)' : ''}`, false];
        }
        if (res && res.decision === 'rejected') {
          return [details, `rejected${res.by ? ' by ' + res.by : ''}${res.reason ? ': ' + res.reason : ''}`, true];
        }
        return [details, raw, false];
      }
      case 'timer': {
        const until = req && typeof req.until_ms === 'number' ? 'until ' + fmtTime(req.until_ms) : entry.request;
        return [until, pending ? 'sleeping' : raw, false];
      }
      case 'spawn': {
        const input = req && typeof req.input === 'string' ? `${entry.name}: ${req.input}` : entry.request;
        if (pending) return [input, 'starting…', false];
        if (res && res.child) return [input, 'child run ' + res.child, false];
        return [input, res && res.denied ? 'denied: ' + res.denied : raw, !!(res && res.denied)];
      }
      case 'join': {
        const children = req && Array.isArray(req.children) ? req.children.join(', ') : entry.request;
        if (pending) return [children, 'waiting for the children', false];
        const results = res && Array.isArray(res.results) ? res.results : [];
        const failed = results.filter((r) => r.outcome !== 'completed').length;
        return [children, `${results.length - failed} completed` + (failed ? `, ${failed} not` : ''), failed > 0];
      }
      case 'signal': {
        const name = req && req.name ? req.name : entry.name;
        const timeout = req && req.timeout_ms ? ` (timeout ${fmtDuration(req.timeout_ms)})` : '';
        return [name + timeout, pending ? 'waiting for the signal' : raw, false];
      }
      default: {
        const showReq = entry.request && entry.request !== 'null' ? entry.request : '';
        return [showReq, pending ? '…' : raw, false];
      }
    }
  }

  function entryDuration(entry) {
    if (entry.finished_at_ms === null || entry.finished_at_ms === undefined) return null;
    return entry.finished_at_ms - entry.started_at_ms;
  }

  function entryStateLabel(entry) {
    if (entry.state === 'completed') return 'completed';
    if (entry.resolution) return 'resolved';
    return WAIT_KINDS.has(entry.kind) ? 'waiting' : 'in flight';
  }

  // ------------------------------------------------------------------ views

  let current = null; // the mounted view: {el, unmount()}

  function setCrumbs(...parts) {
    const nav = $('crumbs');
    nav.replaceChildren();
    parts.forEach((part, idx) => {
      if (idx) nav.append(h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '/'));
      nav.append(part);
    });
  }

  // ---------------- runs list

  function runsView(params) {
    const filters = {
      status: STATUSES.includes(params.get('status')) ? params.get('status') : '',
      agent: params.get('agent') || '',
      waiting: params.get('waiting') === 'true' || params.get('waiting') === '1',
    };
    const rows = new Map(); // run id → {tr, key}
    const agents = new Set();
    let timer = null;
    let inFlight = false;
    let stopped = false;
    let lastCount = null;

    setCrumbs(h('a', { href: '#/runs', class: 'crumb' }, 'Runs'));
    document.title = 'Runs · relive';

    const statusButtons = ['', ...STATUSES].map((s) => h('button', {
      type: 'button',
      class: 'seg' + (filters.status === s ? ' active' : ''),
      'data-testid': 'filter-status-' + (s || 'all'),
      'data-status': s,
      'aria-pressed': filters.status === s ? 'true' : 'false',
      onclick: () => {
        filters.status = s;
        statusButtons.forEach((b) => {
          const on = b.dataset.status === s;
          b.classList.toggle('active', on);
          b.setAttribute('aria-pressed', on ? 'true' : 'false');
        });
        changed();
      },
    }, s ? [h('span', { class: 'dot status-' + s }), s] : 'all'));

    const agentList = h('datalist', { id: 'agents-list' });
    const agentInput = h('input', {
      type: 'search', class: 'input', placeholder: 'agent', value: filters.agent,
      list: 'agents-list', 'data-testid': 'filter-agent', 'aria-label': 'Filter by agent', spellcheck: 'false',
    });
    let agentTimer = null;
    agentInput.addEventListener('input', () => {
      clearTimeout(agentTimer);
      agentTimer = setTimeout(() => { filters.agent = agentInput.value.trim(); changed(); }, 250);
    });

    const waitingBox = h('input', { type: 'checkbox', 'data-testid': 'filter-waiting', checked: filters.waiting });
    waitingBox.addEventListener('change', () => { filters.waiting = waitingBox.checked; changed(); });

    const countLabel = h('span', { class: 'muted small', 'data-testid': 'runs-count' });
    const updatedLabel = h('span', { class: 'muted small refresh-state', 'data-testid': 'runs-refreshed' });

    const newRun = newRunForm(agents);
    const newRunButton = h('button', {
      type: 'button', class: 'btn btn-primary btn-small', 'data-testid': 'new-run-button',
      onclick: () => newRun.toggle(),
    }, '+ New run');

    const tbody = h('tbody', { 'data-testid': 'runs-body' });
    const empty = h('div', { class: 'empty', 'data-testid': 'runs-empty', hidden: true });
    const table = h('table', { class: 'grid runs', 'data-testid': 'runs-table' },
      h('thead', null, h('tr', null,
        h('th', { class: 'col-status' }, 'Status'),
        h('th', { class: 'col-id' }, 'Run'),
        h('th', null, 'Agent'),
        h('th', { class: 'col-input' }, 'Input'),
        h('th', null, 'Waiting for'),
        h('th', { class: 'num' }, 'Entries'),
        h('th', { class: 'num' }, 'Tokens in / out'),
        h('th', { class: 'num' }, 'Cost'),
        h('th', null, 'Created'),
        h('th', null, 'Updated'))),
      tbody);

    const el = h('section', { class: 'page', 'data-testid': 'runs-page' },
      h('div', { class: 'page-head' },
        h('h1', null, 'Runs'),
        countLabel,
        h('span', { class: 'spacer' }),
        updatedLabel,
        newRunButton),
      newRun.el,
      h('div', { class: 'toolbar' },
        h('div', { class: 'segmented', role: 'group', 'aria-label': 'Filter by status' }, statusButtons),
        agentInput, agentList,
        h('label', { class: 'check' }, waitingBox, 'waiting only')),
      h('div', { class: 'table-wrap' }, table, empty));

    function query() {
      const q = new URLSearchParams();
      if (filters.status) q.set('status', filters.status);
      if (filters.agent) q.set('agent', filters.agent);
      if (filters.waiting) q.set('waiting', 'true');
      return q;
    }

    function changed() {
      const q = query().toString();
      history.replaceState(null, '', '#/runs' + (q ? '?' + q : ''));
      rows.forEach(({ tr }) => tr.remove());
      rows.clear();
      lastCount = null;
      refresh();
    }

    // Each child run right under the run that started it (its children
    // oldest first, as `relive runs` prints a tree); a run whose parent is
    // not in the list keeps the server's order (newest first).
    function treeOrder(runs) {
      const listed = new Set(runs.map((r) => r.id));
      const kids = new Map();
      for (const r of runs) {
        if (r.parent && listed.has(r.parent)) {
          if (!kids.has(r.parent)) kids.set(r.parent, []);
          kids.get(r.parent).push(r);
        }
      }
      const out = [];
      const visit = (r, depth) => {
        out.push([r, depth]);
        for (const c of (kids.get(r.id) || []).slice().reverse()) visit(c, depth + 1);
      };
      for (const r of runs) if (!(r.parent && listed.has(r.parent))) visit(r, 0);
      return out;
    }

    function rowFor(run, depth) {
      const open = () => { location.hash = '#/runs/' + enc(run.id); };
      const tr = h('tr', {
        class: 'run-row', 'data-testid': 'run-row', 'data-run-id': run.id, 'data-status': run.status,
        tabindex: '0',
        onclick: (ev) => { if (!ev.target.closest('a')) open(); },
        onkeydown: (ev) => { if (ev.key === 'Enter') open(); },
      },
      h('td', null, statusBadge(run.status)),
      h('td', { class: 'mono' }, run.parent ? h('span', {
        class: 'child-mark depth-' + Math.min(Math.max(depth, 1), 4), title: 'started by ' + run.parent,
      }, '└ ') : '',
        h('a', { href: '#/runs/' + enc(run.id), 'data-testid': 'run-link' }, run.id)),
      h('td', { class: 'agent' }, run.agent),
      h('td', { class: 'col-input clip', title: oneLine(run.input, 2000) }, oneLine(run.input, 200)),
      h('td', { class: 'waiting-cell', 'data-testid': 'run-waiting' },
        run.waiting ? h('span', { class: 'wait-tag wait-' + run.waiting.kind }, waitingText(run.waiting)) : ''),
      h('td', { class: 'num' }, fmtCount(run.entries)),
      h('td', { class: 'num' }, fmtTokens(run.tokens)),
      h('td', { class: 'num' }, fmtCost(run.cost)),
      h('td', { class: 'time', title: isoTime(run.created_at_ms) }, fmtTime(run.created_at_ms)),
      h('td', { class: 'time ago', title: isoTime(run.updated_at_ms), 'data-ms': run.updated_at_ms }, fmtAgo(run.updated_at_ms)));
      return tr;
    }

    function render(runs) {
      const seen = new Set();
      let prev = null;
      for (const [run, depth] of treeOrder(runs)) {
        seen.add(run.id);
        if (run.agent && !agents.has(run.agent)) {
          agents.add(run.agent);
          agentList.append(h('option', { value: run.agent }));
        }
        const key = JSON.stringify([run, depth]);
        let row = rows.get(run.id);
        if (!row || row.key !== key) {
          const tr = rowFor(run, depth);
          if (row) row.tr.replaceWith(tr);
          row = { tr, key };
          rows.set(run.id, row);
        }
        // Keep the tree's order while touching as few rows as possible.
        const expected = prev ? prev.nextSibling : tbody.firstChild;
        if (expected !== row.tr) tbody.insertBefore(row.tr, expected);
        prev = row.tr;
      }
      for (const [id, row] of rows) {
        if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
      }
      tbody.querySelectorAll('td.ago').forEach((td) => { td.textContent = fmtAgo(Number(td.dataset.ms)); });
      const filtered = filters.status || filters.agent || filters.waiting;
      empty.hidden = runs.length > 0;
      empty.replaceChildren(filtered
        ? 'No runs match these filters.'
        : h('span', null, 'No runs yet. Start one with ', h('b', null, '+ New run'), ', ',
          h('code', null, 'POST /v1/runs'), ' or ', h('code', null, 'relive run AGENT'), '.'));
      if (runs.length !== lastCount) {
        lastCount = runs.length;
        countLabel.textContent = runs.length === 100 ? 'newest 100 runs' : `${runs.length} run${runs.length === 1 ? '' : 's'}`;
      }
      updatedLabel.textContent = 'updated ' + new Date().toLocaleTimeString();
    }

    async function refresh() {
      if (inFlight || stopped) return;
      inFlight = true;
      try {
        const q = query();
        q.set('limit', '100');
        const data = await api('GET', 'v1/runs?' + q.toString());
        if (!stopped) {
          render((data && data.runs) || []);
          banner.clear('poll');
        }
      } catch (e) {
        if (!stopped) banner.error(e, 'poll');
      } finally {
        inFlight = false;
      }
    }

    function tick() {
      if (!document.hidden) refresh();
      timer = setTimeout(tick, LIST_POLL_MS);
    }

    refresh();
    timer = setTimeout(tick, LIST_POLL_MS);
    const onVisible = () => { if (!document.hidden) refresh(); };
    document.addEventListener('visibilitychange', onVisible);

    return {
      el,
      refresh,
      unmount() {
        stopped = true;
        clearTimeout(timer);
        clearTimeout(agentTimer);
        document.removeEventListener('visibilitychange', onVisible);
      },
    };
  }

  function newRunForm(agents) {
    const agent = h('input', { class: 'input', placeholder: 'agent name', list: 'agents-list', 'data-testid': 'new-run-agent', required: true, spellcheck: 'false' });
    const input = h('textarea', { class: 'input', rows: '3', placeholder: 'input for the agent', 'data-testid': 'new-run-input' });
    const component = h('input', { class: 'input mono', placeholder: 'sha256:… (optional: default is the agent\'s configured component)', 'data-testid': 'new-run-component', spellcheck: 'false' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'new-run-submit' }, 'Start run');
    const form = h('form', { class: 'card new-run', 'data-testid': 'new-run-form', hidden: true },
      h('div', { class: 'form-grid' },
        h('label', { class: 'field' }, h('span', null, 'Agent'), agent),
        h('label', { class: 'field' }, h('span', null, 'Component'), component),
        h('label', { class: 'field span-2' }, h('span', null, 'Input'), input)),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { form.hidden = true; } }, 'Close'),
        submit));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { agent: agent.value.trim(), input: input.value };
      if (!body.agent) { banner.show('Say which agent to run: the name of an [agents.NAME] table in relive.toml.'); return; }
      if (component.value.trim()) body.component = component.value.trim();
      submit.disabled = true;
      try {
        const run = await api('POST', 'v1/runs', body);
        banner.clear();
        toast(`Started run ${run.id}`);
        location.hash = '#/runs/' + enc(run.id);
      } catch (e) {
        banner.error(e);
      } finally {
        submit.disabled = false;
      }
    });
    return {
      el: form,
      toggle() {
        form.hidden = !form.hidden;
        if (!form.hidden) {
          if (!agent.value && agents.size === 1) agent.value = [...agents][0];
          (agent.value ? input : agent).focus();
        }
      },
    };
  }

  // ---------------- one run

  function runView(id) {
    const s = {
      run: null,
      entries: new Map(), // seq → entry
      streams: new Map(), // seq → streamed LLM text
      retries: new Map(), // seq → latest retry message
      expanded: new Set(),
      rows: new Map(), // seq → {tr, detail, key}
      es: null,
      live: 'connecting',
      stopped: false,
      pollTimer: null,
      tickTimer: null,
      runRefreshTimer: null,
      waitKey: null,
      hideLocal: (() => { try { return localStorage.getItem(HIDE_LOCAL_KEY) === '1'; } catch { return false; } })(),
    };

    setCrumbs(h('a', { href: '#/runs', class: 'crumb' }, 'Runs'), h('span', { class: 'crumb mono' }, id));
    document.title = `${id} · relive`;

    const head = h('div', { class: 'run-head' });
    const facts = h('dl', { class: 'facts', 'data-testid': 'run-facts' });
    const io = h('div', { class: 'io' });
    const waitSlot = h('div', { class: 'wait-slot' });
    const liveBadge = h('span', { class: 'live', 'data-testid': 'live-indicator' });
    const entriesCount = h('span', { class: 'muted small', 'data-testid': 'entries-count' });
    const tbody = h('tbody', { 'data-testid': 'timeline-body' });
    const emptyTimeline = h('div', { class: 'empty', hidden: true }, 'No entries yet.');
    const hideLocalBox = h('input', { type: 'checkbox', 'data-testid': 'toggle-local', checked: s.hideLocal });
    const cancelSlot = h('div', { class: 'cancel-slot' });

    const timeline = h('table', { class: 'grid timeline', 'data-testid': 'timeline' },
      h('thead', null, h('tr', null,
        h('th', { class: 'num col-seq' }, '#'),
        h('th', { class: 'col-kind' }, 'Kind'),
        h('th', { class: 'col-name' }, 'Name'),
        h('th', { class: 'col-state' }, 'State'),
        h('th', { class: 'num col-at' }, 'At'),
        h('th', { class: 'num col-dur' }, 'Duration'),
        h('th', { class: 'num col-tok' }, 'Tokens'),
        h('th', null, 'Request → response'))),
      tbody);

    const el = h('section', { class: 'page', 'data-testid': 'run-detail', 'data-run-id': id },
      head, facts, io, waitSlot,
      h('div', { class: 'section-head' },
        h('h2', null, 'Timeline'), entriesCount,
        h('span', { class: 'spacer' }),
        h('label', { class: 'check' }, hideLocalBox, 'hide clock & random'),
        h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'collapse-all', onclick: () => { s.expanded.clear(); renderTimeline(true); } }, 'Collapse all'),
        liveBadge),
      h('div', { class: 'table-wrap' }, timeline, emptyTimeline));

    hideLocalBox.addEventListener('change', () => {
      s.hideLocal = hideLocalBox.checked;
      try { localStorage.setItem(HIDE_LOCAL_KEY, s.hideLocal ? '1' : '0'); } catch { /* ignore */ }
      renderTimeline(true);
    });

    // ---- header

    function setRun(run) {
      if (!run || s.stopped) return;
      const before = s.run;
      s.run = run;
      if (!before && run.id !== id) {
        // Opened by a prefix: show and link the full id.
        el.dataset.runId = run.id;
        history.replaceState(null, '', '#/runs/' + enc(run.id));
        setCrumbs(h('a', { href: '#/runs', class: 'crumb' }, 'Runs'), h('span', { class: 'crumb mono' }, run.id));
        document.title = `${run.id} · relive`;
      }
      el.dataset.status = run.status;
      renderHead();
      renderFacts();
      renderIo();
      renderWaiting();
      renderCancel();
      if (!before || before.created_at_ms !== run.created_at_ms) renderTimeline(true);
      if (FINAL.has(run.status) && s.es) closeStream('final');
      if (FINAL.has(run.status) && !s.es) setLive('final');
    }

    function renderHead() {
      const run = s.run;
      head.replaceChildren(
        h('div', { class: 'run-title' },
          statusBadge(run.status, 'run-status'),
          h('h1', { class: 'mono', 'data-testid': 'run-id' }, run.id),
          h('button', {
            type: 'button', class: 'btn btn-ghost btn-small', title: 'Copy the run id',
            onclick: () => copyText(run.id, 'Run id copied'),
          }, 'Copy'),
          h('span', { class: 'run-agent', 'data-testid': 'run-agent' }, run.agent)),
        h('span', { class: 'spacer' }),
        cancelSlot);
    }

    function renderFacts() {
      const run = s.run;
      const fact = (label, value, attrs) => h('div', { class: 'fact' }, h('dt', null, label), h('dd', attrs || null, value));
      const elapsed = (FINAL.has(run.status) ? run.updated_at_ms : Date.now()) - run.created_at_ms;
      facts.replaceChildren(...[
        fact('Component', h('span', { class: 'mono', title: run.component }, shortDigest(run.component)), { 'data-testid': 'run-component' }),
        fact('Created', h('span', { title: isoTime(run.created_at_ms) }, fmtTime(run.created_at_ms))),
        fact('Updated', h('span', { title: isoTime(run.updated_at_ms) }, fmtAgo(run.updated_at_ms))),
        fact(FINAL.has(run.status) ? 'Took' : 'Age', fmtDuration(elapsed)),
        fact('Entries', fmtCount(run.entries), { 'data-testid': 'run-entries' }),
        fact('Tokens in / out', fmtTokens(run.tokens), { 'data-testid': 'run-tokens' }),
        fact('Cost', fmtCost(run.cost), { 'data-testid': 'run-cost' }),
        fact('Waiting for', run.waiting ? waitingText(run.waiting) : '—', { 'data-testid': 'run-waiting' }),
        ...(run.parent ? [fact('Started by', h('a', { href: '#/runs/' + enc(run.parent), class: 'mono', 'data-testid': 'run-parent' }, run.parent))] : []),
        ...(run.children && run.children.length ? [fact('Child runs', h('ul', { class: 'children', 'data-testid': 'run-children' },
          ...run.children.map((c) => h('li', null,
            statusBadge(c.status, 'child-status'), ' ',
            h('a', { href: '#/runs/' + enc(c.id), class: 'mono', 'data-testid': 'child-link' }, c.id), ' ', c.agent))))] : []),
      ]);
    }

    function renderIo() {
      const run = s.run;
      const block = (label, text, testid, cls) => h('div', { class: 'io-block ' + (cls || '') },
        h('div', { class: 'io-label' }, label,
          h('button', { type: 'button', class: 'link-btn', onclick: () => copyText(text, label + ' copied') }, 'copy')),
        h('pre', { class: 'io-text', 'data-testid': testid }, text));
      const parts = [block('Input', run.input ?? '', 'run-input')];
      if (run.output !== null && run.output !== undefined) parts.push(block('Output', run.output, 'run-output', 'io-ok'));
      if (run.error !== null && run.error !== undefined) parts.push(block('Error', run.error, 'run-error', 'io-err'));
      if (parts.length === 1 && !FINAL.has(run.status)) {
        parts.push(h('div', { class: 'io-block io-pending' },
          h('div', { class: 'io-label' }, 'Output'),
          h('pre', { class: 'io-text muted' }, run.status === 'suspended' ? 'suspended — see below' : 'not finished yet')));
      }
      io.replaceChildren(...parts);
    }

    // ---- actions

    async function act(button, method, path, body, done) {
      const buttons = el.querySelectorAll('.wait-panel button, .cancel-slot button');
      buttons.forEach((b) => { b.disabled = true; });
      button.classList.add('busy');
      try {
        const run = await api(method, path, body);
        banner.clear();
        toast(done);
        setRun(run);
        scheduleRunRefresh(300);
      } catch (e) {
        banner.error(e);
      } finally {
        button.classList.remove('busy');
        buttons.forEach((b) => { b.disabled = false; });
      }
    }

    function byInput(testid) {
      let saved = '';
      try { saved = localStorage.getItem(BY_KEY) || ''; } catch { /* ignore */ }
      const input = h('input', { class: 'input', placeholder: 'by (optional, e.g. your name)', value: saved, 'data-testid': testid, spellcheck: 'false' });
      input.addEventListener('change', () => { try { localStorage.setItem(BY_KEY, input.value.trim()); } catch { /* ignore */ } });
      return input;
    }

    function renderWaiting() {
      const w = s.run.waiting;
      const key = w ? `${w.seq}:${w.kind}:${w.name}` : null;
      if (key === s.waitKey) {
        const due = waitSlot.querySelector('[data-testid="timer-due"]');
        if (due && w && w.until_ms) due.textContent = fmtUntil(w.until_ms);
        return;
      }
      s.waitKey = key;
      if (!w) { waitSlot.replaceChildren(); return; }
      const path = 'v1/runs/' + enc(s.run.id);
      let panel;
      if (w.kind === 'approval') {
        const note = h('textarea', { class: 'input', rows: '2', placeholder: 'note (optional)', 'data-testid': 'approve-note' });
        const details = h('textarea', { class: 'input mono', rows: '4', 'data-testid': 'approve-details', value: w.details ?? '' });
        const by = byInput('approve-by');
        const reason = h('textarea', { class: 'input', rows: '2', placeholder: 'reason (required: the agent receives it)', 'data-testid': 'reject-reason' });
        const approve = h('button', { type: 'button', class: 'btn btn-approve', 'data-testid': 'approve-button' }, 'Approve');
        const reject = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'reject-button' }, 'Reject');
        approve.addEventListener('click', () => {
          const body = {};
          if (note.value.trim()) body.note = note.value.trim();
          if (by.value.trim()) body.by = by.value.trim();
          if (details.value !== (w.details ?? '')) body.details = details.value;
          act(approve, 'POST', path + '/approve', body, `Approved ${w.name}`);
        });
        reject.addEventListener('click', () => {
          if (!reason.value.trim()) {
            banner.show('Give a reason to reject: the agent receives it.');
            reason.focus();
            return;
          }
          const body = { reason: reason.value.trim() };
          if (by.value.trim()) body.by = by.value.trim();
          act(reject, 'POST', path + '/reject', body, `Rejected ${w.name}`);
        });
        panel = h('div', { class: 'wait-panel wait-approval', 'data-testid': 'waiting-panel', 'data-kind': 'approval' },
          h('div', { class: 'wait-title' },
            h('span', { class: 'wait-icon', 'aria-hidden': 'true' }),
            'Waiting for approval of ', h('code', { 'data-testid': 'waiting-name' }, w.name),
            h('span', { class: 'muted small' }, `entry #${w.seq}`)),
          h('div', { class: 'wait-body' },
            h('div', { class: 'wait-details' },
              h('div', { class: 'io-label' }, 'Details: what the agent asks to do'),
              h('pre', { class: 'io-text', 'data-testid': 'approval-details' }, w.details ?? '—')),
            h('div', { class: 'wait-decide' },
              h('label', { class: 'field' }, h('span', { class: 'form-label' }, 'Decided by'), by),
              h('div', { class: 'wait-forms' },
                h('div', { class: 'wait-form' },
                  h('span', { class: 'form-label' }, 'Approve'),
                  note,
                  h('details', { class: 'edit-details' }, h('summary', null, 'Edit the details before approving'), details),
                  approve),
                h('div', { class: 'wait-form' },
                  h('span', { class: 'form-label' }, 'Reject'),
                  reason,
                  reject)))));
      } else if (w.kind === 'signal') {
        const data = h('textarea', { class: 'input mono', rows: '3', placeholder: 'data as JSON (optional), e.g. {"paid": true}', 'data-testid': 'signal-data' });
        const send = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'signal-button' }, `Send ${w.name}`);
        send.addEventListener('click', () => {
          let body = {};
          const text = data.value.trim();
          if (text) {
            try { JSON.parse(text); } catch (e) {
              banner.show(`The signal data is not JSON (${e.message}); write e.g. {"paid": true} or "text" in quotes, or leave it empty.`);
              data.focus();
              return;
            }
            // The operator's text itself, not a parse/stringify round trip that would round
            // integers beyond 2^53.
            body = new RawJson(`{"data":${text}}`);
          }
          act(send, 'POST', `${path}/signals/${enc(w.name)}`, body, `Sent signal ${w.name}`);
        });
        panel = h('div', { class: 'wait-panel wait-signal', 'data-testid': 'waiting-panel', 'data-kind': 'signal' },
          h('div', { class: 'wait-title' },
            h('span', { class: 'wait-icon', 'aria-hidden': 'true' }),
            'Waiting for signal ', h('code', { 'data-testid': 'waiting-name' }, w.name),
            w.until_ms ? h('span', { class: 'muted small' }, `times out ${fmtTime(w.until_ms)} (`, h('span', { 'data-testid': 'timer-due' }, fmtUntil(w.until_ms)), ')') : null,
            h('span', { class: 'muted small' }, `entry #${w.seq}`)),
          h('div', { class: 'wait-form wait-form-inline' }, data, send));
      } else {
        panel = h('div', { class: 'wait-panel wait-timer', 'data-testid': 'waiting-panel', 'data-kind': w.kind },
          h('div', { class: 'wait-title' },
            h('span', { class: 'wait-icon', 'aria-hidden': 'true' }),
            w.kind === 'timer' ? 'Sleeping' : `Waiting for ${w.kind}`,
            w.until_ms ? [' until ', h('b', null, fmtTime(w.until_ms)), ' (', h('span', { 'data-testid': 'timer-due' }, fmtUntil(w.until_ms)), ')'] : null,
            h('span', { class: 'muted small' }, `entry #${w.seq} · the server wakes it when it is due`)));
      }
      waitSlot.replaceChildren(panel);
    }

    function renderCancel() {
      const run = s.run;
      if (FINAL.has(run.status)) { cancelSlot.replaceChildren(); return; }
      if (cancelSlot.querySelector('[data-testid="cancel-confirm"]')) return; // keep an open confirmation
      const button = h('button', { type: 'button', class: 'btn btn-ghost btn-danger-ghost', 'data-testid': 'cancel-button' }, 'Cancel run');
      button.addEventListener('click', () => {
        const reason = h('input', { class: 'input', placeholder: 'reason (optional)', 'data-testid': 'cancel-reason' });
        const confirm = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'cancel-confirm' }, 'Cancel run');
        const keep = h('button', { type: 'button', class: 'btn btn-ghost', 'data-testid': 'cancel-abort' }, 'Keep it');
        confirm.addEventListener('click', async () => {
          const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
          await act(confirm, 'POST', `v1/runs/${enc(run.id)}/cancel`, body, `Cancelled ${run.id}`);
          if (s.run && FINAL.has(s.run.status)) cancelSlot.replaceChildren();
        });
        keep.addEventListener('click', () => { cancelSlot.replaceChildren(); renderCancel(); });
        cancelSlot.replaceChildren(h('div', { class: 'cancel-confirm' }, h('span', { class: 'small' }, 'Stop this run for good?'), reason, keep, confirm));
        reason.focus();
      });
      cancelSlot.replaceChildren(button);
    }

    // ---- timeline

    function visible(entry) {
      return !(s.hideLocal && LOCAL_KINDS.has(entry.kind));
    }

    function rowKey(entry) {
      return JSON.stringify(entry) + '|' + (s.streams.get(entry.seq) || '') + '|' + (s.retries.get(entry.seq) || '') +
        '|' + s.expanded.has(entry.seq) + '|' + (s.run ? s.run.created_at_ms : '');
    }

    // A child call links to the child run(s): a spawn to its child, a join
    // to the children it waits for.
    function childLinks(entry) {
      const ids = [];
      if (entry.kind === 'spawn') {
        const res = tryParse(entry.response);
        if (res && res.child) ids.push(res.child);
      } else if (entry.kind === 'join') {
        const req = tryParse(entry.request);
        if (req && Array.isArray(req.children)) ids.push(...req.children);
      }
      return ids.map((id) => h('a', {
        href: '#/runs/' + enc(id), class: 'mono child-link', 'data-testid': 'entry-child-link',
        onclick: (ev) => ev.stopPropagation(),
      }, ' ↗ ' + id));
    }

    function buildRow(entry) {
      const seq = entry.seq;
      const stream = s.streams.get(seq);
      const retry = s.retries.get(seq);
      const [reqText, resText, isErr] = summarize(entry, stream);
      const dur = entryDuration(entry);
      const offset = s.run ? entry.started_at_ms - s.run.created_at_ms : null;
      const open = s.expanded.has(seq);
      const label = entryStateLabel(entry);
      const tr = h('tr', {
        class: 'entry-row' + (open ? ' open' : '') + (entry.state !== 'completed' ? ' pending' : '') + (isErr ? ' has-error' : ''),
        'data-testid': 'entry-row', 'data-seq': seq, 'data-kind': entry.kind, 'data-state': entry.state,
        tabindex: '0', 'aria-expanded': open ? 'true' : 'false',
      },
      h('td', { class: 'num mono muted' }, String(seq)),
      h('td', null, kindBadge(entry.kind)),
      h('td', { class: 'mono name clip', title: entry.name }, entry.name),
      h('td', null, h('span', { class: 'state state-' + label.replace(' ', '-'), 'data-testid': 'entry-state' }, label)),
      h('td', { class: 'num muted', title: isoTime(entry.started_at_ms) }, offset === null ? '' : '+' + fmtDuration(offset)),
      h('td', {
        class: 'num dur' + (dur === null ? ' live-dur' : ''), 'data-testid': 'entry-duration', 'data-started': entry.started_at_ms,
      }, dur === null ? '… ' + fmtDuration(Date.now() - entry.started_at_ms) : fmtDuration(dur)),
      h('td', { class: 'num', 'data-testid': 'entry-tokens' }, entry.usage ? `${fmtCount(entry.usage.input_tokens)} / ${fmtCount(entry.usage.output_tokens)}` : ''),
      h('td', { class: 'summary clip', title: oneLine(reqText, 1000) + (resText ? ' → ' + oneLine(resText, 1000) : '') },
        entry.attempts && entry.attempts.length ? h('span', { class: 'retry-tag', title: entry.attempts.map((a) => `attempt ${a.attempt}: ${a.error}`).join('\n') }, `↻ ${entry.attempts.length}`) : null,
        retry && entry.state !== 'completed' ? h('span', { class: 'retry-tag', 'data-testid': 'entry-retry' }, '↻ ' + oneLine(retry, 120)) : null,
        reqText ? h('span', { class: 'sum-req' }, oneLine(reqText, 300)) : null,
        reqText && resText ? h('span', { class: 'sum-arrow' }, ' → ') : null,
        resText ? h('span', {
          class: 'sum-res' + (isErr ? ' err' : '') + (stream && entry.state !== 'completed' ? ' streaming' : ''),
          'data-testid': stream && entry.state !== 'completed' ? 'entry-stream' : null,
        }, oneLine(resText, 600)) : null,
        ...childLinks(entry)));
      const toggle = () => {
        if (s.expanded.has(seq)) s.expanded.delete(seq); else s.expanded.add(seq);
        upsertRow(s.entries.get(seq), true);
      };
      tr.addEventListener('click', toggle);
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); toggle(); }
      });
      let detail = null;
      if (open) detail = buildDetail(entry);
      return { tr, detail };
    }

    function buildDetail(entry) {
      const stream = s.streams.get(entry.seq);
      const meta = [
        ['started', h('span', { title: isoTime(entry.started_at_ms) }, fmtTime(entry.started_at_ms))],
        ['finished', entry.finished_at_ms ? h('span', { title: isoTime(entry.finished_at_ms) }, fmtTime(entry.finished_at_ms)) : '—'],
        ['duration', fmtDuration(entryDuration(entry))],
      ];
      if (entry.usage) meta.push(['tokens', `${fmtCount(entry.usage.input_tokens)} in / ${fmtCount(entry.usage.output_tokens)} out`]);
      if (entry.request_digest) meta.push(['request digest', h('span', { class: 'mono', title: entry.request_digest }, entry.request_digest.slice(0, 16) + '…')]);
      if (entry.resolution) meta.push(['resolution', h('span', { class: 'mono' }, JSON.stringify(entry.resolution))]);
      const pane = (label, text, testid) => h('div', { class: 'pane' },
        h('div', { class: 'pane-head' }, label,
          text !== null && text !== undefined
            ? h('button', { type: 'button', class: 'link-btn', onclick: (ev) => { ev.stopPropagation(); copyText(text, label + ' copied'); } }, 'copy')
            : null),
        jsonView(text, testid));
      const td = h('td', { colspan: '8' },
        h('div', { class: 'meta' }, meta.map(([k, v]) => h('span', { class: 'meta-item' }, h('span', { class: 'muted' }, k + ' '), v))),
        entry.attempts && entry.attempts.length
          ? h('ul', { class: 'attempts', 'data-testid': 'entry-attempts' }, entry.attempts.map((a) => h('li', null,
            `attempt ${a.attempt} failed at ${fmtTime(a.at_ms)}: `, h('span', { class: 'err' }, a.error),
            ` — retried after ${fmtDuration(a.retry_in_ms)}`)))
          : null,
        stream && entry.state !== 'completed'
          ? h('div', { class: 'pane' }, h('div', { class: 'pane-head' }, 'Streaming answer'), h('pre', { class: 'json stream', 'data-testid': 'entry-stream-full' }, stream))
          : null,
        h('div', { class: 'panes' },
          pane('Request', entry.request, 'entry-request'),
          pane('Response', entry.response, 'entry-response')));
      return h('tr', { class: 'entry-detail', 'data-testid': 'entry-detail', 'data-seq': entry.seq }, td);
    }

    /** Places the rows of `entry` (creating or replacing them) in seq order. */
    function upsertRow(entry, force) {
      if (!entry) return;
      const seq = entry.seq;
      let row = s.rows.get(seq);
      if (!visible(entry)) {
        if (row) { row.tr.remove(); if (row.detail) row.detail.remove(); s.rows.delete(seq); }
        return;
      }
      const key = rowKey(entry);
      if (row && row.key === key && !force) return;
      const built = buildRow(entry);
      built.key = key;
      if (row) {
        row.tr.replaceWith(built.tr);
        if (row.detail) row.detail.remove();
      } else {
        // Insert before the first row with a larger seq (entries nearly always come last).
        let before = null;
        const last = tbody.lastElementChild;
        const lastSeq = last ? Number(last.dataset.seq) : -1;
        if (last && lastSeq > seq) {
          for (const tr of tbody.children) {
            if (tr.classList.contains('entry-row') && Number(tr.dataset.seq) > seq) { before = tr; break; }
          }
        }
        tbody.insertBefore(built.tr, before);
      }
      if (built.detail) built.tr.after(built.detail);
      s.rows.set(seq, built);
    }

    function renderTimeline(full) {
      if (full) {
        tbody.replaceChildren();
        s.rows.clear();
      }
      const sorted = [...s.entries.values()].sort((a, b) => a.seq - b.seq);
      for (const entry of sorted) upsertRow(entry, false);
      updateTimelineMeta();
    }

    function updateTimelineMeta() {
      const n = s.entries.size;
      const shown = s.rows.size;
      entriesCount.textContent = `${n} entr${n === 1 ? 'y' : 'ies'}` + (shown !== n ? ` (${n - shown} hidden)` : '');
      emptyTimeline.hidden = n > 0;
    }

    function upsertEntry(entry) {
      if (!entry || typeof entry.seq !== 'number') return;
      const old = s.entries.get(entry.seq);
      // Never let a late "started" copy replace a "completed" one.
      if (old && old.state === 'completed' && entry.state !== 'completed') return;
      s.entries.set(entry.seq, entry);
      if (entry.state === 'completed') { s.streams.delete(entry.seq); s.retries.delete(entry.seq); }
      upsertRow(entry, false);
      updateTimelineMeta();
    }

    // ---- data

    async function loadAll() {
      const [run, list] = await Promise.all([
        api('GET', 'v1/runs/' + enc(id)),
        api('GET', 'v1/runs/' + enc(id) + '/entries'),
      ]);
      if (s.stopped) return null;
      for (const entry of (list && list.entries) || []) upsertEntry(entry);
      setRun(run);
      banner.clear('poll');
      return run;
    }

    function scheduleRunRefresh(delay = 800) {
      if (s.runRefreshTimer || s.stopped) return;
      s.runRefreshTimer = setTimeout(async () => {
        s.runRefreshTimer = null;
        try { setRun(await api('GET', 'v1/runs/' + enc(id))); } catch (e) { banner.error(e, 'poll'); }
      }, delay);
    }

    function setLive(state) {
      s.live = state;
      const labels = {
        connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…',
        polling: 'polling', final: 'finished', closed: 'not live',
      };
      liveBadge.className = 'live live-' + state;
      liveBadge.dataset.state = state;
      liveBadge.textContent = labels[state] || state;
      liveBadge.title = state === 'live' ? 'Receiving events from the server as they happen'
        : state === 'polling' ? 'The event stream is unavailable; refreshing every 2 s' : '';
    }

    function openStream() {
      if (s.es || s.stopped) return;
      let es;
      try {
        es = new EventSource(withToken('v1/runs/' + enc(id) + '/events'));
      } catch {
        startPolling();
        return;
      }
      s.es = es;
      setLive('connecting');
      const parse = (ev) => { try { return JSON.parse(ev.data); } catch { return null; } };
      es.onopen = () => { setLive('live'); stopPolling(); };
      es.addEventListener('entry', (ev) => {
        const entry = parse(ev);
        if (!entry) return;
        upsertEntry(entry);
        scheduleRunRefresh();
      });
      es.addEventListener('token', (ev) => {
        const t = parse(ev);
        if (!t || typeof t.seq !== 'number') return;
        const entry = s.entries.get(t.seq);
        if (entry && entry.state === 'completed') return;
        s.streams.set(t.seq, (s.streams.get(t.seq) || '') + (t.text || ''));
        if (entry) upsertRow(entry, false);
      });
      es.addEventListener('retry', (ev) => {
        const r = parse(ev);
        if (!r || typeof r.seq !== 'number') return;
        s.retries.set(r.seq, r.message || 'retrying');
        const entry = s.entries.get(r.seq);
        if (entry) upsertRow(entry, false);
      });
      es.addEventListener('status', (ev) => setRun(parse(ev)));
      es.addEventListener('end', (ev) => {
        setRun(parse(ev));
        closeStream('final');
      });
      es.onerror = () => {
        if (s.es !== es) return;
        if (es.readyState === EventSource.CLOSED) {
          // Refused (e.g. 401) or not an event stream: fall back to polling, which
          // reports the error through the API.
          s.es = null;
          es.close();
          startPolling();
        } else {
          setLive('reconnecting');
        }
      };
    }

    function closeStream(state) {
      if (s.es) { s.es.close(); s.es = null; }
      stopPolling();
      setLive(state);
    }

    function startPolling() {
      if (s.pollTimer || s.stopped) return;
      setLive('polling');
      const poll = async () => {
        s.pollTimer = setTimeout(poll, RUN_POLL_MS);
        if (document.hidden) return;
        try {
          const run = await loadAll();
          if (run && FINAL.has(run.status)) { stopPolling(); setLive('final'); }
          else if (run && !s.es && Math.random() < 0.25) openStream(); // try the stream again now and then
        } catch (e) {
          banner.error(e, 'poll');
        }
      };
      s.pollTimer = setTimeout(poll, RUN_POLL_MS);
    }

    function stopPolling() {
      clearTimeout(s.pollTimer);
      s.pollTimer = null;
    }

    function tick() {
      // Running clocks: pending entries' durations, the header's ages and timers.
      tbody.querySelectorAll('td.live-dur').forEach((td) => {
        td.textContent = '… ' + fmtDuration(Date.now() - Number(td.dataset.started));
      });
      if (s.run && !FINAL.has(s.run.status)) { renderFacts(); renderWaiting(); }
      s.tickTimer = setTimeout(tick, 1000);
    }

    setLive('connecting');
    loadAll().then((run) => {
      if (!run || s.stopped) return;
      if (FINAL.has(run.status)) setLive('final');
      else openStream();
    }).catch((e) => {
      if (s.stopped) return;
      if (e instanceof ApiError && e.status === 404) {
        el.replaceChildren(h('div', { class: 'empty', 'data-testid': 'run-not-found' },
          h('p', null, e.message), h('p', null, h('a', { href: '#/runs' }, '← all runs'))));
        return;
      }
      banner.error(e, 'poll');
      startPolling();
    });
    s.tickTimer = setTimeout(tick, 1000);

    return {
      el,
      refresh() { loadAll().catch((e) => banner.error(e, 'poll')); if (!s.es && s.run && !FINAL.has(s.run.status)) openStream(); },
      unmount() {
        s.stopped = true;
        if (s.es) s.es.close();
        s.es = null;
        clearTimeout(s.pollTimer);
        clearTimeout(s.tickTimer);
        clearTimeout(s.runRefreshTimer);
      },
    };
  }

  // ------------------------------------------------------------------ misc

  async function copyText(text, done) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
      } else {
        const area = h('textarea', { class: 'offscreen', value: text });
        document.body.append(area);
        area.select();
        document.execCommand('copy');
        area.remove();
      }
      toast(done);
    } catch (e) {
      banner.show('Could not copy: ' + e.message);
    }
  }

  let healthTimer = null;
  async function health() {
    const el = $('server-state');
    try {
      const data = await api('GET', 'healthz');
      el.className = 'server-state ok';
      el.textContent = `v${data.version} · ${data.runs_active} active`;
      el.title = `relive ${data.version}: ${data.runs_active} run(s) being worked on`;
    } catch (e) {
      el.className = 'server-state down';
      el.textContent = e.status === 401 ? 'token needed' : 'offline';
      el.title = e.message;
    }
    clearTimeout(healthTimer);
    healthTimer = setTimeout(health, HEALTH_POLL_MS);
  }

  // ------------------------------------------------------------------ router

  function route() {
    const raw = takeTokenFromHash();
    const [path, qs] = (raw || '/runs').split('?');
    const params = new URLSearchParams(qs || '');
    if (current) current.unmount();
    banner.clear();
    const view = $('view');
    const m = path.match(/^\/runs\/([^/]+)\/?$/);
    if (m) {
      let runId;
      try { runId = decodeURIComponent(m[1]); } catch { runId = m[1]; }
      current = runView(runId);
    } else {
      if (path !== '/runs' && path !== '/' && path !== '') {
        history.replaceState(null, '', '#/runs');
      }
      current = runsView(params);
    }
    view.replaceChildren(current.el);
    window.scrollTo(0, 0);
  }

  function init() {
    $('banner-close').addEventListener('click', () => banner.clear());
    $('token-button').addEventListener('click', () => tokenPrompt.open(auth.token ? 'Change or forget the token this tab sends.' : 'Set the bearer token this tab sends.'));
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      auth.token = $('token-input').value.trim();
      tokenPrompt.close();
      banner.clear();
      health();
      if (current && current.refresh) current.refresh();
    });
    $('token-clear').addEventListener('click', () => {
      auth.token = '';
      $('token-input').value = '';
      tokenPrompt.close();
      toast('Token forgotten');
    });
    $('token-modal').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') tokenPrompt.close(); });
    window.addEventListener('hashchange', route);
    route();
    health();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();

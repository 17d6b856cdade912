#!/usr/bin/env node
/*  test_web.mjs: the page sluiced serves at /, in a real browser.

    Debian's chromium (headless), driven by playwright-core, against a real
    sluiced started by each test (temp --data folder, free loopback ports),
    with real documents: PDFs from the project's generated corpus
    (tests/corpus.py), a broken PDF and junk
    made here, and HTML from a small document server in this process (so a
    job can be held mid-fetch on purpose). Every test also checks that the
    page asked nothing of any origin but the sluiced it came from, and that
    the browser logged no errors (a CSP violation is one).

    Usage: test_web.mjs [test_name ...]     (no names: all of them)
    Env:   SLUICED            the binary (default build/actors/sluiced)
           SLUICE_WEB_SHOTS   where screenshots go (default $TMPDIR/sluice-web-shots)
           CHROMIUM           the browser (default /usr/bin/chromium)
    Ends with "N passed, N failed, N skipped"; exit 1 if anything failed,
    77 if everything was skipped.
*/
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SLUICED = process.env.SLUICED || path.join(ROOT, 'build', 'actors', 'sluiced');
const SHOTS = process.env.SLUICE_WEB_SHOTS || path.join(os.tmpdir(), 'sluice-web-shots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// No internet here: keep chromium from trying to reach any service of its own
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                       '--disable-background-networking', '--disable-component-update', '--disable-sync',
                       '--disable-default-apps', '--no-default-browser-check'];
const STAGES = ['fetch', 'parse', 'chunk', 'embed', 'store'];

const cleanups = [];

class Skip extends Error {}

function check(cond, what, ...context) {
  if (!cond) {
    const ctx = context.map((c) => (typeof c === 'string' ? c : JSON.stringify(c)).slice(0, 800));
    throw new Error(what + (ctx.length ? ': ' + ctx.join(' | ') : ''));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond, what, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await cond();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    await sleep(100);
  }
  throw new Error('timed out waiting for ' + what + (last ? ' (last: ' + String(last).slice(0, 300) + ')' : ''));
}

// --------------------------------------------------------------------------
// Processes

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

// n consecutive free loopback ports (the broker needs two: requests, events),
// below Linux's ephemeral range (32768-60999) so that the outgoing
// connections of tests running in parallel cannot take one before we bind
async function freePorts(n) {
  for (let i = 0; i < 200; i++) {
    // 30000-31499: the Python tests take 20000-29999 and the C tests
    // 31500-32700 (tests/ports.py), so no two kinds pick the same port
    const p = 30000 + Math.floor(Math.random() * (1500 - n));
    let ok = true;
    for (let q = p; q < p + n && ok; q++) ok = await portFree(q);
    if (ok) return p;
  }
  throw new Error('no free ports');
}

class Sluiced {
  // A real sluiced: role all with its broker on tcp, or (role 'edge') an edge
  // joining the broker on brokerPort. Same ports + data again = a restart.
  constructor(tmp, { name = 'all', role = 'all', sets = [], httpPort, brokerPort, data } = {}) {
    Object.assign(this, { tmp, name, role, sets, httpPort, brokerPort });
    this.data = data || path.join(tmp, name);
    fs.mkdirSync(this.data, { recursive: true });
    this.logPath = path.join(tmp, 'sluiced-' + name + '.log');
  }

  // ready: wait for /readyz (broker, intake, query answer), else /healthz only
  async start({ ready = true } = {}) {
    this.httpPort = this.httpPort || await freePorts(1);
    this.brokerPort = this.brokerPort || await freePorts(2);
    const args = ['--role', this.role, '--data', this.data, '--set', 'log.level=warn',
                  '--set', 'http.port=' + this.httpPort,
                  '--set', 'broker.metrics_port=0', '--set', 'worker.health_port=0'];
    if (this.role === 'all') args.push('--set', 'broker.bind=tcp://127.0.0.1:' + this.brokerPort);
    else args.push('--broker', 'tcp://127.0.0.1:' + this.brokerPort);
    for (const s of this.sets) args.push('--set', s);
    const log = fs.openSync(this.logPath, 'a');
    this.proc = spawn(SLUICED, args, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve(code === null ? sig : code)));
    cleanups.push(() => this.kill());
    await this.waitReady(ready ? '/readyz' : '/healthz');
    return this;
  }

  get origin() { return 'http://127.0.0.1:' + this.httpPort; }

  async waitReady(probe = '/readyz', timeoutMs = 30000) {
    await waitFor(async () => {
      check(this.proc.exitCode === null && this.proc.signalCode === null, 'sluiced exited early (see ' + this.logPath + ')');
      const res = await fetch(this.origin + probe);
      return res.status === 200;
    }, 'sluiced ' + probe + ' on ' + this.origin, timeoutMs);
  }

  async kill(signal = 'SIGKILL') {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.proc ? this.exited : null;
  }
}

async function call(srv, method, p, body, key) {
  const headers = {};
  if (key) headers.Authorization = 'Bearer ' + key;
  const opts = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(srv.origin + p, opts);
  const text = await res.text();
  let data = text;
  try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: res.status, headers: res.headers, data };
}

// The job's events as the server has them (the whole stream, read to its end).
async function serverEvents(srv, job, key) {
  const res = await call(srv, 'GET', '/v1/jobs/' + job + '/events', undefined, key);
  check(res.status === 200, 'events stream', res.status);
  return String(res.data).split('\n').filter((l) => l.startsWith('id: ')).map((l) => parseInt(l.slice(4), 10));
}

// --------------------------------------------------------------------------
// A document server: /doc/<name> answers at once; /trickle/<name> sends a
// larger page slowly (so fetch reports progress); /held/<name> waits until
// the test opens the gate; /flaky/<name> is 404 the first time only.

class DocServer {
  constructor() {
    this.hits = {};
    this.gateOpen = false;
    this.waiters = [];
    this.server = http.createServer((req, res) => this.handle(req, res));
    cleanups.push(() => this.close());
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    return this;
  }

  page(name, paragraphs) {
    let body = '<html><head><title>' + name + '</title></head><body><h1>' + name + '</h1>';
    for (let i = 0; i < paragraphs; i++) {
      body += '<p>Paragraph ' + i + ' of ' + name + ': the marmalade lighthouse keeper counted ' + (i * 7 + 3) +
              ' seagulls before breakfast, and wrote the number in a ledger bound in green cloth.</p>';
    }
    return Buffer.from(body + '<p>Unique marker zq' + name + 'q.</p></body></html>');
  }

  async handle(req, res) {
    const [, kind, name] = req.url.split('/');
    this.hits[kind + '/' + name] = (this.hits[kind + '/' + name] || 0) + 1;
    res.on('error', () => {});
    try {
      if (kind === 'held') await new Promise((resolve) => (this.gateOpen ? resolve() : this.waiters.push(resolve)));
      if (kind === 'flaky' && this.hits[kind + '/' + name] === 1) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not yet');
        return;
      }
      const body = this.page(name, kind === 'trickle' ? 300 : 3);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
      if (kind === 'trickle') {
        const piece = Math.ceil(body.length / 16);
        for (let i = 0; i < body.length && !res.destroyed; i += piece) {
          res.write(body.subarray(i, i + piece));
          await sleep(350);
        }
        res.end();
      } else {
        res.end(body);
      }
    } catch (e) {
      res.destroy();
    }
  }

  open() {
    this.gateOpen = true;
    for (const w of this.waiters.splice(0)) w();
  }

  url(kind, name) { return 'http://127.0.0.1:' + this.port + '/' + kind + '/' + name; }

  close() {
    this.open();
    this.server.closeAllConnections();
    this.server.close();
  }
}

const LOCAL = 'fetch.allow_cidrs=127.0.0.1/32';

// --------------------------------------------------------------------------
// The browser

async function openBrowser(tmp, srv, { viewport = { width: 1100, height: 900 } } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Skip('no browser at ' + CHROMIUM);
  const profile = fs.mkdtempSync(path.join(tmp, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport,
    acceptDownloads: false, serviceWorkers: 'block'
  });
  cleanups.push(() => ctx.close().catch(() => {}));
  const b = { ctx, requests: [], responses: [], problems: [] };
  ctx.on('request', (r) => b.requests.push(r.url()));
  ctx.on('response', (r) => b.responses.push({ url: r.url(), status: r.status() }));
  b.page = ctx.pages()[0] || await ctx.newPage();
  b.page.on('console', (m) => { if (m.type() === 'error') b.problems.push('console: ' + m.text()); });
  b.page.on('pageerror', (e) => b.problems.push('page error: ' + e.message));
  b.page.on('dialog', (d) => d.accept());
  b.page.setDefaultTimeout(30000);
  b.origin = srv.origin;
  await b.page.goto(srv.origin + '/');
  // app.js is deferred: wait until it ran and heard from the server
  await b.page.waitForFunction(() => document.getElementById('server').dataset.online !== 'unknown');
  return b;
}

// Nothing but the sluiced origin was asked for; the browser logged no error.
function checkClean(b, { allowProblems = [] } = {}) {
  const foreign = b.requests.filter((u) => !(u === b.origin + '/' || u.startsWith(b.origin + '/')));
  check(foreign.length === 0, 'the page made requests to other origins', foreign);
  check(b.requests.length > 3, 'requests were recorded', b.requests);
  const problems = b.problems.filter((p) => !allowProblems.some((re) => re.test(p)));
  check(problems.length === 0, 'the browser logged errors', problems);
}

async function shot(b, name, opts = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name + '.png');
  await b.page.screenshot({ path: file, fullPage: true, ...opts });
  return file;
}

// The row of a document, by its name.
function row(b, name) {
  return b.page.locator('li.job', { has: b.page.locator('.job-name', { hasText: name }) });
}

// What a row shows: state, stage statuses and bar values, message, error.
async function rowInfo(b, name) {
  return row(b, name).evaluate((li) => ({
    state: li.dataset.state,
    conn: li.dataset.conn,
    job: li.dataset.job || null,
    seq: parseInt(li.dataset.seq || '0', 10),
    stateText: li.querySelector('.job-state').textContent.trim(),
    time: li.querySelector('.job-time').textContent.trim(),
    stages: Array.from(li.querySelectorAll('.stage')).map((s) => ({
      stage: s.dataset.stage, status: s.dataset.status,
      value: Number(s.querySelector('progress').value), text: s.querySelector('.stage-pct').textContent
    })),
    message: li.querySelector('.job-msg').textContent.trim(),
    error: li.querySelector('.job-error').hidden ? null : li.querySelector('.job-error p').textContent.trim(),
    retryEnabled: !li.querySelector('.retry').disabled,
    height: li.getBoundingClientRect().height
  }));
}

async function waitRow(b, name, states, timeoutMs = 90000) {
  return waitFor(async () => {
    const info = await rowInfo(b, name);
    return states.includes(info.state) ? info : false;
  }, name + ' to be ' + states.join('/'), timeoutMs);
}

function checkAllFull(info, name) {
  check(info.stages.map((s) => s.stage).join() === STAGES.join(), name + ': five stage bars', info.stages);
  for (const s of info.stages) {
    check(s.value === 100 && s.status === 'done' && s.text.startsWith('✓'), name + ': ' + s.stage + ' bar full', info);
  }
}

async function libraryDocs(b) {
  return b.page.locator('#docs tr').evaluateAll((trs) => trs.map((tr) => ({
    id: tr.dataset.doc,
    title: tr.querySelector('.doc-title').textContent,
    source: (tr.querySelector('.doc-source') || { textContent: '' }).textContent,
    cells: Array.from(tr.querySelectorAll('td')).map((td) => td.textContent.trim())
  })));
}

function pdfPages(file) {
  const info = execFileSync('mutool', ['info', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return parseInt(/Pages:\s*(\d+)/.exec(info)[1], 10);
}

function pageText(file, n) {
  return execFileSync('mutool', ['draw', '-F', 'txt', '-o', '-', file, String(n)],
                      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

// A passage only page n of the PDF has (as tests/test_edge.py picks it).
function uniquePassage(file, n) {
  const pages = pdfPages(file);
  let others = '';
  for (let i = 1; i <= pages; i++) if (i !== n) others += pageText(file, i) + '\n';
  const lines = pageText(file, n).split('\n').map((l) => l.trim());
  const picks = [];
  for (let i = 0; i < lines.length - 1; i++) {
    if (lines[i].length > 50 && lines[i + 1].length > 40 && !others.includes(lines[i]) && !others.includes(lines[i + 1])) picks.push(i);
  }
  check(picks.length, 'page ' + n + ' has a passage of its own');
  const i = picks[Math.floor(picks.length / 2)];
  return lines[i] + ' ' + lines[i + 1];
}

// PDFs of the project's generated corpus: tests/corpus.py builds it once
// (cached, about a second) and prints its folder.
let corpusFolder = null;
function corpusPdfs(...names) {
  if (!corpusFolder) {
    corpusFolder = execFileSync('/usr/bin/python3', [path.join(HERE, '..', 'corpus.py')],
                                { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  }
  const files = names.map((n) => path.join(corpusFolder, 'pdf', n));
  for (const f of files) check(fs.existsSync(f), 'generated corpus has ' + f);
  return files;
}

// An image-only PDF of two pages (no text layer): a text PDF written by
// tests/corpus.py (make_pdf), its pages drawn to PNG by mutool, the PNGs
// wrapped by img2pdf, as tests/test_ocr.py makes its scans.
function scannedPdf(tmp, name, texts) {
  for (const tool of ['mutool', 'img2pdf']) {
    try { execFileSync('which', [tool], { stdio: 'ignore' }); } catch (e) { throw new Skip('no ' + tool); }
  }
  const src = path.join(tmp, name + '.src.pdf');
  execFileSync('/usr/bin/python3', ['-c', 'import sys; sys.path.insert(0, sys.argv[1]); from corpus import make_pdf; ' +
                                    'make_pdf(sys.argv[2], sys.argv[3:])', path.join(HERE, '..'), src, ...texts]);
  execFileSync('mutool', ['draw', '-q', '-r', '150', '-c', 'gray', '-o', path.join(tmp, name + '-%d.png'), src]);
  const out = path.join(tmp, name);
  execFileSync('img2pdf', ['--output', out, ...texts.map((t, i) => path.join(tmp, name + '-' + (i + 1) + '.png'))]);
  return out;
}

function brokenPdf(tmp) {
  const file = path.join(tmp, 'broken.pdf');
  const junk = Buffer.alloc(3000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919) % 251;
  fs.writeFileSync(file, Buffer.concat([Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'), junk]));
  return file;
}

// --------------------------------------------------------------------------
// Tests

async function test_upload_two_pdfs_search_delete(tmp) {
  const [currency, intro] = corpusPdfs('currency.pdf', 'intro.pdf');
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const head = await call(srv, 'GET', '/');
  check(head.status === 200 && head.headers.get('content-type') === 'text/html; charset=utf-8', 'page served', head.status);
  const csp = head.headers.get('content-security-policy') || '';
  check(csp.includes("default-src 'self'") && csp.includes("connect-src 'self'") && !csp.includes('unsafe-inline'),
        'strict CSP on the page', csp);
  check(await page.title() === 'Sluice', 'page title');
  check(await page.locator('#auth').isHidden(), 'no key field on an open server');
  await waitFor(async () => (await page.locator('#library-status').textContent()) === 'No documents yet.', 'empty library');

  await page.setInputFiles('#files', [currency, intro]);
  for (const name of ['currency.pdf', 'intro.pdf']) {
    const info = await waitRow(b, name, ['completed', 'failed']);
    check(info.state === 'completed', name + ' completed', info);
    check(info.stateText.includes('completed'), name + ': the state is said in words', info.stateText);
    checkAllFull(info, name);
    check(/^\d/.test(info.time), name + ': elapsed time shown', info.time);
    const job = await call(srv, 'GET', '/v1/jobs/' + info.job);
    check(job.data.job.state === 'completed', name + ': the server agrees', job.data);
    const ids = await serverEvents(srv, info.job);
    check(info.seq === ids[ids.length - 1], name + ': the page saw every event', info.seq, ids);
  }

  // The library lists both, with their pages, chunks, size and model
  const docs = await waitFor(async () => {
    const d = await libraryDocs(b);
    return d.length === 2 ? d : false;
  }, 'two documents in the library');
  const api = (await call(srv, 'GET', '/v1/documents')).data.documents;
  for (const [file, name] of [[currency, 'currency.pdf'], [intro, 'intro.pdf']]) {
    const d = api.find((x) => x.source.endsWith(name));
    check(d, 'the server has ' + name, api);
    const shown = docs.find((x) => x.id === d.id);
    check(shown, name + ' is in the library', docs);
    check(shown.cells[1] === String(pdfPages(file)) && d.pages === pdfPages(file), name + ': pages', shown.cells, d.pages);
    check(shown.cells[2] === String(d.chunks) && d.chunks > 0, name + ': chunks', shown.cells, d.chunks);
    check(/KiB|MiB/.test(shown.cells[3]) && shown.cells[4] === d.model, name + ': size and model', shown.cells);
  }
  check(/Connected · Model /.test(await page.locator('#server-text').textContent()), 'status line names the model');

  // Search: the passage only page 3 of currency.pdf has; the top hit says so
  const phrase = uniquePassage(currency, 3);
  const currencyDoc = api.find((x) => x.source.endsWith('currency.pdf'));
  await page.fill('#q', phrase);
  await page.selectOption('#k', '5');
  await page.press('#q', 'Enter');
  await waitFor(async () => /match/.test(await page.locator('#search-status').textContent()), 'search results');
  const hits = await page.locator('#hits li').evaluateAll((lis) => lis.map((li) => ({
    doc: li.dataset.doc, start: Number(li.dataset.pageStart), end: Number(li.dataset.pageEnd),
    pages: (li.querySelector('.hit-pages') || { textContent: '' }).textContent,
    score: li.querySelector('.hit-score').textContent, title: li.querySelector('.hit-doc').textContent,
    marks: Array.from(li.querySelectorAll('.hit-text mark')).map((m) => m.textContent.toLowerCase())
  })));
  check(hits.length >= 1 && hits.length <= 5, 'k respected', hits.length);
  const top = hits[0];
  check(top.doc === currencyDoc.id && top.title === currencyDoc.title, 'top hit is currency.pdf', top, currencyDoc.title);
  check(top.start <= 3 && 3 <= top.end, 'top hit is on page 3', top);
  check(top.pages === (top.start === top.end ? 'p. 3' : 'pp. ' + top.start + '–' + top.end), 'pages shown', top.pages);
  check(/^score \d\.\d{3}$/.test(top.score), 'score shown', top.score);
  const words = phrase.toLowerCase().match(/[\p{L}\p{N}]+/gu).filter((w) => w.length > 3);
  check(top.marks.length >= 3 && top.marks.every((m) => phrase.toLowerCase().includes(m)), 'query words highlighted', top.marks);
  check(words.some((w) => top.marks.includes(w)), 'a long query word is marked', words, top.marks);
  await shot(b, 'overview');

  // Exact words only: every hit holds the word and says so, in words
  await page.selectOption('#mode', 'lexical');
  await page.fill('#q', 'currency');
  await page.press('#q', 'Enter');
  // (the hybrid hits above stay on screen until the new answer arrives, and
  // their top hit has a badge too: wait for a badge only lexical hits have)
  await waitFor(async () => (await page.locator('#hits li .hit-match').allTextContents())
    .includes('exact words'), 'lexical results');
  const lexical = await page.locator('#hits li').evaluateAll((lis) => lis.map((li) => ({
    match: (li.querySelector('.hit-match') || { textContent: '' }).textContent,
    text: li.querySelector('.hit-text').textContent.toLowerCase() })));
  check(lexical.length >= 1 && lexical.every((h) => h.match === 'exact words' && h.text.includes('currency')),
        'lexical mode: every hit has the word and is labelled', lexical);
  await page.selectOption('#mode', 'hybrid');

  // Search in one document from the library, then everywhere again
  const introDoc = api.find((x) => x.source.endsWith('intro.pdf'));
  await page.locator('#docs tr[data-doc="' + introDoc.id + '"]')
    .getByRole('button', { name: 'Search in ' + introDoc.title }).click();
  check(await page.locator('#search-within').isVisible()
        && (await page.locator('#within-title').textContent()) === introDoc.title, 'the search says where it looks');
  await page.fill('#q', 'euro currency symbol');
  await page.press('#q', 'Enter');
  await waitFor(async () => /match/.test(await page.locator('#search-status').textContent()), 'results within');
  const inDocs = await page.locator('#hits li').evaluateAll((lis) => lis.map((li) => li.dataset.doc));
  check(inDocs.length >= 1 && inDocs.every((d) => d === introDoc.id), 'every hit is in that document', inDocs);
  await page.getByRole('button', { name: 'Search everything' }).click();
  check(!(await page.locator('#search-within').isVisible()), 'back to everything');
  await page.press('#q', 'Enter');
  await waitFor(async () => (await page.locator('#hits li').evaluateAll((lis) => lis.map((li) => li.dataset.doc)))
    .includes(currencyDoc.id), 'results everywhere again');

  // Delete currency.pdf from the library; only intro.pdf is left, everywhere
  const currencyRow = page.locator('#docs tr[data-doc="' + currencyDoc.id + '"]');
  await currencyRow.getByRole('button', { name: 'Delete ' + currencyDoc.title }).click();
  await waitFor(async () => (await libraryDocs(b)).length === 1, 'library without currency.pdf');
  const left = await libraryDocs(b);
  check(left[0].id !== currencyDoc.id, 'currency.pdf is gone from the library', left);
  // the deletion was accepted (202): the delete service removes it just after
  await waitFor(async () => (await call(srv, 'GET', '/v1/documents/' + currencyDoc.id)).status === 404,
                'and from the server');
  await page.press('#q', 'Enter');
  await waitFor(async () => /match/.test(await page.locator('#search-status').textContent()), 'search again');
  const after = await page.locator('#hits li').evaluateAll((lis) => lis.map((li) => li.dataset.doc));
  check(!after.includes(currencyDoc.id), 'deleted document no longer found', after);
  check(/^1 document$/.test(await page.locator('#library-status').textContent()), 'library count');
  await shot(b, 'after-delete');

  // Drag and drop: a file dropped on the zone is ingested like a chosen one
  await page.locator('#drop').evaluate((zone) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['Notes on the avocet, which sweeps its upturned bill through the shallows.\n'],
                          'avocet.txt', { type: 'text/plain' }));
    zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const dropped = await waitRow(b, 'avocet.txt', ['completed', 'failed']);
  check(dropped.state === 'completed', 'a dropped file is ingested', dropped);
  checkAllFull(dropped, 'avocet.txt');
  await waitFor(async () => (await libraryDocs(b)).length === 2, 'the dropped file in the library');
  checkClean(b);
}

async function test_failing_file_shows_reason(tmp) {
  const docs = await new DocServer().start();
  const srv = await new Sluiced(tmp, { sets: [LOCAL] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const broken = brokenPdf(tmp);
  const junk = path.join(tmp, 'junk.bin');
  fs.writeFileSync(junk, Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)));
  // A GIF: images Sluice reads (PNG, JPEG, TIFF) go to OCR, a GIF is refused
  const gif = path.join(tmp, 'picture.gif');
  fs.writeFileSync(gif, Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1'));
  await page.setInputFiles('#files', [broken, junk, gif]);

  // A PDF that is not one: fetched, then parse fails with MuPDF's reason
  let info = await waitRow(b, 'broken.pdf', ['completed', 'failed']);
  check(info.state === 'failed' && info.stateText.includes('failed'), 'broken.pdf failed, in words', info);
  let job = (await call(srv, 'GET', '/v1/jobs/' + info.job)).data.job;
  check(job.state === 'failed' && job.error_stage === 'parse' && job.error, 'the server says parse failed', job);
  check(info.error === 'Failed at parse: ' + job.error, 'the row shows the stage and the reason', info.error, job.error);
  const byStage = Object.fromEntries(info.stages.map((s) => [s.stage, s]));
  check(byStage.fetch.status === 'done' && byStage.fetch.value === 100, 'fetch done', byStage.fetch);
  check(byStage.parse.status === 'failed' && byStage.parse.text.includes('failed'), 'parse marked failed in words', byStage.parse);
  check(info.retryEnabled, 'retry offered for broken.pdf');

  // Bytes no reader accepts: fetch fails and says why
  info = await waitRow(b, 'junk.bin', ['completed', 'failed']);
  job = (await call(srv, 'GET', '/v1/jobs/' + info.job)).data.job;
  check(info.state === 'failed' && job.error_stage === 'fetch', 'junk.bin failed at fetch', info, job);
  check(info.error === 'Failed at fetch: ' + job.error && /unsupported document type/.test(job.error), 'junk.bin reason', info.error);

  // Refused by the edge before any job existed: the server's message
  info = await waitRow(b, 'picture.gif', ['refused']);
  check(info.job === null && info.stateText.includes('refused'), 'picture.gif refused without a job', info);
  check(/^Refused: unsupported media type image\/gif.*\(HTTP 415\)$/.test(info.error), 'picture.gif reason', info.error);
  check(info.stages.every((s) => s.value === 0), 'no bar moved for a refused file', info.stages);
  await shot(b, 'failed');

  // Retry re-submits the same file: a new job, the same honest failure
  const first = (await rowInfo(b, 'broken.pdf')).job;
  await row(b, 'broken.pdf').getByRole('button', { name: 'Retry broken.pdf' }).click();
  info = await waitFor(async () => {
    const i = await rowInfo(b, 'broken.pdf');
    return i.job && i.job !== first && i.state === 'failed' ? i : false;
  }, 'a second, failed job for broken.pdf');
  check(info.error.startsWith('Failed at parse: '), 'retry fails the same way', info.error);
  const jobs = (await call(srv, 'GET', '/v1/jobs?limit=20')).data.jobs;
  check(jobs.filter((j) => j.source === 'upload:broken.pdf').length === 2, 'two jobs for broken.pdf', jobs.map((j) => j.source));

  // A URL that fails the first time (404) and works on the retry
  const url = docs.url('flaky', 'godwit');
  await page.fill('#urls', url);
  await page.getByRole('button', { name: 'Ingest URLs' }).click();
  info = await waitRow(b, 'godwit', ['completed', 'failed']);
  check(info.state === 'failed' && /^Failed at fetch: HTTP 404/.test(info.error) && info.error.includes(url),
        'the 404 is the reason', info);
  await row(b, 'godwit').getByRole('button', { name: 'Retry godwit' }).click();
  info = await waitRow(b, 'godwit', ['completed'], 60000);
  checkAllFull(info, 'godwit');
  check(info.error === null && docs.hits['flaky/godwit'] === 2, 'the retry fetched the URL again and worked', info, docs.hits);
  // Chromium logs the 415 of the refused upload: that one is expected
  checkClean(b, { allowProblems: [/status of 415 \(Unsupported Media Type\)/] });
}

async function test_restart_mid_ingest(tmp) {
  const docs = await new DocServer().start();
  let srv = await new Sluiced(tmp, { sets: [LOCAL] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const url = docs.url('held', 'kestrel');
  await page.fill('#urls', url);
  await page.getByRole('button', { name: 'Ingest URLs' }).click();
  // The job is in fetch, held by the document server
  await waitFor(async () => (await rowInfo(b, 'kestrel')).state === 'fetching' && docs.hits['held/kestrel'] === 1,
                'kestrel held in fetch');
  const before = await rowInfo(b, 'kestrel');
  check(before.conn === 'live' && before.seq >= 2, 'following the job live', before);

  // The server dies (kill -9): the page says so and keeps trying
  await srv.kill('SIGKILL');
  await waitFor(async () => (await rowInfo(b, 'kestrel')).conn === 'reconnecting', 'row shows reconnecting', 15000);
  await waitFor(async () => (await page.locator('#server').getAttribute('data-online')) === 'no', 'server shown offline', 15000);
  const down = await rowInfo(b, 'kestrel');
  check(down.message === 'Connection lost — reconnecting…', 'the row says it is reconnecting', down.message);
  check(/unreachable/.test(await page.locator('#server-text').textContent()), 'status says unreachable');
  await shot(b, 'reconnecting');
  await sleep(3000);                      // a few failed reconnects while it is down

  // The same server comes back on the same ports and data: the job resumes
  srv = await new Sluiced(tmp, { sets: [LOCAL], httpPort: srv.httpPort, brokerPort: srv.brokerPort, data: srv.data }).start();
  await waitFor(async () => (await page.locator('#server').getAttribute('data-online')) === 'yes', 'server shown online', 30000);
  await waitFor(() => docs.hits['held/kestrel'] >= 2, 'fetch asked again after the restart', 90000);
  await waitFor(async () => (await rowInfo(b, 'kestrel')).conn === 'live', 'stream resumed', 30000);
  docs.open();
  const info = await waitRow(b, 'kestrel', ['completed', 'failed'], 90000);
  check(info.state === 'completed', 'kestrel completed after the restart', info);
  checkAllFull(info, 'kestrel');
  const streams = b.requests.filter((u) => u.includes('/events'));
  console.log('     event stream requests: ' + streams.map((u) => u.replace(/^.*\/events/, '…/events')).join(' '));
  const ids = await serverEvents(srv, info.job);
  check(ids.join() === ids.map((_, i) => i + 1).join(), 'server events are 1..n', ids);
  check(info.seq === ids[ids.length - 1], 'the page got through the last event', info.seq, ids);
  // Still usable: the library has it, search finds it
  await waitFor(async () => (await libraryDocs(b)).some((d) => d.title === 'kestrel'), 'kestrel in the library');
  await page.fill('#q', 'marmalade lighthouse keeper seagulls ledger');
  await page.press('#q', 'Enter');
  await waitFor(async () => (await page.locator('#hits li .hit-doc').allTextContents()).includes('kestrel'), 'kestrel found');
  // While the server was down the browser logged failed loads: expected
  checkClean(b, { allowProblems: [/net::ERR_CONNECTION_REFUSED|Failed to load resource|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET/] });
}

// Scaled mode, restarted in the wrong order: the edge the page talks to
// comes back before the broker, so it answers the stream with 503 and the
// browser gives up on it (EventSource closes for good on an HTTP error). The
// page opens new streams itself, from the last event it has
// (?last_event_id=), until the rest of the server is back.
async function test_restart_edge_before_broker(tmp) {
  const docs = await new DocServer().start();
  let main = await new Sluiced(tmp, { name: 'main', sets: [LOCAL] }).start();
  const edgeOpts = { name: 'edge', role: 'edge', brokerPort: main.brokerPort, data: main.data,
                     sets: ['http.request_timeout_ms=1500'] };
  let edge = await new Sluiced(tmp, edgeOpts).start();
  const b = await openBrowser(tmp, edge);
  const { page } = b;
  await page.fill('#urls', docs.url('held', 'curlew'));
  await page.getByRole('button', { name: 'Ingest URLs' }).click();
  await waitFor(async () => (await rowInfo(b, 'curlew')).state === 'fetching' && docs.hits['held/curlew'] === 1,
                'curlew held in fetch');
  const seen = (await rowInfo(b, 'curlew')).seq;
  await main.kill('SIGKILL');
  await edge.kill('SIGKILL');
  await waitFor(async () => (await rowInfo(b, 'curlew')).conn === 'reconnecting', 'row shows reconnecting', 15000);

  // The edge alone: streams are refused (503), the page keeps asking from where it was
  edge = await new Sluiced(tmp, { ...edgeOpts, httpPort: edge.httpPort }).start({ ready: false });
  const resumeUrl = '/v1/jobs/' + (await rowInfo(b, 'curlew')).job + '/events?last_event_id=' + seen;
  await waitFor(() => b.requests.filter((u) => u.endsWith(resumeUrl)).length >= 2,
                'the page reopening the stream from event ' + seen, 45000);
  const waiting = await rowInfo(b, 'curlew');
  check(waiting.conn === 'reconnecting' && waiting.message === 'Connection lost — reconnecting…' &&
        waiting.state === 'fetching', 'still reconnecting while the broker is down', waiting);

  // The rest comes back: the stream resumes and the job finishes
  main = await new Sluiced(tmp, { name: 'main', sets: [LOCAL], httpPort: main.httpPort, brokerPort: main.brokerPort,
                                  data: main.data }).start();
  await waitFor(() => docs.hits['held/curlew'] >= 2, 'fetch asked again after the restart', 90000);
  docs.open();
  const info = await waitRow(b, 'curlew', ['completed', 'failed'], 90000);
  check(info.state === 'completed', 'curlew completed', info);
  checkAllFull(info, 'curlew');
  const ids = await serverEvents(edge, info.job);
  check(info.seq === ids[ids.length - 1], 'the page got through the last event', info.seq, ids);
  checkClean(b, { allowProblems: [/net::ERR_CONNECTION_REFUSED|Failed to load resource|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|EventSource/] });
}

// Many documents at once: each gets a row, at most four follow a live stream
// (browsers allow six connections to a server and the page needs some for
// itself), the others follow GET /v1/jobs until a stream is free; all finish.
async function test_many_at_once(tmp) {
  const docs = await new DocServer().start();
  // Fetch threads for the six held URLs and room for the uploads beside them
  const srv = await new Sluiced(tmp, { sets: [LOCAL, 'fetch.concurrency=8'] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const birds = ['dunlin', 'knot', 'sanderling', 'turnstone', 'redshank', 'greenshank'];
  await page.fill('#urls', birds.map((n) => docs.url('held', n)).join('\n'));
  await page.getByRole('button', { name: 'Ingest URLs' }).click();
  const notes = [];
  for (let i = 0; i < 6; i++) {
    const f = path.join(tmp, 'note-' + i + '.txt');
    fs.writeFileSync(f, 'Tide table note ' + i + ': the estuary mudflats were covered at ' + (i + 6) + ' in the morning.\n');
    notes.push(f);
  }
  await page.setInputFiles('#files', notes);
  const held = await waitFor(async () => {
    const infos = await Promise.all(birds.map((n) => rowInfo(b, n)));
    return infos.every((i) => i.state === 'fetching') ? infos : false;
  }, 'six held jobs in fetch', 60000);
  const live = held.filter((i) => i.conn === 'live').length;
  check(live === 4, 'four rows follow a stream, the others poll', held.map((i) => i.conn));
  for (const i of held) check(i.stages[0].status === 'running', 'fetch running on every row, streamed or polled', i);
  // The page still answers while four streams are open
  await page.fill('#q', 'estuary mudflats tide');
  await page.press('#q', 'Enter');
  await waitFor(async () => /match/.test(await page.locator('#search-status').textContent()), 'search while streams are open');
  for (let i = 0; i < 6; i++) {
    const n = await waitRow(b, 'note-' + i + '.txt', ['completed', 'failed']);
    check(n.state === 'completed', 'note ' + i + ' completed', n);
    checkAllFull(n, 'note-' + i + '.txt');
  }
  await shot(b, 'many');
  docs.open();
  for (const n of birds) {
    const info = await waitRow(b, n, ['completed', 'failed']);
    check(info.state === 'completed', n + ' completed', info);
    checkAllFull(info, n);
  }
  await waitFor(async () => (await libraryDocs(b)).length === 12, 'twelve documents in the library');
  // Clear finished empties the progress list
  await page.getByRole('button', { name: 'Clear finished' }).click();
  check(await page.locator('li.job').count() === 0 && await page.locator('#jobs-empty').isVisible(), 'cleared');
  checkClean(b);
}

async function test_api_key(tmp) {
  const key = 'web-test-key-1234';
  const srv = await new Sluiced(tmp, { sets: ['auth.keys=' + key + ':webws'] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  // The page is public; the API is not: the key field appears and is focused
  await page.locator('#auth').waitFor({ state: 'visible' });
  check(await page.evaluate(() => document.activeElement.id) === 'key', 'key field focused');
  await waitFor(async () => /API key/.test(await page.locator('#library-status').textContent()), 'library asks for the key');
  await shot(b, 'key');
  await page.fill('#key', 'not-the-right-key');
  await page.press('#key', 'Enter');
  await waitFor(async () => /refused/.test(await page.locator('#auth-msg').textContent()), 'wrong key refused');
  await page.fill('#key', key);
  await page.getByRole('button', { name: 'Use key' }).click();
  await page.locator('#auth').waitFor({ state: 'hidden' });
  await waitFor(async () => (await page.locator('#library-status').textContent()) === 'No documents yet.', 'library with the key');
  check(await page.evaluate(() => localStorage.getItem('sluice.key')) === key, 'key kept in localStorage');

  const note = path.join(tmp, 'heron-notes.txt');
  fs.writeFileSync(note, 'Field notes on the grey heron.\n\nThe heron stood in the shallows of the millpond ' +
                   'for forty minutes, then caught a single silver roach and flew off towards the alder carr.\n');
  await page.setInputFiles('#files', note);
  const info = await waitRow(b, 'heron-notes.txt', ['completed', 'failed']);
  check(info.state === 'completed', 'upload with a key completes', info);
  checkAllFull(info, 'heron-notes.txt');
  const events = b.requests.filter((u) => u.includes('/events'));
  check(events.length && events.every((u) => u.includes('access_token=' + key)), 'EventSource sends ?access_token=', events);
  const job = await call(srv, 'GET', '/v1/jobs/' + info.job, undefined, key);
  check(job.data.job.workspace === 'webws', "the job is in the key's workspace", job.data);
  await page.fill('#q', 'heron millpond roach');
  await page.press('#q', 'Enter');
  await waitFor(async () => (await page.locator('#hits li .hit-doc').allTextContents()).length > 0, 'search with a key');

  // A reload remembers the key and the session's rows; the page's files are
  // revalidated by ETag (304), not sent again
  const before = b.responses.length;
  await page.reload();
  await waitFor(async () => (await page.locator('#library-status').textContent()) === '1 document', 'library after reload');
  check(await page.locator('#auth').isHidden(), 'no key prompt after reload');
  const reloaded = b.responses.slice(before).filter((r) => /\/app\.(js|css)$/.test(r.url));
  check(reloaded.length === 2 && reloaded.every((r) => r.status === 304), 'script and style revalidated (304)', reloaded);
  const again = await waitRow(b, 'heron-notes.txt', ['completed']);
  checkAllFull(again, 'heron-notes.txt after reload');
  // Forgetting the key: the next call asks again
  await page.reload();
  await page.evaluate(() => localStorage.removeItem('sluice.key'));
  await page.reload();
  await page.locator('#auth').waitFor({ state: 'visible' });
  checkClean(b, { allowProblems: [/401 \(Unauthorized\)/] });
}

async function test_keyboard_phone_and_steady_layout(tmp) {
  const [currency] = corpusPdfs('currency.pdf');
  const docs = await new DocServer().start();
  const srv = await new Sluiced(tmp, { sets: [LOCAL] }).start();
  const b = await openBrowser(tmp, srv, { viewport: { width: 390, height: 844 } });
  const { page } = b;

  // Keyboard only: Tab to "Choose files…", Enter opens the file chooser
  const order = [];
  let chooser = null;
  for (let i = 0; i < 10 && !chooser; i++) {
    await page.keyboard.press('Tab');
    const name = await page.evaluate(() => document.activeElement.textContent.trim() || document.activeElement.id);
    order.push(name);
    if (name === 'Choose files…') {
      //  Under load the first Enter can land before the page's handler is
      //  attached: press again (still keyboard only) rather than fail
      for (let attempt = 0; attempt < 3 && !chooser; attempt++) {
        const waiting = page.waitForEvent('filechooser', { timeout: 10000 }).catch(() => null);
        await page.keyboard.press('Enter');
        chooser = await waiting;
      }
    }
  }
  check(chooser, 'Choose files… reached by Tab', order);
  check(order[0] === 'Skip to content', 'a skip link comes first', order);
  await chooser.setFiles(currency);
  // A URL typed and submitted from the keyboard; it trickles in, so bars move for seconds
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.id) === 'urls', 'Tab reaches the URL box next');
  await page.keyboard.type(docs.url('trickle', 'plover'));
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');

  // While the bars move, nothing moves: the row keeps its height and what
  // follows it keeps its place
  const samples = [];
  let moving = 0;
  await waitFor(async () => {
    const info = await rowInfo(b, 'plover');
    const below = await page.locator('#search-title').evaluate((h) => h.getBoundingClientRect().top + window.scrollY);
    const rows = await page.locator('li.job').evaluateAll((lis) => lis.map((li) => li.getBoundingClientRect().height));
    samples.push({ state: info.state, height: info.height, below, rows: rows.join(), fetch: info.stages[0].value, msg: info.message });
    if (info.state === 'fetching' && info.stages[0].value > 0 && info.stages[0].value < 100) moving++;
    return info.state === 'completed' || info.state === 'failed';
  }, 'plover done', 90000);
  check(moving >= 3, 'the fetch bar was seen moving', samples.slice(-20));
  const running = samples.filter((s) => s.state !== 'completed' && s.state !== 'failed' && s.state !== 'waiting');
  check(new Set(running.map((s) => s.height)).size === 1, 'row height steady while bars move', running);
  check(new Set(running.map((s) => s.below)).size === 1, 'content below steady while bars move', running);
  check(running.some((s) => /fetch: \d+ of \d+ KiB/.test(s.msg)), 'fetch progress message shown', running.map((s) => s.msg));
  const done = await waitRow(b, 'plover', ['completed']);
  checkAllFull(done, 'plover');
  await waitRow(b, 'currency.pdf', ['completed']);

  // Readable on a phone: no sideways scrolling, library as cards
  await waitFor(async () => (await libraryDocs(b)).length === 2, 'library of two');
  const width = await page.evaluate(() => {
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.right > window.innerWidth + 0.5 && !el.closest('.vh')) wide.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
    }
    return [document.documentElement.scrollWidth, window.innerWidth, wide.slice(0, 10)];
  });
  check(width[0] <= width[1], 'no horizontal scroll at 390 px', width);
  await shot(b, 'phone');

  // Every control has an accessible name, and every one is reachable by Tab
  const unnamed = await page.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('button, input, select, textarea, progress, a[href]')) {
      if (el.closest('[hidden]')) continue;
      const labelled = (el.getAttribute('aria-labelledby') || '').split(' ').filter(Boolean)
        .map((id) => (document.getElementById(id) || { textContent: '' }).textContent).join(' ').trim();
      const name = el.getAttribute('aria-label') || labelled || (el.labels && el.labels.length && el.labels[0].textContent.trim()) ||
                   (el.tagName === 'BUTTON' || el.tagName === 'A' ? el.textContent.trim() : '');
      if (!name) bad.push(el.outerHTML.slice(0, 120));
    }
    return bad;
  });
  check(unnamed.length === 0, 'controls without an accessible name', unnamed);
  const wanted = ['pick', 'urls', 'q', 'k', 'refresh'];
  const reached = new Set();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.locator('body').focus();
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const d = await page.evaluate(() => {
      const a = document.activeElement;
      return { id: a.id, label: a.getAttribute('aria-label') || '', visible: !!(a.offsetWidth || a.offsetHeight) };
    });
    if (d.id) reached.add(d.id);
    if (d.label.startsWith('Delete ')) reached.add('delete');
    check(d.visible || d.id === '', 'focus is on something visible', d);
  }
  for (const w of [...wanted, 'delete']) check(reached.has(w), 'Tab reaches ' + w, [...reached]);

  // Search and delete from the keyboard
  await page.locator('#q').focus();
  await page.keyboard.type('marmalade lighthouse keeper ledger');
  await page.keyboard.press('Enter');
  await waitFor(async () => (await page.locator('#hits li').count()) > 0, 'hits');
  const del = page.getByRole('button', { name: 'Delete plover' });
  await del.focus();
  await page.keyboard.press('Enter');
  await waitFor(async () => (await libraryDocs(b)).length === 1, 'deleted from the keyboard');
  check(await page.evaluate(() => document.activeElement.tagName !== 'BODY'), 'focus stays in the page after delete');
  checkClean(b);
}

// Rows in every state side by side, each saying its state in words; the
// screenshot taken here is the one in docs/screenshot.png.
async function test_rows_in_every_state(tmp) {
  const [currency, intro] = corpusPdfs('currency.pdf', 'intro.pdf');
  const docs = await new DocServer().start();
  const srv = await new Sluiced(tmp, { sets: [LOCAL] }).start();
  const b = await openBrowser(tmp, srv, { viewport: { width: 1200, height: 800 } });
  const { page } = b;
  await page.setInputFiles('#files', [intro, currency]);
  await waitRow(b, 'currency.pdf', ['completed']);
  await waitRow(b, 'intro.pdf', ['completed']);
  await page.fill('#q', 'euro currency symbol');
  await page.selectOption('#k', '5');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await waitFor(async () => (await page.locator('#hits li').count()) > 0, 'hits');
  await page.setInputFiles('#files', brokenPdf(tmp));
  await waitRow(b, 'broken.pdf', ['failed']);
  await page.fill('#urls', docs.url('trickle', 'sandpiper'));
  await page.getByRole('button', { name: 'Ingest URLs' }).click();
  const moving = await waitFor(async () => {
    const i = await rowInfo(b, 'sandpiper');
    return i.state === 'fetching' && i.stages[0].value >= 30 && i.stages[0].value <= 80 ? i : false;
  }, 'sandpiper part-way through fetch', 60000);
  const file = await shot(b, 'readme', { fullPage: false });
  check(/^fetch: \d+ of \d+ KiB$/.test(moving.message), 'fetch says how far it is', moving.message);
  check(moving.stateText.includes('fetching') && moving.stages[0].text === moving.stages[0].value + '%',
        'a moving row says its state and percent in words', moving);
  const states = await page.locator('li.job .state-text').allTextContents();
  check(states.includes('completed') && states.includes('failed') && states.includes('fetching'), 'states in words', states);
  console.log('     screenshot ' + file + ' (' + Math.round(fs.statSync(file).size / 1024) + ' KiB)');
  const done = await waitRow(b, 'sandpiper', ['completed', 'failed']);
  check(done.state === 'completed', 'sandpiper completed', done);
  checkAllFull(done, 'sandpiper');
  checkClean(b);
}

// Hits show where their text sits: the section path above the snippet, a
// "table" badge on a table chunk; no OCR badge on typed text. (The OCR badge
// itself needs the ocr stage: its data path is covered by the store and
// query tests.)
async function test_hit_section_and_badges(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const manual = path.join(tmp, 'manual.html');
  const rows = Array.from({ length: 40 }, (_, i) =>
    '<tr><td>key_' + i + '</td><td>' + (i * 7) + '</td><td>what setting ' + i + ' changes</td></tr>').join('\n');
  fs.writeFileSync(manual, '<!DOCTYPE html><html><head><title>Admin Guide</title></head><body>' +
    '<h1>Operations</h1><h2>Backing up your data</h2><p>Copy the storage folder every night to a second ' +
    'disk and keep a week of copies; test a restore now and then on a spare machine.</p>' +
    '<h1>Reference</h1><h2>Settings</h2><table><thead><tr><th>Key</th><th>Default</th><th>Meaning</th></tr>' +
    '</thead><tbody>' + rows + '</tbody></table></body></html>');
  await page.setInputFiles('#files', [manual]);
  const info = await waitRow(b, 'manual.html', ['completed', 'failed']);
  check(info.state === 'completed', 'manual.html completed', info);
  const hitsFor = async (q) => {
    await page.fill('#q', q);
    await page.press('#q', 'Enter');
    await waitFor(async () => /match/.test(await page.locator('#search-status').textContent()), 'results for ' + q);
    return page.locator('#hits li').evaluateAll((lis) => lis.map((li) => ({
      section: (li.querySelector('.hit-section') || { textContent: null }).textContent,
      badges: Array.from(li.querySelectorAll('.hit-badge')).map((x) => x.textContent),
      order: Array.from(li.children).map((x) => x.classList[0]),
      rows: (li.querySelector('.hit-text') || { innerText: '' }).innerText
    })));
  };
  let hits = await hitsFor('key_17');
  check(hits[0].section === 'Reference \u203a Settings', 'table hit: its section path', hits[0]);
  check(hits[0].badges.includes('table') && !hits[0].badges.some((x) => x.startsWith('OCR')),
        'table hit: a table badge, no OCR badge', hits[0]);
  check(hits[0].order.indexOf('hit-section') >= 0 && hits[0].order.indexOf('hit-section') < hits[0].order.indexOf('hit-text'),
        'section above the snippet', hits[0]);
  check(hits[0].rows.split('\n')[0] === '| Key | Default | Meaning |', 'table rows one per line, header first', hits[0].rows);
  hits = await hitsFor('keep a week of copies');
  check(hits[0].section === 'Operations \u203a Backing up your data' && hits[0].badges.length === 0,
        'text hit: its section, no badge', hits[0]);
  await shot(b, 'hit-section-and-badges');
  checkClean(b);
}

// A PDF of five pages whose answer ("zephyr calibration torque") is on page
// 3 alone, written by tests/corpus.py (make_pdf, filler text elsewhere).
function answerPdf(tmp) {
  const out = path.join(tmp, 'winch.pdf');
  execFileSync('/usr/bin/python3', ['-c', 'import sys; sys.path.insert(0, sys.argv[1]); ' +
    'from corpus import filler, make_pdf; ' +
    'pages = [" ".join(filler(10 + i, 220)) for i in range(5)]; ' +
    'pages[2] = " ".join(filler(20, 100)) + " The zephyr calibration torque of the winch is forty two ' +
    'newton metres. " + " ".join(filler(21, 100)); make_pdf(sys.argv[2], pages, title="Winch manual")',
    path.join(HERE, '..'), out]);
  return out;
}

// Upload the answer PDF, search for the answer; the top hit's marks and its
// "open page 3" link
async function answerHit(b, key) {
  const { page } = b;
  const pdf = answerPdf(b.tmp);
  await page.setInputFiles('#files', [pdf]);
  const info = await waitRow(b, 'winch.pdf', ['completed', 'failed']);
  check(info.state === 'completed', 'winch.pdf completed', info);
  await page.fill('#q', 'zephyr calibration torque');
  await page.press('#q', 'Enter');
  await waitFor(async () => /match/.test(await page.locator('#search-status').textContent()), 'search results');
  const top = page.locator('#hits li').first();
  const marks = await top.locator('.hit-text:not(.whole) mark').allTextContents();
  check(marks.map((m) => m.toLowerCase()).join() === 'zephyr,calibration,torque',
        "the API's highlights are marked", marks);
  const link = top.locator('a.hit-open');
  check((await link.textContent()) === 'open page 3', 'the hit offers its page', await link.textContent());
  const [tab] = await Promise.all([b.ctx.waitForEvent('page'), link.click()]);
  await waitFor(async () => /#page=3$/.test(tab.url()), 'a new tab at #page=3, not ' + tab.url());
  return { pdf, tab, doc: await top.getAttribute('data-doc') };
}

// A hit opens its page: "open page 3" opens the stored PDF in a new tab at
// #page=3 (a plain link: no key to send), and those are the PDF's bytes
async function test_hit_opens_its_page(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  b.tmp = tmp;
  const { pdf, tab, doc } = await answerHit(b);
  check(tab.url() === srv.origin + '/v1/documents/' + doc + '/content#page=3', 'the link is the content route', tab.url());
  const res = await fetch(tab.url().split('#')[0]);
  const bytes = Buffer.from(await res.arrayBuffer());
  check(res.status === 200 && res.headers.get('content-type') === 'application/pdf', 'served as a PDF', res.status);
  check(bytes.equals(fs.readFileSync(pdf)), 'the tab shows the uploaded bytes');
  await shot(b, 'hit-opens-its-page');
  // the browser's own PDF viewer loads its parts (chrome-extension://,
  // chrome://): the page asked nothing of any other origin
  b.requests = b.requests.filter((u) => !/^chrome(-extension)?:\/\//.test(u));
  checkClean(b);
}

// With an API key a link cannot send it: the page fetches the bytes with
// the key and opens them as blob:...#page=3 in the new tab
async function test_hit_opens_its_page_with_key(tmp) {
  const key = 'web-test-key-5678';
  const srv = await new Sluiced(tmp, { sets: ['auth.keys=' + key + ':webws'] }).start();
  const b = await openBrowser(tmp, srv);
  b.tmp = tmp;
  await b.page.locator('#auth').waitFor({ state: 'visible' });
  await b.page.fill('#key', key);
  await b.page.getByRole('button', { name: 'Use key' }).click();
  await b.page.locator('#auth').waitFor({ state: 'hidden' });
  const contentBody = b.ctx.waitForEvent('response', (r) => r.url().includes('/content'))
    .then((r) => { check(r.status() === 200 && r.headers()['content-type'] === 'application/pdf', 'content fetched', r.status()); return r.body(); });
  const { pdf, tab } = await answerHit(b, key);
  check(tab.url().startsWith('blob:' + srv.origin + '/'), 'a blob: URL of the page', tab.url());
  // (the page's CSP lets nobody read a blob: back, the test neither: the
  // bytes it was made of are the one response of the content route)
  const body = await contentBody;
  check(body.equals(fs.readFileSync(pdf)), 'the blob was made of the uploaded bytes', body.length);
  const fetched = b.requests.filter((u) => u.includes('/content'));
  check(fetched.length === 1 && !fetched[0].includes('access_token'), 'one fetch, no key in the URL', fetched);
  // the tab's blob: is the page's own; the PDF viewer's parts the browser's
  b.requests = b.requests.filter((u) => !/^chrome(-extension)?:\/\//.test(u) && !u.startsWith('blob:' + srv.origin + '/'));
  checkClean(b, { allowProblems: [/401 \(Unauthorized\)/] });
}

// A scan goes through the ocr stage: its row grows a sixth bar, ocr,
// between parse and chunk, fed like the others; a text PDF keeps five.
// After a reload the finished rows replay their events: the same bars.
async function test_scan_shows_ocr_stage(tmp) {
  const [intro] = corpusPdfs('intro.pdf');
  const line = (w) => 'Field notes on the ' + w + ': it nested in the reeds below the old mill, and the warden ' +
                      'counted its chicks every morning before the river mist lifted from the water meadows.';
  const scan = scannedPdf(tmp, 'scan.pdf', [line('bittern'), line('water rail')]);
  const srv = await new Sluiced(tmp, { sets: ['ocr.dpi=150'] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  // Everything the scan's row said while it ran
  await page.evaluate(() => {
    window.seen = [];
    new MutationObserver(() => {
      for (const li of document.querySelectorAll('li.job')) {
        const stages = Array.from(li.querySelectorAll('.stage')).map((s) => s.dataset.stage + ':' + s.dataset.status).join();
        window.seen.push([li.querySelector('.job-name').textContent, li.dataset.state,
                          li.querySelector('.job-msg').textContent, stages]);
      }
    }).observe(document.getElementById('jobs'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await page.setInputFiles('#files', [scan, intro]);
  const info = await waitRow(b, 'scan.pdf', ['completed', 'failed'], 180000);
  check(info.state === 'completed', 'scan.pdf completed', info);
  const order = ['fetch', 'parse', 'ocr', 'chunk', 'embed', 'store'];
  check(info.stages.map((s) => s.stage).join() === order.join(), 'scan.pdf: six bars, ocr after parse', info.stages);
  for (const s of info.stages) {
    check(s.value === 100 && s.status === 'done' && s.text.startsWith('✓'), 'scan.pdf: ' + s.stage + ' bar full', info);
  }
  const text = await waitRow(b, 'intro.pdf', ['completed']);
  checkAllFull(text, 'intro.pdf');
  const job = await call(srv, 'GET', '/v1/jobs/' + info.job);
  check(job.data.job.state === 'completed', 'the server agrees', job.data);
  const ids = await serverEvents(srv, info.job);
  check(info.seq === ids[ids.length - 1], 'the page saw every event', info.seq, ids);

  // Live: the bar ran with OCR's own state and messages, the five others stayed
  const seen = (await page.evaluate(() => window.seen)).filter((x) => x[0] === 'scan.pdf');
  const reading = seen.filter((x) => x[1] === 'reading scans');
  check(reading.length && reading.every((x) => /ocr:(running|retry|done)/.test(x[3]) && /parse:done/.test(x[3]))
        && reading.some((x) => /ocr:running/.test(x[3])),
        'while OCR ran, the row said so and its ocr bar ran', seen.slice(-30));
  check(seen.some((x) => /^ocr: ocr page \d\/2$/.test(x[2])), 'OCR progress message per page', seen.map((x) => x[2]));
  check(seen.every((x) => !/ocr:/.test(x[3]) || x[3].startsWith('fetch:done,parse:done,ocr:')),
        'the ocr bar appeared only once parse was done', seen.filter((x) => /ocr:/.test(x[3])).slice(0, 5));
  check(!(await page.evaluate(() => window.seen)).some((x) => x[0] === 'intro.pdf' && /ocr/.test(x[3])),
        'intro.pdf never had an ocr bar');
  // Named like the others for assistive technology
  const a11y = await row(b, 'scan.pdf').locator('.stage[data-stage="ocr"] progress').evaluate((p) => ({
    name: p.getAttribute('aria-labelledby').split(' ').map((id) => document.getElementById(id).textContent).join(' '),
    text: p.getAttribute('aria-valuetext') }));
  check(a11y.name === 'ocr scan.pdf' && /^ocr done/.test(a11y.text), 'the ocr bar has a name and says it is done', a11y);
  await shot(b, 'ocr-stage');

  // A reload replays the finished jobs' events: the same bars again
  await page.reload();
  await page.waitForFunction(() => document.getElementById('server').dataset.online !== 'unknown');
  const again = await waitRow(b, 'scan.pdf', ['completed']);
  check(again.stages.map((s) => s.stage).join() === order.join() && again.stages.every((s) => s.status === 'done'),
        'after a reload: six bars, all done', again.stages);
  checkAllFull(await waitRow(b, 'intro.pdf', ['completed']), 'intro.pdf after reload');
  // On a phone the six bars still fit in the row, with no sideways scrolling
  await page.setViewportSize({ width: 390, height: 844 });
  const fit = await row(b, 'scan.pdf').evaluate((li) => ({
    scroll: document.documentElement.scrollWidth, width: window.innerWidth, row: li.getBoundingClientRect().right,
    bars: Array.from(li.querySelectorAll('.stage')).map((s) => s.getBoundingClientRect().right) }));
  check(fit.scroll <= fit.width && fit.bars.length === 6 && fit.bars.every((r) => r <= fit.row), 'six bars fit on a phone', fit);
  await shot(b, 'ocr-stage-phone');
  checkClean(b);
}

// --------------------------------------------------------------------------
// Attributes: set on upload, shown in the library, filtered on, re-tagged

// A small text document of its own words (written here), with a word every
// document of these tests shares, so a search without a filter finds all.
function textDoc(tmp, name, word) {
  const file = path.join(tmp, name);
  let text = '';
  for (let i = 0; i < 12; i++) {
    text += 'Entry ' + i + ' of the ' + word + ' register: the grey heron waded past the ' + word +
            ' sluice gate at low water and was counted twice.\n';
  }
  fs.writeFileSync(file, text);
  return file;
}

// Type attributes into the "Attributes for what you add next" box
async function setAttributes(page, text) {
  const box = page.locator('details.meta-box');
  if (!(await box.evaluate((d) => d.open))) await box.locator('summary').click();
  await page.fill('#meta', text);
}

// Search from the form with the filter field; the hits' documents, or the
// status line's error
async function searchWithFilter(page, query, filter) {
  await page.fill('#q', query);
  await page.fill('#filter', filter);
  await page.locator('#search-status').evaluate((p) => { p.textContent = ''; p.dataset.kind = ''; });
  await page.press('#q', 'Enter');
  const status = await waitFor(async () => {
    const t = await page.locator('#search-status').textContent();
    return t && t !== 'Searching…' ? t : false;
  }, 'search answer for ' + filter);
  const docs = await page.locator('#hits li').evaluateAll((lis) => lis.map((li) => li.dataset.doc));
  const kind = await page.locator('#search-status').evaluate((p) => p.dataset.kind || '');
  return { status, kind, docs: kind === 'error' ? [] : docs };
}

function chipsOf(b, id) {
  return b.page.locator('#docs tr[data-doc="' + id + '"] .doc-meta .chip').allTextContents();
}

// The chips a document's attributes should give ("tags: contract, nda")
function chipsFor(meta) {
  return Object.entries(meta).map(([k, v]) => k + ': ' + (Array.isArray(v) ? v.join(', ') : String(v))).sort();
}

async function uploadTagged(b, srv, file, attrs) {
  await setAttributes(b.page, attrs);
  await b.page.setInputFiles('#files', file);
  const info = await waitRow(b, path.basename(file), ['completed', 'failed', 'refused']);
  check(info.state === 'completed', path.basename(file) + ' completed', info);
  const job = (await call(srv, 'GET', '/v1/jobs/' + info.job)).data.job;
  return job.document_id;
}

async function test_upload_with_attributes_then_filter(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const legal = await uploadTagged(b, srv, textDoc(tmp, 'lease.txt', 'lease'), 'team=legal\nyear=2024\ntags=contract,nda');
  const ops = await uploadTagged(b, srv, textDoc(tmp, 'rota.txt', 'rota'), '{"team": "ops", "year": 2023}');

  // The server has each document's attributes, typed as they were meant
  const byId = Object.fromEntries((await call(srv, 'GET', '/v1/documents')).data.documents.map((d) => [d.id, d]));
  check(JSON.stringify(byId[legal].meta) === JSON.stringify({ tags: ['contract', 'nda'], team: 'legal', year: 2024 }),
        'lease.txt carries its attributes', byId[legal]);
  check(JSON.stringify(byId[ops].meta) === JSON.stringify({ team: 'ops', year: 2023 }), 'rota.txt carries its own', byId[ops]);
  const one = await call(srv, 'GET', '/v1/documents/' + legal);
  check(one.data.document.meta.team === 'legal', 'and so does the single document', one.data);

  // Without a filter both are found; each filter keeps the matching one only
  let r = await searchWithFilter(page, 'grey heron sluice gate', '');
  check(r.docs.includes(legal) && r.docs.includes(ops), 'both found without a filter', r);
  for (const [filter, want] of [['team=legal', legal], ['year<2024', ops], ['tags~nda,other', legal],
                                ['team=ops; year>=2023', ops], ['{"year": {"gte": 2024}}', legal]]) {
    r = await searchWithFilter(page, 'grey heron sluice gate', filter);
    check(r.kind === '' && r.docs.length >= 1 && r.docs.every((d) => d === want), 'filter ' + filter + ' keeps one document', r);
  }
  r = await searchWithFilter(page, 'grey heron sluice gate', 'team=finance');
  check(r.docs.length === 0 && r.status === 'No matches.', 'a filter nothing matches: no hits', r);
  await shot(b, 'filtered');
  checkClean(b);
}

async function test_bad_filter_says_why(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const searches = () => b.requests.filter((u) => u.endsWith('/v1/search')).length;
  const ingests = () => b.requests.filter((u) => u.endsWith('/v1/ingest')).length;

  // Not a condition at all: the page says why and sends nothing
  let r = await searchWithFilter(page, 'heron', 'team');
  check(r.kind === 'error' && r.status.includes('Filter: "team" is not key=value'), 'the page says why', r);
  r = await searchWithFilter(page, 'heron', '{"team": ');
  check(r.kind === 'error' && r.status.includes('Filter: not valid JSON'), 'broken JSON said', r);
  check(searches() === 0, 'nothing was sent for a filter the page cannot read', b.requests);

  // Well-formed but refused by the server: its 400 reason is shown as it is
  const bad = { year: { between: [2020, 2024] } };
  const api = await call(srv, 'POST', '/v1/search', { query: 'heron', filter: bad });
  check(api.status === 400 && api.data.error.message, 'the server refuses the filter', api);
  r = await searchWithFilter(page, 'heron', JSON.stringify(bad));
  check(r.kind === 'error' && r.status === 'Search failed: ' + api.data.error.message, 'the server\'s reason shown', r, api.data);
  check(searches() === 1, 'that one was sent', searches());

  // The attributes box: an entry that is not key=value stops the upload
  const file = textDoc(tmp, 'memo.txt', 'memo');
  await setAttributes(page, 'team=legal\nlegal team');
  await page.setInputFiles('#files', file);
  await waitFor(async () => (await page.locator('#meta-status').textContent()).includes('"legal team" is not key=value'),
                'the box says why');
  check(await page.locator('#meta-status').evaluate((p) => p.dataset.kind) === 'error', 'shown as an error');
  check(await row(b, 'memo.txt').count() === 0 && ingests() === 0, 'no row and no upload', b.requests);

  // Attributes the server refuses: the row says the server's reason
  const refused = { 'bad key!': 1 };
  const apiIngest = await call(srv, 'POST', '/v1/ingest', { url: 'http://127.0.0.1:9/x.txt', meta: refused });
  check(apiIngest.status === 400 && apiIngest.data.error.message, 'the server refuses the attributes', apiIngest);
  await setAttributes(page, JSON.stringify(refused));
  await page.setInputFiles('#files', file);
  const info = await waitRow(b, 'memo.txt', ['refused', 'completed', 'failed']);
  check(info.state === 'refused' && info.job === null, 'refused, no job', info);
  check(info.error === 'Refused: ' + apiIngest.data.error.message + ' (HTTP 400)', 'the row shows the server\'s reason',
        info.error, apiIngest.data);
  check((await call(srv, 'GET', '/v1/documents')).data.documents.length === 0, 'nothing stored');
  await shot(b, 'bad-filter');
  checkClean(b, { allowProblems: [/status of 400 \(Bad Request\)/] });
}

async function test_library_shows_attributes(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const tagged = await uploadTagged(b, srv, textDoc(tmp, 'deed.txt', 'deed'),
                                    'team=legal\nyear=2024\ntags=contract,nda\nsigned=2024-03-01\nurgent=true');
  const plain = await uploadTagged(b, srv, textDoc(tmp, 'notes.txt', 'notes'), '');
  await waitFor(async () => (await libraryDocs(b)).length === 2, 'two documents in the library');
  const api = Object.fromEntries((await call(srv, 'GET', '/v1/documents')).data.documents.map((d) => [d.id, d.meta]));
  check(Object.keys(api[tagged]).length === 5 && Object.keys(api[plain]).length === 0, 'the server has them', api);
  const shown = await waitFor(async () => {
    const c = (await chipsOf(b, tagged)).sort();
    return c.length ? c : false;
  }, 'chips of deed.txt');
  check(JSON.stringify(shown) === JSON.stringify(chipsFor(api[tagged])), 'one chip per attribute, lists joined', shown);
  check(shown.includes('tags: contract, nda') && shown.includes('year: 2024') && shown.includes('urgent: true'),
        'chips read as typed', shown);
  check((await chipsOf(b, plain)).length === 0, 'no chips for a document without attributes');
  const label = await page.locator('#docs tr[data-doc="' + tagged + '"] .doc-meta').getAttribute('aria-label');
  check(label === 'Attributes', 'the chips are named for a screen reader', label);

  // Re-tagged elsewhere (the API): Refresh shows the change
  await call(srv, 'PATCH', '/v1/documents/' + plain + '/meta', { team: 'ops' });
  await page.getByRole('button', { name: 'Refresh' }).click();
  await waitFor(async () => (await chipsOf(b, plain)).join() === 'team: ops', 'chips after a re-tag');

  // On a phone the chips wrap inside the card: no sideways scrolling
  await page.setViewportSize({ width: 390, height: 844 });
  const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(width[0] <= width[1], 'no horizontal scroll at 390 px with chips', width);
  await shot(b, 'library-attributes');
  checkClean(b);
}

async function test_retag_from_library(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  const doc = await uploadTagged(b, srv, textDoc(tmp, 'lease.txt', 'lease'), 'team=legal\ntags=contract,nda');
  const title = (await call(srv, 'GET', '/v1/documents/' + doc)).data.document.title;
  const metaNow = async () => (await call(srv, 'GET', '/v1/documents/' + doc)).data.document.meta;
  const patches = () => b.requests.filter((u) => u.endsWith('/meta')).length;
  const edit = page.getByRole('button', { name: 'Edit attributes of ' + title });
  const field = page.getByRole('textbox', { name: 'Attributes of ' + title });
  const status = page.locator('#docs tr[data-doc="' + doc + '"] form.meta-edit .status-line');

  // From the keyboard: the editor opens with the attributes as they are
  await edit.focus();
  await page.keyboard.press('Enter');
  check(await field.evaluate((i) => i === document.activeElement), 'focus in the field');
  check(await field.inputValue() === 'tags=contract,nda; team=legal', 'the field holds the attributes', await field.inputValue());
  check(await edit.getAttribute('aria-expanded') === 'true', 'the button says it is open');

  // Not key=value: said, and nothing sent
  await field.fill('team=legal; oops');
  await page.keyboard.press('Enter');
  await waitFor(async () => (await status.textContent()).includes('"oops" is not key=value'), 'the reason');
  check(patches() === 0, 'nothing sent for an entry the page cannot read');

  // Refused by the server: its reason, the attributes unchanged
  await field.fill('bad key!=1');
  await page.keyboard.press('Enter');
  const api = await call(srv, 'PATCH', '/v1/documents/' + doc + '/meta', { 'bad key!': 1 });
  check(api.status === 400, 'the server refuses the key', api);
  await waitFor(async () => (await status.textContent()) === 'Not saved: ' + api.data.error.message,
                'the server\'s reason shown');
  check(JSON.stringify(await metaNow()) === JSON.stringify({ tags: ['contract', 'nda'], team: 'legal' }), 'unchanged');

  // Saved: a key changed, one added, one removed; chips and server agree
  await field.fill('team=ops; year=2025');
  await page.keyboard.press('Enter');
  await waitFor(async () => (await chipsOf(b, doc)).sort().join('|') === 'team: ops|year: 2025', 'new chips');
  check(JSON.stringify(await metaNow()) === JSON.stringify({ team: 'ops', year: 2025 }), 'the server has them', await metaNow());
  check(await field.isHidden() && await edit.evaluate((x) => x === document.activeElement), 'closed, focus back on its button');
  // a search filter sees the change
  const r = await searchWithFilter(page, 'grey heron', 'team=ops');
  check(r.docs.length >= 1 && r.docs.every((d) => d === doc), 'the filter finds the re-tagged document', r);

  // Escape closes without saving
  await edit.click();
  await field.fill('team=nobody');
  await page.keyboard.press('Escape');
  check(await field.isHidden(), 'Escape closes the editor');
  check((await metaNow()).team === 'ops', 'and saves nothing');
  checkClean(b, { allowProblems: [/status of 400 \(Bad Request\)/] });
}

// A big file goes as a resumable (tus) upload; a PATCH that dies mid-way is
// resumed from the offset the server holds, and the document is the file
async function test_upload_resumes_after_dropped_connection(tmp) {
  const [pdf] = corpusPdfs('currency.pdf');
  const size = fs.statSync(pdf).size;
  const piece = Math.max(4096, Math.floor(size / 4));
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  // Small limits so a test file takes several PATCHes (read when the page loads)
  await page.evaluate(([p]) => {
    localStorage.setItem('sluice.resumable_min', '1');
    localStorage.setItem('sluice.upload_piece', String(p));
  }, [piece]);
  await page.reload();
  await page.waitForFunction(() => document.getElementById('server').dataset.online !== 'unknown');
  const seen = [];
  let cut = false;
  await page.route('**/v1/uploads/**', async (route) => {
    const req = route.request();
    seen.push(req.method() + ' ' + (req.headers()['upload-offset'] || ''));
    // The second PATCH never arrives: the connection resets
    if (req.method() === 'PATCH' && !cut && seen.filter((m) => m.startsWith('PATCH')).length === 2) {
      cut = true;
      return route.abort('connectionreset');
    }
    return route.continue();
  });
  await page.setInputFiles('#files', pdf);
  const info = await waitRow(b, 'currency.pdf', ['completed', 'failed', 'refused']);
  check(info.state === 'completed', 'the resumed upload completes', info, seen);
  check(cut, 'a PATCH was cut', seen);
  const patches = seen.filter((m) => m.startsWith('PATCH'));
  const afterCut = seen.slice(seen.findIndex((m, i) => m.startsWith('PATCH') && seen.slice(0, i + 1)
    .filter((x) => x.startsWith('PATCH')).length === 2) + 1);
  check(afterCut[0].startsWith('HEAD'), 'after the cut the page asks where the upload stands', seen);
  check(patches.length === Math.ceil(size / piece) + 1, 'every piece sent once, the cut one twice', patches, size, piece);
  check(patches[2] === 'PATCH ' + piece, 'resumed at the offset the server held, not at 0', patches);
  const job = (await call(srv, 'GET', '/v1/jobs/' + info.job)).data.job;
  const content = await fetch(srv.origin + '/v1/documents/' + job.document_id + '/content');
  const got = Buffer.from(await content.arrayBuffer());
  check(got.equals(fs.readFileSync(pdf)), 'the stored document is the file, byte for byte', got.length, size);
  check(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('sluice.upload:')).length) === 0,
        'the finished upload is forgotten');
  checkClean(b, { allowProblems: [/ERR_CONNECTION_RESET|Failed to load resource|ERR_FAILED/] });
}

// Job control from the page: Cancel on a running job stops it (the server
// says cancelled), Retry on the cancelled row runs the same job again on
// the server until it completes
async function test_cancel_then_retry_buttons(tmp) {
  const docs = await new DocServer().start();
  const srv = await new Sluiced(tmp, { sets: [LOCAL] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  await page.fill('#urls', docs.url('held', 'puffin'));
  await page.getByRole('button', { name: 'Ingest URLs' }).click();
  let info = await waitRow(b, 'puffin', ['fetching']);
  const first = info.job;
  const cancel = row(b, 'puffin').getByRole('button', { name: 'Cancel puffin' });
  check(await cancel.isVisible(), 'Cancel offered on a running job');
  await cancel.click();
  info = await waitRow(b, 'puffin', ['cancelled']);
  check(info.stateText.includes('cancelled') && /^Cancelled during fetch: /.test(info.error), 'the row says cancelled, and where', info);
  check(!(await cancel.isVisible()), 'no Cancel on a finished job');
  check(info.stages[0].status === 'stopped' && info.stages[0].text === '⊘ stopped', 'fetch says stopped, not failed', info.stages[0]);
  const job = (await call(srv, 'GET', '/v1/jobs/' + first)).data.job;
  check(job.state === 'cancelled', 'the server says cancelled', job);
  await shot(b, 'cancelled');
  docs.open();
  await row(b, 'puffin').getByRole('button', { name: 'Retry puffin' }).click();
  info = await waitRow(b, 'puffin', ['completed'], 60000);
  check(info.job === first, 'the same job ran again on the server', info.job, first);
  checkAllFull(info, 'puffin');
  check((await call(srv, 'GET', '/v1/jobs/' + first)).data.job.state === 'completed', 'completed on the server');
  checkClean(b);
}

// Sources: a folder added from the page syncs, its last run's counts show;
// a file added on disk comes with "Sync now"; a folder outside the roots is
// refused with the server's reason; Delete takes the source's documents
async function test_sources_panel(tmp) {
  const root = path.join(tmp, 'shared');
  fs.mkdirSync(root);
  textDoc(root, 'avocet.txt', 'avocet');
  textDoc(root, 'bittern.txt', 'bittern');
  const srv = await new Sluiced(tmp, { sets: ['fetch.file_roots=' + root, 'sources.poll_ms=200'] }).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  await page.getByLabel('Kind').selectOption('folder');
  await page.getByLabel('Folder path, URLs (one per line) or the sitemap\'s URL').fill(path.join(tmp, 'elsewhere'));
  await page.getByRole('button', { name: 'Add source' }).click();
  await waitFor(async () => (await page.locator('#sources-status').textContent()).startsWith('Not added: folder '),
                'a folder outside the roots is refused with the reason');
  await page.getByLabel('Folder path, URLs (one per line) or the sitemap\'s URL').fill(root);
  await page.getByLabel('Schedule').fill('every 1h');
  await page.getByRole('button', { name: 'Add source' }).click();
  const runText = () => page.locator('#sources li.source .source-run').first().textContent();
  await waitFor(async () => (await runText()).includes('2 new'), 'the first sync shows 2 new', 60000);
  check((await page.locator('#sources li.source .source-schedule').textContent()).includes('every 1h'),
        'the schedule is shown');
  await waitFor(async () => (await libraryDocs(b)).length === 2, 'the library shows what it brought');
  textDoc(root, 'curlew.txt', 'curlew');
  await page.getByRole('button', { name: 'Sync ' + root + ' now' }).click();
  await waitFor(async () => (await runText()).includes('1 new') && (await runText()).includes('2 unchanged'),
                'the new file came with Sync now', 60000);
  await waitFor(async () => (await libraryDocs(b)).length === 3, 'and it is in the library');
  await shot(b, 'sources');
  await page.getByRole('button', { name: 'Delete source ' + root + ' and its documents' }).click();
  await waitFor(async () => (await page.locator('#sources li.source').count()) === 0, 'the source is gone');
  await waitFor(async () => (await libraryDocs(b)).length === 0, 'with its documents');
  checkClean(b, { allowProblems: [/status of 400 \(Bad Request\)/] });
}

// Pause and resume this workspace's intake from the page (a document added
// while paused is held, then completes), and re-chunk a stored document
// from the library: a job of its own that neither fetches nor parses
async function test_pause_resume_and_rechunk(tmp) {
  const srv = await new Sluiced(tmp).start();
  const b = await openBrowser(tmp, srv);
  const { page } = b;
  await page.setInputFiles('#files', textDoc(tmp, 'first.txt', 'first'));
  check((await waitRow(b, 'first.txt', ['completed', 'failed'])).state === 'completed', 'first.txt completed');
  const toggle = page.locator('#intake-toggle');
  await waitFor(async () => (await toggle.isVisible()) && (await toggle.textContent()) === 'Pause intake', 'the pause button');
  await toggle.click();
  await waitFor(async () => (await toggle.textContent()) === 'Resume intake', 'the button turns to resume');
  check((await call(srv, 'GET', '/v1/workspace')).data.paused === true, 'the server says paused');
  await page.setInputFiles('#files', textDoc(tmp, 'second.txt', 'second'));
  await waitFor(async () => (await rowInfo(b, 'second.txt')).message.includes('held'), 'second.txt held');
  await waitFor(async () => /held/.test(await page.locator('#intake-status').textContent()), 'the status counts it');
  const held = (await rowInfo(b, 'second.txt')).job;
  check((await call(srv, 'GET', '/v1/jobs/' + held)).data.job.held === true, 'the server holds the job');
  await toggle.click();
  check((await waitRow(b, 'second.txt', ['completed', 'failed'])).state === 'completed', 'resumed, it completes');
  check((await toggle.textContent()) === 'Pause intake' && (await call(srv, 'GET', '/v1/workspace')).data.paused === false,
        'running again');

  // Re-chunk from the library
  const docs = await waitFor(async () => { const d = await libraryDocs(b); return d.length === 2 ? d : false; }, 'two documents');
  const first = (await call(srv, 'GET', '/v1/documents')).data.documents.find((d) => d.source.endsWith('first.txt'));
  const title = await page.locator('#docs tr[data-doc="' + first.id + '"] .doc-title').textContent();
  check(docs.some((d) => d.id === first.id), 'first.txt in the library', docs);
  const before = await page.locator('#jobs > li').count();
  await page.locator('#docs tr[data-doc="' + first.id + '"]').getByRole('button', { name: /^Re-chunk / }).click();
  await waitFor(async () => (await page.locator('#jobs > li').count()) === before + 1, 'a row for the re-chunk');
  const info = await waitRow(b, title, ['completed', 'failed']);
  check(info.state === 'completed', 're-chunk completed', info);
  const job = (await call(srv, 'GET', '/v1/jobs/' + info.job)).data.job;
  check(job.document_id === first.id && job.state === 'completed', 'the same document, cut again', job);
  check(!job.stages || !job.stages.fetch || !job.stages.fetch.started, 'without fetching it again', job.stages);

  // Re-embed from the library: the chunks stay, only embed and store run
  const rows = await page.locator('#jobs > li').count();
  await page.locator('#docs tr[data-doc="' + first.id + '"]').getByRole('button', { name: /^Re-embed / }).click();
  await waitFor(async () => (await page.locator('#jobs > li').count()) === rows + 1, 'a row for the re-embed');
  // (two rows carry the document's name now: the newest, on top, is the re-embed's)
  const again = await waitFor(async () => {
    const r = await page.locator('#jobs > li').first()
      .evaluate((li) => ({ state: li.dataset.state, job: li.dataset.job || null }));
    return r.job && r.job !== info.job && ['completed', 'failed'].includes(r.state) ? r : false;
  }, 'the re-embed finished', 60000);
  check(again.state === 'completed', 're-embed completed', again);
  // (the journal records a stage's start from its event, which can reach
  // it after the store completed the job: wait for embed's)
  const ejob = await waitFor(async () => {
    const j = (await call(srv, 'GET', '/v1/jobs/' + again.job)).data.job;
    return j.stages && j.stages.embed && j.stages.embed.started ? j : false;
  }, 'the re-embed job to record its embed stage', 15000);
  check(ejob.document_id === first.id && ejob.state === 'completed', 'the same document, embedded again', ejob);
  check(!(ejob.stages.chunk && ejob.stages.chunk.started) && !(ejob.stages.parse && ejob.stages.parse.started),
        'embed ran, chunk and parse did not', ejob.stages);
  checkClean(b);
}

const TESTS = [test_upload_two_pdfs_search_delete, test_failing_file_shows_reason, test_restart_mid_ingest,
               test_restart_edge_before_broker, test_many_at_once, test_api_key, test_keyboard_phone_and_steady_layout, test_rows_in_every_state,
               test_hit_section_and_badges, test_scan_shows_ocr_stage, test_hit_opens_its_page,
               test_hit_opens_its_page_with_key, test_upload_with_attributes_then_filter, test_bad_filter_says_why,
               test_library_shows_attributes, test_retag_from_library, test_upload_resumes_after_dropped_connection,
               test_cancel_then_retry_buttons, test_sources_panel, test_pause_resume_and_rechunk];

async function main() {
  const only = new Set(process.argv.slice(2));
  const names = new Set(TESTS.map((t) => t.name));
  const unknown = [...only].filter((n) => !names.has(n));
  if (unknown.length) {
    console.log('unknown test(s): ' + unknown.join(', '));
    return 2;
  }
  if (!fs.existsSync(SLUICED)) {
    console.log('no sluiced at ' + SLUICED + ' (set SLUICED)');
    return 2;
  }
  let passed = 0, failed = 0, skipped = 0;
  for (const t of TESTS) {
    if (only.size && !only.has(t.name)) continue;
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-web-'));
    const t0 = Date.now();
    try {
      await t(tmp);
      passed++;
      console.log('ok   ' + t.name + ' (' + ((Date.now() - t0) / 1000).toFixed(1) + ' s)');
    } catch (e) {
      if (e instanceof Skip) {
        skipped++;
        console.log('SKIP ' + t.name + ': ' + e.message);
      } else {
        failed++;
        console.log('FAIL ' + t.name);
        console.log(e.stack || String(e));
        for (const f of fs.readdirSync(tmp).filter((f) => f.endsWith('.log'))) {
          const lines = fs.readFileSync(path.join(tmp, f), 'utf8').split('\n');
          console.log('---- ' + f + ' (tail)\n' + lines.slice(-30).join('\n'));
        }
      }
    } finally {
      while (cleanups.length) {
        try { await cleanups.pop()(); } catch (e) { /* best effort */ }
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  console.log(passed + ' passed, ' + failed + ' failed, ' + skipped + ' skipped');
  if (failed) return 1;
  return skipped && !passed ? 77 : 0;
}

process.exitCode = await main();

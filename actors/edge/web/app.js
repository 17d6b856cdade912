/*  app.js: the Sluice page. Plain JavaScript, no framework, no build step;
    served by the edge from the copy compiled into sluiced (web.cmake).

    What lives here, top to bottom:
      - api(): every JSON call, with the API key as a Bearer header and the
        server's {"error": {...}} turned into a message a person can read;
      - the ingest queue: each file or URL is its own request (one upload at a
        time, with upload progress), so each document has its own row; files
        of RESUMABLE_MIN bytes or more go as resumable tus uploads
        (/v1/uploads, in PATCHes of UPLOAD_PIECE): a dropped connection is
        resumed from the offset the server holds, and the upload's address
        is kept in localStorage by file name, size and date, so picking
        the same file again after a reload resumes it too;
      - progress rows: one per document, five stage bars (a sixth, ocr, for
        a document with scanned pages, from its first event) fed by EventSource on
        /v1/jobs/{id}/events. A stream that drops (server restart) is picked
        up again where it stopped: natively with Last-Event-ID, or, when the
        browser gives up (a 503 while the server comes back), by a new
        EventSource with ?last_event_id=. Events carry their sequence number,
        so a replayed event is recognised and ignored;
      - at most MAX_STREAMS streams are open at once: browsers allow six HTTP/1.1
        connections per server, and the page must keep some for its own calls.
        Rows without a stream follow GET /v1/jobs until a stream is free;
      - the library (documents, with delete) and search (hits with the words
        the ranking matched marked, from the API's highlights, and a link that
        opens the stored document at the hit's page).
    Text from the server is always inserted as text (textContent), never as
    markup. The page talks to its own origin only (the CSP says so too).
*/
(function () {
  'use strict';

  // The job row's stages (GET /v1/jobs); every row shows their bars
  const STAGES = ['fetch', 'parse', 'chunk', 'embed', 'store'];
  // Stages only some jobs go through, each with the stage it follows: its bar
  // is added when its first event arrives. The job row has no columns for
  // ocr and counts it as parsing (state "parsing", parse's slice of percent).
  const OPTIONAL = { ocr: 'parse' };
  const RUNNING = { fetch: 'fetching', parse: 'parsing', ocr: 'reading scans', chunk: 'chunking', embed: 'embedding',
                    store: 'storing' };
  const EVENT_TYPES = ['job_started', 'stage_started', 'stage_progress', 'stage_completed', 'stage_retry',
                       'job_completed', 'job_failed', 'job_cancelled', 'job_held', 'heartbeat'];
  const MAX_STREAMS = 4;
  const MAX_UPLOADS = 1;
  const POLL_MS = 1500;
  const STALE_MS = 45000;          // no event nor heartbeat for this long: reopen the stream
  const LIBRARY_PAGE = 100;
  const KEY_STORE = 'sluice.key';
  const UPLOAD_STORE = 'sluice.upload:';     // + name:size:lastModified -> /v1/uploads/{id}
  // Overridable through localStorage (tests use small ones)
  const RESUMABLE_MIN = Number(localGet('sluice.resumable_min')) || 8 * 1024 * 1024;
  const UPLOAD_PIECE = Number(localGet('sluice.upload_piece')) || 8 * 1024 * 1024;
  const UPLOAD_TRIES = 8;          // failed requests in a row before an upload gives up
  const JOBS_STORE = 'sluice.jobs';

  const $ = (id) => document.getElementById(id);

  function localGet(k) {
    try { return localStorage.getItem(k); } catch (e) { return null; }
  }

  let apiKey = '';
  try { apiKey = localStorage.getItem(KEY_STORE) || ''; } catch (e) { /* storage disabled */ }
  let online = null;                // null: not known yet
  let rowSeq = 0;
  const rows = [];                  // progress rows, in display order
  const ingestQueue = [];           // rows waiting for their ingest request
  let uploading = 0;
  let clockSkew = null;             // local clock minus server clock, ms (best estimate)

  // ------------------------------------------------------------------------
  // Small helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'title'
               || k === 'type' || k === 'id' || k === 'datetime' || k === 'max' || k === 'value'
               || k === 'for' || k === 'hidden' || k === 'disabled') node.setAttribute(k, v === true ? '' : v);
      else node[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function announce(text) {
    const box = $('announce');
    box.textContent = '';
    // A fresh node each time, so screen readers read repeated messages too
    window.setTimeout(() => { box.textContent = text; }, 50);
  }

  function formatBytes(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n / 1024, i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
  }

  function formatDuration(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) ms = 0;
    if (ms < 1000) return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(1) + ' s';
    const m = Math.floor(s / 60), rs = Math.floor(s % 60);
    if (m < 60) return m + ' min ' + String(rs).padStart(2, '0') + ' s';
    return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' min';
  }

  function formatWhen(ms) {
    if (!ms) return { text: '–', title: '' };
    const d = new Date(ms);
    const ago = Date.now() - ms;
    let text;
    if (ago < 60000) text = 'just now';
    else if (ago < 3600000) text = Math.floor(ago / 60000) + ' min ago';
    else if (ago < 86400000) text = Math.floor(ago / 3600000) + ' h ago';
    else text = d.toLocaleDateString();
    return { text, title: d.toLocaleString(), iso: d.toISOString() };
  }

  function basename(source) {
    if (!source) return '';
    const s = String(source).replace(/[?#].*$/, '').replace(/\/+$/, '');
    const i = s.lastIndexOf('/');
    return decodeURIComponentSafe(i >= 0 ? s.slice(i + 1) : s) || String(source);
  }

  function decodeURIComponentSafe(s) {
    try { return decodeURIComponent(s); } catch (e) { return s; }
  }

  // Server timestamps (ms) on the local clock, so elapsed times tick right
  // even when the two clocks differ.
  function noteServerTime(ts) {
    if (typeof ts !== 'number') return;
    const skew = Date.now() - ts;
    if (clockSkew === null || skew < clockSkew) clockSkew = skew;
  }
  function toLocal(ts) { return ts + (clockSkew || 0); }

  // ------------------------------------------------------------------------
  // API

  class ApiError extends Error {
    constructor(status, message, retryAfter) {
      super(message);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function authHeaders() {
    return apiKey ? { Authorization: 'Bearer ' + apiKey } : {};
  }

  function errorMessage(status, data, fallback) {
    const m = data && data.error && data.error.message;
    if (m) return m;
    if (status === 0) return 'cannot reach the server';
    return fallback || ('HTTP ' + status);
  }

  async function api(method, path, body) {
    const opts = { method, headers: authHeaders(), cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      setOnline(false);
      throw new ApiError(0, 'cannot reach the server');
    }
    setOnline(true);
    let data = null;
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401) needKey(data);
    if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, data, res.statusText),
                                    res.headers.get('Retry-After'));
    return data;
  }

  // ------------------------------------------------------------------------
  // Server status and the API key

  let healthTimer = null;

  function setOnline(yes) {
    if (online === yes) return;
    const was = online;
    online = yes;
    const box = $('server');
    box.dataset.online = yes ? 'yes' : 'no';
    if (!yes) {
      $('server-text').textContent = 'Server unreachable — reconnecting…';
      if (!healthTimer) healthTimer = window.setInterval(checkHealth, 2000);
    } else {
      if (healthTimer) { window.clearInterval(healthTimer); healthTimer = null; }
      if (was === false) {
        // Back after an outage: refresh what may have changed meanwhile
        announce('Connected to the server again.');
        refreshStatus();
        loadLibrary();
        for (const row of rows) if (row.conn === 'reconnecting' && !row.es) openStream(row);
      }
    }
  }

  async function checkHealth() {
    try {
      const res = await fetch('/healthz', { cache: 'no-store' });
      setOnline(res.ok);
    } catch (e) {
      setOnline(false);
    }
  }

  async function refreshStatus() {
    try {
      const s = await api('GET', '/v1/status');
      const parts = [];
      if (s.model) parts.push('Model ' + s.model);
      if (typeof s.documents === 'number') parts.push(s.documents + (s.documents === 1 ? ' document' : ' documents'));
      if (typeof s.chunks === 'number') parts.push(s.chunks + (s.chunks === 1 ? ' chunk' : ' chunks'));
      $('server-text').textContent = 'Connected' + (parts.length ? ' · ' + parts.join(' · ') : '');
    } catch (e) {
      if (e.status === 401) $('server-text').textContent = 'Connected · API key needed';
      else if (e.status) $('server-text').textContent = 'Server: ' + e.message;
    }
  }

  function needKey(data) {
    const panel = $('auth');
    const wasHidden = panel.hidden;
    panel.hidden = false;
    $('auth-msg').textContent = apiKey
      ? 'The server refused this API key (' + errorMessage(401, data, 'invalid key') + '). Enter another one.'
      : 'This server needs an API key. It is kept in this browser only.';
    if (wasHidden) {
      $('key').focus();
      announce('This server needs an API key.');
    }
  }

  function setKey(value) {
    apiKey = value;
    try {
      if (value) localStorage.setItem(KEY_STORE, value);
      else localStorage.removeItem(KEY_STORE);
    } catch (e) { /* storage disabled: keep it for this page only */ }
  }

  async function useKey(value) {
    setKey(value);
    try {
      await api('GET', '/v1/status');
      $('auth').hidden = true;
      announce('API key accepted.');
      refreshStatus();
      loadLibrary();
      // Streams opened with the old key (or none) are reopened with the new one
      for (const row of rows) {
        if (row.jobId && !row.terminal) { closeStream(row); openStream(row); }
        if (row.state === 'refused' && row.lastStatus === 401) retry(row);
      }
      pumpIngest();
    } catch (e) {
      if (e.status !== 401) {
        $('auth-msg').textContent = 'Could not check the key: ' + e.message;
      }
    }
  }

  // ------------------------------------------------------------------------
  // Progress rows

  function newRow(kind, name, extra) {
    const row = Object.assign({
      uid: ++rowSeq, kind, name, jobId: null, state: 'waiting', conn: 'idle', terminal: false,
      stages: {}, lastSeq: 0, run: 0, message: '', error: null, created: null, finished: null,
      startLocal: Date.now(), es: null, lastSeen: 0, reopenDelay: 1000, reopenTimer: null,
      closedFailures: 0, lastStatus: 0
    }, extra || {});
    buildRow(row);
    resetStages(row);
    rows.push(row);
    $('jobs').prepend(row.el.li);
    updateEmpty();
    render(row);
    return row;
  }

  function buildRow(row) {
    const id = 'job-' + row.uid;
    const refs = {};
    refs.name = el('span', { class: 'job-name', id: id + '-name', text: row.name, title: row.source || row.name });
    refs.icon = el('span', { class: 'icon', 'aria-hidden': 'true' });
    refs.stateText = el('span', { class: 'state-text' });
    refs.state = el('span', { class: 'job-state' }, refs.icon, refs.stateText);
    refs.time = el('span', { class: 'job-time', title: 'Elapsed time' });
    refs.stages = {};
    refs.stageList = el('div', { class: 'stages' });
    refs.msg = el('p', { class: 'job-msg' });
    refs.errText = el('p');
    refs.retry = el('button', { type: 'button', class: 'retry', text: 'Retry',
                                'aria-label': 'Retry ' + row.name });
    refs.retry.addEventListener('click', () => retry(row));
    refs.error = el('div', { class: 'job-error', hidden: true }, refs.errText, refs.retry);
    // Cancel: on a job the server is running (POST /v1/jobs/{id}/cancel)
    refs.cancel = el('button', { type: 'button', class: 'cancel', text: 'Cancel', hidden: true,
                                 'aria-label': 'Cancel ' + row.name });
    refs.cancel.addEventListener('click', () => cancel(row));
    refs.li = el('li', { class: 'job', 'data-uid': String(row.uid), 'aria-labelledby': id + '-name' },
                 el('div', { class: 'job-head' }, refs.name, refs.state, refs.time, refs.cancel),
                 refs.stageList, refs.msg, refs.error);
    row.el = refs;
  }

  function stageBox(row, s) {
    const id = 'job-' + row.uid;
    const label = el('span', { class: 'stage-name', id: id + '-' + s, text: s });
    const pct = el('span', { class: 'stage-pct' });
    const bar = el('progress', { max: '100', value: '0', 'aria-labelledby': id + '-' + s + ' ' + id + '-name' });
    const box = el('div', { class: 'stage', 'data-stage': s, 'data-status': 'pending' },
                   el('div', { class: 'stage-top' }, label, pct), bar);
    row.el.stages[s] = { box, bar, pct };
    row.stages[s] = { pct: 0, status: 'pending', duration: null };
    return box;
  }

  // Back to the five bars, none started (a new row, a retry)
  function resetStages(row) {
    for (const s of Object.keys(row.el.stages)) row.el.stages[s].box.remove();
    row.el.stages = {};
    row.stages = {};
    row.shown = STAGES.slice();
    for (const s of STAGES) row.el.stageList.append(stageBox(row, s));
  }

  // The row's stage by name, its bar added first if it is an optional
  // stage seen for the first time; null for a name the page does not know.
  function stageOf(row, s) {
    if (!row.stages[s] && OPTIONAL[s]) {
      const after = OPTIONAL[s];
      row.el.stages[after].box.after(stageBox(row, s));
      row.shown.splice(row.shown.indexOf(after) + 1, 0, s);
    }
    return row.stages[s] || null;
  }

  function stateWords(row) {
    switch (row.state) {
      case 'waiting': return ['…', 'waiting'];
      case 'uploading': return ['↑', 'uploading'];
      case 'queued': return ['…', 'queued'];
      case 'completed': return ['✓', 'completed'];
      case 'failed': return ['✗', 'failed'];
      case 'cancelled': return ['⊘', 'cancelled'];
      case 'refused': return ['✗', 'refused'];
      default: return ['⟳', row.state];
    }
  }

  function elapsedMs(row) {
    const start = row.created !== null ? toLocal(row.created) : row.startLocal;
    const end = row.finished !== null ? toLocal(row.finished) : (row.terminal ? start : Date.now());
    return Math.max(0, end - start);
  }

  function render(row) {
    const r = row.el;
    const li = r.li;
    li.dataset.state = row.state;
    li.dataset.conn = row.conn;
    if (row.jobId) li.dataset.job = row.jobId;
    li.dataset.seq = String(row.lastSeq);
    const [icon, words] = stateWords(row);
    r.icon.textContent = icon;
    r.stateText.textContent = words;
    // A non-breaking space keeps the line's height when there is no time yet
    r.time.textContent = row.state === 'waiting' || row.state === 'refused' ? '\u00a0' : formatDuration(elapsedMs(row));
    for (const s of row.shown) {
      const st = row.stages[s];
      const ui = r.stages[s];
      ui.box.dataset.status = st.status;
      const value = String(Math.round(st.pct));
      if (ui.bar.getAttribute('value') !== value) ui.bar.setAttribute('value', value);
      let text;
      if (st.status === 'done') text = '✓ ' + (st.duration !== null ? formatDuration(st.duration) : '100%');
      else if (st.status === 'failed') text = '✗ failed';
      else if (st.status === 'stopped') text = '⊘ stopped';
      else if (st.status === 'retry') text = '↻ retry';
      else if (st.status === 'running') text = Math.round(st.pct) + '%';
      else text = '';
      ui.pct.textContent = text;
      ui.bar.setAttribute('aria-valuetext', text ? s + ' ' + text.replace('✓', 'done').replace('✗', '') : s + ' not started');
    }
    let msg = row.message;
    if (row.conn === 'reconnecting' && !row.terminal) msg = 'Connection lost — reconnecting…';
    r.msg.textContent = msg || '\u00a0';
    r.msg.title = msg || '';
    r.cancel.hidden = !row.jobId || row.terminal;
    const failed = row.state === 'failed' || row.state === 'refused' || row.state === 'cancelled';
    r.error.hidden = !failed;
    if (failed && row.error) {
      r.errText.textContent = '';
      const where = row.state === 'cancelled' ? 'Cancelled' + (row.error.stage ? ' during ' + row.error.stage : '') + ': '
                  : row.error.stage ? 'Failed at ' + row.error.stage + ': ' : (row.state === 'refused' ? 'Refused: ' : 'Failed: ');
      r.errText.append(el('strong', { text: where }), row.error.reason || 'no reason given');
      // Sent again from the page when it holds the file or URL, else
      // retried by the server (same source, no upload again)
      const canRetry = (!!row.jobId && row.state !== 'refused') || (row.kind === 'url' ? !!row.url : !!row.file);
      r.retry.disabled = !canRetry;
      r.retry.title = canRetry ? '' : 'The file is no longer in this page: choose it again to retry';
    }
    $('clear-done').disabled = !rows.some((x) => x.terminal);
  }

  function updateEmpty() {
    $('jobs-empty').hidden = rows.length > 0;
  }

  function saveRows() {
    const keep = rows.filter((r) => r.jobId).map((r) => ({
      jobId: r.jobId, name: r.name, kind: r.kind, url: r.url || null, source: r.source || null
    }));
    try { sessionStorage.setItem(JOBS_STORE, JSON.stringify(keep.slice(-200))); } catch (e) { /* ignore */ }
  }

  function resetRow(row) {
    closeStream(row);
    row.jobId = null;
    row.terminal = false;
    row.state = 'waiting';
    row.conn = 'idle';
    row.lastSeq = 0;
    row.run = 0;
    row.message = '';
    row.error = null;
    row.created = null;
    row.finished = null;
    row.startLocal = Date.now();
    row.closedFailures = 0;
    resetStages(row);
  }

  async function cancel(row) {
    if (!row.jobId || row.terminal) return;
    row.el.cancel.disabled = true;
    try {
      const data = await api('POST', '/v1/jobs/' + encodeURIComponent(row.jobId) + '/cancel');
      applyJob(row, data.job);
    } catch (e) {
      // 409: it finished meanwhile; its stream or the next poll says how
      row.message = 'Cannot cancel: ' + e.message;
      render(row);
    } finally {
      row.el.cancel.disabled = false;
    }
  }

  // Retry a failed or cancelled job on the server: it runs again from its
  // start and its stream goes on from the events already seen
  async function retryOnServer(row) {
    try {
      const data = await api('POST', '/v1/jobs/' + encodeURIComponent(row.jobId) + '/retry');
      closeStream(row);
      if (data.job && typeof data.job.run === 'number') row.run = data.job.run;
      row.terminal = false;
      row.error = null;
      row.finished = null;
      row.closedFailures = 0;
      row.state = 'queued';
      row.message = data.job && data.job.held ? 'held: the workspace is paused' : '';
      resetStages(row);
      render(row);
      pumpStreams();
      announce('Retrying ' + row.name + '.');
      return true;
    } catch (e) {
      // 410: its upload was collected; anything else: say why, keep the row
      if (e.status === 410 && (row.kind === 'url' ? row.url : row.file)) return false;
      row.message = 'Cannot retry: ' + e.message;
      render(row);
      return true;
    }
  }

  async function retry(row) {
    if (!row.terminal && row.state !== 'refused') return;
    // A cancelled job, or a failed one whose file this page no longer
    // holds, is retried by the server; otherwise the page sends it again
    const here = row.kind === 'url' ? !!row.url : !!row.file;
    if (row.jobId && (row.state === 'cancelled' || (row.state === 'failed' && !here))
    &&  await retryOnServer(row)) return;
    if (row.kind === 'file' && !row.file) return;
    resetRow(row);
    render(row);
    ingestQueue.push(row);
    pumpIngest();
    announce('Retrying ' + row.name + '.');
  }

  function finish(row, how, detail) {
    row.terminal = true;
    closeStream(row);
    if (how === 'completed') {
      row.state = 'completed';
      for (const s of row.shown) {
        const st = row.stages[s];
        st.status = 'done';
        st.pct = 100;
      }
      row.message = (row.documentId ? 'Stored as document ' + row.documentId : 'Stored') + identityNote(row);
      announce(row.name + ' completed.');
      libraryChanged();
    } else if (how === 'cancelled') {
      row.state = 'cancelled';
      row.error = detail;
      const st = detail && detail.stage ? stageOf(row, detail.stage) : null;
      if (st && st.status !== 'done') st.status = 'stopped';
      row.message = '';
      announce(row.name + ' cancelled.');
    } else {
      row.state = 'failed';
      row.error = detail;
      // The job row says parse for a failure in OCR: after parse finished
      // and OCR started, it was OCR's
      const ocr = row.stages.ocr;
      if (detail && detail.stage === 'parse' && ocr && ocr.status !== 'done' && row.stages.parse.status === 'done') {
        detail.stage = 'ocr';
      }
      const st = detail && detail.stage ? stageOf(row, detail.stage) : null;
      if (st) st.status = 'failed';
      row.message = '';
      announce(row.name + ' failed' + (detail && detail.stage ? ' at ' + detail.stage : '') + ': ' +
               ((detail && detail.reason) || 'no reason given'));
    }
    render(row);
    pumpStreams();
  }

  // The server says when a document took the place of an earlier one of
  // the same name ("replaced": its id, or true) or its bytes were already
  // stored ("duplicate_of"), on the job and on job_completed.
  function noteIdentity(row, o) {
    if (!o) return;
    if (o.replaced) row.replaced = o.replaced;
    if (o.duplicate_of) row.duplicateOf = o.duplicate_of;
  }

  function identityNote(row) {
    let note = '';
    if (row.replaced) note += typeof row.replaced === 'string' ? ' · replaces document ' + row.replaced
                                                                : ' · replaces an earlier version';
    if (row.duplicateOf) note += ' · same bytes as document ' + row.duplicateOf;
    return note;
  }

  // Apply one event from the job's stream.
  function onEvent(row, ev) {
    row.lastSeen = Date.now();
    if (ev.type === 'heartbeat') return;
    const seq = parseInt(ev.lastEventId, 10);
    if (seq > 0) {
      if (seq <= row.lastSeq) return;       // already seen (a replay after a reconnect)
      row.lastSeq = seq;
    }
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    // A retried job's stream holds its earlier runs too (the cancel this
    // page did not see through the stream, a late report of the cancelled
    // run): only the run the row follows speaks for it
    if ((Number(d.run) || 0) < (row.run || 0)) return;
    noteServerTime(d.ts);
    if (row.conn !== 'live') row.conn = 'live';
    row.reopenDelay = 1000;
    row.closedFailures = 0;
    const st = d.stage ? stageOf(row, d.stage) : null;
    switch (ev.type) {
      case 'job_started':
        if (row.created === null && typeof d.ts === 'number') row.created = d.ts;
        if (row.state === 'queued' || row.state === 'waiting') row.state = 'queued';
        break;
      case 'stage_started':
        if (st && st.status !== 'done') {
          st.status = 'running';
          st.pct = 0;
          row.state = RUNNING[d.stage] || d.stage;
          row.message = '';
        }
        break;
      case 'stage_progress':
        if (st && st.status !== 'done') {
          st.status = 'running';
          st.pct = Math.max(0, Math.min(100, Number(d.percent) || 0));
          row.state = RUNNING[d.stage] || d.stage;
          if (d.message) row.message = d.stage + ': ' + d.message;
        }
        break;
      case 'stage_completed':
        if (st) {
          st.status = 'done';
          st.pct = 100;
          if (typeof d.duration_ms === 'number') st.duration = d.duration_ms;
        }
        break;
      case 'stage_retry':
        if (st && st.status !== 'done') {
          st.status = 'retry';
          row.message = d.stage + ': retrying (' + (d.reason || 'temporary failure') + ')';
        }
        break;
      case 'job_completed':
        row.documentId = d.document_id || row.documentId;
        noteIdentity(row, d);
        row.finished = typeof d.ts === 'number' ? d.ts : null;
        finish(row, 'completed');
        return;
      case 'job_failed':
        row.finished = typeof d.ts === 'number' ? d.ts : null;
        finish(row, 'failed', { stage: d.stage || '', reason: d.reason || d.error || '' });
        return;
      case 'job_cancelled':
        row.finished = typeof d.ts === 'number' ? d.ts : null;
        finish(row, 'cancelled', { stage: d.stage || '', reason: 'stopped on request; nothing of it was stored' });
        return;
      case 'job_held':
        row.state = 'queued';
        row.message = 'held: the workspace is paused';
        refreshIntake();
        break;
      default:
        return;
    }
    render(row);
  }

  // Fill a row from a job object (GET /v1/jobs): for rows without a stream,
  // and for rows restored after a reload.
  function applyJob(row, job) {
    if (!job || row.terminal) return;
    if (typeof job.run === 'number' && job.run > (row.run || 0)) row.run = job.run;
    noteServerTime(job.updated);
    if (typeof job.created === 'number') row.created = job.created;
    if (job.source && !row.source) row.source = job.source;
    const stages = job.stages || {};
    const current = STAGES.indexOf(job.stage);
    STAGES.forEach((s, i) => {
      const st = row.stages[s];
      const info = stages[s] || {};
      if (info.finished) {
        st.status = 'done';
        st.pct = 100;
        // (an event's duration stays: the job row's parse time takes in OCR's)
        if (typeof info.duration_ms === 'number' && st.duration === null) st.duration = info.duration_ms;
      } else if (i === current && st.status !== 'done') {
        // The job's percent is overall: five equal slices, one per stage
        st.status = 'running';
        st.pct = Math.max(st.pct, Math.max(0, Math.min(100, (job.percent || 0) * STAGES.length - i * 100)));
      }
    });
    // An ocr bar (from events) the job row knows only as parsing: running
    // while the row is in parse with parse finished, done once it is past
    const ocr = row.stages.ocr;
    const parse = STAGES.indexOf('parse');
    let ocrRunning = false;
    if (ocr && ocr.status !== 'done') {
      if (current > parse) {
        ocr.status = 'done';
        ocr.pct = 100;
      } else if (current === parse && row.stages.parse.status === 'done' && job.state === 'parsing') {
        ocrRunning = true;
        ocr.status = 'running';
        ocr.pct = Math.max(ocr.pct, Math.max(0, Math.min(100, (job.percent || 0) * STAGES.length - parse * 100)));
      }
    }
    if (job.state === 'completed') {
      row.documentId = job.document_id;
      noteIdentity(row, job);
      row.finished = job.updated || null;
      finish(row, 'completed');
    } else if (job.state === 'failed') {
      row.finished = job.updated || null;
      finish(row, 'failed', { stage: job.error_stage || '', reason: job.error || '' });
    } else if (job.state === 'cancelled') {
      row.finished = job.updated || null;
      finish(row, 'cancelled', { stage: job.stage || '', reason: 'stopped on request; nothing of it was stored' });
    } else {
      if (job.held) row.message = 'held: the workspace is paused';
      row.state = ocrRunning ? RUNNING.ocr : job.state;
      render(row);
    }
  }

  // ------------------------------------------------------------------------
  // Event streams

  function streamCount() {
    return rows.filter((r) => r.es).length;
  }

  function pumpStreams() {
    for (const row of rows.slice().reverse()) {       // oldest first
      if (streamCount() >= MAX_STREAMS) break;
      if (row.jobId && !row.terminal && !row.es && !row.reopenTimer) openStream(row);
    }
    schedulePoll();
  }

  function openStream(row) {
    if (row.es || row.terminal || !row.jobId) return;
    if (streamCount() >= MAX_STREAMS) { schedulePoll(); return; }
    const params = new URLSearchParams();
    // EventSource cannot send headers: the key goes in the query string
    if (apiKey) params.set('access_token', apiKey);
    // A new EventSource starts without Last-Event-ID; say where we are
    if (row.lastSeq > 0) params.set('last_event_id', String(row.lastSeq));
    const query = params.toString();
    const es = new EventSource('/v1/jobs/' + encodeURIComponent(row.jobId) + '/events' + (query ? '?' + query : ''));
    row.es = es;
    row.lastSeen = Date.now();
    const handler = (ev) => { if (row.es === es) onEvent(row, ev); };
    for (const t of EVENT_TYPES) es.addEventListener(t, handler);
    es.onopen = () => {
      if (row.es !== es) return;
      row.lastSeen = Date.now();
      if (row.conn !== 'live') { row.conn = 'live'; render(row); }
      setOnline(true);
    };
    es.onerror = () => {
      if (row.es !== es || row.terminal) return;
      if (es.readyState === EventSource.CONNECTING) {
        // The browser reconnects by itself and sends Last-Event-ID
        if (row.conn !== 'reconnecting') {
          row.conn = 'reconnecting';
          render(row);
          checkHealth();
        }
        return;
      }
      // CLOSED: the server answered with an error (503 while it starts,
      // 401, 404, or 204 when the job is over). Try again, more slowly.
      closeStream(row);
      row.conn = 'reconnecting';
      render(row);
      row.closedFailures++;
      scheduleReopen(row);
      checkJob(row);
    };
  }

  function closeStream(row) {
    if (row.es) {
      row.es.close();
      row.es = null;
    }
    if (row.reopenTimer) {
      window.clearTimeout(row.reopenTimer);
      row.reopenTimer = null;
    }
  }

  function scheduleReopen(row) {
    if (row.reopenTimer) return;
    const delay = row.reopenDelay;
    row.reopenDelay = Math.min(10000, row.reopenDelay * 2);
    row.reopenTimer = window.setTimeout(() => {
      row.reopenTimer = null;
      if (!row.terminal && !row.es) openStream(row);
    }, delay);
  }

  // After a stream was refused: what does the job look like?
  async function checkJob(row) {
    const jobId = row.jobId;
    try {
      const data = await api('GET', '/v1/jobs/' + encodeURIComponent(jobId));
      if (row.jobId !== jobId) return;
      const job = data.job;
      // Over, and its stream keeps being refused (204): take the job's word
      if (job.terminal && row.closedFailures >= 3) {
        closeStream(row);
        row.conn = 'idle';
        applyJob(row, job);
      }
    } catch (e) {
      if (row.jobId !== jobId) return;
      if (e.status === 404) {
        closeStream(row);
        row.conn = 'idle';
        finish(row, 'failed', { stage: '', reason: 'the server has no job ' + jobId + ' (' + e.message + ')' });
      }
    }
  }

  // Streams that went quiet for too long (a connection silently lost) are
  // reopened; the server sends a heartbeat every 15 s by default.
  function watchdog() {
    const now = Date.now();
    for (const row of rows) {
      if (row.es && row.es.readyState === EventSource.OPEN && now - row.lastSeen > STALE_MS) {
        closeStream(row);
        row.conn = 'reconnecting';
        render(row);
        openStream(row);
      }
    }
  }

  // Rows with a job but no stream follow GET /v1/jobs (one call for all).
  let pollTimer = null;
  function schedulePoll() {
    if (pollTimer) return;
    if (!rows.some((r) => r.jobId && !r.terminal && !r.es)) return;
    pollTimer = window.setTimeout(poll, POLL_MS);
  }

  async function poll() {
    pollTimer = null;
    const waiting = rows.filter((r) => r.jobId && !r.terminal && !r.es);
    if (!waiting.length) return;
    try {
      const limit = Math.min(1000, rows.length + 50);
      const data = await api('GET', '/v1/jobs?limit=' + limit);
      const byId = new Map((data.jobs || []).map((j) => [j.id, j]));
      for (const row of waiting) {
        const job = byId.get(row.jobId);
        if (!job) continue;
        if (row.conn === 'reconnecting') row.conn = 'idle';     // heard from the server again
        applyJob(row, job);
      }
      // Jobs older than the page: ask for a few directly
      for (const row of waiting.filter((r) => !byId.has(r.jobId)).slice(0, 4)) {
        try { applyJob(row, (await api('GET', '/v1/jobs/' + encodeURIComponent(row.jobId))).job); }
        catch (e) { if (e.status === 404) finish(row, 'failed', { stage: '', reason: 'the server has no such job' }); }
      }
    } catch (e) {
      // Offline or no key: say so on the rows, the next poll tries again
      if (e.status === 0 || e.status >= 500) {
        for (const row of waiting) if (row.conn !== 'reconnecting') { row.conn = 'reconnecting'; render(row); }
      }
    }
    pumpStreams();
    schedulePoll();
  }

  // ------------------------------------------------------------------------
  // Ingest

  // fileList: File objects (their name, or the folder-relative path a
  // folder picker gives them) or {file, path} from a dropped folder. The
  // name sent is the document's name on the server: a file dropped in a
  // folder is d/a/n.txt, so two n.txt in two folders stay two documents.
  function addFiles(fileList) {
    const files = Array.from(fileList || []).map((f) =>
      f instanceof File ? { file: f, path: f.webkitRelativePath || f.name } : f);
    const meta = metaForNewRows();
    if (meta === false) return;
    for (const { file, path } of files) {
      const row = newRow('file', path, { file, path, source: path, meta });
      ingestQueue.push(row);
    }
    if (files.length) announce(files.length === 1 ? 'Added ' + files[0].path + '.' : 'Added ' + files.length + ' files.');
    pumpIngest();
  }

  // A drop's entries, if it holds a folder (null otherwise: dt.files will
  // do). Taken during the drop event: the DataTransfer is empty after it.
  function droppedEntries(dt) {
    const entries = Array.from(dt.items || []).map((it) =>
      it.kind === 'file' && typeof it.webkitGetAsEntry === 'function' ? it.webkitGetAsEntry() : null);
    return entries.some((e) => e && e.isDirectory) ? entries.filter(Boolean) : null;
  }

  // Every file under the dropped entries as {file, path}, path relative to
  // where they were dropped from ("d/a/n.txt"), folders in name order.
  async function filesOfEntries(entries) {
    const out = [];
    const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject));
    async function walk(entry) {
      if (entry.isFile) {
        out.push({ file: await fileOf(entry), path: entry.fullPath.replace(/^\/+/, '') });
        return;
      }
      const reader = entry.createReader();
      const children = [];
      for (;;) {    // readEntries answers in batches until an empty one
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        children.push(...batch);
      }
      children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const child of children) await walk(child);
    }
    for (const entry of entries) await walk(entry);
    return out;
  }

  // A value typed as a person means it: true/false, numbers, a,b lists
  // (split only where asked), anything else a string (dates stay strings:
  // the server reads them as instants)
  function typedValue(text, split) {
    if (split && text.includes(',')) return text.split(',').filter((v) => v !== '').map((v) => typedValue(v, false));
    if (text === 'true') return true;
    if (text === 'false') return false;
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
    return text;
  }

  // Attributes typed by a person: a JSON object, or key=value entries
  // split by sep (lines in the upload box; ";" or lines when re-tagging).
  // {meta} (null if empty) or {error}. The server checks them fully (400
  // with the reason); this only catches what cannot be sent at all.
  function readAttrs(text, sep) {
    text = text.trim();
    if (!text) return { meta: null };
    if (text.startsWith('{')) {
      try {
        const meta = JSON.parse(text);
        if (meta && typeof meta === 'object' && !Array.isArray(meta)) return { meta };
      } catch (e) { return { error: 'Attributes: not valid JSON (' + e.message + ')' }; }
      return { error: 'Attributes: a JSON object, please' };
    }
    const meta = {};
    for (const entry of text.split(sep).map((l) => l.trim()).filter(Boolean)) {
      const eq = entry.indexOf('=');
      if (eq <= 0) return { error: 'Attributes: "' + entry + '" is not key=value' };
      meta[entry.slice(0, eq).trim()] = typedValue(entry.slice(eq + 1).trim(), true);
    }
    return { meta };
  }

  // The attributes box on upload: key=value lines or a JSON object
  function ingestMeta() {
    return readAttrs($('meta').value, '\n');
  }

  // Attributes for rows being added now; false (and the reason shown) if
  // the box cannot be read
  function metaForNewRows() {
    const m = ingestMeta();
    const status = $('meta-status');
    status.dataset.kind = m.error ? 'error' : '';
    status.textContent = m.error || '';
    return m.error ? false : m.meta;
  }

  function addUrls(text) {
    const urls = String(text || '').split(/\s+/).map((u) => u.trim()).filter((u) => u && !u.startsWith('#'));
    const meta = metaForNewRows();
    if (meta === false) return 0;
    for (const url of urls) {
      const row = newRow('url', basename(url) || url, { url, source: url, meta });
      ingestQueue.push(row);
    }
    if (urls.length) announce('Added ' + urls.length + (urls.length === 1 ? ' URL.' : ' URLs.'));
    pumpIngest();
    return urls.length;
  }

  function pumpIngest() {
    while (uploading < MAX_UPLOADS && ingestQueue.length) {
      const row = ingestQueue.shift();
      uploading++;
      submit(row).finally(() => {
        uploading--;
        pumpIngest();
      });
    }
  }

  // ------------------------------------------------------------------------
  // Resumable uploads (tus 1.0)

  function b64(text) {
    const bytes = new TextEncoder().encode(text);
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  // One tus request; body is a Blob for PATCH. Resolves {status, data, headers}.
  function tusRequest(method, path, headers, body, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, path);
      xhr.setRequestHeader('Tus-Resumable', '1.0.0');
      for (const [k, v] of Object.entries(Object.assign({}, authHeaders(), headers))) xhr.setRequestHeader(k, v);
      if (onProgress) xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded); };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* no body */ }
        resolve({ status: xhr.status, data, header: (h) => xhr.getResponseHeader(h) });
      };
      xhr.onerror = xhr.onabort = () => resolve({ status: 0, data: null, header: () => null });
      xhr.send(body || null);
    });
  }

  // Worth another try: no answer, busy, or out of step (ask where it stands)
  function transient(status) {
    return status === 0 || status === 409 || status === 423 || status === 429 || status >= 500;
  }

  async function sendResumable(row) {
    const file = row.file;
    const name = row.path || file.name;
    const store = UPLOAD_STORE + name + ':' + file.size + ':' + file.lastModified;
    let location = localGet(store);
    let offset = location ? -1 : 0;
    let failures = 0;
    const progress = (done) => {
      row.message = 'uploading ' + Math.round(100 * done / file.size) + '% of ' + formatBytes(file.size);
      render(row);
    };
    const forget = () => { try { localStorage.removeItem(store); } catch (e) { /* ignore */ } };
    const done = (job) => { forget(); return { status: 202, data: { jobs: [{ id: job }] } }; };
    for (;;) {
      let res;
      if (!location) {
        const md = ['filename ' + b64(name)];
        if (file.type) md.push('filetype ' + b64(file.type));
        if (row.meta) md.push('meta ' + b64(JSON.stringify(row.meta)));
        res = await tusRequest('POST', '/v1/uploads', { 'Upload-Length': String(file.size),
                                                        'Upload-Metadata': md.join(',') });
        if (res.status === 201) {
          location = res.header('Location');
          try { localStorage.setItem(store, location); } catch (e) { /* resumes within this page only */ }
          offset = 0;
        }
      } else if (offset < 0) {
        // Where does the server stand? (after a failure, or a reload)
        res = await tusRequest('HEAD', location, {});
        if (res.status === 404 || res.status === 410) { location = null; forget(); continue; }
        if (res.status === 200) {
          offset = Number(res.header('Upload-Offset'));
          if (res.header('Sluice-Job')) return done(res.header('Sluice-Job'));
          if (offset > 0) { row.message = 'resuming at ' + Math.round(100 * offset / file.size) + '%'; render(row); }
        }
      } else {
        const start = offset;
        res = await tusRequest('PATCH', location, { 'Upload-Offset': String(start),
                                                    'Content-Type': 'application/offset+octet-stream' },
                               file.slice(start, Math.min(file.size, start + UPLOAD_PIECE)),
                               (n) => progress(start + n));
        if (res.status === 204) {
          failures = 0;
          offset = Number(res.header('Upload-Offset'));
          if (res.header('Sluice-Job')) return done(res.header('Sluice-Job'));
          if (offset >= file.size) offset = -1;     // whole, not ingested: HEAD, then an empty PATCH
          progress(Math.min(offset, file.size));
          continue;
        }
      }
      if (res.status >= 200 && res.status < 300) continue;
      if (!transient(res.status) || ++failures > UPLOAD_TRIES) return res;
      if (res.status === 0) setOnline(false);
      row.message = 'connection lost, resuming…';
      render(row);
      offset = location ? -1 : 0;
      const wait = Number(res.header('Retry-After')) * 1000 || Math.min(8000, 250 * 2 ** failures);
      await sleep(wait);
    }
  }

  // XMLHttpRequest, not fetch: only it reports upload progress.
  function send(row) {
    if (row.kind === 'file' && row.file && row.file.size >= RESUMABLE_MIN) return sendResumable(row);
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/v1/ingest');
      for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
      let body;
      if (row.kind === 'file') {
        body = new FormData();
        if (row.meta) body.append('meta', JSON.stringify(row.meta));
        body.append('file', row.file, row.path || row.file.name);
        xhr.upload.onprogress = (e) => {
          if (!e.lengthComputable) return;
          row.message = 'uploading ' + Math.round(100 * e.loaded / e.total) + '% of ' + formatBytes(e.total);
          render(row);
        };
      } else {
        xhr.setRequestHeader('Content-Type', 'application/json');
        body = JSON.stringify(row.meta ? { url: row.url, meta: row.meta } : { url: row.url });
      }
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        resolve({ status: xhr.status, data, retryAfter: xhr.getResponseHeader('Retry-After') });
      };
      xhr.onerror = () => resolve({ status: 0, data: null });
      xhr.onabort = () => resolve({ status: 0, data: null });
      xhr.send(body);
    });
  }

  async function submit(row) {
    row.state = row.kind === 'file' ? 'uploading' : 'queued';
    row.message = row.kind === 'file' ? 'uploading…' : 'submitting…';
    row.startLocal = Date.now();
    render(row);
    const res = await send(row);
    row.lastStatus = res.status;
    if (res.status === 0) setOnline(false);
    else setOnline(true);
    if (res.status === 401) needKey(res.data);
    const job = res.status === 202 && res.data && res.data.jobs && res.data.jobs[0];
    if (!job) {
      // Refused before any job existed: say why, keep the row for a retry
      const rejected = res.data && res.data.rejected && res.data.rejected[0];
      const reason = (rejected && rejected.error && rejected.error.message) || errorMessage(res.status, res.data);
      row.state = 'refused';
      row.terminal = true;
      row.message = '';
      row.error = { stage: '', reason: reason + (res.status ? ' (HTTP ' + res.status + ')' : '') };
      if (res.status === 429 && res.retryAfter) row.error.reason += ' — try again in ' + res.retryAfter + ' s';
      render(row);
      announce(row.name + ' was refused: ' + reason);
      return;
    }
    row.jobId = job.id;
    if (job.held) refreshIntake();
    if (typeof job.created === 'number') { row.created = job.created; noteServerTime(job.created); }
    if (job.source) row.source = job.source;
    row.el.name.title = row.source || row.name;
    row.state = 'queued';
    row.message = '';
    saveRows();
    render(row);
    openStream(row);
    schedulePoll();
  }

  function restoreRows() {
    let saved = [];
    try { saved = JSON.parse(sessionStorage.getItem(JOBS_STORE) || '[]'); } catch (e) { saved = []; }
    for (const s of saved) {
      if (!s || !s.jobId) continue;
      const row = newRow(s.kind === 'url' ? 'url' : 'file', s.name || s.jobId,
                         { url: s.url || null, source: s.source || null });
      row.jobId = s.jobId;
      row.state = 'queued';
      render(row);
    }
    pumpStreams();
  }

  function clearFinished() {
    for (let i = rows.length - 1; i >= 0; i--) {
      const row = rows[i];
      if (!row.terminal) continue;
      closeStream(row);
      row.el.li.remove();
      rows.splice(i, 1);
    }
    saveRows();
    updateEmpty();
    $('clear-done').disabled = true;
    announce('Finished rows cleared.');
  }

  // ------------------------------------------------------------------------
  // Library

  let libraryOffset = 0;
  let libraryTimer = null;

  function libraryChanged() {
    // Several jobs finishing together cause one reload
    if (libraryTimer) return;
    libraryTimer = window.setTimeout(() => {
      libraryTimer = null;
      loadLibrary();
      refreshStatus();
    }, 300);
  }

  async function loadLibrary(more) {
    const status = $('library-status');
    const offset = more ? libraryOffset : 0;
    try {
      const data = await api('GET', '/v1/documents?limit=' + LIBRARY_PAGE + '&offset=' + offset);
      const body = $('docs');
      // A reload must not take keyboard focus away from the row it was on
      const focused = body.contains(document.activeElement) ? document.activeElement.closest('tr') : null;
      const focusDoc = focused ? focused.dataset.doc : null;
      // nor take away what is being typed in an attributes editor
      const editing = new Map();
      for (const tr of body.querySelectorAll('tr')) {
        const form = tr.querySelector('form.meta-edit');
        if (form && !form.hidden) editing.set(tr.dataset.doc, form.elements.attrs.value);
      }
      const typing = document.activeElement && document.activeElement.name === 'attrs' ? focusDoc : null;
      if (!more) body.textContent = '';
      const docs = data.documents || [];
      for (const doc of docs) {
        const tr = docRow(doc);
        body.append(tr);
        if (editing.has(doc.id)) tr.openEditor(editing.get(doc.id), doc.id === typing);
      }
      if (focusDoc && focusDoc !== typing) {
        const again = Array.from(body.querySelectorAll('tr')).find((tr) => tr.dataset.doc === focusDoc);
        (again ? again.querySelector('td.actions button') : $('library-title')).focus();
      }
      libraryOffset = offset + docs.length;
      const total = typeof data.total === 'number' ? data.total : libraryOffset;
      $('more').hidden = libraryOffset >= total;
      $('library').hidden = total === 0;
      status.dataset.kind = '';
      status.textContent = total === 0 ? 'No documents yet.'
        : (total === 1 ? '1 document' : total + ' documents') + (libraryOffset < total ? ', ' + libraryOffset + ' shown' : '');
    } catch (e) {
      status.dataset.kind = 'error';
      status.textContent = e.status === 401 ? 'Enter the API key to see the library.' : 'Could not load the library: ' + e.message;
    }
  }

  function docTitle(doc) {
    return doc.title || basename(doc.source) || doc.id;
  }

  // An attribute's value as read in a chip: lists joined
  function attrText(v) {
    return Array.isArray(v) ? v.map(String).join(', ') : String(v);
  }

  // The document's attributes as compact chips ("team: legal"), or null
  function metaChips(meta) {
    const keys = Object.keys(meta || {});
    if (!keys.length) return null;
    return el('ul', { class: 'doc-meta', 'aria-label': 'Attributes' },
      ...keys.map((k) => el('li', { class: 'chip', 'data-key': k, text: k + ': ' + attrText(meta[k]) })));
  }

  // The attributes as the editor shows them: "key=value; tags=a,b" when
  // reading that back gives the same values, else as JSON
  function attrsEditText(meta) {
    const keys = Object.keys(meta || {});
    const plain = (v) => typeof v !== 'string' || (!/[;,=\n]/.test(v) && v.trim() === v && v !== ''
                                                 && typedValue(v, false) === v);
    const simple = keys.every((k) => !/[;=\s]/.test(k) && (Array.isArray(meta[k])
      ? meta[k].length > 1 && meta[k].every((x) => typeof x !== 'object' && plain(x)) : plain(meta[k])));
    if (!simple) return JSON.stringify(meta);
    return keys.map((k) => k + '=' + (Array.isArray(meta[k]) ? meta[k].join(',') : String(meta[k]))).join('; ');
  }

  // Re-tag in place: a field with the attributes, sent as a PATCH (keys
  // left out are removed: null), the server's answer or refusal shown
  // beside it. Escape or Cancel closes it; focus goes back to its button.
  function metaEditor(doc, title, cell, button) {
    const input = el('input', { type: 'text', name: 'attrs', autocomplete: 'off', spellcheck: false,
                                'aria-label': 'Attributes of ' + title,
                                placeholder: 'team=legal; year=2024; tags=a,b' });
    input.spellcheck = false;
    const status = el('p', { class: 'status-line', role: 'status' });
    const cancel = el('button', { type: 'button', class: 'quiet', text: 'Cancel' });
    const form = el('form', { class: 'meta-edit', hidden: true }, input,
                    el('button', { type: 'submit', text: 'Save' }), cancel, status);
    const close = () => {
      form.hidden = true;
      button.setAttribute('aria-expanded', 'false');
      button.focus();
    };
    const open = (text, focus) => {
      input.value = text === undefined ? attrsEditText(doc.meta) : text;
      status.textContent = '';
      form.hidden = false;
      button.setAttribute('aria-expanded', 'true');
      if (focus !== false) input.focus();
    };
    button.addEventListener('click', () => (form.hidden ? open() : close()));
    cancel.addEventListener('click', close);
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); close(); } });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const read = readAttrs(input.value, /[;\n]/);
      status.dataset.kind = read.error ? 'error' : '';
      status.textContent = read.error || 'Saving…';
      if (read.error) return;
      const patch = Object.assign({}, read.meta || {});
      for (const k of Object.keys(doc.meta || {})) if (!(k in patch)) patch[k] = null;
      try {
        const data = await api('PATCH', '/v1/documents/' + encodeURIComponent(doc.id) + '/meta', patch);
        doc.meta = (data && data.document && data.document.meta) || read.meta || {};
        const chips = metaChips(doc.meta);
        const old = cell.querySelector('.doc-meta');
        if (old) old.remove();
        if (chips) cell.insertBefore(chips, form);
        status.textContent = '';
        close();
        announce('Saved the attributes of ' + title + '.');
      } catch (e) {
        status.dataset.kind = 'error';
        status.textContent = e.status === 401 ? 'Enter the API key to change attributes.'
          : 'Not saved: ' + e.message;
      }
    });
    return { form, open };
  }

  function docRow(doc) {
    const title = docTitle(doc);
    const when = formatWhen(doc.created);
    const source = doc.source && basename(doc.source) !== title ? doc.source : '';
    const within = el('button', { type: 'button', class: 'quiet', text: 'Search in',
                                  'aria-label': 'Search in ' + title });
    const tag = el('button', { type: 'button', class: 'quiet', text: 'Attributes', 'aria-expanded': 'false',
                               'aria-label': 'Edit attributes of ' + title });
    const again = el('button', { type: 'button', class: 'quiet', text: 'Re-chunk',
                                 'aria-label': 'Re-chunk ' + title + ' with this workspace\'s chunking' });
    const reembed = el('button', { type: 'button', class: 'quiet', text: 'Re-embed',
                                   'aria-label': 'Re-embed ' + title + ' with this workspace\'s model' });
    const del = el('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': 'Delete ' + title });
    const cell = el('td', { class: 'doc' }, el('span', { class: 'doc-title', text: title }),
                    source ? el('span', { class: 'doc-source', text: source }) : null, metaChips(doc.meta));
    const editor = metaEditor(doc, title, cell, tag);
    cell.append(editor.form);
    const tr = el('tr', { 'data-doc': doc.id },
      cell,
      el('td', { class: 'num', 'data-label': 'Pages', text: doc.pages ? String(doc.pages) : '–' }),
      el('td', { class: 'num', 'data-label': 'Chunks', text: typeof doc.chunks === 'number' ? String(doc.chunks) : '–' }),
      el('td', { class: 'num', 'data-label': 'Size', text: formatBytes(doc.bytes) }),
      el('td', { class: 'model', 'data-label': 'Model', text: doc.model || '–' }),
      el('td', { 'data-label': 'Added' },
         el('time', { datetime: when.iso || null, title: when.title, text: when.text })),
      el('td', { class: 'actions' }, within, tag, again, reembed, del));
    tr.openEditor = editor.open;
    within.addEventListener('click', () => {
      setWithin(doc, title);
      $('q').focus();
    });
    del.addEventListener('click', () => deleteDoc(doc, title, tr));
    again.addEventListener('click', () => reprocessDoc(doc, title, again, 'chunk'));
    reembed.addEventListener('click', () => reprocessDoc(doc, title, reembed, 'embed'));
    return tr;
  }

  // Cut a stored document again with the workspace's chunking now, from its
  // kept pages (from 'chunk': no fetch, no parse), or embed its chunks again
  // with the workspace's model (from 'embed': the chunks stay): a job of its
  // own, followed in Progress
  async function reprocessDoc(doc, title, button, from) {
    const status = $('library-status');
    const what = from === 'embed' ? 're-embed' : 're-chunk';
    button.disabled = true;
    try {
      const data = await api('POST', '/v1/documents/' + encodeURIComponent(doc.id) + '/reprocess', { from });
      const job = data && data.job;
      if (!job || !job.id) throw new Error('no job in the answer');
      const row = newRow('reprocess', title, { source: job.source || doc.source || null });
      row.jobId = job.id;
      row.state = 'queued';
      if (job.held) row.message = 'held: the workspace is paused';
      saveRows();
      render(row);
      openStream(row);
      schedulePoll();
      announce((from === 'embed' ? 'Re-embedding ' : 'Re-chunking ') + title + '.');
    } catch (e) {
      status.dataset.kind = 'error';
      status.textContent = 'Cannot ' + what + ' ' + title + ': ' + e.message;
    } finally {
      button.disabled = false;
    }
  }

  // Pause and resume this workspace's intake: while paused, new documents
  // are accepted and held (their rows say so) until Resume starts them
  let intakePaused = null;
  function showIntake(ws) {
    if (!ws || typeof ws.paused !== 'boolean') return;
    intakePaused = ws.paused;
    const button = $('intake-toggle');
    button.hidden = false;
    button.textContent = ws.paused ? 'Resume intake' : 'Pause intake';
    button.setAttribute('aria-pressed', ws.paused ? 'true' : 'false');
    const held = typeof ws.held === 'number' ? ws.held : 0;
    $('intake-status').textContent = ws.paused
      ? 'Intake paused' + (held ? ': ' + held + (held === 1 ? ' document held' : ' documents held') : '')
      : '';
  }

  async function refreshIntake() {
    try { showIntake(await api('GET', '/v1/workspace')); } catch (e) { /* the status line says why */ }
  }

  async function toggleIntake() {
    const button = $('intake-toggle');
    button.disabled = true;
    try {
      const data = await api('POST', intakePaused ? '/v1/workspace/resume' : '/v1/workspace/pause');
      showIntake(data);
      announce(intakePaused ? 'Intake paused: new documents are held.'
                            : 'Intake resumed' + (data && data.started ? ': ' + data.started + ' started.' : '.'));
      if (!intakePaused) schedulePoll();
    } catch (e) {
      $('intake-status').textContent = 'Cannot change intake: ' + e.message;
    } finally {
      button.disabled = false;
    }
  }

  async function deleteDoc(doc, title, tr) {
    const chunks = typeof doc.chunks === 'number' ? ' and its ' + doc.chunks + ' chunks' : '';
    if (!window.confirm('Delete “' + title + '”' + chunks + '? This cannot be undone.')) return;
    const status = $('library-status');
    try {
      await api('DELETE', '/v1/documents/' + encodeURIComponent(doc.id));
      // Keep keyboard focus in the table: on the next row's button, or the heading
      const next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      if (searchWithin && searchWithin.id === doc.id) setWithin(null);
      libraryOffset = Math.max(0, libraryOffset - 1);
      const focus = next && next.querySelector('td.actions button');
      (focus || $('library-title')).focus();
      announce('Deleted ' + title + '.');
      await loadLibrary();
      refreshStatus();
    } catch (e) {
      status.dataset.kind = 'error';
      status.textContent = 'Could not delete ' + title + ': ' + e.message;
    }
  }

  // ------------------------------------------------------------------------
  // Search

  // The hit's text as segments {text, mark}: the marks are the API's
  // highlights, the spans of the words the ranking matched, as the index
  // stemmed them (so "configured" is marked for "configuring" exactly when
  // the search matched it). Offsets count code points: Array.from.
  function segments(text, spans) {
    const cps = Array.from(String(text || ''));
    const out = [];
    let last = 0;
    for (const span of spans || []) {
      const [a, b] = span;
      if (!(Number.isInteger(a) && Number.isInteger(b) && a >= last && b > a && b <= cps.length)) continue;
      if (a > last) out.push({ text: cps.slice(last, a).join(''), mark: false });
      out.push({ text: cps.slice(a, b).join(''), mark: true });
      last = b;
    }
    if (last < cps.length) out.push({ text: cps.slice(last).join(''), mark: false });
    return out;
  }

  // Runs of spaces as one (a table's rows stay one per line). A marked
  // word holds no space, so every run lies inside one segment
  function flatten(segs, table) {
    const re = table ? /[ \t]+/g : /\s+/g;
    const out = segs.map((s) => ({ text: s.text.replace(re, ' '), mark: s.mark }));
    if (out.length) {
      out[0].text = out[0].text.replace(/^\s+/, '');
      out[out.length - 1].text = out[out.length - 1].text.replace(/\s+$/, '');
    }
    return out;
  }

  // Segments as nodes, the marked words in <mark>.
  function highlighted(segs) {
    const frag = document.createDocumentFragment();
    for (const s of segs) frag.append(s.mark ? el('mark', { text: s.text }) : s.text);
    return frag;
  }

  // A passage of about max characters around the first marked word.
  function excerpt(segs, max) {
    const text = segs.map((s) => s.text).join('');
    if (text.length <= max) return { segs, cut: false };
    let at = 0, pos = 0;
    for (const s of segs) {
      if (s.mark) { at = pos; break; }
      pos += s.text.length;
    }
    let start = Math.max(0, at - Math.floor(max / 4));
    const space = text.lastIndexOf(' ', start);
    if (start > 0 && space > start - 40) start = space + 1;
    let end = Math.min(text.length, start + max);
    const endSpace = text.indexOf(' ', end);
    if (end < text.length && endSpace !== -1 && endSpace < end + 40) end = endSpace;
    const out = [];
    pos = 0;
    for (const s of segs) {
      const a = Math.max(start, pos), b = Math.min(end, pos + s.text.length);
      if (b > a) out.push({ text: s.text.slice(a - pos, b - pos), mark: s.mark });
      pos += s.text.length;
    }
    if (start > 0) out.unshift({ text: '… ', mark: false });
    if (end < text.length) out.push({ text: ' …', mark: false });
    return { segs: out, cut: true };
  }

  // What a browser may show of a stored document it got as a blob: a page
  // of ours opens it as blob:, in this page's origin, where stored HTML or
  // SVG would run as this page. So: PDFs and plain pictures as they are,
  // any text as plain text, anything else downloaded
  function safeBlobType(mime) {
    const m = String(mime || '').toLowerCase();
    if (m === 'application/pdf' || /^image\/(png|jpeg|gif|webp)$/.test(m)) return m;
    if (m.startsWith('text/') || m.endsWith('+xml') || m.endsWith('/xml') || m === 'application/json') {
      return 'text/plain;charset=utf-8';
    }
    return 'application/octet-stream';
  }

  // Open a hit's document at its page in a new tab. Without a key a plain
  // link does it (the server's headers keep stored HTML inert). A link
  // cannot send the key, so with one the bytes are fetched with it into a
  // blob: URL, opened at #page=N; the tab is opened at once, while the
  // click still counts, and the blob URL is let go a minute later
  async function openDocument(ev, hit) {
    if (!apiKey) return;
    ev.preventDefault();
    const tab = window.open('', '_blank');
    if (tab) tab.opener = null;
    const url = String(hit.document_url || '');
    const hash = url.indexOf('#');
    const path = hash < 0 ? url : url.slice(0, hash);
    try {
      const res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
      if (!res.ok) {
        let data = null;
        try { data = await res.json(); } catch (e) { /* not JSON */ }
        if (res.status === 401) needKey(data);
        throw new Error(errorMessage(res.status, data, res.statusText));
      }
      const bytes = await res.arrayBuffer();
      const blob = new Blob([bytes], { type: safeBlobType(res.headers.get('Content-Type')) });
      const blobUrl = URL.createObjectURL(blob);
      setTimeout(() => URL.revokeObjectURL(blobUrl), 60000);
      const target = blobUrl + (hash < 0 ? '' : url.slice(hash));
      if (tab) tab.location.href = target;
      else window.open(target, '_blank', 'noopener');
    } catch (e) {
      if (tab) tab.close();
      const status = $('search-status');
      status.dataset.kind = 'error';
      status.textContent = 'Cannot open the document: ' + e.message;
    }
  }

  // "open page N" for a paged document (the link says #page=N), else "open"
  function openLink(hit) {
    const url = String(hit.document_url || '');
    if (!url.startsWith('/v1/documents/')) return null;
    const page = /#page=(\d+)$/.exec(url);
    const a = el('a', { class: 'hit-open', href: url, target: '_blank', rel: 'noopener',
                        text: page ? 'open page ' + page[1] : 'open document',
                        title: 'The stored document' + (page ? ', at page ' + page[1] : '') + ', in a new tab' });
    a.addEventListener('click', (ev) => openDocument(ev, hit));
    return a;
  }

  function pagesText(hit) {
    const a = hit.page_start, b = hit.page_end;
    if (!a) return '';
    return (!b || b === a) ? 'p. ' + a : 'pp. ' + a + '–' + b;
  }

  // The document the search is kept to ("Search in" in the library), or null
  let searchWithin = null;

  function setWithin(doc, title) {
    searchWithin = doc ? { id: doc.id, title } : null;
    $('within-title').textContent = doc ? title : '';
    $('search-within').hidden = !doc;
  }

  // The filter box into the search request's fields: a JSON object (the
  // filter itself), or conditions separated by ";" as the CLI takes them:
  // key=v, key~a,b (any of), key>=v, key>v, key<=v, key<v, and
  // source^=prefix, mime=type[,type]. Throws with a reason a person can act on.
  function filterFields(text) {
    text = text.trim();
    if (!text) return {};
    if (text.startsWith('{')) {
      let filter;
      try { filter = JSON.parse(text); } catch (e) { throw new Error('Filter: not valid JSON (' + e.message + ')'); }
      return { filter };
    }
    const out = {}, filter = {};
    for (const part of text.split(/[;\n]/).map((p) => p.trim()).filter(Boolean)) {
      const m = /^([^<>=~^]+)(\^=|>=|<=|=|~|>|<)(.+)$/.exec(part);
      if (!m) throw new Error('Filter: "' + part + '" is not key=value, key~a,b, key>=v…');
      const key = m[1].trim(), op = m[2], value = m[3].trim();
      if (op === '^=' && key === 'source') out.source_prefix = value;
      else if (op === '=' && key === 'mime') out.mime = value.split(',').filter(Boolean);
      else if (op === '=') filter[key] = typedValue(value, false);
      else if (op === '~') filter[key] = { any: [].concat(typedValue(value, true)) };
      else if (op === '^=') throw new Error('Filter: ^= is for source^=prefix');
      else {
        const name = { '>=': 'gte', '>': 'gt', '<=': 'lte', '<': 'lt' }[op];
        filter[key] = Object.assign(typeof filter[key] === 'object' && filter[key] ? filter[key] : {},
                                    { [name]: typedValue(value, false) });
      }
    }
    if (Object.keys(filter).length) out.filter = filter;
    return out;
  }

  async function search(q, k, mode) {
    const status = $('search-status');
    const list = $('hits');
    status.dataset.kind = '';
    status.textContent = 'Searching…';
    try {
      const body = Object.assign({ query: q, k, mode: mode || 'hybrid' }, filterFields($('filter').value));
      if (searchWithin) body.documents = [searchWithin.id];
      const data = await api('POST', '/v1/search', body);
      const hits = data.hits || [];
      list.textContent = '';
      for (const hit of hits) {
        const title = hit.title || basename(hit.source) || hit.document_id;
        const pages = pagesText(hit);
        // a table's rows stay one per line; other text flows as one paragraph
        const table = hit.kind === 'table';
        const segs = segments(hit.text, hit.highlights);
        const part = excerpt(flatten(segs, table), 320);
        const li = el('li', { class: 'hit', 'data-doc': hit.document_id,
                              'data-page-start': hit.page_start || null, 'data-page-end': hit.page_end || null },
          el('div', { class: 'hit-head' },
             el('span', { class: 'hit-score', title: 'Similarity score', text: 'score ' + Number(hit.score).toFixed(3) }),
             el('span', { class: 'hit-doc', text: title }),
             pages ? el('span', { class: 'hit-pages', text: pages }) : null,
             // which ranking found it, in words (not colour alone)
             hit.match === 'lexical' || hit.match === 'both'
               ? el('span', { class: 'hit-match', title: 'The passage holds words of the query',
                              text: hit.match === 'both' ? 'words + meaning' : 'exact words' })
               : null,
             // a table chunk, and text read from page images (its confidence)
             hit.kind === 'table'
               ? el('span', { class: 'hit-badge hit-table', title: 'Rows of a table, its header row first',
                              text: 'table' })
               : null,
             hit.ocr
               ? el('span', { class: 'hit-badge hit-ocr', title: 'Text read from page images (OCR)',
                              text: 'OCR' + (Number.isInteger(hit.ocr_confidence)
                                             ? ' ' + hit.ocr_confidence + '%' : '') })
               : null,
             openLink(hit)),
          // the section path the passage sits under, above its snippet
          hit.section ? el('p', { class: 'hit-section', text: hit.section }) : null,
          el('p', { class: table ? 'hit-text rows' : 'hit-text' }, highlighted(part.segs)));
        if (part.cut) {
          li.append(el('details', {}, el('summary', { text: 'Whole passage' }),
                       el('p', { class: 'hit-text whole' }, highlighted(segs))));
        }
        list.append(li);
      }
      status.textContent = hits.length === 0 ? 'No matches.'
        : hits.length + (hits.length === 1 ? ' match' : ' matches') + (data.model ? ' (model ' + data.model + ')' : '') + '.';
    } catch (e) {
      status.dataset.kind = 'error';
      status.textContent = e.status === 401 ? 'Enter the API key to search.' : 'Search failed: ' + e.message;
    }
  }

  // ------------------------------------------------------------------------
  // Sources: folders, URL lists and sitemaps kept in sync (/v1/sources)

  let sourcesTimer = null;
  let sourcesSeen = null;          // sources and their last runs at the last load: a change reloads the library

  function runText(run) {
    if (!run) return 'not synced yet';
    const when = run.finished || run.started || run.requested;
    const head = run.state === 'running' ? 'syncing since ' + formatWhen(toLocal(run.started)).text
      : run.state === 'queued' ? 'sync requested'
      : (run.state === 'failed' ? 'last sync failed ' : 'last synced ') + formatWhen(toLocal(when)).text;
    if (run.state === 'queued') return head;
    const parts = ['new', 'changed', 'deleted', 'unchanged', 'failed']
      .filter((k) => typeof run[k] === 'number').map((k) => run[k] + ' ' + k);
    return head + (parts.length ? ': ' + parts.join(', ') : '') + (run.error ? ' (' + run.error + ')' : '');
  }

  function sourceTarget(src) {
    if (src.kind === 'folder') return src.path;
    if (src.kind === 'sitemap') return src.url;
    const urls = src.urls || [];
    return urls.length === 1 ? urls[0] : urls.length + ' URLs';
  }

  function sourceRow(src) {
    const run = src.last_run;
    const busy = run && (run.state === 'queued' || run.state === 'running');
    const sync = el('button', { type: 'button', class: 'quiet', text: busy ? 'Syncing…' : 'Sync now',
                                'aria-label': 'Sync ' + sourceTarget(src) + ' now' });
    sync.disabled = !!busy;
    const del = el('button', { type: 'button', class: 'quiet danger', text: 'Delete',
                               'aria-label': 'Delete source ' + sourceTarget(src) + ' and its documents' });
    const li = el('li', { class: 'source', 'data-source': src.id, 'data-state': run ? run.state : 'none' },
      el('p', { class: 'source-head' },
        el('strong', { text: src.kind }), ' ', el('span', { class: 'source-target', text: sourceTarget(src) })),
      el('p', { class: 'source-schedule', text: src.schedule ? 'schedule: ' + src.schedule +
        (src.next_sync ? ', next at ' + new Date(toLocal(src.next_sync)).toLocaleString() : '') : 'synced when you ask' }),
      el('p', { class: 'source-run', text: runText(run) }),
      el('p', { class: 'source-actions' }, sync, ' ', del));
    sync.addEventListener('click', async () => {
      sync.disabled = true;
      sync.textContent = 'Syncing…';
      try {
        await api('POST', '/v1/sources/' + encodeURIComponent(src.id) + '/sync');
        announce('Sync of ' + sourceTarget(src) + ' requested.');
        loadSources();
      } catch (e) {
        await loadSources();
        showSourcesError('Could not sync: ' + e.message);
      }
    });
    del.addEventListener('click', async () => {
      if (!window.confirm('Delete this source and the documents it brought?')) return;
      try {
        const r = await api('DELETE', '/v1/sources/' + encodeURIComponent(src.id));
        announce('Source deleted with ' + r.documents_deleted + ' documents.');
        libraryChanged();
        loadSources();
      } catch (e) {
        await loadSources();
        showSourcesError('Could not delete: ' + e.message);
      }
    });
    return li;
  }

  function showSourcesError(text) {
    const status = $('sources-status');
    status.dataset.kind = 'error';
    status.textContent = text;
  }

  async function loadSources() {
    const status = $('sources-status');
    try {
      const data = await api('GET', '/v1/sources');
      const list = $('sources');
      const sources = data.sources || [];
      list.textContent = '';
      for (const src of sources) list.append(sourceRow(src));
      if (status.dataset.kind !== 'error' || !status.textContent.startsWith('Not added: ')) {
        status.dataset.kind = '';
        status.textContent = sources.length ? '' : 'No sources yet.';
      }
      // follow runs while one is under way, and show what they brought
      const busy = sources.some((s) => s.last_run && (s.last_run.state === 'running' || s.last_run.state === 'queued'));
      const seen = sources.map((s) => s.id + ':' + (s.last_run ? s.last_run.id + ':' + s.last_run.state : '')).join();
      if (sourcesSeen !== null && seen !== sourcesSeen) libraryChanged();
      sourcesSeen = seen;
      window.clearTimeout(sourcesTimer);
      sourcesTimer = window.setTimeout(loadSources, busy ? 1000 : 15000);
    } catch (e) {
      showSourcesError(e.status === 401 ? 'Enter the API key to see the sources.' : 'Could not load the sources: ' + e.message);
    }
  }

  async function addSource(form) {
    const kind = $('source-kind').value;
    const target = $('source-target').value.trim();
    const schedule = $('source-schedule').value.trim();
    const meta = metaForNewRows();
    if (meta === false) return;
    if (!target) {
      showSourcesError(kind === 'folder' ? 'Type the folder\'s path on the server.' : 'Type the URL.');
      return;
    }
    const source = { kind };
    if (kind === 'folder') source.path = target;
    else if (kind === 'sitemap') source.url = target;
    else source.urls = target.split(/\s+/).filter(Boolean);
    if (schedule) source.schedule = schedule;
    if (meta && Object.keys(meta).length) source.meta = meta;
    try {
      await api('POST', '/v1/sources', source);
      $('sources-status').dataset.kind = '';
      $('source-target').value = '';
      announce('Source added; its first sync has begun.');
      loadSources();
    } catch (e) {
      // what the server said stays until the next add (the list does not change)
      showSourcesError('Not added: ' + e.message);
    }
  }

  // ------------------------------------------------------------------------
  // Wiring

  function setupDrop() {
    const drop = $('drop');
    const text = drop.querySelector('.drop-text');
    const idle = text.textContent;
    let depth = 0;
    // A file dropped beside the zone must not make the browser leave the page
    // to show it; dropped text (a URL into the box) still works as usual
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
    for (const t of ['dragover', 'drop']) document.addEventListener(t, (e) => { if (hasFiles(e)) e.preventDefault(); });
    drop.addEventListener('dragover', (e) => e.preventDefault());
    drop.addEventListener('dragenter', (e) => {
      e.preventDefault();
      if (depth++ === 0) { drop.classList.add('over'); text.textContent = 'Release to add these documents'; }
    });
    drop.addEventListener('dragleave', () => {
      if (--depth <= 0) { depth = 0; drop.classList.remove('over'); text.textContent = idle; }
    });
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      depth = 0;
      drop.classList.remove('over');
      text.textContent = idle;
      const dt = e.dataTransfer;
      const entries = droppedEntries(dt);
      const files = Array.from(dt.files || []);
      if (entries) filesOfEntries(entries).then(addFiles, () => addFiles(files));
      else if (files.length) addFiles(files);
      else addUrls(dt.getData('text/uri-list') || dt.getData('text/plain'));
    });
  }

  function init() {
    setupDrop();
    $('pick').addEventListener('click', () => $('files').click());
    $('files').addEventListener('change', (e) => {
      addFiles(e.target.files);
      e.target.value = '';          // choosing the same file again is a new ingest
    });
    $('url-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (addUrls($('urls').value)) $('urls').value = '';
    });
    $('search-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const q = $('q').value.trim();
      if (q) search(q, parseInt($('k').value, 10) || 10, $('mode').value);
    });
    $('auth-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const v = $('key').value.trim();
      if (v) useKey(v);
    });
    $('key-forget').addEventListener('click', () => {
      setKey('');
      $('key').value = '';
      $('auth-msg').textContent = 'Key forgotten. This server needs an API key.';
    });
    $('refresh').addEventListener('click', () => { loadLibrary(); refreshStatus(); });
    $('within-clear').addEventListener('click', () => {
      setWithin(null);
      $('q').focus();
    });
    $('more').addEventListener('click', () => loadLibrary(true));
    $('clear-done').addEventListener('click', clearFinished);
    $('intake-toggle').addEventListener('click', toggleIntake);
    refreshIntake();
    $('source-form').addEventListener('submit', (e) => {
      e.preventDefault();
      addSource(e.target);
    });
    $('sources-refresh').addEventListener('click', loadSources);
    if (apiKey) $('key').value = apiKey;
    window.setInterval(() => { for (const r of rows) if (!r.terminal && r.jobId) render(r); }, 1000);
    window.setInterval(watchdog, 5000);
    refreshStatus();
    loadLibrary();
    loadSources();
    restoreRows();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();

// app.js - KOS Studio's web UI: the device list, a device's page and the
// page of templates for a new system, on the JSON API of docs/link.md and
// its server-sent events (/api/events).
//
// Everything a device or an API client sent (names, systems, app names,
// log text, results) is put into the page with textContent, never parsed
// as HTML: this file never uses innerHTML, insertAdjacentHTML or
// document.write.
//
// What stays true of a device's console: it holds each record once, in the
// server's order (seq), the newest CONSOLE_MAX of them, with none missing
// between the history it fetched and the live events: the event stream is
// opened first, and on each (re)connection the records after the last one
// shown are fetched while live ones wait, then the waiting ones are added.
//
// Stable element ids (browser tests use them):
//   home, nav-devices, nav-new, status, live
//   view-list: device-count, devices (tbody: one tr per device, data-id
//     and data-state; its name cell links to #/devices/ID, but a pending
//     device's, whose last cell has button.approve and button.reject),
//     devices-empty
//   view-device: back, device-name, device-state, device-id, device-system,
//     device-image, device-signer, device-platform, device-kos-version,
//     device-boot-time, device-last-seen, device-reboot, device-revoke,
//     push-file, push-send, upgrade (the last upgrade: upgrade-command,
//     upgrade-release, upgrade-stage, upgrade-bar, upgrade-progress,
//     upgrade-served, upgrade-result (class bad for a failure)),
//     health (health-time, health-uptime, health-memory, health-storage,
//     health-self-test, health-logs-dropped),
//     generations-note, generations (tbody: one tr per generation of the
//     device's boot store, data-generation and data-state, with td.marks
//     ("current, good, running") and td.gen-state),
//     apps (tbody: one tr per process, data-app; an app's row has a
//     button.restart, a button.debug and a span.result with its last
//     command's outcome),
//     debug (the debug session: debug-app, debug-status (class bad for a
//     refusal), debug-open with debug-target, debug-gdb and debug-end),
//     console-app, console-level, console-clear, console-dropped,
//     console (one div.line per record, data-app and data-level, with
//     span.time, span.app, span.level and span.text),
//     trace-app, trace-on, trace-off, traces-dropped,
//     traces (tbody: one tr per trace record, data-kind; the newest last),
//     shell (one div.line per line: div.cmd for a command sent, div.bad for
//     a refusal), shell-line, shell-send, shell-clear
//   view-new: templates (one li per template, data-template, its command in
//     a code element), new-device-address, new-allow
'use strict';

const CONSOLE_MAX = 2000; // records kept in the page
const PAGE = 1000; // records per request for the history (the API's most)
const TRACES_MAX = 500; // trace rows kept in the page
const SHELL_MAX = 2000; // shell lines kept in the page
const SHELL_HISTORY = 100; // commands Up and Down go back through
const LEVELS = ['debug', 'info', 'warn', 'error'];
const ID_RE = /^[0-9a-f]{64}$/;

const $ = (id) => document.getElementById(id);

// Puts s into el as text; null, undefined and '' show a dash.
function text(el, s) {
  el.textContent = s === null || s === undefined || s === '' ? '\u2014' : String(s);
}

// A new element with optional class and text.
function el(tag, cls, s) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (s !== undefined) text(e, s);
  return e;
}

function say(msg, bad) {
  $('status').textContent = msg;
  $('status').className = bad ? 'bad' : '';
}

// What loading a view said went wrong, cleared by the next load that works
// (a command's outcome in the status line stays).
let loadFailed = false;

function loaded(err) {
  if (err) say(err.message, true);
  else if (loadFailed) say('');
  loadFailed = !!err;
}

// Calls the API: body as JSON, or, with `type`, as it is (a File).
async function api(method, path, body, type) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = type || 'application/json';
    opts.body = type ? body : JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  let j = null;
  try {
    j = await r.json();
  } catch (e) {
    j = null;
  }
  if (!r.ok) throw new Error(j && j.error ? j.error : r.status + ' ' + r.statusText);
  return j;
}

function when(iso) {
  if (!iso) return 'never';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function bytes(n) {
  if (typeof n !== 'number') return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

function duration(ms) {
  if (typeof ms !== 'number') return null;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s %= 86400;
  const h = Math.floor(s / 3600);
  s %= 3600;
  const m = Math.floor(s / 60);
  s %= 60;
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
}

// ---- views and live events ----

// Each route shown gets a new number; async work begun for an older one
// stops when it sees the number has changed.
let shown = 0;
let source = null;

function showView(name, title) {
  for (const v of ['list', 'device', 'new']) $('view-' + v).hidden = v !== name;
  document.title = title ? title + ' \u2014 KOS Studio' : 'KOS Studio';
}

// Opens the event stream (query: '' or '?device=ID'); opened() runs on each
// (re)connection, handlers[type](data) on each event.
function listen(query, handlers, opened) {
  if (source) source.close();
  source = new EventSource('/api/events' + query);
  source.onopen = () => {
    text($('live'), 'live');
    if (opened) opened();
  };
  source.onerror = () => text($('live'), 'reconnecting');
  for (const type of Object.keys(handlers)) {
    source.addEventListener(type, (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      handlers[type](data);
    });
  }
}

function stopListening() {
  if (source) source.close();
  source = null;
  $('live').textContent = '';
}

// ---- the device list ----

// A device's row. A pending one (docs/link.md, "Pending devices") has no
// page yet: its name is plain text, its System cell says where it came
// from, and it has Approve and Reject buttons.
function deviceRow(d) {
  const tr = el('tr');
  tr.dataset.id = d.id;
  tr.dataset.state = d.state;
  const pending = d.state === 'pending';
  const name = el('td');
  const a = el(pending ? 'span' : 'a', null, d.name || '(no name offered)');
  if (!pending && ID_RE.test(d.id)) a.href = '#/devices/' + d.id;
  name.appendChild(a);
  tr.appendChild(name);
  tr.appendChild(el('td', 'state state-' + d.state, d.state));
  tr.appendChild(el('td', null, pending
    ? 'waiting for approval: from ' + d.address + ', ' + d.attempts + ' attempt' + (d.attempts === 1 ? '' : 's')
    : d.system));
  tr.appendChild(el('td', 'mono', d.image ? String(d.image).slice(0, 16) : null));
  tr.appendChild(el('td', null, when(pending ? d.last_attempt : d.last_seen)));
  tr.appendChild(el('td', 'mono', d.key_id));
  const td = el('td', 'command');
  if (pending) {
    if (d.subject) tr.title = 'certificate subject: ' + d.subject;
    for (const [cls, label] of [['approve', 'Approve'], ['reject', 'Reject']]) {
      const b = el('button', cls + (cls === 'reject' ? ' danger' : ''), label);
      b.type = 'button';
      b.addEventListener('click', () => decide(d, cls === 'approve', tr));
      td.appendChild(b);
    }
  }
  tr.appendChild(td);
  return tr;
}

// Approves or rejects pending device d; the device event that follows
// updates its row.
async function decide(d, approve, tr) {
  const label = d.name || d.key_id;
  if (!approve && !confirm('Reject ' + label + '? Its key is revoked: it will never connect.')) return;
  for (const b of tr.querySelectorAll('button')) b.disabled = true;
  try {
    const r = await api('POST', '/api/devices/' + d.id + (approve ? '/approve' : '/reject'));
    say(approve ? r.name + ' is approved: it links at its next attempt' : r.name + ' is rejected (revoked)');
  } catch (e) {
    say(e.message, true);
    for (const b of tr.querySelectorAll('button')) b.disabled = false;
  }
}

function showCount() {
  const n = $('devices').children.length;
  text($('device-count'), '(' + n + ')');
  $('devices-empty').hidden = n > 0;
}

function showList() {
  const my = ++shown;
  showView('list');
  const tbody = $('devices');
  const put = (d) => {
    const row = deviceRow(d);
    const old = Array.from(tbody.children).find((tr) => tr.dataset.id === d.id);
    if (old) old.replaceWith(row);
    else tbody.appendChild(row);
    showCount();
  };
  const load = async () => {
    try {
      const j = await api('GET', '/api/devices');
      if (my !== shown) return;
      tbody.replaceChildren(...j.devices.map(deviceRow));
      showCount();
      loaded(null);
    } catch (e) {
      if (my === shown) loaded(e);
    }
  };
  // The list now, and again on each (re)connection of the stream: a change
  // made before the stream was there is in the list.
  load();
  listen('', { device: put }, load);
}

// ---- one device ----

let current = null; // the device shown
let records = []; // its console's records, oldest first, at most CONSOLE_MAX
let lastSeq = 0; // the last record's seq taken (shown or cleared)
let catching = false; // fetching the records after lastSeq
let again = false; // ... and asked to fetch again once done
let held = []; // live records that came while catching up
// Whether the page has caught up once: until then live records wait too, or
// one that came before the first catch-up would move lastSeq past the
// history, which would then never be fetched.
let caughtUp = false;
const appsSeen = new Set();
const lineOf = new WeakMap(); // record -> its div, when shown
const commands = new Map(); // id -> { what, app } of the commands this page sent
const early = new Map(); // id -> result that came before the command's answer
const waiting = new Set(); // apps whose restart has no result yet
let traces = []; // its trace records, oldest first, at most TRACES_MAX
const traceSeqs = new Set(); // their seqs

function showHealth(h, time) {
  text($('health-time'), h ? 'as of ' + when(time) : 'none reported yet');
  text($('health-uptime'), h ? duration(h.uptime_ms) : null);
  text($('health-memory'), h ? bytes(h.mem_used) + ' of ' + bytes(h.mem_total) : null);
  text($('health-storage'), h ? bytes(h.storage_used) + ' of ' + bytes(h.storage_total) : null);
  text($('health-self-test'), h ? h.self_test || 'none yet' : null);
  text($('health-logs-dropped'), h ? h.logs_dropped : null);
  showGenerations(h);
  showApps((h && h.apps) || []);
}

// The boot store's generations from health h (docs/storage.md): number,
// release, marks, state, tries, signer, when stored; or why there are none.
function showGenerations(h) {
  const s = h ? h.store : null;
  text($('generations-note'), !h ? 'none reported yet'
    : !s ? 'none: the system did not boot from a boot store'
      : 'running: generation ' + s.running);
  const rows = ((s && s.generations) || []).map((g) => {
    const tr = el('tr');
    tr.dataset.generation = g.number;
    tr.dataset.state = g.state;
    const marks = [];
    if (g.current) marks.push('current');
    if (g.good) marks.push('good');
    if (g.running) marks.push('running');
    tr.appendChild(el('td', 'num', g.number));
    tr.appendChild(el('td', 'num release',
      !g.release ? '-' : g.overlay ? g.release + '+' + g.overlay : String(g.release)));
    tr.appendChild(el('td', 'marks', marks.join(', ')));
    tr.appendChild(el('td', 'gen-state', g.state));
    tr.appendChild(el('td', 'num tries', g.tries));
    tr.appendChild(el('td', 'mono', g.signer));
    tr.appendChild(el('td', null, g.created ? when(g.created) : null));
    return tr;
  });
  $('generations').replaceChildren(...rows);
}

// A row for app `name`: its cells, and for an app (not a message server,
// which Core does not restart) a Restart button and its last result.
function appRow(name, kind) {
  const tr = el('tr');
  tr.dataset.app = name;
  tr.dataset.kind = kind;
  tr.appendChild(el('td', null, name));
  for (const cls of ['kind', 'app-state', 'num restarts', 'last-exit']) tr.appendChild(el('td', cls));
  const td = el('td', 'command');
  if (kind === 'app') {
    const b = el('button', 'restart', 'Restart');
    b.type = 'button';
    b.addEventListener('click', () => restartApp(name));
    td.appendChild(b);
    const d = el('button', 'debug', 'Debug');
    d.type = 'button';
    d.addEventListener('click', () => debugApp(name));
    td.appendChild(d);
    td.appendChild(el('span', 'result'));
  }
  tr.appendChild(td);
  return tr;
}

// Updates the apps table in place (a row keeps its button and result).
function showApps(apps) {
  const tbody = $('apps');
  const old = new Map(Array.from(tbody.children).map((tr) => [tr.dataset.app, tr]));
  const online = current && current.state === 'online';
  apps.forEach((a, i) => {
    let tr = old.get(a.name);
    if (!tr || tr.dataset.kind !== a.kind) tr = appRow(a.name, a.kind);
    old.delete(a.name);
    text(tr.children[1], a.kind);
    text(tr.children[2], a.state);
    text(tr.children[3], a.restarts);
    text(tr.children[4], a.last_exit);
    const b = tr.querySelector('button.restart');
    if (b) b.disabled = !online || waiting.has(a.name);
    setDebugButton(tr.querySelector('button.debug'));
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    addApp(a.name);
  });
  for (const tr of old.values()) tr.remove();
}

function showDevice(d) {
  current = d;
  // A restart with no result yet: the device went away; its result may
  // still come when it is back.
  if (d.state !== 'online') {
    for (const app of Array.from(waiting)) finishRestart(app, 'no result yet: the device is ' + d.state, true);
  }
  // A session ends with the device's link.
  if (d.state !== 'online' && debugging && debugging.device === d.id) {
    const app = debugging.app;
    debugging = null;
    debugShow(app, 'the session ended: the device is ' + d.state, true, null);
  }
  document.title = d.name + ' \u2014 KOS Studio';
  text($('device-name'), d.name);
  text($('device-state'), d.state);
  $('device-state').className = 'state state-' + d.state;
  text($('device-id'), d.id);
  text($('device-system'), d.system);
  text($('device-image'), d.image);
  text($('device-signer'), d.signer);
  text($('device-platform'), d.platform);
  text($('device-kos-version'), d.kos_version);
  text($('device-boot-time'), d.boot_time ? when(d.boot_time) : null);
  text($('device-last-seen'), when(d.last_seen));
  $('console-dropped').textContent = d.logs_dropped
    ? d.logs_dropped + ' log records were lost on the device' : '';
  $('device-reboot').disabled = d.state !== 'online';
  $('push-send').disabled = d.state !== 'online';
  if (!$('shell-line').disabled) $('shell-send').disabled = d.state !== 'online';
  $('device-revoke').disabled = d.state === 'revoked';
  showHealth(d.health, d.health_time);
  setDebugButtons();
}

// ---- pushing an image (docs/upgrades.md) ----

// The device's last upgrade as the page knows it: GET /api/devices/ID's
// "upgrade", then the push's answer and the upgrade and result events.
let upgrade = null;

// "release 7", or "release 7 overlay 2" for an overlay.
const releaseName = (u) => 'release ' + u.release + (u.overlay ? ' overlay ' + u.overlay : '');

function showUpgrade(u) {
  upgrade = u || null;
  const none = !upgrade;
  text($('upgrade-command'), none ? 'none yet' : 'command ' + u.command);
  text($('upgrade-release'), none ? null
    : releaseName(u) + ' of ' + (u.system || '?') + ' (' + u.blobs + ' blobs, ' + bytes(u.bytes) + ')');
  text($('upgrade-stage'), none ? null : u.stage || 'sent');
  const total = none ? 0 : u.total || 0;
  $('upgrade-bar').max = total || 1;
  $('upgrade-bar').value = total ? Math.min(u.done || 0, total) : 0;
  text($('upgrade-progress'), none || !u.stage ? null
    : bytes(u.done || 0) + ' of ' + bytes(total) + (u.fetch_blobs ? ' (' + u.fetch_blobs + ' blobs)' : ''));
  text($('upgrade-served'), none ? null : bytes(u.served || 0));
  const has = !none && typeof u.status === 'number';
  text($('upgrade-result'), has ? resultText({ status: u.status, status_text: u.status_text, message: u.message })
    : none ? null : 'waiting for the device');
  $('upgrade-result').className = has && u.status !== 0 ? 'bad' : '';
}

// An upgrade event: the device's progress on its command.
function upgradeProgress(p) {
  if (!upgrade || p.command < upgrade.command) return;
  if (p.command > upgrade.command) upgrade = { command: p.command, release: '?', blobs: '?' };
  showUpgrade(Object.assign({}, upgrade, { stage: p.stage, done: p.done, total: p.total, fetch_blobs: p.blobs }));
}

// A result event: the upgrade's, when it is for its command; then the
// device's record again, for the bytes served.
async function upgradeResult(r) {
  if (!upgrade || r.id !== upgrade.command || !current) return;
  showUpgrade(Object.assign({}, upgrade, { status: r.status, status_text: r.status_text, message: r.message }));
  const id = current.id;
  try {
    const d = await api('GET', '/api/devices/' + id);
    if (current && current.id === id && d.upgrade && d.upgrade.command === r.id) showUpgrade(d.upgrade);
  } catch (e) {
    // the page keeps what it has
  }
}

async function pushImage() {
  if (!current) return;
  const file = $('push-file').files[0];
  if (!file) {
    say('choose an image (.zip) to push first', true);
    return;
  }
  const id = current.id;
  $('push-send').disabled = true;
  say('pushing ' + file.name + ' (' + bytes(file.size) + ')');
  try {
    const j = await api('POST', '/api/devices/' + id + '/upgrade', file, 'application/zip');
    if (!current || current.id !== id) return;
    commands.set(j.id, { what: 'upgrade to ' + releaseName(j) });
    if (!upgrade || j.id >= upgrade.command) {
      showUpgrade({ command: j.id, release: j.release, overlay: j.overlay, system: j.system, blobs: j.blobs,
        bytes: j.bytes, served: 0 });
    }
    say('command ' + j.id + ' sent: upgrade to ' + releaseName(j) + ' of ' + j.system);
    const got = early.get(j.id);
    if (got) {
      early.delete(j.id);
      showResult(got);
      upgradeResult(got);
    }
  } catch (e) {
    say('push ' + file.name + ': ' + e.message, true);
  } finally {
    $('push-send').disabled = !current || current.state !== 'online';
  }
}

function addApp(name) {
  if (appsSeen.has(name)) return;
  appsSeen.add(name);
  const o = el('option', null, name);
  o.value = name;
  $('console-app').appendChild(o);
}

function passes(r) {
  const app = $('console-app').value;
  const level = Number($('console-level').value);
  return (!app || r.app === app) && LEVELS.indexOf(r.level) >= level;
}

// A record's line. A console line's text says its level itself
// ("warn: ..."); a log record's level is shown beside it.
function line(r) {
  const div = el('div', 'line level-' + r.level);
  div.dataset.app = r.app;
  div.dataset.level = r.level;
  div.appendChild(el('span', 'time', r.time ? r.time.slice(11, 23) : ''));
  div.appendChild(el('span', 'app', r.app));
  const level = el('span', 'level');
  if (!r.console) level.textContent = r.level;
  div.appendChild(level);
  div.appendChild(el('span', 'text'));
  div.lastChild.textContent = r.text; // '' stays empty
  lineOf.set(r, div);
  return div;
}

function renderConsole() {
  $('console').replaceChildren(...records.filter(passes).map(line));
}

// Adds records (in seq order) not taken yet to the console, and drops the
// oldest beyond CONSOLE_MAX.
function addRecords(recs) {
  const box = $('console');
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  const fresh = recs.filter((r) => typeof r.seq === 'number' && r.seq > lastSeq);
  if (!fresh.length) return;
  lastSeq = fresh[fresh.length - 1].seq;
  const start = Math.max(0, fresh.length - CONSOLE_MAX);
  for (let i = 0; i < fresh.length; i++) {
    const r = fresh[i];
    addApp(r.app);
    if (i < start) continue;
    records.push(r);
    if (passes(r)) box.appendChild(line(r));
  }
  if (records.length > CONSOLE_MAX) {
    for (const r of records.splice(0, records.length - CONSOLE_MAX)) {
      const div = lineOf.get(r);
      if (div) div.remove();
    }
  }
  if (atEnd) box.scrollTop = box.scrollHeight;
}

// Fetches the records after the last one taken (all of them, page by page,
// keeping the newest CONSOLE_MAX), while live ones wait in `held`. Asked
// again meanwhile (the stream has just connected), it fetches again before
// it adds what waited, so nothing stored before the stream was there is
// missed.
async function catchUp(id, my) {
  if (catching) {
    again = true;
    return;
  }
  catching = true;
  held = [];
  try {
    do {
      again = false;
      let got = [];
      for (let after = lastSeq; ;) {
        const j = await api('GET', '/api/devices/' + id + '/logs?after=' + after + '&limit=' + PAGE);
        if (my !== shown) return;
        got = got.concat(j.records);
        if (got.length > CONSOLE_MAX) got = got.slice(got.length - CONSOLE_MAX);
        if (j.records.length < PAGE) break;
        after = j.next;
      }
      addRecords(got);
    } while (again);
  } catch (e) {
    if (my === shown) loaded(e);
  } finally {
    if (my === shown) {
      catching = false;
      caughtUp = true;
      const h = held;
      held = [];
      addRecords(h);
    }
  }
}

// One trace record as a row of the sequence: who called whom (a call: the
// app -> its peer; an answer: the peer -> the app), or a directory event.
// Everything from the device goes in as text.
function traceRow(r) {
  const tr = el('tr', 'trace kind-' + r.kind);
  tr.dataset.kind = r.kind;
  const serve = r.kind === 'serve';
  const call = r.kind === 'call' || serve;
  const who = serve ? r.peer || '?' : r.app;
  const whom = serve ? r.app : r.peer || (call ? '?' : '');
  const arrow = call ? '\u2192' : r.kind;
  const cells = [
    r.time ? r.time.slice(11, 23) : '',
    who,
    arrow,
    whom,
    r.protocol ? r.server + '/' + r.protocol : r.server,
    call ? String(r.label) : '',
    call ? r.req_len + ' / ' + r.rep_len : '',
    r.status_name,
    call ? (r.dur_ns / 1000).toFixed(1) : '',
  ];
  for (const c of cells) tr.appendChild(el('td', null, c));
  if (call && !r.verified) tr.title = 'the channel\'s grant was not seen: its peer is not known';
  return tr;
}

// Adds trace records, from the history or live, each once and in the
// server's order (seq), the newest TRACES_MAX of them.
function addTraces(recs, dropped) {
  let added = false;
  for (const r of recs) {
    if (traceSeqs.has(r.seq)) continue;
    traceSeqs.add(r.seq);
    traces.push(r);
    added = true;
  }
  if (added) {
    traces.sort((a, b) => a.seq - b.seq);
    while (traces.length > TRACES_MAX) traceSeqs.delete(traces.shift().seq);
    $('traces').replaceChildren(...traces.map(traceRow));
  }
  if (dropped !== undefined) text($('traces-dropped'), dropped ? dropped + ' lost on the device' : '');
}

async function catchUpTraces(id, my) {
  try {
    const after = traces.length ? traces[traces.length - 1].seq : 0;
    const j = await api('GET', '/api/devices/' + id + '/traces?after=' + after + '&limit=' + PAGE);
    if (my === shown) addTraces(j.records, j.dropped);
  } catch (e) {
    if (my === shown) loaded(e);
  }
}

function resultText(r) {
  return (r.status === 0 ? 'done' : r.status_text) + (r.message ? ': ' + r.message : '');
}

// Shows a command's result: on its app's row if this page sent it, and in
// the status line.
function showResult(r) {
  const c = commands.get(r.id);
  const ok = r.status === 0;
  if (!c) {
    early.set(r.id, r);
    if (early.size > 64) early.delete(early.keys().next().value);
    say('command ' + r.id + ': ' + resultText(r), !ok);
    return;
  }
  commands.delete(r.id);
  say('command ' + r.id + ' (' + c.what + '): ' + resultText(r), !ok);
  if (c.app) finishRestart(c.app, resultText(r), !ok);
}

function finishRestart(app, msg, bad) {
  waiting.delete(app);
  const tr = Array.from($('apps').children).find((x) => x.dataset.app === app);
  if (!tr) return;
  const res = tr.querySelector('.result');
  res.textContent = msg;
  res.className = 'result' + (bad ? ' bad' : '');
  tr.querySelector('button.restart').disabled = !current || current.state !== 'online';
}

// Sends a command; `app` when it restarts one (its row shows the outcome).
async function command(body, what, app) {
  if (!current) return;
  const id = current.id;
  try {
    const j = await api('POST', '/api/devices/' + id + '/commands', body);
    commands.set(j.id, { what, app });
    say('command ' + j.id + ' sent: ' + what);
    const r = early.get(j.id);
    if (r) {
      early.delete(j.id);
      showResult(r);
    }
  } catch (e) {
    say(what + ': ' + e.message, true);
    if (app) finishRestart(app, 'not sent: ' + e.message, true);
  }
}

function restartApp(name) {
  const tr = Array.from($('apps').children).find((x) => x.dataset.app === name);
  if (tr) {
    tr.querySelector('button.restart').disabled = true;
    const res = tr.querySelector('.result');
    res.textContent = 'restarting\u2026';
    res.className = 'result';
  }
  waiting.add(name);
  command({ restart_app: name }, 'restart ' + name, name);
}

// ---- debugging an app (docs/studio.md, "Debugging an app") ----

let debugging = null; // { device, app } of the session this page opened, or null
let debugAsking = false; // an open or an end is under way

// A Debug button is enabled when the device is online, its admin allows
// remote debugging (its health says so), and no session of this page is
// open or being asked for.
function setDebugButton(b) {
  if (!b) return;
  const h = current && current.health;
  const online = current && current.state === 'online';
  const allowed = !!(h && h.remote_debug);
  b.disabled = !online || !allowed || debugAsking || !!debugging;
  b.title = !online ? 'the device is not online'
    : !allowed ? "remote debugging is disabled on this device (admin's remote_debug setting)"
      : debugging ? 'a debug session is open: end it first' : 'debug this app with gdb';
}

function setDebugButtons() {
  for (const b of $('apps').querySelectorAll('button.debug')) setDebugButton(b);
}

function debugShow(app, msg, bad, answer) {
  $('debug').hidden = false;
  text($('debug-app'), app);
  $('debug-status').textContent = msg;
  $('debug-status').className = bad ? 'bad' : '';
  $('debug-open').hidden = !answer;
  if (answer) {
    $('debug-target').textContent = answer.target;
    $('debug-gdb').textContent = "gdb path/to/BINARY -ex '" + answer.target + "'";
  }
  setDebugButtons();
}

// Asks Studio to open a session on app `name` whose port takes gdb itself,
// and shows the line to give gdb, or the device's refusal as it said it.
async function debugApp(name) {
  if (!current || debugging || debugAsking) return;
  const dev = current;
  debugAsking = true;
  debugShow(name, 'asking the device to attach its debugger to ' + name + '\u2026', false, null);
  try {
    const a = await api('POST', '/api/devices/' + dev.id + '/debug', { app: name, gdb: true });
    debugAsking = false;
    if (!current || current.id !== dev.id) return;
    debugging = { device: dev.id, app: name };
    debugShow(name, a.message || 'the session is open', false, a);
  } catch (e) {
    debugAsking = false;
    if (current && current.id === dev.id) debugShow(name, e.message, true, null);
  }
}

async function debugEnd() {
  if (!debugging || debugAsking) return;
  const s = debugging;
  debugAsking = true;
  let msg = 'the session on ' + s.app + ' is ended';
  try {
    await api('POST', '/api/devices/' + s.device + '/debug/end');
  } catch (e) {
    msg = 'the session had ended already (' + e.message + ')';
  }
  debugAsking = false;
  debugging = null;
  debugShow(s.app, msg, false, null);
}

// ---- the shell ----

let shellHistory = [];
let shellAt = 0; // where Up and Down are in the history

// One line of the shell's output, as text (an empty line stays empty).
function shellOut(s, cls) {
  const box = $('shell');
  const div = el('div', 'line' + (cls ? ' ' + cls : ''));
  div.textContent = s;
  box.appendChild(div);
  while (box.children.length > SHELL_MAX) box.firstChild.remove();
  box.scrollTop = box.scrollHeight;
}

// Sends the input's line to the device and shows its answer.
async function shellSend() {
  const input = $('shell-line');
  const line = input.value;
  if (!current) return;
  const dev = current;
  input.value = '';
  if (line.trim() !== '') {
    shellHistory.push(line);
    if (shellHistory.length > SHELL_HISTORY) shellHistory.shift();
  }
  shellAt = shellHistory.length;
  shellOut(dev.name + '> ' + line, 'cmd');
  input.disabled = true;
  $('shell-send').disabled = true;
  try {
    const a = await api('POST', '/api/devices/' + dev.id + '/shell', { line });
    const bad = a.status !== 0;
    for (const l of a.lines) shellOut(l, bad ? 'bad' : '');
    if (bad && a.lines.length === 0) shellOut(a.status_text, 'bad');
    if (a.cut) shellOut('(the answer was cut: Studio keeps 256 KiB of one)', 'bad');
  } catch (e) {
    shellOut(e.message, 'bad');
  }
  input.disabled = false;
  // current is a new object at each device event: the device is the same
  // one when its id is, and its state now is current's.
  $('shell-send').disabled = !current || current.id !== dev.id || current.state !== 'online';
  input.focus();
}

function shellKey(e) {
  if (e.key === 'Enter') {
    e.preventDefault();
    if (!$('shell-send').disabled) shellSend();
  } else if (e.key === 'ArrowUp' && shellAt > 0) {
    e.preventDefault();
    $('shell-line').value = shellHistory[--shellAt];
  } else if (e.key === 'ArrowDown' && shellAt < shellHistory.length) {
    e.preventDefault();
    shellAt++;
    $('shell-line').value = shellAt < shellHistory.length ? shellHistory[shellAt] : '';
  }
}

function showDevicePage(id) {
  const my = ++shown;
  showView('device');
  current = null;
  records = [];
  lastSeq = 0;
  catching = false;
  caughtUp = false;
  again = false;
  held = [];
  appsSeen.clear();
  commands.clear();
  early.clear();
  waiting.clear();
  traces = [];
  traceSeqs.clear();
  debugging = null;
  debugAsking = false;
  showUpgrade(null);
  $('push-file').value = '';
  $('debug').hidden = true;
  $('traces').replaceChildren();
  text($('traces-dropped'), '');
  $('console-app').replaceChildren(el('option', null, 'all'));
  $('console-app').firstChild.value = '';
  $('console').replaceChildren();
  $('shell').replaceChildren();
  $('apps').replaceChildren();
  for (const f of ['device-name', 'device-state', 'device-system', 'device-image']) $(f).textContent = '';
  text($('device-id'), id);
  // The device as it is now and the records since the last one taken: now,
  // and again on each (re)connection of the stream.
  // The event stream is the device's history in order; an answer to "the
  // device, please" may have been made before an event that came while it
  // was on its way. So when an event came meanwhile, the newest event is
  // shown rather than the answer: anything after it comes as an event too.
  let events = 0;
  let lastEvent = null;
  const load = async () => {
    try {
      const before = events;
      const d = await api('GET', '/api/devices/' + id);
      if (my !== shown) return;
      showDevice(events !== before && lastEvent ? lastEvent : d);
      if (!upgrade || (d.upgrade && d.upgrade.command >= upgrade.command)) showUpgrade(d.upgrade);
      loaded(null);
    } catch (e) {
      if (my === shown) loaded(e);
      return;
    }
    await Promise.all([catchUp(id, my), catchUpTraces(id, my)]);
  };
  load();
  listen('?device=' + id, {
    device: (d) => {
      if (d.id !== id) return;
      events++;
      lastEvent = d;
      if (current) showDevice(d);
    },
    log: (b) => {
      if (b.device !== id) return;
      if (catching || !caughtUp) held.push(...b.records);
      else addRecords(b.records);
      if (b.dropped) say(b.dropped + ' log records were lost on the device before these', true);
    },
    trace: (b) => {
      if (b.device === id) addTraces(b.records);
    },
    result: (r) => {
      if (r.device !== id) return;
      showResult(r);
      upgradeResult(r);
    },
    upgrade: (p) => {
      if (p.device === id) upgradeProgress(p);
    },
  }, load);
}

// ---- a new system ----

async function showNew() {
  const my = ++shown;
  showView('new', 'New system');
  stopListening();
  try {
    const s = await api('GET', '/api/server');
    if (my !== shown) return;
    $('new-device-address').textContent = s.device_address;
    // On loopback, QEMU guests of this machine reach it at 10.0.2.100 too
    // (docs/boards.md, "A device and Studio").
    const port = s.device_address.slice(s.device_address.lastIndexOf(':') + 1);
    const qemu = s.device_address.startsWith('127.0.0.1:') ? ',tcp:10.0.2.100:' + port : '';
    $('new-allow').textContent =
      'ethernet: {config: {allow: "tunnel=tcp:' + s.device_address + qemu + '"}}';
    loaded(null);
  } catch (e) {
    if (my === shown) loaded(e);
  }
}

// ---- routing ----

function route() {
  say('');
  loadFailed = false;
  const m = /^#\/devices\/([0-9a-f]{64})$/.exec(location.hash);
  if (m) showDevicePage(m[1]);
  else if (location.hash === '#/new') showNew();
  else showList();
}

document.addEventListener('DOMContentLoaded', () => {
  $('console-app').addEventListener('change', renderConsole);
  $('console-level').addEventListener('change', renderConsole);
  $('console-clear').addEventListener('click', () => {
    records = [];
    renderConsole();
  });
  $('shell-send').addEventListener('click', shellSend);
  $('push-send').addEventListener('click', pushImage);
  $('debug-end').addEventListener('click', debugEnd);
  $('shell-line').addEventListener('keydown', shellKey);
  $('shell-clear').addEventListener('click', () => $('shell').replaceChildren());
  $('device-reboot').addEventListener('click', () => {
    if (current && confirm('Reboot ' + current.name + '?')) command({ reboot: true }, 'reboot');
  });
  $('device-revoke').addEventListener('click', async () => {
    if (!current || !confirm('Revoke ' + current.name + '? It will never connect again.')) return;
    try {
      showDevice(await api('POST', '/api/devices/' + current.id + '/revoke'));
      say(current.name + ' is revoked');
    } catch (e) {
      say(e.message, true);
    }
  });
  for (const on of [true, false]) {
    $(on ? 'trace-on' : 'trace-off').addEventListener('click', () => {
      const app = $('trace-app').value.trim();
      if (app) command({ trace: { app: app, on: on } }, 'tracing ' + app + (on ? ' on' : ' off'));
    });
  }
  window.addEventListener('hashchange', route);
  route();
});

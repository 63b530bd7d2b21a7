// app.js - KOS Studio's web UI: the device list and a device's page, on the
// JSON API of docs/link.md and its server-sent events (/api/events).
//
// Everything a device or an API client sent (names, systems, app names,
// log text, results) is put into the page with textContent, never parsed
// as HTML: this file never uses innerHTML, insertAdjacentHTML or
// document.write.
//
// Stable element ids (browser tests use them):
//   home, status, live
//   view-list: device-count, devices (tbody: one tr per device, data-id;
//     its name cell links to #/devices/ID), devices-empty
//   view-device: back, device-name, device-state, device-id, device-system,
//     device-image, device-signer, device-platform, device-kos-version,
//     device-last-seen, device-reboot, device-revoke,
//     health (health-time, health-uptime, health-memory, health-storage,
//     health-self-test, health-logs-dropped),
//     apps (tbody: one tr per app, data-app; its button has class restart),
//     console-app, console-level, console-clear, console-dropped,
//     console (one div.line per record, data-app and data-level),
//     shell (one div.line per line: div.cmd for a command sent, div.bad for
//     a refusal), shell-line, shell-send, shell-clear
'use strict';

const CONSOLE_MAX = 2000; // lines kept in the page
const SHELL_MAX = 2000; // shell lines kept in the page
const SHELL_HISTORY = 100; // commands Up and Down go back through
const LEVELS = ['debug', 'info', 'warn', 'error'];
const ID_RE = /^[0-9a-f]{64}$/;

const $ = (id) => document.getElementById(id);

// Puts s into el as text; null and undefined show a dash.
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

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
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

// ---- live events ----

let source = null;

function listen(query, handlers) {
  if (source) source.close();
  source = new EventSource('/api/events' + query);
  source.onopen = () => text($('live'), 'live');
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

// ---- the device list ----

function deviceRow(d) {
  const tr = el('tr');
  tr.dataset.id = d.id;
  const name = el('td');
  const a = el('a', null, d.name);
  if (ID_RE.test(d.id)) a.href = '#/devices/' + d.id;
  name.appendChild(a);
  tr.appendChild(name);
  tr.appendChild(el('td', 'state state-' + d.state, d.state));
  tr.appendChild(el('td', null, d.system));
  tr.appendChild(el('td', 'mono', d.image ? String(d.image).slice(0, 16) : null));
  tr.appendChild(el('td', null, when(d.last_seen)));
  tr.appendChild(el('td', 'mono', d.key_id));
  return tr;
}

function showCount() {
  const n = $('devices').children.length;
  text($('device-count'), '(' + n + ')');
  $('devices-empty').hidden = n > 0;
}

async function showList() {
  $('view-device').hidden = true;
  $('view-list').hidden = false;
  const tbody = $('devices');
  try {
    const j = await api('GET', '/api/devices');
    tbody.replaceChildren(...j.devices.map(deviceRow));
    showCount();
    say('');
  } catch (e) {
    say(e.message, true);
  }
  listen('', {
    device: (d) => {
      const row = deviceRow(d);
      const old = Array.from(tbody.children).find((tr) => tr.dataset.id === d.id);
      if (old) old.replaceWith(row);
      else tbody.appendChild(row);
      showCount();
    },
  });
}

// ---- one device ----

let current = null; // the device shown
let records = []; // its console records, oldest first
const appsSeen = new Set();

function showHealth(h, time) {
  text($('health-time'), h ? 'as of ' + when(time) : 'none reported yet');
  text($('health-uptime'), h ? duration(h.uptime_ms) : null);
  text($('health-memory'), h ? bytes(h.mem_used) + ' of ' + bytes(h.mem_total) : null);
  text($('health-storage'), h ? bytes(h.storage_used) + ' of ' + bytes(h.storage_total) : null);
  text($('health-self-test'), h ? h.self_test || 'none' : null);
  text($('health-logs-dropped'), h ? h.logs_dropped : null);
  const tbody = $('apps');
  tbody.replaceChildren();
  for (const a of (h && h.apps) || []) {
    const tr = el('tr');
    tr.dataset.app = a.name;
    tr.appendChild(el('td', null, a.name));
    tr.appendChild(el('td', null, a.kind));
    tr.appendChild(el('td', null, a.state));
    tr.appendChild(el('td', 'num', a.restarts));
    tr.appendChild(el('td', null, a.last_exit));
    const td = el('td');
    const b = el('button', 'restart', 'Restart');
    b.type = 'button';
    b.addEventListener('click', () => command({ restart_app: a.name }, 'restart ' + a.name));
    td.appendChild(b);
    tr.appendChild(td);
    tbody.appendChild(tr);
    addApp(a.name);
  }
}

function showDevice(d) {
  current = d;
  text($('device-name'), d.name);
  text($('device-state'), d.state);
  $('device-state').className = 'state state-' + d.state;
  text($('device-id'), d.id);
  text($('device-system'), d.system);
  text($('device-image'), d.image);
  text($('device-signer'), d.signer);
  text($('device-platform'), d.platform);
  text($('device-kos-version'), d.kos_version);
  text($('device-last-seen'), when(d.last_seen));
  text($('console-dropped'), d.logs_dropped ? d.logs_dropped + ' records lost on the device' : '');
  $('device-reboot').disabled = d.state !== 'online';
  if (!$('shell-line').disabled) $('shell-send').disabled = d.state !== 'online';
  $('device-revoke').disabled = d.state === 'revoked';
  showHealth(d.health, d.health_time);
}

function addApp(name) {
  if (appsSeen.has(name)) return;
  appsSeen.add(name);
  const sel = $('console-app');
  const o = el('option', null, name);
  o.value = name;
  sel.appendChild(o);
}

function passes(r) {
  const app = $('console-app').value;
  const level = Number($('console-level').value);
  return (!app || r.app === app) && LEVELS.indexOf(r.level) >= level;
}

function line(r) {
  const div = el('div', 'line level-' + r.level);
  div.dataset.app = r.app;
  div.dataset.level = r.level;
  div.appendChild(el('span', 'time', r.time ? r.time.slice(11, 23) : ''));
  div.appendChild(el('span', 'app', r.app));
  div.appendChild(el('span', 'level', r.console ? 'console' : r.level));
  div.appendChild(el('span', 'text', r.text));
  return div;
}

function renderConsole() {
  $('console').replaceChildren(...records.filter(passes).map(line));
}

function addRecords(recs) {
  const box = $('console');
  const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  for (const r of recs) {
    records.push(r);
    addApp(r.app);
    if (passes(r)) box.appendChild(line(r));
  }
  if (records.length > CONSOLE_MAX) {
    records = records.slice(records.length - CONSOLE_MAX);
    renderConsole();
  }
  if (atEnd) box.scrollTop = box.scrollHeight;
}

async function command(body, what) {
  if (!current) return;
  try {
    const j = await api('POST', '/api/devices/' + current.id + '/commands', body);
    say('command ' + j.id + ' sent: ' + what);
  } catch (e) {
    say(what + ': ' + e.message, true);
  }
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
  $('shell-send').disabled = current !== dev || dev.state !== 'online';
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

async function showDevicePage(id) {
  $('view-list').hidden = true;
  $('view-device').hidden = false;
  records = [];
  appsSeen.clear();
  $('console-app').replaceChildren(el('option', null, 'all'));
  $('console-app').firstChild.value = '';
  $('console').replaceChildren();
  $('shell').replaceChildren();
  try {
    showDevice(await api('GET', '/api/devices/' + id));
    const logs = await api('GET', '/api/devices/' + id + '/logs?limit=1000');
    addRecords(logs.records);
    say('');
  } catch (e) {
    say(e.message, true);
    return;
  }
  listen('?device=' + id, {
    device: (d) => {
      if (d.id === id) showDevice(d);
    },
    log: (b) => {
      if (b.device !== id) return;
      addRecords(b.records);
      if (b.dropped) say(b.dropped + ' log records were lost on the device before these', true);
    },
    result: (r) => {
      if (r.device !== id) return;
      const ok = r.status === 0;
      say('command ' + r.id + ': ' + (ok ? 'done' : r.status_text) +
          (r.message ? ': ' + r.message : ''), !ok);
    },
  });
}

// ---- routing ----

function route() {
  const m = /^#\/devices\/([0-9a-f]{64})$/.exec(location.hash);
  if (m) showDevicePage(m[1]);
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
  window.addEventListener('hashchange', route);
  route();
});

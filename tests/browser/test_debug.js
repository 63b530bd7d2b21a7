// The Debug button on a device's page (docs/studio.md, "Debugging an
// app"): on a development system whose admin enables remote debugging, each
// app's Debug button is enabled; an app not marked debug: true is refused
// with the device's own words; one marked debug: true opens a session whose
// `target remote 127.0.0.1:PORT` line (and gdb command) the page shows, and
// a TCP connection to that port speaks gdb's remote protocol with the
// device's gdbserver ($?#3f answered with a stop reply) — from this user
// only: a connection from another user's socket is closed (when the test
// runs as root and can be another user); End the session ends it and the
// app ticks on. On a device whose admin leaves debugging disabled, and on
// an offline one, the buttons are disabled and say why.
'use strict';
const assert = require('assert');
const net = require('net');
const { spawnSync } = require('child_process');
const { test } = require('./studio');

// Sends gdb remote-protocol bytes to 127.0.0.1:port and resolves what came
// back once `done(text)` says it is enough (or rejects after 60 s).
function gdbTalk(port, steps) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    let step = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from gdbserver within 60 s; got ${JSON.stringify(got)}`));
    }, 60000);
    sock.on('connect', () => sock.write(steps[0].send));
    sock.on('data', (d) => {
      got += d.toString('latin1');
      while (step < steps.length && steps[step].done(got)) {
        step++;
        if (step === steps.length) {
          clearTimeout(timer);
          sock.end();
          resolve(got);
          return;
        }
        sock.write(steps[step].send);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

// The Debug button of app `name`'s row.
const debugButton = (page, name) => page.locator(`#apps tr[data-app="${name}"] button.debug`);

test(async (t) => {
  // The device's refusal is a 403, a session ended already a 404: the
  // browser logs each answer that is not 2xx.
  t.allowConsoleError(/^Failed to load resource: the server responded with a status of 40[34] /);
  const studio = await t.studio();
  const dev = await studio.device({
    name: 'debug-1',
    system: 'debug_sys',
    head: ['profile: development'],
    apps: { ticker: { args: ['tick', '200'], debug: true }, plain: ['tick', '1000'] },
    more: ['admin: {config: {remote_debug: enabled}}'],
  });
  const page = await t.page(studio);
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await page.waitForFunction(() => {
    const b = document.querySelector('#apps tr[data-app="ticker"] button.debug');
    return b && !b.disabled;
  });
  assert.strictEqual(await debugButton(page, 'plain').isDisabled(), false,
    'every app may be asked for: the device judges');
  assert.strictEqual(await page.locator('#apps tr[data-app="msg0"] button.debug').count(), 0,
    'a message server has no Debug button');
  assert.strictEqual(await page.locator('#debug').isHidden(), true);

  // ---- refused by the device, in its own words
  await debugButton(page, 'plain').click();
  await page.waitForFunction(() => document.getElementById('debug-status').className === 'bad');
  assert.match(await page.locator('#debug-status').textContent(),
    /app 'plain' is not marked debug: true in the manifest/);
  assert.strictEqual(await page.locator('#debug-open').isHidden(), true);
  assert.strictEqual(await page.locator('#debug-app').textContent(), 'plain');

  // ---- a session on the ticker: the gdb line, and gdbserver behind its port
  await dev.waitConsole(/ticker: info: tick 3$/);
  await debugButton(page, 'ticker').click();
  await page.locator('#debug-open').waitFor({ state: 'visible' });
  const target = await page.locator('#debug-target').textContent();
  const m = /^target remote 127\.0\.0\.1:(\d+)$/.exec(target);
  assert.ok(m, `the gdb line: ${JSON.stringify(target)}`);
  const port = Number(m[1]);
  assert.ok((await page.locator('#debug-gdb').textContent()).includes(`-ex '${target}'`));
  assert.strictEqual(await page.locator('#debug-status').getAttribute('class'), '');
  assert.strictEqual(await debugButton(page, 'ticker').isDisabled(), true, 'one session at a time');
  await dev.waitConsole(/core: app 'admin' asked to debug app 'ticker': gdbserver \(pid \d+\) attached/);

  // Another user's socket is closed, and the port waits on for ours.
  if (process.getuid && process.getuid() === 0) {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c',
      'import socket, sys\n'
      + 's = socket.create_connection(("127.0.0.1", int(sys.argv[1])))\n'
      + 's.settimeout(30)\n'
      + 'try:\n    s.sendall(b"$?#3f")\n    got = s.recv(100)\n'
      + 'except ConnectionResetError:\n    got = b""\n'
      + 'sys.exit(0 if got == b"" else 1)', String(port)], { encoding: 'utf8' });
    assert.strictEqual(r.status, 0, `another user's connection was not closed: ${r.stderr}`);
  }

  const answer = await gdbTalk(port, [
    // Why did it stop? A stop reply: $S.. or $T..
    { send: '$?#3f', done: (s) => /\$[ST][0-9a-f]{2}[^#]*#[0-9a-f]{2}/.test(s) },
    // Detach: the app runs on.
    { send: '+$D#44', done: (s) => /\$OK#9a/.test(s) },
  ]);
  assert.match(answer, /^\+?\$[ST][0-9a-f]{2}/, `gdbserver's answer: ${JSON.stringify(answer)}`);
  await dev.waitConsole(/core: debug session on app 'ticker' ended/);
  const ticks = () => (dev.console().match(/ticker: info: tick \d+$/gm) || []).length;
  const before = ticks();
  await t.until('the ticker ticking after the detach', () => ticks() > before + 3);

  // End the session: the page says so, and the buttons come back.
  await page.click('#debug-end');
  await page.waitForFunction(() => document.getElementById('debug-open').hidden);
  assert.match(await page.locator('#debug-status').textContent(), /ended/);
  await page.waitForFunction(() => !document.querySelector('#apps tr[data-app="ticker"] button.debug').disabled);

  // End a session the page opened while gdb never connects: Studio ends it
  // and the device says so.
  await debugButton(page, 'ticker').click();
  await page.locator('#debug-open').waitFor({ state: 'visible' });
  await page.click('#debug-end');
  await page.waitForFunction(() => /is ended$/.test(document.getElementById('debug-status').textContent));
  await t.until('the second session ended on the device',
    () => (dev.console().match(/core: debug session on app 'ticker' ended/g) || []).length >= 2);

  // ---- a device whose admin leaves debugging disabled: disabled, saying why
  const off = await studio.device({
    name: 'debug-2',
    system: 'nodebug_sys',
    head: ['profile: development'],
    apps: { ticker: { args: ['tick', '500'], debug: true } },
  });
  await page.goto(`${studio.base}#/devices/${off.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await page.waitForFunction(() => document.getElementById('device-state').textContent === 'online');
  assert.strictEqual(await debugButton(page, 'ticker').isDisabled(), true);
  assert.match(await debugButton(page, 'ticker').getAttribute('title'), /remote debugging is disabled/);

  // ---- offline: disabled
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await dev.stop();
  await page.waitForFunction(() => document.getElementById('device-state').textContent === 'offline');
  assert.strictEqual(await debugButton(page, 'ticker').isDisabled(), true);
  assert.match(await debugButton(page, 'ticker').getAttribute('title'), /not online/);
});

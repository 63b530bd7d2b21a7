// The web UI's pages, on a real Studio with a real sim device
// (docs/studio.md, "What you see"): the device list (name, state, system,
// image, last seen, key id; a device provisioned but never connected; the
// list following a device that goes offline by itself), the device page
// (what it registered, its health, its apps with state and restarts, a
// Restart button for each app but not for a message server, the buttons
// disabled while it is offline), a device never connected (no health, no
// apps) revoked with its button, the way back, and the page of templates
// for a new system.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

test(async (t) => {
  const studio = await t.studio();
  const idle = await studio.provision('spare');
  const dev = await studio.device({ name: 'bench-1', system: 'pages_sys', apps: { ticker: ['tick', '1000'] } });
  const info = await studio.api('GET', `/api/devices/${dev.id}`);

  const page = await t.page(studio);

  // ---- the device list
  const row = (id) => page.locator(`#devices tr[data-id="${id}"]`);
  await row(dev.id).waitFor();
  await page.waitForFunction(() => document.getElementById('device-count').textContent === '(2)');
  const cells = async (id) => row(id).locator('td').allTextContents();
  let c = await cells(dev.id);
  assert.strictEqual(c[0], 'bench-1');
  assert.strictEqual(c[1], 'online');
  assert.strictEqual(c[2], 'pages_sys');
  assert.strictEqual(c[3], info.image.slice(0, 16), 'the image column shows the start of the manifest digest');
  assert.notStrictEqual(c[4], 'never', 'a connected device has been seen');
  assert.strictEqual(c[5], dev.id.slice(0, 16), 'the key id');
  assert.ok(await row(dev.id).locator('td:nth-child(2)').evaluate((e) => e.classList.contains('state-online')));
  c = await cells(idle.id);
  assert.deepStrictEqual([c[0], c[1], c[4]], ['spare', 'registered', 'never']);
  assert.strictEqual(c[2], '\u2014', 'no system yet: a dash');
  assert.ok(await page.locator('#devices-empty').isHidden());
  assert.ok(await page.locator('#view-device').isHidden());

  // ---- the device page, by its link
  await row(dev.id).locator('a').click();
  await page.waitForURL(`${studio.base}#/devices/${dev.id}`);
  // The URL changes before the page's hashchange handler shows the view.
  await page.locator('#view-device').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#view-list').isHidden());
  const txt = (id) => page.locator(`#${id}`).textContent();
  await page.waitForFunction(() => document.getElementById('device-name').textContent === 'bench-1');
  assert.strictEqual(await txt('device-state'), 'online');
  assert.strictEqual(await txt('device-id'), dev.id);
  assert.strictEqual(await txt('device-system'), 'pages_sys');
  assert.strictEqual(await txt('device-image'), info.image);
  assert.strictEqual(await txt('device-signer'), info.signer);
  assert.strictEqual(await txt('device-platform'), 'sim');
  assert.strictEqual(await txt('device-kos-version'), info.kos_version);
  assert.match(await txt('device-boot-time'), /\d/);
  assert.match(await txt('device-last-seen'), /\d/);

  // Health: uptime, memory, storage, the self test's verdict, records lost.
  await page.waitForFunction(() => document.getElementById('health-self-test').textContent === 'passed');
  assert.match(await txt('health-uptime'), /^(\d+[dhm] )*\d+s$/);
  assert.match(await txt('health-memory'), /^[\d.]+ [KMG]?i?B of [\d.]+ [KMG]?i?B$/);
  assert.match(await txt('health-storage'), /^[\d.]+ [KMG]?i?B of [\d.]+ [KMG]?i?B$/);
  assert.strictEqual(await txt('health-logs-dropped'), '0');
  assert.match(await txt('health-time'), /^as of /);

  // Apps: one row per process of the health, with kind, state and
  // restarts; a Restart button for each app, none for a message server.
  const apps = page.locator('#apps tr');
  await page.waitForFunction(() => document.querySelector('#apps tr[data-app="ticker"]'));
  const names = await apps.evaluateAll((rows) => rows.map((r) => r.dataset.app));
  assert.deepStrictEqual(names, info.health.apps.map((a) => a.name));
  const ticker = await page.locator('#apps tr[data-app="ticker"] td').allTextContents();
  assert.deepStrictEqual(ticker.slice(0, 5), ['ticker', 'app', 'running, ready', '0', 'none']);
  assert.strictEqual(await page.locator('#apps tr[data-app="ticker"] button.restart').isEnabled(), true);
  assert.strictEqual(await page.locator('#apps tr[data-app="msg0"] td:nth-child(2)').textContent(), 'message server');
  assert.strictEqual(await page.locator('#apps tr[data-app="msg0"] button').count(), 0,
    'Core restarts no message server: no button for one');
  assert.strictEqual(await page.locator('#device-reboot').isEnabled(), true);

  // The console has what the device sent, and nothing marks records lost.
  await page.waitForFunction(() => /tick \d+/.test(document.getElementById('console').textContent));
  assert.strictEqual(await txt('console-dropped'), '');

  // ---- the device stops: the page follows by itself
  await dev.stop();
  await page.waitForFunction(() => document.getElementById('device-state').textContent === 'offline');
  assert.strictEqual(await page.locator('#apps tr[data-app="ticker"] button.restart').isDisabled(), true,
    'no restart for an offline device');
  assert.strictEqual(await page.locator('#device-reboot').isDisabled(), true);
  assert.strictEqual(await page.locator('#device-revoke').isEnabled(), true);

  // ---- back to the list, which says it is offline
  await page.click('#back');
  await page.waitForURL(studio.base + '#/');
  await page.waitForFunction((id) => {
    const r = document.querySelector(`#devices tr[data-id="${id}"]`);
    return r && r.children[1].textContent === 'offline';
  }, dev.id);
  assert.ok(await page.locator('#view-device').isHidden());

  // ---- a device never connected: no health, no apps; Revoke (confirmed)
  await page.locator(`#devices tr[data-id="${idle.id}"] a`).click();
  await page.waitForFunction(() => document.getElementById('device-name').textContent === 'spare');
  assert.strictEqual(await txt('device-state'), 'registered');
  assert.strictEqual(await txt('health-time'), 'none reported yet');
  assert.strictEqual(await txt('device-system'), '\u2014');
  assert.strictEqual(await page.locator('#apps tr').count(), 0);
  assert.ok(await page.locator('#device-reboot').isDisabled());
  const dialogs = [];
  page.once('dialog', (d) => {
    dialogs.push(d.message());
    d.accept();
  });
  await page.click('#device-revoke');
  await page.waitForFunction(() => document.getElementById('device-state').textContent === 'revoked');
  assert.deepStrictEqual(dialogs, ['Revoke spare? It will never connect again.']);
  assert.ok(await page.locator('#device-revoke').isDisabled());
  assert.strictEqual((await studio.api('GET', `/api/devices/${idle.id}`)).state, 'revoked');
  assert.match(await txt('status'), /^spare is revoked$/);
  await page.goBack();
  await page.waitForFunction((id) => {
    const r = document.querySelector(`#devices tr[data-id="${id}"]`);
    return r && r.children[1].textContent === 'revoked';
  }, idle.id);

  // ---- a new system: the templates' commands, nothing run by the server
  await page.click('#nav-new');
  await page.waitForURL(studio.base + '#/new');
  // The URL changes before the page's hashchange handler shows the view.
  await page.locator('#view-new').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#view-list').isHidden());
  const templates = await page.locator('#templates [data-template]').evaluateAll(
    (els) => els.map((e) => [e.dataset.template, e.querySelector('code').textContent]));
  assert.deepStrictEqual(templates.map((x) => x[0]), ['hello', 'ping_pong', 'sensor', 'protobuf']);
  for (const [name, cmd] of templates) assert.match(cmd, new RegExp(`^kos-tool new ${name} \\S+$`));
  assert.match(await txt('new-device-address'), new RegExp(`^127\\.0\\.0\\.1:${studio.devicePort}$`));
  assert.strictEqual(await txt('new-allow'),
    `ethernet: {config: {allow: "tunnel=tcp:127.0.0.1:${studio.devicePort},tcp:10.0.2.100:${studio.devicePort}"}}`);
  await page.click('#home');
  await page.waitForURL(studio.base + '#/');
  await page.locator('#view-list').waitFor({ state: 'visible' });
  assert.ok(await page.locator('#view-new').isHidden());
});

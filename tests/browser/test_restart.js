// The Restart button (docs/studio.md, "What you see"): clicking it on an
// app's row sends the command, the app is restarted on the device (Core's
// console says so, and the app starts over), the command's result comes
// back as an event and the page shows it on the app's row and in the status
// line, and the app's restarts count goes up. A command the device refuses
// (sent through the API) shows its reason in the status line; a device
// offline has its buttons disabled.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

test(async (t) => {
  const studio = await t.studio();
  const dev = await studio.device({
    name: 'restart-1',
    system: 'restart_sys',
    apps: { ticker: ['tick', '300'], other: ['tick', '5000'] },
  });
  const page = await t.page(studio);
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  const row = page.locator('#apps tr[data-app="ticker"]');
  await row.waitFor();
  assert.strictEqual(await row.locator('td:nth-child(4)').textContent(), '0');
  // The ticker has ticked a few times before.
  await dev.waitConsole(/ticker: info: tick 3$/);

  // ---- Restart
  await row.locator('button.restart').click();
  // The page shows that it is on its way, then the result.
  await page.waitForFunction(() => {
    const r = document.querySelector('#apps tr[data-app="ticker"] .result');
    return r && /^done/.test(r.textContent);
  });
  assert.match(await row.locator('.result').textContent(), /^done: app 'ticker' restarted/);
  assert.match(await page.locator('#status').textContent(), /^command \d+ \(restart ticker\): done: app 'ticker' restarted/);
  assert.ok(!(await page.locator('#status').evaluate((e) => e.classList.contains('bad'))));

  // The device did it: Core's console says so, and the app started over.
  await dev.waitConsole(/core: app 'ticker' stopped for the restart app 'admin' asked for; starting it again$/);
  await t.until('the ticker counting from 1 again after the restart', () => {
    const c = dev.console();
    return /^\S+ ticker: info: tick 1$/m.test(c.slice(c.indexOf("core: app 'ticker' stopped for the restart")));
  });
  // The other app was left alone.
  assert.ok(!/app 'other' stopped/.test(dev.console()));

  // The API has the result too, and the device's next health counts the restart,
  // which the page shows.
  await page.waitForFunction(() => document.querySelector('#apps tr[data-app="ticker"] td:nth-child(4)').textContent === '1');
  assert.strictEqual(await page.locator('#apps tr[data-app="other"] td:nth-child(4)').textContent(), '0');
  const j = await studio.api('GET', `/api/devices/${dev.id}`);
  assert.strictEqual(j.health.apps.find((a) => a.name === 'ticker').restarts, 1);
  // ... and the console on the page shows Core's line about it.
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#console .line[data-app="core"] .text'))
    .some((e) => /app 'ticker' stopped for the restart app 'admin' asked for/.test(e.textContent)));

  // ---- a command the device refuses, sent by someone else (the API): the
  // page shows its result too, as a failure
  const { id } = await studio.api('POST', `/api/devices/${dev.id}/commands`, { restart_app: 'msg0' });
  await page.waitForFunction((n) => document.getElementById('status').textContent.startsWith(`command ${n}`), id);
  assert.match(await page.locator('#status').textContent(), /^command \d+: unsupported: 'msg0' is a message server/);
  assert.ok(await page.locator('#status').evaluate((e) => e.classList.contains('bad')));

  // ---- the device gone: the buttons are disabled, and the API refuses
  await dev.stop();
  await page.waitForFunction(() => document.getElementById('device-state').textContent === 'offline');
  assert.ok(await row.locator('button.restart').isDisabled());
  await assert.rejects(studio.api('POST', `/api/devices/${dev.id}/commands`, { restart_app: 'ticker' }), /409 .*not online/);
});

// Devices waiting for approval in the device list (docs/studio.md, "A
// device that waits for approval"): a device provisioned with
// keys.generate --pending connects and appears, live, as pending, with
// where it came from, its attempts and its certificate's subject, no link
// to a page, and Approve and Reject buttons; Approve registers it, the page
// says so, and the device links at its next attempt and shows online;
// Reject (confirmed) revokes another, which stays out.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

test(async (t) => {
  const studio = await t.studio();
  // A tunnel that tries again within 2 s at most.
  const image = await studio.image('pending_sys', { ticker: ['tick', '500'] },
    ['tunnel: {config: {reconnect_max: 2s}}']);
  const page = await t.page(studio);
  const row = (id) => page.locator(`#devices tr[data-id="${id}"]`);
  await page.locator('#devices-empty').waitFor();

  // ---- a pending device appears, live
  const dev = await studio.provision('bench-p', { pending: true });
  dev.boot(image);
  await row(dev.id).waitFor();
  await page.waitForFunction((id) => document.querySelector(`#devices tr[data-id="${id}"]`).dataset.state === 'pending', dev.id);
  let c = await row(dev.id).locator('td').allTextContents();
  assert.strictEqual(c[0], 'bench-p');
  assert.strictEqual(c[1], 'pending');
  assert.match(c[2], /^waiting for approval: from 127\.0\.0\.1, \d+ attempts?$/);
  assert.strictEqual(c[5], dev.id.slice(0, 16));
  assert.strictEqual(await row(dev.id).locator('a').count(), 0, 'a pending device has no page to link to');
  assert.match(await row(dev.id).getAttribute('title'), new RegExp(`^certificate subject: .*CN=${dev.id}`));
  assert.ok(await row(dev.id).locator('td:nth-child(2)').evaluate((e) => e.classList.contains('state-pending')));
  // Its attempts are counted, live.
  await page.waitForFunction((id) => /, [3-9]\d* attempts|, \d{2,} attempts/.test(
    document.querySelector(`#devices tr[data-id="${id}"] td:nth-child(3)`).textContent), dev.id);
  await dev.waitConsole(/tunnel: warn: .*HTTP 202: waiting for approval in Studio/);

  // ---- Approve: registered at once, online at its next attempt
  await row(dev.id).locator('button.approve').click();
  await page.waitForFunction(() => document.getElementById('status').textContent === 'bench-p is approved: it links at its next attempt');
  assert.ok(!(await page.locator('#status').evaluate((e) => e.classList.contains('bad'))));
  await page.waitForFunction((id) => {
    const r = document.querySelector(`#devices tr[data-id="${id}"]`);
    return r && r.dataset.state === 'online' && r.querySelector('a') && !r.querySelector('button.approve')
      && r.children[2].textContent === 'pending_sys';
  }, dev.id);
  c = await row(dev.id).locator('td').allTextContents();
  assert.deepStrictEqual([c[0], c[1], c[2]], ['bench-p', 'online', 'pending_sys']);
  await dev.waitConsole(/admin: info: registered with the server as /);
  await studio.waitDevice(dev, (j) => j.state === 'online' && j.health, 'the approved device online with its health');

  // ---- Reject (confirmed): revoked, and it stays out
  const other = await studio.provision('bench-r', { pending: true });
  other.boot(image);
  await page.waitForFunction((id) => {
    const r = document.querySelector(`#devices tr[data-id="${id}"]`);
    return r && r.dataset.state === 'pending';
  }, other.id);
  const dialogs = [];
  page.once('dialog', (d) => {
    dialogs.push(d.message());
    d.accept();
  });
  await row(other.id).locator('button.reject').click();
  await page.waitForFunction(() => document.getElementById('status').textContent === 'bench-r is rejected (revoked)');
  assert.deepStrictEqual(dialogs, ['Reject bench-r? Its key is revoked: it will never connect.']);
  await page.waitForFunction((id) => document.querySelector(`#devices tr[data-id="${id}"]`).dataset.state === 'revoked', other.id);
  await other.waitConsole(/tunnel: warn: the server .* refused this device/);
  const j = await studio.api('GET', `/api/devices/${other.id}`);
  assert.strictEqual(j.state, 'revoked');
  assert.strictEqual(await page.locator('#devices tr[data-state="pending"]').count(), 0);
  assert.strictEqual(await page.locator('#device-count').textContent(), '(2)');
});

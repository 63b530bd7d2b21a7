// Push image on a device's page (docs/upgrades.md, "Pushing a release from
// Studio"): choosing an image zip and clicking Push image uploads it, and
// the page shows the upgrade's progress as the device reports it and its
// result; a device's failure shows as one, its words as text (no element
// made of its markup); Push image without a file, or with a file that is
// not an image, says what is wrong; an offline device's button is
// disabled. The devices are tests/system/fake_device.py, which carries out
// an Upgrade as a device would: it fetches the blobs with ranged GETs from
// the device port, checks their SHA-256, and reports progress and a result.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { test } = require('./studio');

const FAKE = path.join(__dirname, '..', 'system', 'fake_device.py');

test(async (t) => {
  const studio = await t.studio();
  const fakes = [];
  // A fake device linked to the Studio: its id once it is.
  const fake = async (name, ...args) => {
    const ready = path.join(t.work, `${name}.ready`);
    const log = fs.openSync(path.join(t.work, `${name}.log`), 'a');
    const proc = spawn('python3', [FAKE, 'serve', '--data', studio.data, '--name', name, '--ready', ready, ...args],
      { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    fakes.push(proc);
    const id = await t.until(`fake device ${name} linked`, () => {
      if (proc.exitCode !== null) throw new Error(fs.readFileSync(path.join(t.work, `${name}.log`), 'utf8'));
      return fs.existsSync(ready) && fs.readFileSync(ready, 'utf8').trim();
    });
    return { id, proc };
  };
  try {
    const image = await studio.image('push_sys', { ticker: ['tick', '1000'] });
    const good = await fake('push-1');
    const page = await t.page(studio);
    await page.goto(`${studio.base}#/devices/${good.id}`);
    await page.waitForFunction(() => document.getElementById('device-state').textContent === 'online');
    assert.strictEqual(await page.locator('#upgrade-command').textContent(), 'none yet');
    assert.ok(!(await page.locator('#push-send').isDisabled()));

    // ---- no file chosen
    await page.locator('#push-send').click();
    await page.waitForFunction(() => /choose an image/.test(document.getElementById('status').textContent));
    assert.ok(await page.locator('#status').evaluate((e) => e.classList.contains('bad')));

    // ---- an image: progress, then the result
    await page.setInputFiles('#push-file', image);
    await page.locator('#push-send').click();
    await page.waitForFunction(() => /^done/.test(document.getElementById('upgrade-result').textContent));
    assert.match(await page.locator('#upgrade-result').textContent(), /^done: release \d+ stored; rebooting$/);
    assert.match(await page.locator('#upgrade-command').textContent(), /^command \d+$/);
    assert.match(await page.locator('#upgrade-release').textContent(), /^release \d+ of push_sys \(\d+ blobs, [\d.]+ [KM]iB\)$/);
    assert.strictEqual(await page.locator('#upgrade-stage').textContent(), 'switching');
    assert.match(await page.locator('#upgrade-progress').textContent(), /^([\d.]+ [KM]iB) of \1 \(\d+ blobs\)$/);
    assert.strictEqual(await page.locator('#upgrade-bar').evaluate((e) => e.value === e.max), true);
    await page.waitForFunction(() => !/^0 B$|^\u2014$/.test(document.getElementById('upgrade-served').textContent));
    assert.match(await page.locator('#status').textContent(), /^command \d+ \(upgrade to release \d+\): done/);
    // The API agrees.
    const j = await studio.api('GET', `/api/devices/${good.id}`);
    assert.strictEqual(j.upgrade.status, 0);
    assert.ok(j.upgrade.served >= j.upgrade.bytes, `served ${j.upgrade.served} of ${j.upgrade.bytes}`);

    // ---- a file that is not an image: refused, saying why
    t.allowConsoleError(/^Failed to load resource: the server responded with a status of 400 /);
    const notZip = path.join(t.work, 'notes.zip');
    fs.writeFileSync(notZip, 'not a zip at all\n');
    await page.setInputFiles('#push-file', notZip);
    await page.locator('#push-send').click();
    await page.waitForFunction(() => /not a zip archive/.test(document.getElementById('status').textContent));
    assert.match(await page.locator('#status').textContent(), /^push notes\.zip: cannot open the image: not a zip archive$/);

    // ---- a device that fails the upgrade, in words with markup
    const bad = await fake('push-2', '--fail', '<img src=x onerror="document.title=1"> key <b>unknown</b>');
    await page.goto(`${studio.base}#/devices/${bad.id}`);
    await page.waitForFunction(() => document.getElementById('device-state').textContent === 'online');
    await page.setInputFiles('#push-file', image);
    await page.locator('#push-send').click();
    await page.waitForFunction(() => /^unauthorized/.test(document.getElementById('upgrade-result').textContent));
    assert.strictEqual(await page.locator('#upgrade-result').textContent(),
      'unauthorized: <img src=x onerror="document.title=1"> key <b>unknown</b>');
    assert.ok(await page.locator('#upgrade-result').evaluate((e) => e.classList.contains('bad')));
    assert.strictEqual(await page.locator('#upgrade-result img, #upgrade-result b').count(), 0);

    // ---- the device gone: Push image is disabled
    bad.proc.kill('SIGTERM');
    await page.waitForFunction(() => document.getElementById('device-state').textContent === 'offline');
    assert.ok(await page.locator('#push-send').isDisabled());
    // What it showed stays.
    assert.match(await page.locator('#upgrade-result').textContent(), /^unauthorized/);
  } finally {
    for (const p of fakes) if (p.exitCode === null) p.kill('SIGTERM');
  }
});

// The Generations table on a device's page (docs/studio.md, docs/storage.md):
// a device booting from a boot store (kos-tool run --storage DIR) shows
// generation 1 current, good and running, passed; a second image (overlay
// 2 of release 3, shown 3+2) stored with storage.import and booted, whose
// self test never reports, shows up live as current, running and on trial
// with one boot counted, 1 still good; a device booted from an image file
// says it has no store.
'use strict';
const assert = require('assert');
const path = require('path');
const { test } = require('./studio');

// The table's rows: [{ n, marks, state, tries, release, signer }].
const rows = (page) => page.locator('#generations tr').evaluateAll((trs) => trs.map((tr) => ({
  n: Number(tr.dataset.generation),
  marks: tr.querySelector('.marks').textContent,
  state: tr.querySelector('.gen-state').textContent,
  tries: tr.querySelector('.tries').textContent,
  release: tr.querySelector('.release').textContent,
  signer: tr.children[5].textContent,
})));

// Waits until the table's rows, as "N|marks|state|tries", are `want`.
async function waitRows(t, page, want) {
  let last;
  await t.until(`the generations ${JSON.stringify(want)}`, async () => {
    last = (await rows(page)).map((r) => `${r.n}|${r.marks}|${r.state}|${r.tries}`);
    return JSON.stringify(last) === JSON.stringify(want);
  }, 90).catch((e) => {
    throw new Error(`${e.message}; the table: ${JSON.stringify(last)}`);
  });
}

test(async (t) => {
  const studio = await t.studio();
  const store = path.join(t.work, 'store');
  const apps = { ticker: ['tick', '500'] };
  const dev = await studio.device({ name: 'gens-1', system: 'gens_one', apps, storage: store });
  const page = await t.page(studio);
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await waitRows(t, page, ['1|current, good, running|passed|0']);
  assert.match(await page.locator('#generations-note').textContent(), /running: generation 1/);
  assert.match((await rows(page))[0].signer, /^[0-9a-f]{16}$/);
  assert.strictEqual((await rows(page))[0].release, '-', 'an image without a release number');

  // ---- a second generation, on trial while its self test has not passed
  const two = await studio.image('gens_two', apps, ['self_test: {binary: t_app, args: [selftest, never]}'],
    ['release: 3', 'overlay: 2']);
  await dev.stop();
  await studio.kosTool('storage.import', store, two, '--trust', studio.trust);
  dev.boot(null, { storage: store, args: ['--self-test-timeout', '600000'] });
  await waitRows(t, page, ['1|good|passed|0', '2|current, running|on trial|1']);
  assert.match(await page.locator('#generations-note').textContent(), /running: generation 2/);
  assert.strictEqual(await page.locator('#generations tr[data-generation="2"]').getAttribute('data-state'), 'on trial');
  assert.strictEqual((await rows(page))[1].release, '3+2', 'overlay 2 of release 3');

  // ---- without a store: none, said so
  const plain = await studio.device({ name: 'gens-2', system: 'gens_plain', apps });
  await page.goto(`${studio.base}#/devices/${plain.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await t.until('the note saying there is no store', async () =>
    /did not boot from a boot store/.test(await page.locator('#generations-note').textContent()));
  assert.strictEqual(await page.locator('#generations tr').count(), 0);
});

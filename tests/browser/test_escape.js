// Everything a device sends is shown as text (docs/studio.md, "What you
// see"): a device named <b>x</b> and an app that prints markup with
// script in it, before the page opens (the history) and after (live). The
// page shows exactly those characters; no element is made from them, no
// script of theirs runs (window.pwned stays undefined), nothing is fetched
// for them; control characters arrive escaped as the console shows them.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

const EVIL = '<script>window.pwned=1</script><img src=x onerror=window.pwned=2>';
const NAME = '<b>x</b>';

test(async (t) => {
  const studio = await t.studio();
  const dev = await studio.device({
    name: NAME,
    system: 'escape_sys',
    apps: { evil: ['tick', '300', EVIL], painter: ['tick', '1000', '\u001b[31mred\u001b[0m \u202etxt.exe'] },
  });
  await dev.waitConsole(/evil: <script>/);

  const page = await t.page(studio);
  const requests = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));

  // Nothing made from what the device sent: no element but the page's own.
  const noMarkup = async (where) => {
    const found = await page.evaluate(() => ({
      pwned: typeof window.pwned,
      b: document.querySelectorAll('b').length,
      img: document.querySelectorAll('img').length,
      scripts: Array.from(document.scripts).map((s) => s.getAttribute('src')),
      onerror: document.querySelectorAll('[onerror]').length,
    }));
    assert.deepStrictEqual(found, { pwned: 'undefined', b: 0, img: 0, scripts: ['/app.js'], onerror: 0 }, where);
  };

  // ---- the list: the name as text
  const row = page.locator(`#devices tr[data-id="${dev.id}"]`);
  await row.waitFor();
  assert.strictEqual(await row.locator('td:first-child').textContent(), NAME);
  assert.strictEqual(await row.locator('td:first-child a').innerHTML(), '&lt;b&gt;x&lt;/b&gt;');
  await noMarkup('the device list');

  // ---- the device page: the name, and the app's lines, old and new
  await row.locator('a').click();
  await page.waitForFunction((n) => document.getElementById('device-name').textContent === n, NAME);
  const evilLines = () => page.locator('#console .line[data-app="evil"] .text').allTextContents();
  await page.waitForFunction(() => document.querySelectorAll('#console .line[data-app="evil"]').length > 0);
  const before = (await evilLines()).filter((x) => x === EVIL).length;
  assert.ok(before > 0, 'the app\'s markup is shown as text');
  // More of them arrive live.
  await page.waitForFunction((n) => Array.from(document.querySelectorAll('#console .line[data-app="evil"] .text'))
    .filter((e) => e.textContent.startsWith('<script>')).length >= n + 3, before);
  for (const x of await evilLines()) assert.ok(x === EVIL || /^info: tick \d+$/.test(x) || /^warn: tick \d+: a multiple of 5$/.test(x), `an evil line: ${x}`);
  assert.strictEqual(await page.title(), `${NAME} \u2014 KOS Studio`);
  await noMarkup('the device page');

  // Control characters come escaped, as the console shows them.
  await page.waitForFunction(() => document.querySelectorAll('#console .line[data-app="painter"]').length > 0);
  const painted = (await page.locator('#console .line[data-app="painter"] .text').allTextContents())
    .filter((x) => x.includes('red'));
  assert.ok(painted.length > 0);
  for (const x of painted) {
    assert.strictEqual(x, '\\x1b[31mred\\x1b[0m \\u202etxt.exe');
    assert.ok(!/[\u0000-\u001f\u007f\u202e]/.test(x));
  }

  // Filtering re-draws the lines: still text.
  await page.selectOption('#console-app', 'evil');
  assert.ok((await evilLines()).includes(EVIL));
  await page.selectOption('#console-app', '');
  await noMarkup('after filtering');

  // The page fetched nothing because of what the device sent.
  const own = /^\/(app\.js|style\.css|api\/.*)?$/;
  assert.deepStrictEqual(requests.filter((p) => !own.test(p)), []);
});

// The device page's console (docs/studio.md, "What you see"): it shows a
// long history's newest records (not its oldest), then lines the device
// prints after the page opened, live, each once and none missing, also
// across the moment the page loads; its app and level filters, which apply
// to the lines already shown and to those still coming; and Clear.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

test(async (t) => {
  const studio = await t.studio();
  // ticker: "tick N" every 200 ms (info; every fifth a warning too);
  // talker: 2500 lines, one every 2 ms, more than the page keeps (2000)
  // (admin's buffer holds those written before the link is up).
  const dev = await studio.device({
    name: 'console-1',
    system: 'console_sys',
    apps: { ticker: ['tick', '200'], talker: ['lines', '2500', '2'] },
    more: ['admin: {config: {offline_buffer: 4MiB}}'],
  });
  // The history is long before the page opens: all of the talker's lines.
  const talked = new Set();
  await t.until('the talker\'s 2500 lines stored', async () => {
    for (let after = 0; ;) {
      const logs = await studio.api('GET', `/api/devices/${dev.id}/logs?limit=1000&after=${after}`);
      for (const r of logs.records) if (r.app === 'talker') talked.add(r.text);
      if (logs.records.length < 1000) break;
      after = logs.next;
    }
    return talked.has('line 02500 of 2500');
  });
  assert.ok(talked.has('line 00001 of 2500') && talked.size === 2500, `the talker's lines stored: ${talked.size}`);

  const page = await t.page(studio);
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  await page.waitForFunction(() => document.getElementById('device-name').textContent === 'console-1');

  // Every tick shown: its numbers as the page has them.
  const ticks = () => page.evaluate(() => Array.from(document.querySelectorAll('#console .line'))
    .filter((l) => l.dataset.app === 'ticker')
    .map((l) => /^(?:info: )?tick (\d+)$/.exec(l.querySelector('.text').textContent))
    .filter((m) => m).map((m) => Number(m[1])));

  // ---- the newest of a long history
  await page.waitForFunction(() => /line 02500 of 2500/.test(document.getElementById('console').textContent));
  const first = await ticks();
  assert.ok(first.length > 0, 'the ticker\'s lines so far are shown');
  const atOpen = Math.max(...first);
  const lines = await page.locator('#console .line').count();
  assert.ok(lines <= 2000, `the console keeps at most 2000 lines, not ${lines}`);
  assert.strictEqual(await page.locator('#console .line[data-app="talker"]', { hasText: 'line 00001 of 2500' }).count(), 0,
    'the oldest records make way for the newest');

  // ---- live: lines printed after the page opened
  const later = atOpen + 10;
  await page.waitForFunction((n) => Array.from(document.querySelectorAll('#console .line[data-app="ticker"] .text'))
    .some((e) => new RegExp(`tick ${n}$`).test(e.textContent)), later);
  const seen = await ticks();
  const lo = Math.min(...seen);
  const hi = Math.max(...seen);
  assert.ok(hi >= later);
  assert.deepStrictEqual(seen, Array.from({ length: hi - lo + 1 }, (_, i) => lo + i),
    'each tick once, in order, none missing (across the page\'s load too)');
  // ... and the device did print them (its own console).
  await dev.waitConsole(new RegExp(`ticker: info: tick ${later}$`));

  // The page is live, and shows a level for every line.
  assert.strictEqual(await page.locator('#live').textContent(), 'live');
  const levels = await page.locator('#console .line').evaluateAll((ls) => ls.map((l) => l.dataset.level));
  assert.ok(levels.every((l) => ['debug', 'info', 'warn', 'error'].includes(l)), `levels: ${[...new Set(levels)]}`);

  // ---- the app filter: only the ticker, also for the lines still coming
  const apps = await page.locator('#console-app option').evaluateAll((os) => os.map((o) => o.value));
  for (const a of ['', 'ticker', 'talker', 'core', 'admin']) assert.ok(apps.includes(a), `the app filter offers '${a}': ${apps}`);
  await page.selectOption('#console-app', 'ticker');
  const shownApps = () => page.locator('#console .line').evaluateAll((ls) => [...new Set(ls.map((l) => l.dataset.app))]);
  assert.deepStrictEqual(await shownApps(), ['ticker']);
  const now = Math.max(...(await ticks()));
  await page.waitForFunction((n) => Array.from(document.querySelectorAll('#console .line .text'))
    .some((e) => new RegExp(`tick ${n}$`).test(e.textContent)), now + 3);
  assert.deepStrictEqual(await shownApps(), ['ticker'], 'new lines of other apps stay hidden');

  // ---- the level filter: warnings and up, with the app filter
  await page.selectOption('#console-level', '2');
  const shown = () => page.locator('#console .line').evaluateAll((ls) => ls.map((l) => [l.dataset.app, l.dataset.level, l.querySelector('.text').textContent]));
  let s = await shown();
  assert.ok(s.length > 0, 'the ticker has warnings');
  for (const [app, level, text] of s) {
    assert.strictEqual(app, 'ticker');
    assert.ok(level === 'warn' || level === 'error', `level ${level}: ${text}`);
    assert.match(text, /tick \d+: a multiple of 5$/);
  }
  const warnsBefore = s.length;
  await page.waitForFunction((n) => document.querySelectorAll('#console .line').length > n, warnsBefore);
  s = await shown();
  assert.ok(s.every(([app, level]) => app === 'ticker' && level === 'warn'), 'a new warning shown, no info line');

  // ---- both filters off: everything again, other apps included
  await page.selectOption('#console-app', '');
  await page.selectOption('#console-level', '0');
  const all = await shownApps();
  for (const a of ['ticker', 'talker', 'core']) assert.ok(all.includes(a), `'${a}' is back: ${all}`);

  // ---- Clear: the console starts again empty, and goes on live
  await page.click('#console-clear');
  assert.strictEqual(await page.locator('#console .line', { hasText: 'line 02500 of 2500' }).count(), 0);
  await page.waitForFunction(() => document.querySelectorAll('#console .line[data-app="ticker"]').length >= 3);
  const after = await ticks();
  assert.ok(Math.min(...after) > hi, 'only lines after Clear');
});

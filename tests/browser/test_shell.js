// The Shell on a device's page (docs/studio.md, "The shell"): on a
// development system whose admin enables the remote shell, typing `apps`
// and Enter shows the command and the device's answer, line by line;
// `restart NAME` shows the result and Core's console line about it comes
// to the console; Up goes back through the commands sent; a command the
// device refuses is shown as a refusal; what the device sends (an app's
// markup in its log) is shown as text, never as HTML; Send is disabled
// while the device is offline; and a device whose system leaves the shell
// disabled answers that it is.
'use strict';
const assert = require('assert');
const { test } = require('./studio');

const MARKUP = '<b id="from-device">bold</b><img src="x" onerror="window.pwned=1">';

// The shell's lines on the page: [{ text, cls }] (cls 'cmd', 'bad' or '').
const shellLines = (page) => page.locator('#shell .line').evaluateAll((ls) => ls.map((l) => ({
  text: l.textContent,
  cls: l.classList.contains('cmd') ? 'cmd' : l.classList.contains('bad') ? 'bad' : '',
})));

// Types `line` into the shell's input, sends it with Enter, and waits for
// the answer after it (the input enabled again, a line after the command).
async function send(page, line) {
  const before = await page.locator('#shell .line').count();
  await page.fill('#shell-line', line);
  await page.press('#shell-line', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#shell .line').length > n + 1
    && !document.getElementById('shell-line').disabled, before);
  return (await shellLines(page)).slice(before);
}

test(async (t) => {
  const studio = await t.studio();
  const dev = await studio.device({
    name: 'shell-1',
    system: 'shell_sys',
    head: ['profile: development'],
    apps: { ticker: ['tick', '300'], marker: ['tick', '400', MARKUP] },
    more: ['admin: {config: {remote_shell: enabled}}'],
  });
  const page = await t.page(studio);
  await page.goto(`${studio.base}#/devices/${dev.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await page.waitForFunction(() => !document.getElementById('shell-send').disabled);
  assert.strictEqual(await page.locator('#shell .line').count(), 0);

  // ---- apps, Enter: the command, then the device's lines
  let out = await send(page, 'apps');
  assert.deepStrictEqual(out[0], { text: 'shell-1> apps', cls: 'cmd' });
  assert.match(out[1].text, /^summary: \d+ processes$/);
  assert.ok(out.slice(1).every((l) => l.cls === ''), 'an answer is not shown as a refusal');
  assert.ok(out.some((l) => /^ {2}ticker +app +running, ready +restarts 0, last exit: none$/.test(l.text)),
    `the ticker among the apps: ${JSON.stringify(out)}`);
  assert.strictEqual(await page.locator('#shell-line').inputValue(), '', 'the input is emptied');

  // ---- restart: the result, and Core's line on the page's console
  await dev.waitConsole(/ticker: info: tick 3$/);
  out = await send(page, 'restart ticker');
  assert.deepStrictEqual(out.slice(0, 2), [
    { text: 'shell-1> restart ticker', cls: 'cmd' },
    { text: "app 'ticker' restarted", cls: '' },
  ]);
  await dev.waitConsole(/core: app 'ticker' stopped for the restart app 'admin' asked for; starting it again$/);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('#console .line[data-app="core"] .text'))
    .some((e) => /app 'ticker' stopped for the restart app 'admin' asked for/.test(e.textContent)));

  // ---- Up and Down go through what was sent, newest first
  await page.focus('#shell-line');
  await page.keyboard.press('ArrowUp');
  assert.strictEqual(await page.locator('#shell-line').inputValue(), 'restart ticker');
  await page.keyboard.press('ArrowUp');
  assert.strictEqual(await page.locator('#shell-line').inputValue(), 'apps');
  await page.keyboard.press('ArrowUp');
  assert.strictEqual(await page.locator('#shell-line').inputValue(), 'apps', 'Up stops at the oldest');
  await page.keyboard.press('ArrowDown');
  assert.strictEqual(await page.locator('#shell-line').inputValue(), 'restart ticker');
  await page.keyboard.press('ArrowDown');
  assert.strictEqual(await page.locator('#shell-line').inputValue(), '');
  // Up then Enter sends it again.
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  const before = await page.locator('#shell .line').count();
  await page.press('#shell-line', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('#shell .line').length > n + 1
    && !document.getElementById('shell-line').disabled, before);
  out = (await shellLines(page)).slice(before);
  assert.deepStrictEqual(out[0], { text: 'shell-1> apps', cls: 'cmd' });
  assert.ok(out.some((l) => /^ {2}ticker +app +running, ready +restarts 1 \(1 asked for\)/.test(l.text)),
    `the ticker restarted once: ${JSON.stringify(out)}`);

  // ---- refused: shown as a refusal, with the device's reason
  out = await send(page, 'sh -c id');
  assert.deepStrictEqual(out[0], { text: 'shell-1> sh -c id', cls: 'cmd' });
  assert.strictEqual(out[1].cls, 'bad');
  assert.match(out[1].text, /^unknown command 'sh': the commands are help, apps, restart/);
  out = await send(page, 'restart ../etc');
  assert.strictEqual(out[1].cls, 'bad');
  assert.match(out[1].text, /^'\.\.\/etc' is not an app name/);

  // ---- the device's text shown as text: the app's markup in its log
  await dev.waitConsole(/marker: info: tick 2$/);
  out = await send(page, 'logs marker 6');
  assert.ok(out.some((l) => l.text.endsWith(MARKUP)), `the markup as text: ${JSON.stringify(out)}`);
  assert.strictEqual(await page.locator('#shell b, #shell img, #from-device').count(), 0, 'no element made');
  assert.strictEqual(await page.evaluate(() => window.pwned), undefined, 'no script ran');

  // ---- Clear empties the shell
  await page.click('#shell-clear');
  assert.strictEqual(await page.locator('#shell .line').count(), 0);

  // ---- the device offline: Send disabled, Enter sends nothing
  await dev.stop();
  await page.waitForFunction(() => document.getElementById('device-state').textContent === 'offline');
  assert.ok(await page.locator('#shell-send').isDisabled());
  await page.fill('#shell-line', 'apps');
  await page.press('#shell-line', 'Enter');
  assert.strictEqual(await page.locator('#shell .line').count(), 0, 'nothing sent to an offline device');

  // ---- a device whose system leaves the shell disabled says so
  const plain = await studio.device({ name: 'noshell-1', system: 'noshell_sys', apps: { ticker: ['tick', '300'] } });
  await page.goto(`${studio.base}#/devices/${plain.id}`);
  await page.locator('#apps tr[data-app="ticker"]').waitFor();
  await page.waitForFunction(() => !document.getElementById('shell-send').disabled);
  await page.fill('#shell-line', 'apps');
  const n = await page.locator('#shell .line').count();
  await page.click('#shell-send');
  await page.waitForFunction((k) => document.querySelectorAll('#shell .line').length > k + 1, n);
  out = (await shellLines(page)).slice(n);
  assert.deepStrictEqual(out[0], { text: 'noshell-1> apps', cls: 'cmd' });
  assert.strictEqual(out[1].cls, 'bad');
  assert.match(out[1].text, /^the remote shell is disabled on this device \(admin's remote_shell setting is disabled/);
  await plain.waitConsole(/admin: warn: refused shell input from the server: the remote shell is disabled/);
  assert.ok(!/stopped for the restart/.test(plain.console()));
});
